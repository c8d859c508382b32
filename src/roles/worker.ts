// Role `worker`: one BullMQ Worker per queue that has a processor.
import { Worker } from 'bullmq';
import { bullConnection, type AppContext } from '../context.ts';
import { processors } from '../../workers/index.ts';
import { QUEUE_PREFIX, type QueueName } from '../../queues/names.ts';
import { childLog } from '../log.ts';

const log = childLog('worker');

/** Starts the Workers (of every queue with a processor, or of `only`); the role's summary is their queues. */
export async function startWorkers(ctx: AppContext, only?: QueueName[]): Promise<string> {
  const started = await serveQueues(ctx, only);
  return started.size === 0 ? 'no queues served' : `serving ${[...started.keys()].join(', ')}`;
}

/** The Workers started, by queue; a queue this process should not serve (see create) has none. */
export async function serveQueues(ctx: AppContext, only?: QueueName[]): Promise<Map<QueueName, Worker>> {
  const started = new Map<QueueName, Worker>();
  for (const p of processors) {
    if (only && !only.includes(p.queue)) continue;
    const fn = await p.create(ctx);
    if (!fn) continue;
    if (p.globalConcurrency) await ctx.queues[p.queue].setGlobalConcurrency(p.globalConcurrency);
    const worker = new Worker(p.queue, fn, {
      connection: bullConnection(ctx.config.redis.url),
      prefix: QUEUE_PREFIX,
      concurrency: p.concurrency,
      ...(p.lockMs ? { lockDuration: p.lockMs, stalledInterval: p.lockMs } : {}),
    });
    worker.on('failed', (job, err) => log.warn({ queue: p.queue, job: job?.id, name: job?.name, err: err.message }, 'job failed'));
    worker.on('error', (err) => log.error({ queue: p.queue, err: err.message }, 'worker error'));
    ctx.onClose(() => worker.close());
    started.set(p.queue, worker);
  }
  return started;
}

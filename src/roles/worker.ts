// Role `worker`: one BullMQ Worker per queue that has a processor.
import { Worker } from 'bullmq';
import { bullConnection, type AppContext } from '../context.ts';
import { processors } from '../../workers/index.ts';
import { QUEUE_PREFIX } from '../../queues/names.ts';
import { childLog } from '../log.ts';

const log = childLog('worker');

export async function startWorkers(ctx: AppContext): Promise<string> {
  const serving: string[] = [];
  for (const p of processors) {
    const fn = await p.create(ctx);
    if (!fn) continue;
    serving.push(p.queue);
    const worker = new Worker(p.queue, fn, {
      connection: bullConnection(ctx.config.redis.url),
      prefix: QUEUE_PREFIX,
      concurrency: p.concurrency,
    });
    worker.on('failed', (job, err) => log.warn({ queue: p.queue, job: job?.id, name: job?.name, err: err.message }, 'job failed'));
    worker.on('error', (err) => log.error({ queue: p.queue, err: err.message }, 'worker error'));
    ctx.onClose(() => worker.close());
  }
  return serving.length === 0 ? 'no queues served' : `serving ${serving.join(', ')}`;
}

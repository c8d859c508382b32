// Role `worker`: one BullMQ Worker per queue that has a processor.
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { bullConnection, type AppContext } from '../context.ts';
import { processors } from '../../workers/index.ts';
import { QUEUE_PREFIX, type QueueName } from '../../queues/names.ts';
import { CANCELLABLE_QUEUES, CANCEL_CHANNEL, cancelledReason, type CancelMessage } from '../../queues/cancel.ts';
import { childLog } from '../log.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';

const log = childLog('worker');
/** How often a running job checks its cancel mark, behind the pub/sub message that usually comes first. */
const CANCEL_POLL_MS = 2000;
/** The signal of jobs on queues that cannot be cancelled. */
const NEVER_CANCELLED = new AbortController().signal;

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
    // Three parameters: BullMQ passes an AbortSignal only to a processor that declares one. Only
    // run queues look for cancel marks: flush and query jobs (the dashboard's hot path) have none.
    const processor = CANCELLABLE_QUEUES.includes(p.queue)
      ? async (job: Job, _token?: string, signal?: AbortSignal) => {
          const cancelled = await cancelledReason(ctx.redis, p.queue, job);
          if (cancelled) throw new UnrecoverableError(`cancelled: ${cancelled}`);
          const backstop = new AbortController();
          const poll = setInterval(() => {
            cancelledReason(ctx.redis, p.queue, job).then(
              (reason) => reason && backstop.abort(reason),
              () => undefined,
            );
          }, CANCEL_POLL_MS);
          try {
            return await fn(job, signal ? AbortSignal.any([signal, backstop.signal]) : backstop.signal);
          } finally {
            clearInterval(poll);
          }
        }
      : (job: Job) => fn(job, NEVER_CANCELLED);
    const worker = new Worker(p.queue, processor, {
      connection: bullConnection(ctx.config.redis.url),
      prefix: QUEUE_PREFIX,
      concurrency: p.concurrency,
      ...(p.lockMs ? { lockDuration: p.lockMs, stalledInterval: p.lockMs } : {}),
    });
    // Runs and seconds per queue and job name, for /metrics (every process adds to the same counters).
    const finished = (job: Job | undefined, status: 'completed' | 'failed') => {
      if (!job) return;
      const labels = { queue: p.queue, name: job.name };
      const m = ctx.redis.multi();
      bumpShared(m, SHARED_COUNTERS.jobRuns, { ...labels, status });
      if (job.processedOn && job.finishedOn) bumpShared(m, SHARED_COUNTERS.jobSeconds, labels, (job.finishedOn - job.processedOn) / 1000);
      m.exec().catch(() => undefined);
    };
    worker.on('completed', (job) => finished(job, 'completed'));
    worker.on('failed', (job, err) => {
      finished(job, 'failed');
      log.warn({ queue: p.queue, job: job?.id, name: job?.name, err: err.message }, 'job failed');
    });
    worker.on('error', (err) => log.error({ queue: p.queue, err: err.message }, 'worker error'));
    ctx.onClose(() => worker.close());
    started.set(p.queue, worker);
  }
  if ([...started.keys()].some((q) => CANCELLABLE_QUEUES.includes(q))) await listenForCancels(ctx, started);
  return started;
}

/** Cancel requests from any process reach the worker of this process that runs the job. */
async function listenForCancels(ctx: AppContext, workers: Map<QueueName, Worker>): Promise<void> {
  const sub = ctx.redis.duplicate();
  sub.on('error', () => undefined);
  sub.on('message', (_channel: string, raw: string) => {
    let msg: CancelMessage;
    try {
      msg = JSON.parse(raw) as CancelMessage;
    } catch {
      return;
    }
    if (workers.get(msg.queue)?.cancelJob(String(msg.id), String(msg.reason))) log.info({ queue: msg.queue, job: msg.id }, 'cancelling job');
  });
  await sub.subscribe(CANCEL_CHANNEL);
  ctx.onClose(async () => sub.disconnect());
}

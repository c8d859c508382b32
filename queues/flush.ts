// Warehouse loading. Raw rows load continuously (the raw loader in the process that owns the
// warehouse, each partition's range when full or FLUSH_EVERY_MS old); `flush:raw`, on demand
// (verify --flush, tests), waits until they are loaded up to where Kafka was when it began and
// reports what is pending. `flush:metrics` (repeatable, every FLUSH_EVERY_MS) finalises windows,
// sessions and sales. One at a time, in the process that owns the warehouse.
import type { AppContext } from '../src/context.ts';
import type { Config } from '../src/config.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';
import { jobResult } from './wait.ts';

export const FLUSH_RAW = 'flush:raw';
export const FLUSH_METRICS = 'flush:metrics';

export const flushSchedules = (config: Config): Schedule[] => [
  { id: FLUSH_METRICS, queue: QUEUES.flush, repeat: { every: config.stream.flushEveryMs } },
];

const FLUSH_JOB_OPTS = { removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } };

/** Waits until raw rows are loaded up to Kafka's end now (or, with FLUSH_METRICS, flushes metrics). */
export async function flushNow(ctx: AppContext, opts: { timeoutMs?: number; name?: typeof FLUSH_RAW | typeof FLUSH_METRICS } = {}): Promise<Record<string, unknown>> {
  const queue = ctx.queues[QUEUES.flush];
  const job = await queue.add(opts.name ?? FLUSH_RAW, {}, FLUSH_JOB_OPTS);
  return jobResult<Record<string, unknown>>(queue, ctx.queueEvents(QUEUES.flush), job, opts.timeoutMs ?? 120_000);
}

// Warehouse loading. `flush:raw` (repeatable, every FLUSH_EVERY_MS, and on demand) moves outbox
// rows into the warehouse; `flush:metrics` finalises windows, sessions and sales. One at a time,
// in the process that owns the warehouse.
import type { AppContext } from '../src/context.ts';
import type { Config } from '../src/config.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';
import { jobResult } from './wait.ts';

export const FLUSH_RAW = 'flush:raw';
export const FLUSH_METRICS = 'flush:metrics';

export const flushSchedules = (config: Config): Schedule[] => [
  { id: FLUSH_RAW, queue: QUEUES.flush, repeat: { every: config.stream.flushEveryMs } },
  { id: FLUSH_METRICS, queue: QUEUES.flush, repeat: { every: config.stream.flushEveryMs } },
];

const FLUSH_JOB_OPTS = { removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } };

/** Flushes raw rows (or, with FLUSH_METRICS, metrics) now and waits for it. */
export async function flushNow(ctx: AppContext, opts: { timeoutMs?: number; name?: typeof FLUSH_RAW | typeof FLUSH_METRICS } = {}): Promise<Record<string, unknown>> {
  const queue = ctx.queues[QUEUES.flush];
  const job = await queue.add(opts.name ?? FLUSH_RAW, {}, FLUSH_JOB_OPTS);
  return jobResult<Record<string, unknown>>(queue, ctx.queueEvents(QUEUES.flush), job, opts.timeoutMs ?? 120_000);
}

// Warehouse jobs. `flush:raw` (repeatable, every FLUSH_EVERY_MS, and on demand) moves outbox
// rows into the warehouse. `flush:query` runs a read query in the process that owns the
// warehouse: DuckDB allows one writing process, so other roles read through this job.
import type { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../src/config.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';

export const FLUSH_RAW = 'flush:raw';
export const FLUSH_QUERY = 'flush:query';
export const FLUSH_METRICS = 'flush:metrics';

export interface FlushQueryData {
  sql: string;
}

export const flushSchedules = (config: Config): Schedule[] => [
  { id: FLUSH_RAW, queue: QUEUES.flush, repeat: { every: config.stream.flushEveryMs } },
  { id: FLUSH_METRICS, queue: QUEUES.flush, repeat: { every: config.stream.flushEveryMs } },
];

const FLUSH_JOB_OPTS = { removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } };

/** Runs SQL where the warehouse lives and waits for the rows. */
export async function warehouseQuery<T = Record<string, unknown>>(queue: Queue, events: QueueEvents, sql: string, timeoutMs = 30_000): Promise<T[]> {
  const job = await queue.add(FLUSH_QUERY, { sql } satisfies FlushQueryData, { removeOnComplete: { age: 60 }, removeOnFail: { count: 100 } });
  return (await job.waitUntilFinished(events, timeoutMs)) as T[];
}

/** Flushes raw rows (or, with FLUSH_METRICS, metrics) now and waits for it. */
export async function flushNow(queue: Queue, events: QueueEvents, timeoutMs = 120_000, name: typeof FLUSH_RAW | typeof FLUSH_METRICS = FLUSH_RAW): Promise<Record<string, unknown>> {
  const job = await queue.add(name, {}, FLUSH_JOB_OPTS);
  return (await job.waitUntilFinished(events, timeoutMs)) as Record<string, unknown>;
}

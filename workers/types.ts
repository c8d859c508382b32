import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import type { QueueName } from '../queues/names.ts';

export interface QueueProcessor {
  queue: QueueName;
  concurrency: number;
  /**
   * Builds the processor once per worker process, with that process's connections; null when
   * this process should not serve the queue (e.g. another process owns the DuckDB file).
   */
  create(ctx: AppContext): ((job: Job) => Promise<unknown>) | null | Promise<((job: Job) => Promise<unknown>) | null>;
}

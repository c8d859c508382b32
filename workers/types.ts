import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import type { QueueName } from '../queues/names.ts';

export interface QueueProcessor {
  queue: QueueName;
  concurrency: number;
  /** Jobs of this queue running at once across every worker process (BullMQ global concurrency); unlimited when absent. */
  globalConcurrency?: number;
  /** Job lock and stall check, ms (BullMQ defaults: 30 s each): how soon a killed worker's job runs again. */
  lockMs?: number;
  /**
   * Builds the processor once per worker process, with that process's connections; null when
   * this process should not serve the queue (e.g. another process owns the DuckDB file). The
   * signal aborts when the job is cancelled (DELETE /api/runs/<queue>/<id>); a long processor
   * stops at it and throws.
   */
  create(ctx: AppContext): JobHandler | null | Promise<JobHandler | null>;
}

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<unknown>;


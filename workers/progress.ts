// Job progress for Bull Board and GET /api/runs. Best effort: an update that fails (a Redis blip,
// the job removed meanwhile) must neither fail the run nor crash the process unhandled.
import type { Job } from 'bullmq';
import { childLog } from '../src/log.ts';

const log = childLog('progress');

export function reportProgress(job: Job, progress: Record<string, unknown>): void {
  job.updateProgress(progress).catch((err: Error) => log.debug({ job: job.id, err: err.message }, 'progress update failed'));
}

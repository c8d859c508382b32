// Role `scheduler`: owns the repeatable jobs. Safe to run more than once: upserts are idempotent.
import type { AppContext } from '../context.ts';
import { schedulesFor } from '../../queues/schedules.ts';
import { childLog } from '../log.ts';
import { enqueueIngest, enqueueScan } from '../../queues/movies.ts';
import { CATALOG_HASHES_KEY } from '../movies/ingest.ts';
import { SAMPLE_CATALOG } from '../simulator/catalog.ts';
import { watchIncoming } from '../movies/watcher.ts';

const log = childLog('scheduler');

export const REPEATED_JOB_OPTS = { removeOnComplete: { count: 50 }, removeOnFail: { count: 200 } };

export async function startScheduler(ctx: AppContext): Promise<string> {
  const schedules = schedulesFor(ctx.config);
  for (const [name, queue] of Object.entries(ctx.queues)) {
    const wanted = new Set(schedules.filter((s) => s.queue === name).map((s) => s.id));
    for (const existing of await queue.getJobSchedulers()) {
      if (existing.key && !wanted.has(existing.key)) await queue.removeJobScheduler(existing.key);
    }
  }
  for (const s of schedules) {
    // A repeatable job runs every few seconds: only its latest runs are kept (Bull Board showed
    // pages of them, and Redis held every one).
    await ctx.queues[s.queue].upsertJobScheduler(s.id, s.repeat, { name: s.id, data: s.data ?? {}, opts: REPEATED_JOB_OPTS });
    log.info({ scheduler: s.id, queue: s.queue, repeat: s.repeat }, 'schedule upserted');
  }
  // A fresh install has no catalog: load the sample once, so sales have titles from the start.
  if (ctx.config.movies.seedSample && !(await ctx.redis.exists(CATALOG_HASHES_KEY))) await enqueueIngest(ctx.queues.movies, SAMPLE_CATALOG);
  // Files that arrived while nothing was watching: scan once now, then watch.
  await enqueueScan(ctx.queues.movies, 'scheduler start');
  const { incomingDir, watch, stableMs } = ctx.config.movies;
  if (watch) ctx.onClose(await watchIncoming(ctx.queues.movies, incomingDir, stableMs));
  return `schedules ${schedules.map((s) => s.id).join(', ')}${watch ? `; watching ${incomingDir}` : ''}`;
}

// BullMQ processor for the movies queue: scans enqueue ingests; an ingest parses the file on the
// Piscina pool, reports progress to Bull Board, and moves a file from incoming/ to
// processed/<date>/ once every changed item is in Kafka. A failing file stays where it is;
// its error is kept on the failed job (Bull Board, /api/runs) after the retries.
import fs from 'node:fs';
import path from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import { childLog } from '../src/log.ts';
import { SHARED_COUNTERS, bumpShared } from '../src/metrics.ts';
import { MovieIngestor } from '../src/movies/ingest.ts';
import { DataPathError, pinDataFile } from '../src/movies/data-path.ts';
import { SAMPLE_CATALOG } from '../src/simulator/catalog.ts';
import { FileChangedError } from '../src/movies/pinned-file.ts';
import { createParsePool } from '../src/movies/pool.ts';
import { MOVIES_INGEST, MOVIES_SCAN, enqueueIngest, incomingFiles, type MoviesIngestData, type MoviesIngestResult } from '../queues/movies.ts';
import { QUEUES } from '../queues/names.ts';
import { reportProgress } from './progress.ts';
import type { QueueProcessor } from './types.ts';

const log = childLog('movies');

/** processed/<YYYY-MM-DD>/<name>; a name already there gets the checksum prefix. */
export function moveToProcessed(file: string, processedDir: string, checksum: string, now = new Date()): string {
  const dir = path.join(processedDir, now.toISOString().slice(0, 10));
  fs.mkdirSync(dir, { recursive: true });
  let target = path.join(dir, path.basename(file));
  if (fs.existsSync(target)) target = path.join(dir, `${checksum.slice(0, 12)}-${path.basename(file)}`);
  fs.renameSync(file, target);
  return target;
}

export function createMoviesProcessor(ctx: AppContext) {
  const pool = createParsePool(ctx.config.movies.threads, ctx.config.movies.chunkBytes);
  const ingestor = new MovieIngestor(ctx, pool);
  ctx.onClose(async () => {
    await ingestor.close();
    await pool.destroy();
  });
  const { incomingDir, processedDir } = ctx.config.movies;

  return async (job: Job, signal: AbortSignal): Promise<unknown> => {
    if (job.name === MOVIES_SCAN) {
      const files = incomingFiles(incomingDir);
      const enqueued = [];
      for (const f of files) enqueued.push({ file: f, ...(await enqueueIngest(ctx.queues.movies, f)) });
      return { scanned: incomingDir, enqueued };
    }
    if (job.name !== MOVIES_INGEST) throw new Error(`unknown job ${job.name} on the movies queue`);
    const data = job.data as MoviesIngestData;
    // Checked where the file is opened: a job written straight into Redis names any path and
    // checksum it likes (the checksum becomes part of a file name in processed/).
    if (typeof data.checksum !== 'string' || !/^[0-9a-f]{64}$/.test(data.checksum)) throw new UnrecoverableError('refused: checksum must be 64 hex digits (a SHA-256)');
    let pinned: ReturnType<typeof pinDataFile>;
    try {
      pinned = pinDataFile(ctx.config.movies.dataDir, String(data.path), [SAMPLE_CATALOG]);
    } catch (err) {
      if (err instanceof DataPathError) throw new UnrecoverableError(`${err.message} (moved or deleted before it was processed, or never inside it)`);
      throw err;
    }
    data.path = pinned.path;
    try {
      const result = await ingestor.ingest(data.path, (p) => reportProgress(job, { ...p, percent: p.totalBytes ? Math.round((100 * p.bytes) / p.totalBytes) : 100 }), signal, pinned.identity);
      const fromIncoming = fs.existsSync(incomingDir) && path.dirname(data.path) === fs.realpathSync(incomingDir);
      const movedTo = fromIncoming ? moveToProcessed(data.path, processedDir, data.checksum) : null;
      await bumpShared(ctx.redis, SHARED_COUNTERS.moviesRuns, { status: 'succeeded' });
      log.info({ file: data.path, items: result.items, produced: result.produced, quarantined: result.quarantined, movedTo }, 'movie file ingested');
      return { ...result, checksum: data.checksum, movedTo } satisfies MoviesIngestResult;
    } catch (err) {
      await bumpShared(ctx.redis, SHARED_COUNTERS.moviesRuns, { status: 'failed' });
      if (err instanceof FileChangedError) throw new UnrecoverableError(err.message);
      if (signal.aborted) throw new UnrecoverableError(`cancelled (${String(signal.reason)}); the file stays where it is`);
      log.warn({ file: data.path, attempt: job.attemptsMade + 1, err: (err as Error).message }, 'movie file failed');
      throw err;
    }
  };
}

// One file at a time per worker: the pool already uses every core.
export const moviesProcessor: QueueProcessor = { queue: QUEUES.movies, concurrency: 1, create: createMoviesProcessor };

// Movie catalog jobs: `movies:scan` (repeatable, and at scheduler start) lists data/incoming/;
// `movies:ingest` parses one file. Ingest jobs are deduplicated by file checksum while one is
// queued or running, so the watcher and the scan never process the same bytes twice at once.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Config } from '../src/config.ts';
import type { IngestResult } from '../src/movies/ingest.ts';
import { openPinned, type FileIdentity } from '../src/movies/pinned-file.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';

export const MOVIES_SCAN = 'movies:scan';
export const MOVIES_INGEST = 'movies:ingest';

export interface MoviesScanData {
  reason?: string;
}
export interface MoviesIngestData {
  path: string;
  checksum: string;
  size: number;
}
export interface MoviesIngestResult extends IngestResult {
  checksum: string;
  /** Where the file went after success (only files from the incoming dir move). */
  movedTo: string | null;
}

export const moviesSchedules = (config: Config): Schedule[] => [
  { id: MOVIES_SCAN, queue: QUEUES.movies, repeat: { pattern: config.movies.scanCron }, data: { reason: 'schedule' } },
];

/** SHA-256 of a regular file, opened without following a final symlink or blocking on a FIFO. */
export async function fileChecksum(file: string, identity?: FileIdentity): Promise<{ checksum: string; size: number }> {
  const { fd, size } = openPinned(file, identity);
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream('', { fd, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return { checksum: hash.digest('hex'), size };
}

/** Files waiting in the incoming dir (regular, not hidden, not partial uploads). */
export function incomingFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.startsWith('.') && !/\.(part|partial|tmp|crdownload)$/i.test(d.name))
    .map((d) => path.join(dir, d.name))
    .sort();
}

/** `identity`: the file a caller checked (pinDataFile); the checksum is then of that file only. */
export async function enqueueIngest(queue: Queue, file: string, identity?: FileIdentity): Promise<{ jobId: string; checksum: string }> {
  const abs = path.resolve(file);
  const { checksum, size } = await fileChecksum(abs, identity);
  const data: MoviesIngestData = { path: abs, checksum, size };
  const job = await queue.add(MOVIES_INGEST, data, {
    deduplication: { id: `movies:${checksum}` },
    attempts: 3,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 1000 },
  });
  return { jobId: job.id!, checksum };
}

export function enqueueScan(queue: Queue, reason: string) {
  return queue.add(MOVIES_SCAN, { reason } satisfies MoviesScanData, { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } });
}

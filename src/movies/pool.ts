// The Piscina pool that parses Movies.txt ranges (workers/movies-chunk.task.ts).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { ChunkResult, ChunkTask } from './chunk-task.ts';

const WORKERS = path.resolve(import.meta.dirname, '..', '..', 'workers');

export type ParsePool = Piscina<ChunkTask, ChunkResult>;

export function createParsePool(threads: number): ParsePool {
  return new Piscina<ChunkTask, ChunkResult>({
    filename: pathToFileURL(path.join(WORKERS, 'thread-entry.mjs')).href,
    workerData: { taskModule: pathToFileURL(path.join(WORKERS, 'movies-chunk.task.ts')).href },
    minThreads: threads,
    maxThreads: threads,
    // A range needs a few tens of MB; a capped heap makes V8 collect instead of growing,
    // which keeps the process's memory flat whatever the file size.
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
}

// The Piscina pool that parses Movies.txt ranges (workers/movies-chunk.task.ts).
import type { Piscina } from 'piscina';
import { createTaskPool } from '../threads.ts';
import type { ChunkResult, ChunkTask } from './chunk-task.ts';

export type ParsePool = Piscina<ChunkTask, ChunkResult>;

export function createParsePool(threads: number): ParsePool {
  return createTaskPool<ChunkTask, ChunkResult>('movies-chunk.task.ts', {
    minThreads: threads,
    maxThreads: threads,
    // A range task waits once or twice for the hash store: another range scans meanwhile.
    concurrentTasksPerWorker: 2,
    // A range needs a few tens of MB; a capped heap makes V8 collect instead of growing,
    // which keeps the process's memory flat whatever the file size.
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
}

// The Piscina pool that parses Movies.txt ranges (workers/movies-chunk.task.ts).
import type { Piscina } from 'piscina';
import { createTaskPool } from '../threads.ts';
import type { ChunkResult, ChunkTask } from './chunk-task.ts';

export type ParsePool = Piscina<ChunkTask, ChunkResult>;

export function createParsePool(threads: number, chunkBytes: number): ParsePool {
  return createTaskPool<ChunkTask, ChunkResult>('movies-chunk.task.ts', {
    minThreads: threads,
    maxThreads: threads,
    // A range task waits once or twice for the hash store: another range scans meanwhile.
    concurrentTasksPerWorker: 2,
    // A capped heap makes V8 collect instead of growing, which keeps the process's memory flat
    // whatever the file size; a range needs up to about 2 MB of it per MB, and a thread holds two.
    resourceLimits: { maxOldGenerationSizeMb: 64 + 4 * Math.ceil(chunkBytes / 2 ** 20), maxYoungGenerationSizeMb: 16 },
  });
}

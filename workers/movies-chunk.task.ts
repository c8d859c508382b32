// Piscina task: parse, enrich and encode one byte range of Movies.txt in a worker thread.
// The logic lives in src/movies/chunk-task.ts so it can also run (and be measured) inline.
import { processChunk, type ChunkTask } from '../src/movies/chunk-task.ts';

export default function movieChunk(task: ChunkTask) {
  return processChunk(task);
}

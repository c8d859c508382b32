// One file → Kafka in a process of its own (bench/movies.ts): the ingest's peak RSS is then the
// ingest's, not the benchmark's earlier stages' (whose freed memory the process may keep).
// Prints one JSON line: items produced, the run's duration, peak RSS in MB.
import { AppContext } from '../src/context.ts';
import { loadConfig } from '../src/config.ts';
import { MovieIngestor } from '../src/movies/ingest.ts';
import { createParsePool } from '../src/movies/pool.ts';
import { rssSampler } from './env.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: movies-ingest.child.ts <Movies.txt>');
const config = loadConfig(process.env);
const ctx = new AppContext(config);
await ctx.prepare();
const pool = createParsePool(config.movies.threads, config.movies.chunkBytes);
const ingestor = new MovieIngestor(ctx, pool);
const peak = rssSampler();
const result = await ingestor.ingest(file, (p) => {
  if (p.items % 250_000 < 3_000) process.stderr.write(`[bench]   ${(p.bytes / 1e6).toFixed(0)} MB, ${p.produced} produced\n`);
});
const peakRssMb = peak();
await ingestor.close();
await pool.destroy();
await ctx.close();
process.stdout.write(`${JSON.stringify({ produced: result.produced, items: result.items, durationMs: result.durationMs, peakRssMb })}\n`);

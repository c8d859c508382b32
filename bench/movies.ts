// Movies.txt on a generated file of at least 1 GB: parse throughput with one thread and with the
// pool (the same chunk task either way: parse, enrich, Avro-encode), peak RSS, file → Kafka items/s.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../src/config.ts';
import { AppContext } from '../src/context.ts';
import { planChunks } from '../src/movies/chunks.ts';
import { generateMovies } from '../src/movies/generate.ts';
import { CATALOG_HASHES_KEY, MovieIngestor } from '../src/movies/ingest.ts';
import { createParsePool } from '../src/movies/pool.ts';
import { progress, rssSampler } from './env.ts';

const ITEMS = Number(process.env.BENCH_MOVIES_ITEMS ?? 3_100_000); // ≈ 1.07 GB

async function parseOnly(file: string, threads: number, chunkBytes: number): Promise<{ mbPerS: number; peakRssMb: number; items: number }> {
  const pool = createParsePool(threads);
  const { ranges } = await planChunks(file, chunkBytes);
  const size = ranges[ranges.length - 1]!.end;
  const peak = rssSampler();
  const started = performance.now();
  let items = 0;
  let next = 0;
  // Same bounded pipelining as the ingest loop: one range per thread plus one waiting.
  const pending: Array<Promise<{ itemIds: string[] }>> = [];
  const submit = () => {
    while (next < ranges.length && pending.length < threads + 1) {
      const r = ranges[next++]!;
      pending.push(pool.run({ file, start: r.start, end: r.end, schemaId: 1, timestamp: new Date().toISOString() }));
    }
  };
  submit();
  while (pending.length) {
    items += (await pending.shift()!).itemIds.length;
    submit();
  }
  const secs = (performance.now() - started) / 1000;
  await pool.destroy();
  return { mbPerS: size / 1e6 / secs, peakRssMb: peak(), items };
}

export async function benchMovies(config: Config): Promise<{ figures: Record<string, number>; notes: string[] }> {
  const file = path.join(config.localDir, 'movies-bench.txt');
  if (!fs.existsSync(file) || fs.statSync(file).size < 1e9) {
    progress(`generating ${ITEMS} records into ${file}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await generateMovies({ items: ITEMS, out: file, seed: 2026, edgeRate: 0.02 });
  }
  const bytes = fs.statSync(file).size;
  progress(`file: ${(bytes / 1e9).toFixed(2)} GB`);
  const chunk = config.movies.chunkBytes;

  progress('parse, 1 thread');
  const one = await parseOnly(file, 1, chunk);
  progress(`  ${one.mbPerS.toFixed(1)} MB/s`);
  progress(`parse, pool of ${config.movies.threads}`);
  const pool = await parseOnly(file, config.movies.threads, chunk);
  progress(`  ${pool.mbPerS.toFixed(1)} MB/s, peak RSS ${pool.peakRssMb} MB`);

  progress('file → Kafka (every item new)');
  const ctx = new AppContext(config);
  await ctx.prepare();
  await ctx.redis.del(CATALOG_HASHES_KEY);
  const ingestPool = createParsePool(config.movies.threads);
  const ingestor = new MovieIngestor(ctx, ingestPool);
  const peak = rssSampler();
  const result = await ingestor.ingest(file, (p) => {
    if (p.items % 250_000 < 20_000) progress(`  ${(p.bytes / 1e6).toFixed(0)} MB, ${p.produced} produced`);
  });
  const ingestPeak = peak();
  const itemsPerS = result.produced / (result.durationMs / 1000);
  progress(`  ${itemsPerS.toFixed(0)} items/s, peak RSS ${ingestPeak} MB`);
  // The same file again, every item unchanged: hashed in the parse workers and skipped there,
  // beside the way before (every item enriched and encoded, then skipped on the main thread).
  const rerun = async (hashFirst: boolean) => {
    const ing = new MovieIngestor(ctx, ingestPool, hashFirst);
    const r = await ing.ingest(file);
    await ing.close();
    if (r.produced !== 0) throw new Error(`an unchanged re-run produced ${r.produced} items`);
    return bytes / 1e6 / (r.durationMs / 1000);
  };
  progress('unchanged re-run, hash first in the workers');
  const unchanged = await rerun(true);
  progress(`  ${unchanged.toFixed(1)} MB/s`);
  progress('unchanged re-run, every item encoded (the way before)');
  const unchangedBefore = await rerun(false);
  progress(`  ${unchangedBefore.toFixed(1)} MB/s`);
  await ingestor.close();
  await ingestPool.destroy();
  await ctx.redis.del(CATALOG_HASHES_KEY); // half a million keys of bench state
  await ctx.close();

  return {
    figures: {
      movies_file_gb: Number((bytes / 1e9).toFixed(2)),
      movies_parse_single_thread_mb_per_s: Number(one.mbPerS.toFixed(1)),
      movies_parse_mb_per_s: Number(pool.mbPerS.toFixed(1)),
      movies_parse_pool_speedup_x: Number((pool.mbPerS / one.mbPerS).toFixed(2)),
      movies_parse_peak_rss_mb: pool.peakRssMb,
      movies_file_to_kafka_items_per_s: Math.round(itemsPerS),
      movies_file_to_kafka_peak_rss_mb: ingestPeak,
      movies_unchanged_rerun_mb_per_s: Number(unchanged.toFixed(1)),
      movies_unchanged_rerun_encode_all_mb_per_s: Number(unchangedBefore.toFixed(1)),
    },
    notes: [
      `Movies.txt: ${(bytes / 1e9).toFixed(2)} GB, ${result.items} records (generated, 2 % edge cases), ${chunk / 2 ** 20} MB ranges, pool of ${config.movies.threads}.`,
      'Parse = the whole range task (parse, enrich, content hash, Avro encode) on the Piscina pool, results handed back to the main thread.',
      'Targets (issue #3): parse at least 150 MB/s with the pool and 1.7 times one thread; peak RSS under 512 MB.',
      `File → Kafka: ${result.produced} items produced with acks=all through the idempotent producer, hashes checked and stored in Redis.`,
      'Unchanged re-run: the same file again, nothing to produce; hash first = each parse worker hashes its range and looks the stored hashes up in one round trip, and enriches and encodes only what changed (none here); encode all = every item enriched and encoded, then skipped on the main thread (the way before 2026-12-03). Target (issue #15): 250 MB/s.',
    ],
  };
}

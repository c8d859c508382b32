// An unchanged range of Movies.txt is skipped whole (range-skip.ts) only when parsing it would
// produce nothing: the same bytes, and the catalog holding the value each of its records left.
// A skipped range reports what parsing it did: its items, lines and quarantined lines. Through
// the real ingestor: parse pool, Kafka, Redis.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { planChunks } from '../../src/movies/chunks.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { CATALOG_HASHES_KEY, MovieIngestor, type IngestResult } from '../../src/movies/ingest.ts';
import { createParsePool, type ParsePool } from '../../src/movies/pool.ts';
import { rangeRecordsKey } from '../../src/movies/range-skip.ts';
import { testConfig } from '../helpers/env.ts';

describe('Movies.txt ranges skipped whole', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-range-skip-'));
  const ctx = new AppContext(testConfig({ MOVIES_CHUNK_MB: '1', DATA_DIR: dir }));
  const file = path.join(dir, 'ranges.txt');
  const ITEMS = 12_000; // about 4 MB: four ranges of 1 MB
  let pool: ParsePool;
  let ingestor: MovieIngestor;
  let ranges: Array<{ start: number; end: number }>;
  const quarantined = (r: IngestResult) => fs.readFileSync(r.quarantineFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; text: string });

  beforeAll(async () => {
    await ctx.prepare();
    await ctx.redis.del(CATALOG_HASHES_KEY, rangeRecordsKey(CATALOG_HASHES_KEY, 'ranges.txt'));
    await generateMovies({ items: ITEMS, out: file, seed: 23, edgeRate: 0, firstId: 700_000 });
    // One bad line in the last range: its line number must come out the same whether the
    // ranges were parsed or skipped.
    fs.appendFileSync(file, 'ITEM 799999\nTitle=Last\nnot a key value line\n');
    ranges = (await planChunks(file, ctx.config.movies.chunkBytes)).ranges;
    pool = createParsePool(2, ctx.config.movies.chunkBytes);
    ingestor = new MovieIngestor(ctx, pool);
  }, 120_000);

  afterAll(async () => {
    await ctx.redis.del(CATALOG_HASHES_KEY, rangeRecordsKey(CATALOG_HASHES_KEY, 'ranges.txt'));
    await ingestor?.close();
    await pool?.destroy();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('skips every range of an unchanged file, and reports its items, lines and quarantined lines as parsing did', { timeout: 180_000 }, async () => {
    expect(ranges.length).toBeGreaterThanOrEqual(4);
    const first = await ingestor.ingest(file);
    expect(first).toMatchObject({ items: ITEMS + 1, produced: ITEMS + 1, quarantined: 1, rangesSkipped: 0 });
    const again = await ingestor.ingest(file);
    expect(again).toMatchObject({ items: ITEMS + 1, produced: 0, unchanged: ITEMS + 1, quarantined: 1, rangesSkipped: ranges.length });
    expect(quarantined(again)).toEqual(quarantined(first));
    expect(quarantined(again)[0]!.text).toBe('not a key value line');
  });

  it('parses a range again when one of its items has another value in the catalog, and produces that item', { timeout: 180_000 }, async () => {
    // An item of the second range, as if another run had stored another version of it (one
    // stored before span hashes were: the span skip cannot skip it either).
    const text = fs.readFileSync(file, 'latin1');
    const id = /^ITEM (\d+)$/m.exec(text.slice(ranges[1]!.start, ranges[1]!.end))![1]!;
    const before = await ctx.redis.hget(CATALOG_HASHES_KEY, id);
    await ctx.redis.hset(CATALOG_HASHES_KEY, id, '0000000000000000');
    const r = await ingestor.ingest(file);
    expect(r).toMatchObject({ items: ITEMS + 1, produced: 1, rangesSkipped: ranges.length - 1 });
    expect(await ctx.redis.hget(CATALOG_HASHES_KEY, id)).toBe(before);
    // Gone from the catalog: the same.
    await ctx.redis.hdel(CATALOG_HASHES_KEY, id);
    expect(await ingestor.ingest(file)).toMatchObject({ produced: 1, rangesSkipped: ranges.length - 1 });
    expect(await ingestor.ingest(file)).toMatchObject({ produced: 0, rangesSkipped: ranges.length });
  });

  it('parses a range again when one of its bytes changed, and produces the record that changed', { timeout: 180_000 }, async () => {
    const bytes = fs.readFileSync(file);
    // The same length, so the other ranges keep their bytes.
    const at = bytes.indexOf('Title=', ranges[2]!.start) + 'Title='.length;
    bytes[at] = bytes[at] === 0x51 ? 0x52 : 0x51;
    fs.writeFileSync(file, bytes);
    expect(await ingestor.ingest(file)).toMatchObject({ items: ITEMS + 1, produced: 1, rangesSkipped: ranges.length - 1 });
    expect(await ingestor.ingest(file)).toMatchObject({ produced: 0, rangesSkipped: ranges.length });
  });

  it('keeps records only for the places the ranges of the file start at now', { timeout: 180_000 }, async () => {
    const key = rangeRecordsKey(CATALOG_HASHES_KEY, 'ranges.txt');
    expect((await ctx.redis.hkeys(key)).map(Number).sort((a, b) => a - b)).toEqual(ranges.map((r) => r.start));
    fs.truncateSync(file, ranges[2]!.start); // two ranges left
    expect(await ingestor.ingest(file)).toMatchObject({ produced: 0, rangesSkipped: 2 });
    expect((await ctx.redis.hkeys(key)).map(Number).sort((a, b) => a - b)).toEqual([ranges[0]!.start, ranges[1]!.start]);
  });
});

// Found in review on 2026-12-04: a 64 MB range of small records (500k ids) ran its parse thread
// out of memory once ranges were recorded, and before that its catalog lookup, one HMGET with
// every id spread as an argument, threw and was taken for "nothing stored": every run
// produced every item again.
describe('Movies.txt ranges of half a million records', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-range-large-'));
  const ctx = new AppContext(testConfig({ MOVIES_CHUNK_MB: '64', DATA_DIR: dir }));
  const file = path.join(dir, 'small-records.txt');
  const ITEMS = 500_000;
  let pool: ParsePool;
  let ingestor: MovieIngestor;

  beforeAll(async () => {
    await ctx.prepare();
    await ctx.redis.del(CATALOG_HASHES_KEY, rangeRecordsKey(CATALOG_HASHES_KEY, 'small-records.txt'));
    fs.writeFileSync(file, Array.from({ length: ITEMS }, (_, i) => `ITEM s${i}\nTitle=${i % 7}\n`).join(''));
    pool = createParsePool(2, ctx.config.movies.chunkBytes);
    ingestor = new MovieIngestor(ctx, pool);
  }, 120_000);

  afterAll(async () => {
    await ctx.redis.del(CATALOG_HASHES_KEY, rangeRecordsKey(CATALOG_HASHES_KEY, 'small-records.txt'));
    await ingestor?.close();
    await pool?.destroy();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('produces them once, then nothing, with and without the range record', { timeout: 300_000 }, async () => {
    expect((await planChunks(file, ctx.config.movies.chunkBytes)).ranges).toHaveLength(1);
    expect(await ingestor.ingest(file)).toMatchObject({ items: ITEMS, produced: ITEMS, rangesSkipped: 0 });
    expect(await ingestor.ingest(file)).toMatchObject({ items: ITEMS, produced: 0, unchanged: ITEMS, rangesSkipped: 1 });
    await ctx.redis.del(rangeRecordsKey(CATALOG_HASHES_KEY, 'small-records.txt'));
    expect(await ingestor.ingest(file)).toMatchObject({ items: ITEMS, produced: 0, unchanged: ITEMS, rangesSkipped: 0 });
  });
});

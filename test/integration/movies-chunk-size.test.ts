// The largest range size the configuration accepts (MOVIES_CHUNK_MB) must parse on the pool:
// a parse thread's heap is capped, and two ranges share a thread at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planChunks } from '../../src/movies/chunks.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { createParsePool } from '../../src/movies/pool.ts';
import { testConfig } from '../helpers/env.ts';

describe('Movies.txt range size', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-chunk-size-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('parses ranges of the largest MOVIES_CHUNK_MB allowed, two at once per thread', { timeout: 300_000 }, async () => {
    expect(() => testConfig({ MOVIES_CHUNK_MB: '65' })).toThrow(/MOVIES_CHUNK_MB/);
    const config = testConfig({ MOVIES_CHUNK_MB: '64' });
    const file = path.join(dir, 'big.txt');
    const items = 400_000; // about 140 MB: two full ranges and a rest
    await generateMovies({ items, out: file, seed: 5, edgeRate: 0.02 });
    const pool = createParsePool(2, config.movies.chunkBytes);
    try {
      const { ranges } = await planChunks(file, config.movies.chunkBytes);
      expect(ranges.length).toBeGreaterThanOrEqual(3);
      const results = await Promise.all(ranges.map((r) => pool.run({ file, start: r.start, end: r.end, schemaId: 1, timestamp: '2026-12-04T00:00:00.000Z' })));
      expect(results.reduce((n, r) => n + r.itemIds.length, 0)).toBe(items);
    } finally {
      await pool.destroy();
    }
  });
});

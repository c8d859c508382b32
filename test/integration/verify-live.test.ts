// `segpipe verify` under live traffic: each partition's account (offsets the loader passed =
// rows + duplicates + dead letters) is read in one warehouse statement, so events arriving and
// loading while verify runs can only show as pending, never as a false difference.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { QUEUES } from '../../queues/names.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, waitFor } from '../helpers/stream.ts';

describe('verify while events arrive and load', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-verify-live-'));
  const env = { ...ownTopicsEnv('vl'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), FLUSH_EVERY_MS: '200' };
  const ctx = new AppContext(testConfig(env));

  beforeAll(async () => {
    await ctx.prepare();
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse]); // this process owns the warehouse and runs its loader
  }, 120_000);
  afterAll(async () => {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports no difference at any moment, and pending while the loader is behind', { timeout: 240_000 }, async () => {
    const { items } = await loadCatalog(ctx.redis);
    const producer = new EventProducer(ctx);
    let producing = true;
    const produced = (async () => {
      for (let run = 0; run < 12; run++) await producer.send(simulate({ seed: 300 + run, events: 4000, start: Date.UTC(2026, 2, 1) + run * 86_400_000, userPrefix: unique(`vl${run}`) }, items), { batchSize: 500 });
      producing = false;
    })();
    let reports = 0;
    let sawPending = false;
    while (producing) {
      const r = await reconcile(ctx);
      reports++;
      expect(r.partitions.filter((p) => p.difference !== 0)).toEqual([]);
      if (r.partitions.some((p) => p.pending > 0 && p.loaded > 0)) sawPending = true;
    }
    await produced;
    await producer.close();
    expect(reports).toBeGreaterThan(3);
    expect(sawPending, 'verify ran while the loader was part way').toBe(true);
    await waitFor('the loader to catch up', async () => (await reconcile(ctx)).partitions.every((p) => p.pending === 0), 120_000);
    const last = await reconcile(ctx);
    expect(last.ok).toBe(true);
    expect(last.partitions.reduce((n, p) => n + p.warehouse, 0)).toBe(12 * 4000);
  });
});

// The flush worker SIGKILLed between MERGE and trim: a worker process holds after its first
// merge (fault injection), is killed there, and a fresh worker flushes again. The warehouse must
// end with every produced event exactly once, and the outboxes empty.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { outboxDepths } from '../../src/stream/flush.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { shardCount } from '../../src/state/scripts.ts';
import { rawTables } from '../../src/warehouse/tables.ts';
import { FLUSH_RAW } from '../../queues/flush.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { ownTopicsEnv, resetStreamState, settle, userRowCounts, waitFor } from '../helpers/stream.ts';

describe('flush worker killed between MERGE and trim', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-flush-kill-'));
  const env = { ...ownTopicsEnv('fk'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('flush-kill') };
  const ctx = new AppContext(testConfig(env));
  const procs = new RoleProcesses(dir, env);
  let stream: StreamConsumer;

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    await ctx.queues.flush.obliterate({ force: true });
    stream = new StreamConsumer(ctx, { groupId: ctx.config.stream.groupId, maxOutbox: ctx.config.stream.outboxMax });
    await stream.start();
  });
  afterAll(async () => {
    await procs.killAll();
    await stream.stop();
    await ctx.queues.flush.obliterate({ force: true });
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('re-merges the rows the killed flush merged but did not trim, and ends with each event exactly once', { timeout: 180_000 }, async () => {
    const prefix = unique('fk');
    const { items } = await loadCatalog(ctx.redis);
    const events = [...simulate({ seed: 808, events: 30_000, start: Date.parse('2026-10-01T00:00:00Z'), userPrefix: prefix }, items)];
    const expected = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, events.filter((x) => x.eventName === e).length]));
    const producer = new EventProducer(ctx);
    await producer.send(events);
    await producer.close();
    // Everything consumed into the outboxes; no worker runs yet, so nothing is flushed.
    const tables = [...rawTables().values()];
    const shards = shardCount(ctx.config);
    const total = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);
    await waitFor('the stream to consume every event', async () => total(await outboxDepths(ctx.redis, tables, shards)) === 30_000);

    const marker = path.join(dir, 'merged.pid');
    const holding = procs.start('worker', 'holding', { SEGPIPE_FAULT_HOLD_AFTER_MERGE: marker });
    await ctx.queues.flush.add(FLUSH_RAW, {});
    await waitFor('the first merge to commit', () => fs.existsSync(marker), 60_000);
    // Queries have their own queue: the held flush job does not keep them waiting, and they see
    // the committed merge.
    const whileHeld = Object.values(await userRowCounts(ctx, prefix)).reduce((a, c) => a + c.n, 0);
    expect(whileHeld).toBeGreaterThan(0);
    expect(whileHeld).toBeLessThanOrEqual(30_000);
    await procs.kill9(holding);
    // Merged (committed in DuckDB) but not trimmed: every row is still in the outboxes.
    expect(total(await outboxDepths(ctx.redis, tables, shards))).toBe(30_000);

    const fresh = procs.start('worker', 'fresh');
    await settle(ctx, 120_000);
    expect(total(await outboxDepths(ctx.redis, tables, shards))).toBe(0);
    const got = await userRowCounts(ctx, prefix);
    for (const e of USER_EVENT_NAMES) expect(got[e], e).toEqual({ n: expected[e], d: expected[e] });
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0)).toEqual([]);
    await procs.kill9(fresh);
  });
});

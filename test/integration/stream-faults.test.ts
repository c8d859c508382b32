// Faults against the real stack: stream processes SIGKILLed mid-run, two stream processes in one
// group, and a warehouse outage long enough to fill the outbox. Afterwards the warehouse must
// hold exactly the produced events: none lost, none twice.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { outboxDepths } from '../../src/stream/flush.ts';
import { shardCount } from '../../src/state/scripts.ts';
import { rawTables } from '../../src/warehouse/tables.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { QUEUES } from '../../queues/names.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { ownTopicsEnv, resetStreamState, settle as settleStream, userRowCounts, ownedQuery } from '../helpers/stream.ts';

describe('exactly once under faults', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-faults-'));
  // Topics of its own, in event-time order, so windows and lateness behave as in production.
  const env = { ...ownTopicsEnv('f'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('faults'), FLUSH_EVERY_MS: '500', OUTBOX_MAX: '3000', ALLOWED_LATENESS_MS: '600000' };
  const ctx = new AppContext(testConfig(env));
  const query = ownedQuery(ctx);
  const procs = new RoleProcesses(dir, env);
  const startStream = (name: string) => procs.start('stream', name);
  const kill9 = (child: ChildProcess) => procs.kill9(child);
  let flushWorker: Worker;

  const produce = async (prefix: string, events: number, seed: number, start: string) => {
    const { items } = await loadCatalog(ctx.redis);
    const expected: Record<string, number> = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, 0]));
    const list = [...simulate({ seed, events, start: Date.parse(start), userPrefix: prefix }, items)];
    for (const e of list) expected[e.eventName]! += 1;
    const producer = new EventProducer(ctx);
    const sent = producer.send(list).finally(() => producer.close());
    return { expected, sent };
  };
  const settle = () => settleStream(ctx);
  const expectExactly = async (prefix: string, expected: Record<string, number>) => {
    const got = await userRowCounts(ctx, prefix);
    for (const e of USER_EVENT_NAMES) expect(got[e], e).toEqual({ n: expected[e], d: expected[e] });
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0)).toEqual([]);
    // Windowed metrics and sales, recomputed from the raw rows, equal what the stream kept.
    await flushNow(ctx, { name: FLUSH_METRICS });
    const oracle = await warehouseQuery(ctx, 'oracleDiff', {}, 120_000);
    expect(oracle.diffs).toEqual([]);
    expect(oracle.finalWindows).toBeGreaterThan(0);
  };

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    await ctx.queues.flush.obliterate({ force: true });
    // This process owns the DuckDB file and serves flushes and queries.
    flushWorker = (await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse])).get(QUEUES.flush)!;
    await ctx.queues.flush.upsertJobScheduler('flush:raw', { every: 500 }, { name: 'flush:raw' });
  });
  afterAll(async () => {
    await procs.killAll();
    await ctx.queues.flush.removeJobScheduler('flush:raw');
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('200k events with the stream process SIGKILLed 5 times: warehouse rows equal the produced events, metrics equal the oracle', { timeout: 300_000 }, async () => {
    const prefix = unique('kill');
    const { expected, sent } = await produce(prefix, 200_000, 31337, '2026-09-01T00:00:00Z');
    let child = startStream('kill-0');
    for (let k = 1; k <= 5; k++) {
      await sleep(2500 + Math.floor(Math.random() * 2500)); // mid-batch, mid-commit: anywhere
      await kill9(child);
      child = startStream(`kill-${k}`);
    }
    expect(await sent).toBe(200_000);
    await settle();
    await expectExactly(prefix, expected);
    await kill9(child);
  });

  it('two stream processes in one group end with exactly the produced events and the oracle\'s metrics', { timeout: 240_000 }, async () => {
    const prefix = unique('two');
    const a = startStream('two-a');
    const b = startStream('two-b');
    const { expected, sent } = await produce(prefix, 50_000, 4711, '2026-09-10T00:00:00Z');
    expect(await sent).toBe(50_000);
    await settle();
    await expectExactly(prefix, expected);
    await Promise.all([kill9(a), kill9(b)]);
  });

  it('a 30 s warehouse outage fills the outbox to its bound, pauses consumption, and loses nothing', { timeout: 240_000 }, async () => {
    const prefix = unique('outage');
    const child = startStream('outage');
    await sleep(3000); // let it join the group
    // The outage: no flush succeeds, so nothing leaves the outboxes.
    await ctx.queues.flush.removeJobScheduler('flush:raw');
    await flushWorker.pause();
    const { expected, sent } = await produce(prefix, 60_000, 99, '2026-09-20T00:00:00Z');
    expect(await sent).toBe(60_000);

    const tables = [...rawTables().values()];
    const shards = shardCount(ctx.config);
    const started = Date.now();
    let depth: Record<string, number> = {};
    while (Date.now() - started < 30_000) {
      depth = await outboxDepths(ctx.redis, tables, shards);
      await sleep(1000);
    }
    // Paused, not dropping: every item_view shard stopped at its bound of 3000...
    expect(depth.raw_item_view).toBe(3000 * ctx.config.kafka.partitions);
    // ...and the rest of the item views are still waiting in Kafka.
    const admin = await ctx.admin();
    const high = await admin.fetchTopicOffsets(ctx.config.topics.item_view);
    const [committed] = await admin.fetchOffsets({ groupId: env.STREAM_GROUP_ID, topics: [ctx.config.topics.item_view] });
    const lag = high.reduce((s, p) => s + Number(p.high) - Math.max(0, Number(committed!.partitions.find((c) => c.partition === p.partition)!.offset)), 0);
    expect(lag).toBeGreaterThan(0);

    // Recovery: flushes succeed again; the stream resumes and catches up.
    flushWorker.resume();
    await ctx.queues.flush.upsertJobScheduler('flush:raw', { every: 500 }, { name: 'flush:raw' });
    await settle();
    await expectExactly(prefix, expected);
    await kill9(child);
  });
});

// Faults against the real stack: stream processes SIGKILLed mid-run, two stream processes in one
// group, and a warehouse outage with events piling up behind it. Afterwards the warehouse must
// hold exactly the produced events, none lost, none twice, and the metrics equal the oracle's.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_EVENT_NAMES, USER_EVENT_NAMES } from '../../src/config.ts';
import { shardKeys } from '../../src/state/scripts.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { ownedWarehouse } from '../../workers/warehouse-owner.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES, QUEUE_PREFIX } from '../../queues/names.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { oracleDiff, ownTopicsEnv, resetStreamState, settle as settleStream, userRowCounts, ownedQuery } from '../helpers/stream.ts';

describe('exactly once under faults', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-faults-'));
  // Topics of its own, in event-time order, so windows and lateness behave as in production.
  const env = { ...ownTopicsEnv('f'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('faults'), FLUSH_EVERY_MS: '500', ALLOWED_LATENESS_MS: '600000' };
  const ctx = new AppContext(testConfig(env));
  const query = ownedQuery(ctx);
  const procs = new RoleProcesses(dir, env);
  const startStream = (name: string) => procs.start('stream', name);
  const kill9 = (child: ChildProcess) => procs.kill9(child);

  const produce = async (prefix: string, events: number, seed: number, start: string) => {
    const { items } = await loadCatalog(ctx.redis);
    const expected: Record<string, number> = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, 0]));
    const list = [...simulate({ seed, events, start: Date.parse(start), userPrefix: prefix }, items)];
    let rawJsonBytes = 0;
    for (const e of list) {
      expected[e.eventName]! += 1;
      rawJsonBytes += JSON.stringify(e).length;
    }
    const producer = new EventProducer(ctx);
    const sent = producer.send(list).finally(() => producer.close());
    return { expected, sent, rawJsonBytes };
  };
  const settle = () => settleStream(ctx);
  const expectExactly = async (prefix: string, expected: Record<string, number>) => {
    const got = await userRowCounts(ctx, prefix);
    for (const e of USER_EVENT_NAMES) expect(got[e], e).toEqual({ n: expected[e], d: expected[e] });
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0)).toEqual([]);
    // Windowed metrics and sales, recomputed from the raw rows, equal what the stream kept.
    await flushNow(ctx, { name: FLUSH_METRICS });
    const oracle = await oracleDiff(ctx);
    expect(oracle.diffs).toEqual([]);
    expect(oracle.finalWindows).toBeGreaterThan(0);
  };

  /** Every key of the test Redis with its MEMORY USAGE in bytes. */
  const redisUsage = async (c: AppContext): Promise<Map<string, number>> => {
    const usage = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, keys] = await c.redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) usage.set(key, Number((await c.redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0));
    } while (cursor !== '0');
    return usage;
  };

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    await ctx.queues.flush.obliterate({ force: true });
    // This process owns the DuckDB file and serves flushes and queries.
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse]);
  });
  afterAll(async () => {
    await procs.killAll();
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

  it('a 60 s warehouse outage with 1M events behind it: the state path goes on, raw rows wait in Kafka (not in Redis), and nothing is lost', { timeout: 600_000 }, async () => {
    const prefix = unique('outage');
    const child = startStream('outage');
    const w = (await ownedWarehouse(ctx))!;
    await sleep(3000); // let it join the group
    // The outage: every load fails (on the real warehouse object, so the loader's retries meet it).
    const load = w.loadRaw;
    w.loadRaw = () => Promise.reject(new Error('injected: the warehouse is unreachable'));
    try {
      const events = 1_000_000;
      const { expected, sent, rawJsonBytes } = await produce(prefix, events, 99, '2026-09-20T00:00:00Z');
      expect(await sent).toBe(events);
      const started = Date.now();
      let report = await reconcile(ctx);
      while (Date.now() - started < 60_000) {
        await sleep(2000);
        report = await reconcile(ctx);
      }
      // Raw rows wait in Kafka: the loader's pending range holds them...
      expect(report.partitions.reduce((s, p) => s + p.pending, 0)).toBeGreaterThanOrEqual(events);
      // ...while the stream applied every state event to Redis meanwhile,
      expect(report.partitions.filter((p) => (p.streamLag ?? 0) > 0)).toEqual([]);
      // and Redis holds state alone: every key is a state shard's key (seen-id sets only for
      // the topics that carry state) or one of segpipe's own (queues, counters, the catalog),
      // those small. The raw rows (all of them, and the 65 % of events that carry no state at
      // all) have no key to be in.
      const usage = await redisUsage(ctx);
      const stateKeys = new Set(
        Array.from({ length: ctx.config.kafka.partitions }, (_, p) => {
          const k = shardKeys(p);
          return [k.offsets, k.registrations, k.sales, k.maxTime, k.late, k.signIns, k.signOuts, k.openSessions, k.sessionTotals, k.finalThrough, k.finalCounts, k.lateLog, ...STATE_EVENT_NAMES.map((e) => k.seen(ctx.config.topics[e]))];
        }).flat(),
      );
      const others = [...usage].filter(([key]) => !stateKeys.has(key));
      expect(others.filter(([key]) => !key.startsWith(`${QUEUE_PREFIX}:`)), 'keys neither state nor segpipe\'s own').toEqual([]);
      const ownBytes = others.reduce((n, [, bytes]) => n + bytes, 0);
      expect(ownBytes, `segpipe's own keys hold ${ownBytes} bytes; the raw rows are ${rawJsonBytes} bytes of JSON`).toBeLessThan(2 * 1024 * 1024);
      w.loadRaw = load;
      await settle();
      await expectExactly(prefix, expected);
    } finally {
      w.loadRaw = load;
      await kill9(child);
    }
  });
});

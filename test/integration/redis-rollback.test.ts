// Redis is the stream's position of record, and Redis can lose its last writes: it answers a
// Lua step before its AOF is fsynced (appendfsync everysec), and a promoted replica may lack the
// newest ones. Then Kafka's committed offset is ahead of Redis. Here a real redis-server with
// AOF on is SIGKILLed and restarted on an older copy of its AOF, with the stream's commits in
// Kafka ahead of it; the stream must seek back to Redis's position and end with every event's
// state applied once: the metrics equal the oracle recomputed from the raw rows.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_EVENT_NAMES, USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { startRedis } from '../../src/stack/redis.ts';
import type { RunningProcess } from '../../src/stack/process.ts';
import { shardKeys } from '../../src/state/scripts.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES } from '../../queues/names.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { oracleDiff, ownTopicsEnv, settle, userRowCounts } from '../helpers/stream.ts';

const PORT = 16_579;

describe('Redis rolled back to an older AOF', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-rollback-'));
  const redisDir = path.join(dir, 'redis');
  const aof = path.join(redisDir, 'data', 'appendonlydir');
  const env = {
    ...ownTopicsEnv('rb'),
    REDIS_URL: `redis://127.0.0.1:${PORT}`,
    DUCKDB_PATH: path.join(dir, 'wh.duckdb'),
    STREAM_GROUP_ID: unique('rollback'),
    FLUSH_EVERY_MS: '500',
    ALLOWED_LATENESS_MS: '600000',
  };
  const procs = new RoleProcesses(dir, env);
  let redis: RunningProcess;
  let ctx: AppContext;
  const startOurRedis = async () => (redis = await startRedis({ host: '127.0.0.1', port: PORT, dir: redisDir, appendonly: true }, () => undefined));
  const expected: Record<string, Record<string, number>> = {};
  const produce = async (prefix: string, events: number, seed: number, start: string) => {
    const { items } = await loadCatalog(ctx.redis);
    const list = [...simulate({ seed, events, start: Date.parse(start), userPrefix: prefix }, items)];
    expected[prefix] = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, list.filter((x) => x.eventName === e).length]));
    const producer = new EventProducer(ctx);
    await producer.send(list);
    await producer.close();
  };
  /** The stream's positions in Redis, summed over the state topics' partitions. */
  const appliedOffsets = async () => {
    let n = 0;
    for (let p = 0; p < ctx.config.kafka.partitions; p++) {
      for (const e of STATE_EVENT_NAMES) n += Number((await ctx.redis.hget(shardKeys(p).offsets, ctx.config.topics[e])) ?? -1) + 1;
    }
    return n;
  };

  beforeAll(async () => {
    await startOurRedis();
    ctx = new AppContext(testConfig(env));
    await ctx.prepare();
    // This process owns the DuckDB file and serves flushes and queries.
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse]);
  });
  afterAll(async () => {
    await procs.killAll();
    await ctx?.close();
    if (redis) {
      process.kill(redis.pid, 'SIGKILL');
      await redis.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the stream seeks back to Redis position, past Kafka commits, and the metrics equal the oracle', { timeout: 300_000 }, async () => {
    const [a, b, c] = [unique('rb-a'), unique('rb-b'), unique('rb-c')];
    await produce(a, 5_000, 11, '2026-07-01T00:00:00Z');
    let stream: ChildProcess = procs.start('stream', 'stream-1');
    await settle(ctx);
    await sleep(1_500); // past appendfsync everysec: the copy holds everything applied so far
    const copy = path.join(dir, 'aof-copy');
    fs.cpSync(aof, copy, { recursive: true });
    const appliedAtCopy = await appliedOffsets();

    await produce(b, 5_000, 12, '2026-07-03T00:00:00Z');
    await settle(ctx);
    await procs.kill9(stream);
    const appliedBeforeLoss = await appliedOffsets();
    expect(appliedBeforeLoss).toBeGreaterThan(appliedAtCopy);

    // Redis dies and comes back with the older AOF: it lost what the stream applied of b, while
    // Kafka's committed offsets for the stream's group stay past it.
    process.kill(redis.pid, 'SIGKILL');
    await redis.exited;
    fs.rmSync(aof, { recursive: true, force: true });
    fs.cpSync(copy, aof, { recursive: true });
    await startOurRedis();
    expect(await appliedOffsets()).toBe(appliedAtCopy);

    await produce(c, 2_000, 13, '2026-07-05T00:00:00Z');
    stream = procs.start('stream', 'stream-2');
    await settle(ctx, 240_000);
    for (const prefix of [a, b, c]) {
      const got = await userRowCounts(ctx, prefix);
      for (const e of USER_EVENT_NAMES) expect(got[e], `${prefix} ${e}`).toEqual({ n: expected[prefix]![e], d: expected[prefix]![e] });
    }
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0 || (p.streamLag ?? 0) !== 0)).toEqual([]);
    await flushNow(ctx, { name: FLUSH_METRICS });
    const oracle = await oracleDiff(ctx);
    expect(oracle.diffs).toEqual([]);
    expect(oracle.finalWindows).toBeGreaterThan(0);
    await procs.kill9(stream);
  });
});

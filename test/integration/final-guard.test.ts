// Finality inside the atomic step (issue #13): flush:metrics makes windows final in every shard
// before it counts them, and the stream's state step refuses a registration batch judged against
// an older final-through, so no registration enters a window once it is counted as final, also on
// a partition that has no event-time mark yet. Real Redis (database 6 of its own), real DuckDB,
// the Lua step and flush:metrics as the stream and the flush job call them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { applyBatch, shardKeys } from '../../src/state/scripts.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { LATE_REGISTRATIONS, METRICS_TABLES, clearMetricsState, flushMetrics } from '../../src/windows/metrics.ts';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.ts';
import { RAW_OFFSETS, rawTables } from '../../src/warehouse/tables.ts';
import { HOUR, MINUTE, REGISTRATION_WINDOWS, finalWindowKeys, parseFinalThrough } from '../../src/windows/window.ts';
import { toRow } from '../../src/stream/transform.ts';
import { diffWithOracle } from '../../src/windows/oracle.ts';
import { testConfig } from '../helpers/env.ts';
import { testRedisDb } from '../helpers/admin-server.ts';

const TOPIC = 'fg_registrations';
const T0 = Date.parse('2026-07-01T00:00:00.000Z');

describe('finality guard inside the state step', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-final-guard-'));
  const ctx = new AppContext(testConfig({ REDIS_URL: testRedisDb(6) }));
  const redis = ctx.redis;
  let w: DuckDBWarehouse;
  const opts = { shards: 2, registrationTopic: TOPIC, sessionTopics: { signIn: 'fg_in', signOut: 'fg_out' }, latenessMs: 10 * MINUTE };
  const offsets = [-1, -1];
  const table = rawTables().get('consumer_registration')!;
  /**
   * One registration as the stream applies it, judged from `finalFrom` (the shard's final-through
   * text it read): late for the final windows it belongs to, applied for the others. Once applied,
   * its raw row is loaded as the raw loader would.
   */
  const register = async (shard: number, user: string, t: number, finalFrom: string | null) => {
    const offset = offsets[shard]! + 1;
    const late = finalWindowKeys(REGISTRATION_WINDOWS, t, parseFinalThrough(finalFrom));
    const eventId = `${user}-${t}`;
    const r = await applyBatch(redis, shard, {
      topic: TOPIC,
      readFrom: offsets[shard]! < 0 ? null : offsets[shard]!,
      lastOffset: String(offset),
      maxEventTime: t,
      dedupHorizonMs: 7 * 86_400_000,
      finalFrom,
      late: late.map((windowKey) => ({ offset: String(offset), windowKey })),
      events: [{ offset: String(offset), eventId, time: t, op: `R ${user} ${t}` }],
    });
    if (!r.moved) {
      offsets[shard] = offset;
      const record = { event_id: eventId, event_name: 'consumer_registration', timestamp: new Date(t).toISOString(), user_id: user, age: 30, masked_email: 'x***@example.com', preferred_language: 'en' };
      const row = toRow('consumer_registration', table, record, { topic: TOPIC, partition: shard, offset: String(offset), ingestedAt: Date.now() });
      expect(await w.loadRaw({ table, topic: TOPIC, partition: shard, from: offset, to: offset + 1, rows: [row], deadLetters: 0, mark: t })).toMatchObject({ applied: true });
    }
    return { ...r, late };
  };
  const current = (shard: number) => redis.get(shardKeys(shard).finalThrough);
  const count = async (type: string, start: number) =>
    (await w.query<{ n: number; late: number; final: boolean }>(
      `SELECT CAST(registration_count AS INTEGER) AS n, CAST(late_events AS INTEGER) AS late, is_final AS final FROM user_registration_metrics WHERE window_type = '${type}' AND window_start = make_timestamp(${start * 1000})`,
    ))[0];

  beforeAll(async () => {
    await redis.flushdb();
    w = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'));
    await w.ensureSchema([...rawTables().values(), ...METRICS_TABLES, RAW_OFFSETS]);
  });
  afterAll(async () => {
    await clearMetricsState(redis);
    await redis.flushdb();
    await w.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a registration judged before its window became final is refused by the step, and is late when judged again', async () => {
    await register(0, 'fg-a', T0 + 10 * MINUTE, null);
    const judgedFrom = await redis.get(shardKeys(0).finalThrough); // null: nothing final yet
    await register(0, 'fg-b', T0 + 2 * HOUR, judgedFrom);
    // Shard 0's watermark is 01:50: the 00:00 hour (and the sliding windows ending by 01:45) are final.
    await flushMetrics(redis, w, opts);
    expect(await count('tumbling_1h', T0)).toMatchObject({ n: 1, final: true });
    // A registration at 00:30, judged before that flush, arrives now: the step refuses it.
    const stale = await register(0, 'fg-c', T0 + 30 * MINUTE, judgedFrom);
    expect(stale.moved).toBe(true);
    // Judged again from what the shard holds now, it is late for the final windows only.
    const again = await register(0, 'fg-c', T0 + 30 * MINUTE, await current(0));
    expect(again).toMatchObject({ moved: false, applied: 1 }); // applied, counted in no window: all of its are final
    expect(again.late).toContain(`tumbling_1h:${T0}`);
    await flushMetrics(redis, w, opts);
    // The final count stays what it was; the late event is counted beside it.
    expect(await count('tumbling_1h', T0)).toEqual({ n: 1, late: 1, final: true });
  });

  it('a registration on a partition with no event-time mark yet cannot enter a window already final', async () => {
    // Shard 1 has applied nothing, yet the flush made the same windows final in it.
    expect(await redis.hget(shardKeys(1).maxTime, TOPIC)).toBeNull();
    const final = await redis.get(shardKeys(1).finalThrough);
    expect(parseFinalThrough(final)['tumbling_1h']).toBe(T0 + HOUR);
    const cold = await register(1, 'fg-cold', T0 + 20 * MINUTE, final);
    expect(cold).toMatchObject({ moved: false, applied: 1 });
    expect(cold.late).toContain(`tumbling_1h:${T0}`);
    await flushMetrics(redis, w, opts);
    expect(await count('tumbling_1h', T0)).toEqual({ n: 1, late: 2, final: true });
    // Judged from no final-through at all (the old decision on a cold partition), the step refuses it.
    expect((await register(1, 'fg-cold2', T0 + 25 * MINUTE, null)).moved).toBe(true);
  });

  it('a registration late for its oldest sliding windows counts in its open ones, and the oracle equals every final window from the warehouse alone', async () => {
    // Shard 0's mark is 02:00: tumbling windows are final through 01:00, sliding ones through 01:45.
    expect(parseFinalThrough(await current(0))).toEqual({ tumbling_1h: T0 + HOUR, sliding_1h_15m: T0 + 105 * MINUTE });
    const partial = await register(0, 'fg-p', T0 + 70 * MINUTE, await current(0));
    const sliding = (m: number) => `sliding_1h_15m:${T0 + m * MINUTE}`;
    expect(partial.late.sort()).toEqual([sliding(15), sliding(30), sliding(45)].sort());
    // A user registered in an open window, then again earlier, late for that earlier window's hour.
    await register(0, 'fg-m', T0 + 150 * MINUTE, await current(0));
    await register(0, 'fg-m', T0 + 40 * MINUTE, await current(0));
    // The watermark moves on to 04:50: everything above is final now.
    await register(0, 'fg-z', T0 + 5 * HOUR, await current(0));
    await register(1, 'fg-y', T0 + 5 * HOUR, await current(1));
    await flushMetrics(redis, w, opts);
    expect(await count('tumbling_1h', T0 + HOUR)).toEqual({ n: 1, late: 0, final: true }); // fg-p
    expect(await count('sliding_1h_15m', T0 + HOUR)).toEqual({ n: 1, late: 0, final: true });
    expect(await count('sliding_1h_15m', T0 + 45 * MINUTE)).toMatchObject({ n: 0, final: true });
    // fg-m's 00:40 registration is their earliest: it moved them out of the 02:30 windows (still
    // open then), and its own windows were final, so fg-m counts in none (late there).
    expect(await count('tumbling_1h', T0 + 2 * HOUR)).toEqual({ n: 1, late: 0, final: true }); // fg-b alone
    const late = await w.query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM late_registrations`);
    expect(late[0]!.n).toBe(4); // fg-c, fg-cold, fg-p, fg-m's second
    const { diffs, finalWindows } = await diffWithOracle((sql) => w.query(sql));
    expect(finalWindows).toBeGreaterThan(10);
    expect(diffs).toEqual([]);
    // Without the late log the raw tables alone disagree with the final windows.
    const saved = await w.query<Record<string, unknown>>('SELECT * FROM late_registrations');
    await w.execute('DELETE FROM late_registrations');
    expect((await diffWithOracle((sql) => w.query(sql))).diffs.length).toBeGreaterThan(0);
    await w.merge(LATE_REGISTRATIONS, saved.map((r) => LATE_REGISTRATIONS.columns.map((c) => r[c.name] as Row[number])));
    expect((await diffWithOracle((sql) => w.query(sql))).diffs).toEqual([]);
  });

  it('a late registration applied after its window became final, before the row was written (a failed merge), does not change the final count', async () => {
    const T1 = T0 + 24 * HOUR;
    await register(0, 'fg-q', T1 + 10 * MINUTE, await current(0));
    await register(0, 'fg-q2', T1 + 3 * HOUR, await current(0));
    await register(1, 'fg-q3', T1 + 3 * HOUR, await current(1));
    // This run makes T1's hour final in the shards, then its merge fails.
    const failing: Warehouse = { ...w, kind: w.kind, query: (sql, binds) => w.query(sql, binds), merge: async (t, rows) => (t.name === 'user_registration_metrics' ? Promise.reject(new Error('injected')) : w.merge(t, rows)) } as Warehouse;
    await expect(flushMetrics(redis, failing, opts)).rejects.toThrow('injected');
    expect(parseFinalThrough(await current(0))['tumbling_1h']).toBeGreaterThan(T1 + HOUR);
    // A new user's registration in that hour arrives now: late there, and moved into it in the set.
    const late = await register(0, 'fg-after', T1 + 20 * MINUTE, await current(0));
    expect(late.late).toContain(`tumbling_1h:${T1}`);
    await flushMetrics(redis, w, opts);
    expect(await count('tumbling_1h', T1)).toEqual({ n: 1, late: 1, final: true }); // fg-q, as counted when final
    expect((await diffWithOracle((sql) => w.query(sql))).diffs).toEqual([]);
  });
});

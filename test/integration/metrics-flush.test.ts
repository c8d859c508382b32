// flush:metrics against real Redis and DuckDB, driven from shard state written directly: what it
// records in Redis (windows written final, sales merged) must follow the warehouse, never lead it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { topicOffsets } from '../../src/kafka/client.ts';
import { shardKeys } from '../../src/state/scripts.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { rawTables, type TableSpec } from '../../src/warehouse/tables.ts';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.ts';
import { METRICS_TABLES, MOVIE_SALES, REGISTRATION_METRICS, clearMetricsState, flushMetrics } from '../../src/windows/metrics.ts';
import { SESSION_METRICS } from '../../src/windows/sessions.ts';
import { HOUR, MINUTE, hopping, tumbling } from '../../src/windows/window.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { waitFor } from '../helpers/stream.ts';

const TOPIC = 'mf_registrations';
const T0 = Date.parse('2026-08-01T00:00:00.000Z');

/** Redis database `db` of this file's own (flushed before and after) and a DuckDB file, around a describe block. */
function fixture(db: number, name: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `segpipe-${name}-`));
  const ctx = new AppContext(testConfig());
  const f = {} as { redis: Redis; w: DuckDBWarehouse };
  beforeAll(async () => {
    f.redis = ctx.redis.duplicate();
    await f.redis.select(db);
    await f.redis.flushdb();
    f.w = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'));
    await f.w.ensureSchema([...rawTables().values(), ...METRICS_TABLES]);
  });
  afterAll(async () => {
    await clearMetricsState(f.redis);
    await f.redis.flushdb();
    f.redis.disconnect();
    await f.w.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { f, ctx };
}

describe('flush:metrics records its progress only after the warehouse took the rows', () => {
  const { f, ctx } = fixture(3, 'metrics-flush');
  const opts = { shards: 1, registrationTopic: TOPIC, sessionTopics: { signIn: 'mf_in', signOut: 'mf_out' }, latenessMs: 10 * MINUTE, specs: [tumbling(HOUR)] };
  const k = shardKeys(0);

  /** The warehouse, except that merges into `failing` throw while `fail` is set. */
  const flaky = (failing: TableSpec) => {
    const state = { fail: true };
    const wh: Warehouse = {
      kind: f.w.kind,
      ensureSchema: (t) => f.w.ensureSchema(t),
      mergeJson: (t, rows) => f.w.mergeJson(t, rows),
      loadRaw: (load) => f.w.loadRaw(load),
      rawPositions: () => f.w.rawPositions(),
      query: (sql, binds) => f.w.query(sql, binds),
      close: async () => undefined,
      merge: async (t: TableSpec, rows: Row[]) => {
        if (state.fail && t.name === failing.name) throw new Error(`injected: ${t.name} is unavailable`);
        return f.w.merge(t, rows);
      },
    };
    return { wh, state };
  };

  it('a failed merge leaves the windows to be written final by the next run', async () => {
    // Three users in hour 0, two in hour 1, one in hour 2; the watermark passes the end of hour 1.
    const regs = [5, 20, 40, 65, 100, 130].map((m, i) => [T0 + m * MINUTE, `u${i}`] as const);
    await f.redis.zadd(k.registrations, ...regs.flatMap(([t, u]) => [t, u]));
    await f.redis.hset(k.maxTime, TOPIC, T0 + 2 * HOUR + 15 * MINUTE);

    const { wh, state } = flaky(REGISTRATION_METRICS);
    await expect(flushMetrics(f.redis, wh, opts)).rejects.toThrow('injected');
    expect(await f.w.query(`SELECT * FROM user_registration_metrics`)).toEqual([]);
    state.fail = false;
    const result = await flushMetrics(f.redis, wh, opts);
    expect(result.finalized).toBe(2);
    const rows = await f.w.query<{ start: string; n: number; final: boolean }>(
      `SELECT strftime(window_start, '%H:%M') AS start, CAST(registration_count AS INTEGER) AS n, is_final AS final FROM user_registration_metrics ORDER BY window_start`,
    );
    expect(rows).toEqual([
      { start: '00:00', n: 3, final: true },
      { start: '01:00', n: 2, final: true },
      { start: '02:00', n: 1, final: false },
    ]);
  });

  it('merges only sales totals that changed, or that still lack a title', async () => {
    await f.redis.hset(k.sales, { 'mf-m1|USD': 1000, 'mf-m2|USD': 250 });
    const { wh, state } = flaky(MOVIE_SALES);
    await expect(flushMetrics(f.redis, wh, opts)).rejects.toThrow('injected');
    state.fail = false;
    expect((await flushMetrics(f.redis, wh, opts)).sales).toBe(2); // nothing was recorded by the failed run
    expect((await flushMetrics(f.redis, wh, opts)).sales).toBe(2); // no titles yet: merged again

    // The catalog learns mf-m1's title: merged once more with it, then left alone.
    const catalog = rawTables().get('movies_catalog_enriched')!;
    const values: Record<string, unknown> = { event_id: 'mf-c1', event_name: 'movies_catalog_enriched', event_time: new Date(T0).toISOString(), item_id: 'mf-m1', title: 'Heat', kafka_topic: 'mf', ingested_at: new Date(T0).toISOString() };
    const blank: Record<string, unknown> = { VARCHAR: '', JSON: '{}', BIGINT: 0, INTEGER: 0, DOUBLE: 0, BOOLEAN: false, TIMESTAMP: new Date(T0).toISOString() };
    await f.w.merge(catalog, [catalog.columns.map((c) => (c.name in values ? values[c.name] : c.nullable ? null : blank[c.type])) as Row]);
    expect((await flushMetrics(f.redis, wh, opts)).sales).toBe(2);
    expect((await flushMetrics(f.redis, wh, opts)).sales).toBe(1); // mf-m2, still untitled
    await f.redis.hincrby(k.sales, 'mf-m1|USD', 500);
    expect((await flushMetrics(f.redis, wh, opts)).sales).toBe(2);
    const sales = await f.w.query<{ id: string; title: string | null; cents: number }>(`SELECT movie_id AS id, title, CAST(total_sales AS INTEGER) AS cents FROM movie_sales ORDER BY movie_id`);
    expect(sales).toEqual([
      { id: 'mf-m1', title: 'Heat', cents: 1500 },
      { id: 'mf-m2', title: null, cents: 250 },
    ]);
  });

  it('finalises nothing while a shard behind Kafka has no mark yet, then goes on once it caught up', async () => {
    await f.redis.flushdb();
    await clearMetricsState(f.redis);
    // A real topic: registrations wait on partition 1 that its shard has not applied yet.
    const topic = unique('mf-reg');
    const admin = await ctx.admin();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    const producer = ctx.kafka.producer();
    await producer.connect();
    // The new partition's leader may take a moment to be known everywhere.
    await waitFor('the new topic to take messages', () =>
      producer.send({ topic, messages: [0, 1, 2].map((i) => ({ partition: 1, value: `not applied ${i}` })) }).then(
        () => true,
        () => false,
      ),
    );
    await producer.disconnect();
    await f.redis.zadd(shardKeys(0).registrations, T0 + 5 * MINUTE, 'a', T0 + 70 * MINUTE, 'b');
    await f.redis.hset(shardKeys(0).maxTime, topic, T0 + 3 * HOUR);
    await f.redis.hset(shardKeys(0).offsets, topic, 1);

    const two = { ...opts, shards: 2, registrationTopic: topic, sessionTopics: { signIn: topic, signOut: topic }, partitionOffsets: async (t: string) => topicOffsets(admin, t) };
    const behind = await flushMetrics(f.redis, f.w, two);
    expect(behind.finalized).toBe(0);
    expect(behind.watermark).toBeNull();
    // Shard 1 applied its three offsets (all dead letters, say): still no mark, but nothing pending.
    await f.redis.hset(shardKeys(1).offsets, topic, 2);
    const caughtUp = await flushMetrics(f.redis, f.w, two);
    expect(caughtUp.finalized).toBe(2);
    expect(caughtUp.watermark).toBe(new Date(T0 + 3 * HOUR - 10 * MINUTE).toISOString());
    await admin.deleteTopics({ topics: [topic] });
  });
});

describe('flush:metrics builds only the windows that hold data', () => {
  const { f } = fixture(4, 'sparse');
  const k = shardKeys(0);

  it('a registration in year 9999 and an 11-month gap cost a few windows, not one per hour of the span (which ran out of memory)', { timeout: 60_000 }, async () => {
    const t1 = Date.parse('2026-08-01T00:05:00.000Z');
    const t2 = t1 + 330 * 24 * HOUR;
    const t3 = Date.parse('9999-12-31T23:59:59.999Z');
    await f.redis.zadd(k.registrations, t1, 'sp-a', t1 + MINUTE, 'sp-b', t2, 'sp-c', t3, 'sp-d');
    await f.redis.hset(k.maxTime, 'sp_registrations', t3);
    const opts = { shards: 1, registrationTopic: 'sp_registrations', sessionTopics: { signIn: 'sp_in', signOut: 'sp_out' }, latenessMs: 10 * MINUTE, specs: [tumbling(HOUR), hopping(HOUR, 15 * MINUTE)] };
    const heap = process.memoryUsage().heapUsed;
    const result = await flushMetrics(f.redis, f.w, opts);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(200e6);
    const rows = await f.w.query<{ type: string; start: string; n: number; final: boolean }>(
      `SELECT window_type AS type, strftime(window_start, '%Y-%m-%dT%H:%M') AS start, CAST(registration_count AS INTEGER) AS n, is_final AS final FROM user_registration_metrics ORDER BY window_type, window_start`,
    );
    const tumblingRows = rows.filter((r) => r.type === 'tumbling_1h');
    expect(tumblingRows).toEqual([
      { type: 'tumbling_1h', start: '2026-08-01T00:00', n: 2, final: true },
      { type: 'tumbling_1h', start: '2027-06-27T00:00', n: 1, final: true },
    ]);
    // Each registration is in four 15-minute-sliding windows; none is empty. The year-9999 one's
    // windows end in year 10000, which no warehouse timestamp holds: they are not stored (and
    // flush:metrics does not fail on them).
    expect(rows.filter((r) => r.type === 'sliding_1h_15m')).toHaveLength(8);
    expect(rows.every((r) => r.n > 0)).toBe(true);
    expect(result.finalized).toBe(2 + 8);

    // A late registration the stream counted for a final window that holds no other: its row appears, count 0.
    const empty = Date.parse('2026-09-01T00:00:00.000Z');
    await f.redis.hset(k.late, `tumbling_1h:${empty}`, 1);
    await flushMetrics(f.redis, f.w, opts);
    expect(await f.w.query(`SELECT CAST(registration_count AS INTEGER) AS n, CAST(late_events AS INTEGER) AS late, is_final AS final FROM user_registration_metrics WHERE window_type = 'tumbling_1h' AND window_start = TIMESTAMP '2026-09-01 00:00:00'`)).toEqual([
      { n: 0, late: 1, final: true },
    ]);

    // Readers get every window of the range they ask for, the empty ones filled in with 0.
    const { NAMED_QUERIES } = await import('../../src/warehouse/queries.ts');
    const read = (params: Record<string, unknown>) => NAMED_QUERIES.registrationWindows.run(f.w, NAMED_QUERIES.registrationWindows.params.parse(params));
    const day = await read({ type: 'tumbling_1h', limit: 4, to: Date.parse('2026-08-01T02:00:00.000Z') });
    expect(day.map((w) => [w.window_start, w.registration_count, w.filled])).toEqual([
      ['2026-07-31T22:00:00.000Z', 0, true],
      ['2026-07-31T23:00:00.000Z', 0, true],
      ['2026-08-01T00:00:00.000Z', 2, false],
      ['2026-08-01T01:00:00.000Z', 0, true],
    ]);
    expect(day.every((w) => w.is_final)).toBe(true); // all end before the last final window
    // By default the range ends with the newest window stored; the 11-month gap costs nothing.
    const newest = await read({ type: 'sliding_1h_15m', limit: 6 });
    expect(newest).toHaveLength(6);
    expect(newest.at(-1)).toMatchObject({ window_start: '2027-06-27T00:00:00.000Z', registration_count: 1, filled: false });
    expect(newest.filter((w) => !w.filled).map((w) => w.window_start)).toEqual(['2027-06-26T23:15:00.000Z', '2027-06-26T23:30:00.000Z', '2027-06-26T23:45:00.000Z', '2027-06-27T00:00:00.000Z']);
  });
});

describe('flush:metrics rewrites a window a registration left', () => {
  const { f } = fixture(5, 'moved');
  const k = shardKeys(0);

  it('a user whose earlier registration arrives later leaves the later window: it is rewritten with 0, and becomes final', async () => {
    // 90 minutes of lateness: the earlier registration below arrives while its hour is still open.
    const opts = { shards: 1, registrationTopic: 'mv_registrations', sessionTopics: { signIn: 'mv_in', signOut: 'mv_out' }, latenessMs: 90 * MINUTE, specs: [tumbling(HOUR)] };
    const t0 = Date.parse('2026-09-01T00:00:00.000Z');
    const count = async (start: string) =>
      f.w.query<{ n: number; final: boolean }>(`SELECT CAST(registration_count AS INTEGER) AS n, is_final AS final FROM user_registration_metrics WHERE window_start = TIMESTAMP '${start}'`);
    await f.redis.zadd(k.registrations, t0 + 70 * MINUTE, 'mv-u');
    await f.redis.hset(k.maxTime, 'mv_registrations', t0 + 75 * MINUTE);
    await flushMetrics(f.redis, f.w, opts);
    expect(await count('2026-09-01 01:00:00')).toEqual([{ n: 1, final: false }]);
    // The same user's registration at 00:20 (within the lateness): ZADD LT moves them to the 00:00 hour.
    await f.redis.zadd(k.registrations, 'LT', t0 + 20 * MINUTE, 'mv-u');
    await f.redis.hset(k.maxTime, 'mv_registrations', t0 + 160 * MINUTE);
    await flushMetrics(f.redis, f.w, opts);
    expect(await count('2026-09-01 00:00:00')).toEqual([{ n: 1, final: true }]);
    expect(await count('2026-09-01 01:00:00')).toEqual([{ n: 0, final: false }]);
    await f.redis.hset(k.maxTime, 'mv_registrations', t0 + 220 * MINUTE);
    await flushMetrics(f.redis, f.w, opts);
    expect(await count('2026-09-01 01:00:00')).toEqual([{ n: 0, final: true }]);
  });

  it('a user registered in a window long final and trimmed away, registering again, is not counted again', async () => {
    const { applyBatch } = await import('../../src/state/scripts.ts');
    const topic = 'rr_registrations';
    const opts = { shards: 1, registrationTopic: topic, sessionTopics: { signIn: 'rr_in', signOut: 'rr_out' }, latenessMs: 10 * MINUTE, specs: [tumbling(HOUR)] };
    const t0 = Date.parse('2026-10-01T00:00:00.000Z');
    const register = (offset: number, user: string, t: number) =>
      applyBatch(f.redis, 0, { topic, readFrom: offset === 0 ? null : offset - 1, lastOffset: String(offset), maxEventTime: t, dedupHorizonMs: 86_400_000, late: [], events: [{ offset: String(offset), eventId: `rr-${offset}`, time: t, op: `R ${user} ${t}` }] });
    await register(0, 'rr-u', t0 + 10 * MINUTE);
    await register(1, 'rr-other', t0 + 10 * HOUR);
    // 00:00 is final and behind every open window: the state behind the open windows is trimmed.
    await flushMetrics(f.redis, f.w, opts);
    await register(2, 'rr-u', t0 + 10 * HOUR + 5 * MINUTE);
    await flushMetrics(f.redis, f.w, opts);
    const rows = await f.w.query<{ start: string; n: number }>(
      `SELECT strftime(window_start, '%H:%M') AS start, CAST(registration_count AS INTEGER) AS n FROM user_registration_metrics WHERE window_start >= TIMESTAMP '2026-10-01 00:00:00' AND window_start < TIMESTAMP '2026-10-02 00:00:00' ORDER BY 1`,
    );
    // rr-u counts once, in the hour of their first registration; 10:00 holds only rr-other.
    expect(rows).toEqual([{ start: '00:00', n: 1 }, { start: '10:00', n: 1 }]);
  });
});

// Session timeout (issue #13): a session with no sign-out (and no new sign-in) ends
// SESSION_TIMEOUT_MS after its sign-in, counted in sessions_timed_out; active sessions fall again
// and a sign-out after it is an orphan. The session rules run as flush:metrics runs them (the
// state step records, pairShard pairs), in Redis database 14 of this file's own, and the oracle
// recomputes the same from raw rows in DuckDB.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { applyBatch } from '../../src/state/scripts.ts';
import { toRow } from '../../src/stream/transform.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables } from '../../src/warehouse/tables.ts';
import { METRICS_TABLES } from '../../src/windows/metrics.ts';
import { diffWithOracle } from '../../src/windows/oracle.ts';
import { SESSION_METRICS, pairShard, sessionRows } from '../../src/windows/sessions.ts';
import { HOUR, MINUTE } from '../../src/windows/window.ts';
import { testConfig } from '../helpers/env.ts';
import { testRedisDb } from '../helpers/admin-server.ts';

const T0 = Date.parse('2026-06-01T10:00:00.000Z');
const TIMEOUT = 30 * MINUTE;
const TOPICS = { signIn: 'st_sign_in', signOut: 'st_sign_out' };

describe('session timeout', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-session-timeout-'));
  const ctx = new AppContext(testConfig({ REDIS_URL: testRedisDb(14) }));
  const redis = ctx.redis;
  let w: DuckDBWarehouse;
  const next: Record<string, number> = { [TOPICS.signIn]: 0, [TOPICS.signOut]: 0 };

  /** A batch of session events of one topic, applied as the stream applies it, its raw rows loaded as the loader loads them. */
  const record = async (kind: 'sign_in' | 'sign_out', events: Array<[user: string, t: number]>) => {
    const topic = kind === 'sign_in' ? TOPICS.signIn : TOPICS.signOut;
    const from = next[topic]!;
    const table = rawTables().get(kind)!;
    const list = events.map(([user, t], i) => ({ offset: String(from + i), eventId: `${topic}-${from + i}`, time: t, op: `${kind === 'sign_in' ? 'I' : 'O'} ${user} ${t}`, user }));
    const r = await applyBatch(redis, 0, {
      topic,
      readFrom: from === 0 ? null : from - 1,
      lastOffset: String(from + list.length - 1),
      maxEventTime: Math.max(...list.map((e) => e.time)),
      dedupHorizonMs: 7 * 86_400_000,
      pairedFrom: await redis.hget('{p0}:sess:acc', 'done'),
      late: [],
      events: list,
    });
    expect(r).toMatchObject({ applied: list.length, moved: false });
    const rows = list.map((e) =>
      toRow(kind, table, { event_id: e.eventId, event_name: kind, timestamp: new Date(e.time).toISOString(), user_id: e.user }, { topic, partition: 0, offset: e.offset, ingestedAt: Date.now() }),
    );
    expect(await w.loadRaw({ table, topic, partition: 0, from, to: from + list.length, rows, deadLetters: 0, mark: Math.max(...list.map((e) => e.time)) })).toMatchObject({ applied: true });
    next[topic] = from + list.length;
  };

  beforeAll(async () => {
    await redis.flushdb();
    w = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'));
    await w.ensureSchema([...rawTables().values(), ...METRICS_TABLES, RAW_OFFSETS]);
  });
  afterAll(async () => {
    await redis.flushdb();
    await w.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ends a session with no sign-out at its timeout: counted apart, no longer active, and a later sign-out is an orphan; the oracle agrees', async () => {
    await record('sign_in', [
      ['st-gone', T0], // never signs out: times out at 10:30
      ['st-short', T0 + 5 * MINUTE],
      ['st-late', T0 + 50 * MINUTE], // active at 11:00, times out at 11:20
      ['st-again', T0 + 55 * MINUTE],
      ['st-again', T0 + 55 * MINUTE + TIMEOUT], // the new sign-in comes exactly at the timeout: the first session is over
    ]);
    await record('sign_out', [
      ['st-short', T0 + 20 * MINUTE], // closed after 15 min
      ['st-gone', T0 + 45 * MINUTE], // after its session timed out: an orphan
      ['st-again', T0 + 100 * MINUTE], // closes the second session after 15 min
    ]);
    // Both topics' newest events carry the watermark (10 min of lateness) past 13:00.
    await record('sign_in', [['st-tick', T0 + 3 * HOUR + 20 * MINUTE]]);
    await record('sign_out', [['st-tick', T0 + 3 * HOUR + 25 * MINUTE]]);
    const boundary = await pairShard(redis, 0, TOPICS, { latenessMs: 10 * MINUTE, timeoutMs: TIMEOUT });
    expect(boundary).toBe(T0 + 3 * HOUR + 10 * MINUTE);
    const rows = await sessionRows(redis, 1, [boundary], new Date().toISOString());
    await w.merge(SESSION_METRICS, rows);
    const byHour = await w.query<{ h: string; closed: number; total: number; active: number; orphans: number; timed_out: number; final: boolean }>(
      `SELECT strftime(window_start, '%H:%M') AS h, CAST(sessions_closed AS INTEGER) AS closed, CAST(total_duration_ms AS BIGINT) AS total, CAST(active_sessions_at_end AS INTEGER) AS active,
              CAST(orphan_sign_outs AS INTEGER) AS orphans, CAST(sessions_timed_out AS INTEGER) AS timed_out, is_final AS final FROM session_metrics ORDER BY 1`,
    );
    expect(byHour.filter((r) => r.final).map(({ h, closed, total, active, orphans, timed_out }) => ({ h, closed, total, active, orphans, timed_out }))).toEqual([
      // 10:00: st-short closed (15 min), st-gone timed out at 10:30, its sign-out an orphan; st-late and st-again open at 11:00.
      { h: '10:00', closed: 1, total: 15 * MINUTE, active: 2, orphans: 1, timed_out: 1 },
      // 11:00: st-late times out at 11:20, st-again's first at 11:25 (its second sign-in then), closed at 11:40.
      { h: '11:00', closed: 1, total: 15 * MINUTE, active: 0, orphans: 0, timed_out: 2 },
      { h: '12:00', closed: 0, total: 0, active: 0, orphans: 0, timed_out: 0 },
    ]);
    const { diffs } = await diffWithOracle((sql) => w.query(sql), [], TIMEOUT);
    expect(diffs).toEqual([]);
    // Without the timeout the oracle sees those sessions still open: the rule is what both apply.
    expect((await diffWithOracle((sql) => w.query(sql), [])).diffs.length).toBeGreaterThan(0);
  });
});

// The oracle: every metric recomputed in SQL from the raw warehouse tables alone, independent of
// the streaming state, and diffed with what the stream wrote. Only final windows are compared
// (open ones may still grow); sales are compared in full.
import type { SourceOffset } from '../kafka/dead-letters.ts';
import { LATE_REGISTRATIONS } from './metrics.ts';
import { REGISTRATION_WINDOWS, type WindowSpec } from './window.ts';

export interface MetricDiff {
  metric: string;
  key: string;
  stream: number | string | null;
  oracle: number | string | null;
}

type Query = <T = Record<string, unknown>>(sql: string) => Promise<T[]>;

/** Offsets per partition never reach 10^12, so partition and offset make one number. */
const OFFSET_SPAN = 1_000_000_000_000;

/**
 * A raw table as the stream's state saw it: without the events it left out as late (dead
 * letters of reason `late`, whose raw rows the loader still loaded). Topic names are Kafka's
 * ([A-Za-z0-9._-]) and positions integers, checked here before they become SQL text.
 */
export function stateView(table: string, excluded: SourceOffset[] = []): string {
  if (excluded.length === 0) return table;
  const byTopic = new Map<string, number[]>();
  for (const e of excluded) {
    if (!/^[A-Za-z0-9._-]+$/.test(e.topic) || !Number.isSafeInteger(e.partition) || !Number.isSafeInteger(e.offset)) throw new Error(`not a Kafka position: ${JSON.stringify(e)}`);
    byTopic.set(e.topic, [...(byTopic.get(e.topic) ?? []), e.partition * OFFSET_SPAN + e.offset]);
  }
  const out = [...byTopic].map(([topic, keys]) => `(kafka_topic = '${topic}' AND CAST(kafka_partition AS BIGINT) * ${OFFSET_SPAN} + kafka_offset IN (${keys.join(', ')}))`);
  return `(SELECT * FROM ${table} WHERE NOT (${out.join(' OR ')}))`;
}

/**
 * Registrations per window: the users whose first registration lies in it (distinct users), as
 * the window's final count saw them. A registration the stream applied while some windows were
 * final (late_registrations, with the final-through of each type at that moment, `lim`) did not
 * reach the windows of its type ending at or before `lim`: for those it is left out, for the
 * others it counts. So a user is in window W when one of their registrations that reached W lies
 * in it, and none that reached W lies before it.
 */
export function registrationOracleSql(spec: WindowSpec, excluded: SourceOffset[] = []): string {
  const steps = spec.sizeMs / spec.advanceMs;
  if (!/^[a-z0-9_]+$/.test(spec.type)) throw new Error(`not a window type: ${spec.type}`);
  return `
    WITH regs AS (
      SELECT r.user_id, epoch_ms(r.event_time) AS t, CAST(NULLIF(regexp_extract(l.final_through, '(^|;)${spec.type}=(-?[0-9]+)', 2), '') AS BIGINT) AS lim
      FROM ${stateView('raw_consumer_registration', excluded)} r LEFT JOIN ${LATE_REGISTRATIONS.name} l ON l.kafka_topic = r.kafka_topic AND l.kafka_partition = r.kafka_partition AND l.kafka_offset = r.kafka_offset
    ),
    reached AS (
      SELECT DISTINCT user_id, ws FROM (
        SELECT user_id, lim, CAST(floor(t / ${spec.advanceMs}) AS BIGINT) * ${spec.advanceMs} - k * ${spec.advanceMs} AS ws FROM regs, range(${steps}) AS r(k)
      ) WHERE lim IS NULL OR ws + ${spec.sizeMs} > lim
    )
    SELECT strftime(make_timestamp(c.ws * 1000), '%Y-%m-%dT%H:%M:%S.000Z') AS window_start, CAST(count(*) AS INTEGER) AS n
    FROM reached c
    WHERE NOT EXISTS (SELECT 1 FROM regs e WHERE e.user_id = c.user_id AND e.t < c.ws AND (e.lim IS NULL OR c.ws + ${spec.sizeMs} > e.lim))
    GROUP BY c.ws`;
}

/**
 * `excluded`: the events the stream left out as late (see lateDeadLetters); `sessionTimeoutMs`:
 * SESSION_TIMEOUT_MS as flush:metrics applied it (none when absent).
 */
export async function diffWithOracle(query: Query, excluded: SourceOffset[] = [], sessionTimeoutMs?: number): Promise<{ diffs: MetricDiff[]; finalWindows: number; salesItems: number }> {
  const diffs: MetricDiff[] = [];
  let finalWindows = 0;
  for (const spec of REGISTRATION_WINDOWS) {
    const stream = await query<{ window_start: string; window_end: string; n: number; is_final: boolean }>(
      `SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%S.000Z') AS window_start, strftime(window_end, '%Y-%m-%dT%H:%M:%S.000Z') AS window_end, CAST(registration_count AS INTEGER) AS n, is_final
       FROM user_registration_metrics WHERE window_type = '${spec.type}'`,
    );
    const finals = stream.filter((r) => r.is_final);
    finalWindows += finals.length;
    if (finals.length === 0) continue;
    const finalThrough = Math.max(...finals.map((r) => Date.parse(r.window_end)));
    const oracle = new Map((await query<{ window_start: string; n: number }>(registrationOracleSql(spec, excluded))).map((r) => [r.window_start, Number(r.n)]));
    const streamed = new Map(stream.map((r) => [r.window_start, r]));
    for (const r of finals) {
      const o = oracle.get(r.window_start) ?? 0;
      if (o !== Number(r.n)) diffs.push({ metric: spec.type, key: r.window_start, stream: Number(r.n), oracle: o });
    }
    // A window the oracle has, ending inside the final range, that the stream never wrote final.
    for (const [start, n] of oracle) {
      if (Date.parse(start) + spec.sizeMs > finalThrough) continue;
      const s = streamed.get(start);
      if (!s?.is_final) diffs.push({ metric: spec.type, key: start, stream: s ? Number(s.n) : null, oracle: n });
    }
  }
  // Sessions: per user, events in time order (a sign-out first at one instant); a sign-in's
  // session ends at the user's next event, or times out `timeout` after it when that comes first
  // (a next event at exactly that time finds it over); a sign-out after no open session is an orphan.
  const timeout = Number.isFinite(sessionTimeoutMs) && sessionTimeoutMs! > 0 ? Math.floor(sessionTimeoutMs!) : 1e15;
  const sessionStream = await query<{ ws: string; we: string; closed: number; total: number; active: number; orphans: number; timeouts: number; is_final: boolean }>(
    `SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%S.000Z') AS ws, strftime(window_end, '%Y-%m-%dT%H:%M:%S.000Z') AS we, CAST(sessions_closed AS BIGINT) AS closed,
            CAST(total_duration_ms AS BIGINT) AS total, CAST(active_sessions_at_end AS BIGINT) AS active, CAST(orphan_sign_outs AS BIGINT) AS orphans,
            CAST(coalesce(sessions_timed_out, 0) AS BIGINT) AS timeouts, is_final
     FROM session_metrics`,
  );
  const sessionFinals = sessionStream.filter((r) => r.is_final);
  finalWindows += sessionFinals.length;
  if (sessionFinals.length > 0) {
    const through = Math.max(...sessionFinals.map((r) => Date.parse(r.we)));
    const ev = `WITH ev AS (SELECT user_id, event_time AS t, 1 AS kind FROM ${stateView('raw_sign_in', excluded)} UNION ALL SELECT user_id, event_time AS t, 0 AS kind FROM ${stateView('raw_sign_out', excluded)}),
      seq AS (
        SELECT user_id, t, kind, next_t, prev_kind, prev_t,
               kind = 1 AND next_t IS NOT NULL AND epoch_ms(next_t) < epoch_ms(t) + ${timeout} AS ends_by_event,
               make_timestamp((epoch_ms(t) + ${timeout}) * 1000) AS expires
        FROM (SELECT user_id, t, kind, lead(t) OVER w AS next_t, lag(kind) OVER w AS prev_kind, lag(t) OVER w AS prev_t FROM ev WINDOW w AS (PARTITION BY user_id ORDER BY t, kind))
      ),
      hours AS (SELECT unnest(generate_series(time_bucket(INTERVAL 1 hour, (SELECT min(t) FROM ev)), TIMESTAMP '${new Date(through - 3_600_000).toISOString().slice(0, 19).replace('T', ' ')}', INTERVAL 1 hour)) AS ws)`;
    const oracle = await query<{ ws: string; closed: number; total: number; active: number; orphans: number; timeouts: number }>(
      `${ev}
       SELECT strftime(h.ws, '%Y-%m-%dT%H:%M:%S.000Z') AS ws,
         (SELECT CAST(count(*) AS BIGINT) FROM seq WHERE ends_by_event AND next_t >= h.ws AND next_t < h.ws + INTERVAL 1 hour) AS closed,
         (SELECT CAST(coalesce(sum(epoch_ms(next_t) - epoch_ms(t)), 0) AS BIGINT) FROM seq WHERE ends_by_event AND next_t >= h.ws AND next_t < h.ws + INTERVAL 1 hour) AS total,
         (SELECT CAST(count(*) AS BIGINT) FROM seq WHERE kind = 1 AND t < h.ws + INTERVAL 1 hour AND (next_t IS NULL OR next_t >= h.ws + INTERVAL 1 hour) AND expires > h.ws + INTERVAL 1 hour) AS active,
         (SELECT CAST(count(*) AS BIGINT) FROM seq WHERE kind = 0 AND (prev_kind IS NULL OR prev_kind = 0 OR epoch_ms(t) >= epoch_ms(prev_t) + ${timeout}) AND t >= h.ws AND t < h.ws + INTERVAL 1 hour) AS orphans,
         (SELECT CAST(count(*) AS BIGINT) FROM seq WHERE kind = 1 AND NOT ends_by_event AND expires >= h.ws AND expires < h.ws + INTERVAL 1 hour) AS timeouts
       FROM hours h`,
    );
    const streamed = new Map(sessionStream.map((r) => [r.ws, r]));
    for (const o of oracle) {
      const s = streamed.get(o.ws);
      const got = s?.is_final ? [Number(s.closed), Number(s.total), Number(s.active), Number(s.orphans), Number(s.timeouts)] : null;
      const want = [Number(o.closed), Number(o.total), Number(o.active), Number(o.orphans), Number(o.timeouts)];
      const empty = want.every((v) => v === 0);
      if (got === null ? !empty : got.some((v, i) => v !== want[i])) {
        diffs.push({ metric: 'sessions', key: `${o.ws} closed/total_ms/active/orphans/timed_out`, stream: got === null ? null : got.join('/'), oracle: want.join('/') });
      }
    }
  }

  const sales = new Map(
    (await query<{ k: string; cents: number }>(`SELECT movie_id || '|' || currency AS k, CAST(total_sales AS BIGINT) AS cents FROM movie_sales`)).map((r) => [r.k, Number(r.cents)]),
  );
  const oracleSales = await query<{ k: string; cents: number }>(`SELECT item_id || '|' || currency AS k, CAST(sum(purchase_amount) AS BIGINT) AS cents FROM ${stateView('raw_checkout', excluded)} GROUP BY 1`);
  for (const r of oracleSales) {
    const s = sales.get(r.k) ?? null;
    if (s !== Number(r.cents)) diffs.push({ metric: 'movie_sales', key: r.k, stream: s, oracle: Number(r.cents) });
    sales.delete(r.k);
  }
  for (const [k, v] of sales) diffs.push({ metric: 'movie_sales', key: k, stream: v, oracle: null });
  return { diffs, finalWindows, salesItems: oracleSales.length };
}

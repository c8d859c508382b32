// The oracle: every metric recomputed in SQL from the raw warehouse tables alone, independent of
// the streaming state, and diffed with what the stream wrote. Only final windows are compared
// (open ones may still grow); sales are compared in full.
import { REGISTRATION_WINDOWS, type WindowSpec } from './window.ts';

export interface MetricDiff {
  metric: string;
  key: string;
  stream: number | null;
  oracle: number | null;
}

type Query = <T = Record<string, unknown>>(sql: string) => Promise<T[]>;

/** Registrations per window, from each user's first registration (distinct users). */
export function registrationOracleSql(spec: WindowSpec): string {
  const steps = spec.sizeMs / spec.advanceMs;
  return `
    WITH firsts AS (SELECT user_id, min(event_time) AS t FROM raw_consumer_registration GROUP BY user_id),
    assigned AS (
      SELECT user_id, to_timestamp(floor(epoch_ms(t) / ${spec.advanceMs}) * ${spec.advanceMs / 1000} - k * ${spec.advanceMs / 1000}) AS window_start
      FROM firsts, range(${steps}) AS r(k)
    )
    SELECT strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.000Z') AS window_start, CAST(count(*) AS INTEGER) AS n
    FROM assigned GROUP BY 1`;
}

export async function diffWithOracle(query: Query): Promise<{ diffs: MetricDiff[]; finalWindows: number; salesItems: number }> {
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
    const oracle = new Map((await query<{ window_start: string; n: number }>(registrationOracleSql(spec))).map((r) => [r.window_start, Number(r.n)]));
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
  const sales = new Map(
    (await query<{ k: string; cents: number }>(`SELECT movie_id || '|' || currency AS k, CAST(total_sales AS BIGINT) AS cents FROM movie_sales`)).map((r) => [r.k, Number(r.cents)]),
  );
  const oracleSales = await query<{ k: string; cents: number }>(`SELECT item_id || '|' || currency AS k, CAST(sum(purchase_amount) AS BIGINT) AS cents FROM raw_checkout GROUP BY 1`);
  for (const r of oracleSales) {
    const s = sales.get(r.k) ?? null;
    if (s !== Number(r.cents)) diffs.push({ metric: 'movie_sales', key: r.k, stream: s, oracle: Number(r.cents) });
    sales.delete(r.k);
  }
  for (const [k, v] of sales) diffs.push({ metric: 'movie_sales', key: k, stream: v, oracle: null });
  return { diffs, finalWindows, salesItems: oracleSales.length };
}

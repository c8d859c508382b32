// The warehouse's named read queries: the only reads other processes can ask for (through
// warehouse:query jobs). A job names a query and gives parameters; the process that owns the
// warehouse validates them here and builds the SQL itself, so no caller's text reaches SQL,
// except the one SELECT of `sql`, which the warehouse runs read-only (adhoc.ts).
import { z } from 'zod';
import { EVENT_NAMES, USER_EVENT_NAMES } from '../config.ts';
import { diffWithOracle } from '../windows/oracle.ts';
import { REGISTRATION_WINDOWS } from '../windows/window.ts';
import { AdhocQueryError, adhocParams } from './adhoc.ts';
import { RAW_OFFSETS, rawTableName } from './tables.ts';
import type { Warehouse } from './warehouse.ts';

interface NamedQuery<P extends z.ZodType, R> {
  params: P;
  run(w: Warehouse, params: z.output<P>): Promise<R>;
}

const query = <P extends z.ZodType, R>(q: NamedQuery<P, R>) => q;
const limit = (max: number, def: number) => z.number().int().min(1).max(max).default(def);
/** 9999-12-31T23:59:59.999Z: the last time a warehouse takes as ISO 8601 text. */
const MAX_TIME = 253_402_300_799_999;

export const NAMED_QUERIES = {
  /**
   * Per partition of one raw topic: the loader's position and what its ranges became, with the
   * rows the table holds, read in one statement so a load committing meanwhile cannot make a
   * false difference (reconcile).
   */
  rawAccounts: query({
    params: z.object({ event: z.enum(EVENT_NAMES), topic: z.string().min(1).max(249) }).strict(),
    run: (w, p) =>
      w.query<{ p: number; next: number; loaded: number; duplicates: number; dead: number; n: number }>(
        `SELECT o.kafka_partition AS "p", o.next_offset AS "next", o.rows_loaded AS "loaded", o.duplicates AS "duplicates", o.dead_letters AS "dead", count(r.kafka_offset) AS "n"
         FROM ${RAW_OFFSETS.name} o LEFT JOIN ${rawTableName(p.event)} r ON r.kafka_topic = o.topic AND r.kafka_partition = o.kafka_partition
         WHERE o.topic = ? GROUP BY o.kafka_partition, o.next_offset, o.rows_loaded, o.duplicates, o.dead_letters`,
        [p.topic],
      ),
  }),

  /** Per user event type, rows (n) and distinct event ids (d) of the users named `<prefix>-…`. */
  userEventCounts: query({
    params: z.object({ prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/) }).strict(),
    run: async (w, p) =>
      Object.fromEntries(
        await Promise.all(
          USER_EVENT_NAMES.map(async (e) => {
            const [row] = await w.query<{ n: number; d: number }>(
              `SELECT CAST(count(*) AS INTEGER) AS n, CAST(count(DISTINCT event_id) AS INTEGER) AS d FROM ${rawTableName(e)} WHERE starts_with(user_id, ?)`,
              [`${p.prefix}-`],
            );
            return [e, { n: Number(row!.n), d: Number(row!.d) }] as const;
          }),
        ),
      ) as Record<(typeof USER_EVENT_NAMES)[number], { n: number; d: number }>,
  }),

  /**
   * The `limit` windows of a type ending at `to` (epoch ms; default the newest window's end),
   * oldest first, every one of them: windows are stored sparse (only those with data), and the
   * ones with no registration are filled in here with a count of 0 (`filled: true`), final if
   * they end by the last final window stored.
   */
  registrationWindows: query({
    params: z
      .object({ type: z.enum(REGISTRATION_WINDOWS.map((s) => s.type) as [string, ...string[]]), limit: limit(2000, 200), to: z.number().int().min(0).max(MAX_TIME).optional() })
      .strict(),
    run: async (w, p) => {
      const spec = REGISTRATION_WINDOWS.find((s) => s.type === p.type)!;
      const text = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
      const [bounds] = await w.query<{ newest: string | null; final_end: string | null }>(
        `SELECT max(window_start) AS "newest", max(CASE WHEN is_final THEN window_end END) AS "final_end" FROM user_registration_metrics WHERE window_type = ?`,
        [p.type],
      );
      if (!bounds?.newest && p.to === undefined) return [];
      const to = Math.ceil((p.to ?? Date.parse(`${bounds!.newest}`) + spec.advanceMs) / spec.advanceMs) * spec.advanceMs;
      const from = to - p.limit * spec.advanceMs;
      const rows = await w.query<{ window_start: string; window_end: string; registration_count: number; late_events: number; is_final: boolean }>(
        `SELECT window_start, window_end, registration_count, late_events, is_final FROM user_registration_metrics
         WHERE window_type = ? AND window_start >= CAST(? AS TIMESTAMP) AND window_start < CAST(? AS TIMESTAMP) ORDER BY window_start`,
        [p.type, text(from), text(to)],
      );
      const stored = new Map(rows.map((r) => [Date.parse(`${r.window_start}`), r]));
      const finalEnd = bounds?.final_end ? Date.parse(`${bounds.final_end}`) : Number.NEGATIVE_INFINITY;
      const iso = (ms: number) => new Date(ms).toISOString();
      return Array.from({ length: p.limit }, (_, i) => {
        const start = from + i * spec.advanceMs;
        const r = stored.get(start);
        if (r) return { ...r, window_start: iso(start), window_end: iso(start + spec.sizeMs), registration_count: Number(r.registration_count), late_events: Number(r.late_events), filled: false };
        return { window_start: iso(start), window_end: iso(start + spec.sizeMs), registration_count: 0, late_events: 0, is_final: start + spec.sizeMs <= finalEnd, filled: true };
      });
    },
  }),

  sessionWindows: query({
    params: z.object({ limit: limit(2000, 200) }).strict(),
    run: async (w, p) =>
      (
        await w.query(
          `SELECT window_start, sessions_closed, avg_duration_s, active_sessions_at_end, orphan_sign_outs, coalesce(sessions_timed_out, 0) AS sessions_timed_out, is_final
           FROM session_metrics ORDER BY window_start DESC LIMIT ${p.limit}`,
        )
      ).reverse(),
  }),

  topSales: query({
    params: z.object({ limit: limit(100, 10) }).strict(),
    run: (w, p) => w.query(`SELECT movie_id, title, total_sales AS total_sales_cents, currency FROM movie_sales ORDER BY total_sales DESC, movie_id LIMIT ${p.limit}`),
  }),

  /**
   * `segpipe sql`: one SELECT of the caller's, the only named query that carries SQL. What may
   * run is decided by the warehouse's adhocSelect (one statement, a SELECT by DuckDB's own
   * prepared-statement type, a READ ONLY transaction always rolled back, capped), here in the
   * owner, so a job written straight into Redis can do no more than the CLI.
   */
  sql: query({
    params: adhocParams,
    run: async (w, p) => {
      if (!w.adhocSelect) throw new QueryRefusedError(`segpipe sql reads the DuckDB warehouse only (WAREHOUSE=${w.kind}); query Snowflake with its own tools and a read-only role`);
      try {
        return await w.adhocSelect(p.sql, { limit: p.limit, timeoutMs: p.timeoutMs });
      } catch (err) {
        // The caller's statement: refused or failed for good, never worth a retry.
        if (err instanceof AdhocQueryError) throw new QueryRefusedError(err.message);
        throw err;
      }
    },
  }),

  /** Every metric recomputed from the raw tables and diffed with the stream's (verify --metrics). */
  oracleDiff: query({
    params: z
      .object({
        /** The events the stream left out as late (lateDeadLetters): the oracle leaves them out too. */
        excluded: z
          .array(z.object({ topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/), partition: z.number().int().min(0), offset: z.number().int().min(0) }).strict())
          .max(1_000_000)
          .default([]),
        /** SESSION_TIMEOUT_MS as flush:metrics applies it. */
        sessionTimeoutMs: z.number().int().positive().optional(),
      })
      .strict(),
    run: (w, p) => {
      if (w.kind !== 'duckdb') throw new QueryRefusedError('the oracle is written in DuckDB SQL and runs only on WAREHOUSE=duckdb');
      return diffWithOracle((sql) => w.query(sql), p.excluded, p.sessionTimeoutMs);
    },
  }),
};

export type QueryName = keyof typeof NAMED_QUERIES;
export type QueryParams<N extends QueryName> = z.input<(typeof NAMED_QUERIES)[N]['params']>;
export type QueryResult<N extends QueryName> = Awaited<ReturnType<(typeof NAMED_QUERIES)[N]['run']>>;

/** A query job that names no known query or gives parameters outside its rules; never retried. */
export class QueryRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryRefusedError';
  }
}

/** Validates a query job's name and parameters and runs it; anything else is refused. */
export async function runNamedQuery(w: Warehouse, name: unknown, params: unknown): Promise<unknown> {
  if (typeof name !== 'string' || !Object.hasOwn(NAMED_QUERIES, name)) {
    throw new QueryRefusedError(`no named query ${JSON.stringify(String(name).slice(0, 60))}; the warehouse runs only ${Object.keys(NAMED_QUERIES).join(', ')}`);
  }
  const q = NAMED_QUERIES[name as QueryName] as NamedQuery<z.ZodType, unknown>;
  const parsed = q.params.safeParse(params ?? {});
  if (!parsed.success) {
    throw new QueryRefusedError(`${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'params'} ${i.message}`).join('; ')}`);
  }
  return q.run(w, parsed.data);
}

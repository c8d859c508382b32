// Ad-hoc reads (`segpipe sql`): one caller's SELECT, run by the process that owns the warehouse.
// What makes it safe is decided there, never by the caller: the statement count and type come
// from DuckDB's own parser and prepared statement (no regex), it runs in a READ ONLY transaction
// that is always rolled back (a SELECT with a write inside, such as nextval, fails), the
// instance has file access off and its configuration locked, and rows, cell sizes and time are
// capped. This module holds the bounds and the value handling; duckdb.ts runs the statement.
import { z } from 'zod';

export const ADHOC_LIMITS = {
  maxSqlChars: 100_000,
  defaultRows: 1000,
  maxRows: 10_000,
  defaultTimeoutMs: 30_000,
  maxTimeoutMs: 300_000,
  /** A longer text cell is cut (with "…"): a result travels through Redis as the job's return value. */
  maxCellChars: 10_000,
  /** Rows stop being added once the result's JSON would pass this. */
  maxResultBytes: 8 * 1024 * 1024,
  /**
   * Ad-hoc queries run one at a time on a connection of their own (the dashboard's named queries
   * never wait for them); this many more may wait behind it, and past that one is refused.
   */
  maxWaiting: 2,
} as const;

export const adhocParams = z
  .object({
    sql: z.string().min(1).max(ADHOC_LIMITS.maxSqlChars),
    limit: z.number().int().min(1).max(ADHOC_LIMITS.maxRows).default(ADHOC_LIMITS.defaultRows),
    timeoutMs: z.number().int().min(100).max(ADHOC_LIMITS.maxTimeoutMs).default(ADHOC_LIMITS.defaultTimeoutMs),
  })
  .strict();

export interface AdhocOptions {
  limit: number;
  timeoutMs: number;
}

export interface AdhocResult {
  columns: Array<{ name: string; type: string }>;
  /** Cells in column order (two columns may share a name). */
  rows: unknown[][];
  /** More rows were there than the limit (or the size cap) let through. */
  truncated: boolean;
}

/** A caller's statement the warehouse will not run, or that failed (syntax, permission, timeout). */
export class AdhocQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdhocQueryError';
  }
}

/**
 * A DuckDB JS value as plain JSON: BIGINT as a number while exact (else text), timestamps as ISO
 * 8601 UTC, bytes as hex, long text cut; lists and structs element by element.
 */
export function plainValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'string') return v.length > ADHOC_LIMITS.maxCellChars ? `${v.slice(0, ADHOC_LIMITS.maxCellChars)}…` : v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'boolean') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Uint8Array) return plainValue(`\\x${Buffer.from(v).toString('hex')}`);
  if (Array.isArray(v)) return v.map(plainValue);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plainValue(x)]));
  return String(v);
}

/**
 * Rows up to the limit and the size cap, taken one at a time as they are read, so no more than
 * the cap (and the one row being looked at) is ever kept: `add` says whether to read on.
 */
export class ResultCap {
  readonly rows: unknown[][] = [];
  truncated = false;
  private bytes = 2;
  constructor(private readonly limit: number) {}

  add(row: readonly unknown[]): boolean {
    if (this.rows.length >= this.limit) return this.stop();
    const plain = row.map(plainValue);
    this.bytes += JSON.stringify(plain).length + 1;
    if (this.bytes > ADHOC_LIMITS.maxResultBytes) return this.stop();
    this.rows.push(plain);
    return true;
  }

  private stop(): false {
    this.truncated = true;
    return false;
  }
}

/** Rows as objects by column name (the last of two same-named columns wins), for --json. */
export const rowObjects = (r: AdhocResult): Array<Record<string, unknown>> => r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));

/** A plain-text table: a header, a rule, one line per row, and the row count. */
export function formatTable(r: AdhocResult): string {
  const text = (v: unknown) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v)).replace(/[\r\n\t]/g, ' ');
  const cells = r.rows.map((row) => row.map(text));
  const widths = r.columns.map((c, i) => Math.min(60, Math.max(c.name.length, ...cells.map((row) => row[i]!.length))));
  const numeric = r.columns.map((c) => /INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC/.test(c.type));
  const cut = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s);
  const line = (row: string[]) => row.map((s, i) => (numeric[i] ? cut(s, widths[i]!).padStart(widths[i]!) : cut(s, widths[i]!).padEnd(widths[i]!))).join(' │ ').trimEnd();
  const n = r.rows.length;
  return [line(r.columns.map((c) => c.name)), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...cells.map(line), `(${n} row${n === 1 ? '' : 's'})`].join('\n');
}

// The narrow warehouse interface of DESIGN.md. Rows are arrays aligned with the table's columns:
// TIMESTAMP as ISO 8601 UTC text or epoch ms, JSON as JSON text, numbers as numbers, null as null.
import { isoUtc } from '../events/iso-time.ts';
import type { AdhocOptions, AdhocResult } from './adhoc.ts';
import type { TableSpec } from './tables.ts';

export type Cell = string | number | boolean | null;
export type Row = Cell[];

/** `rows` with epoch-ms TIMESTAMP cells as ISO 8601 text, for a warehouse that reads them as text. */
export function isoTimestamps(table: TableSpec, rows: Row[]): Row[] {
  const at = table.columns.flatMap((c, i) => (c.type === 'TIMESTAMP' ? [i] : []));
  if (!rows.some((r) => at.some((i) => typeof r[i] === 'number'))) return rows;
  return rows.map((r) => {
    const out = r.slice();
    for (const i of at) if (typeof out[i] === 'number') out[i] = isoUtc(out[i] as number);
    return out;
  });
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'snowflake';
  /** Merges into different tables this warehouse runs at once; 1 when absent. */
  readonly mergeConcurrency?: number;
  ensureSchema(tables: TableSpec[]): Promise<void>;
  /** Upserts rows on the table's key; merging the same rows again changes nothing. Returns rows given. */
  merge(table: TableSpec, rows: Row[]): Promise<number>;
  /** merge() for rows as JSON arrays in column order, so a warehouse that can read JSON itself saves parsing them. */
  mergeJson(table: TableSpec, rows: string[]): Promise<number>;
  /**
   * One read-only statement of segpipe's own (see queries.ts; never a caller's text), `?`
   * placeholders bound to `binds`; rows as plain JSON objects.
   */
  query<T = Record<string, unknown>>(sql: string, binds?: Cell[]): Promise<T[]>;
  /** A caller's one SELECT, read-only and capped (`segpipe sql`, adhoc.ts); absent where not supported (Snowflake). */
  adhocSelect?(sql: string, opts: AdhocOptions): Promise<AdhocResult>;
  /**
   * Appends a loaded Kafka range's rows (those whose event_id is not there yet) and moves the
   * partition's position in RAW_OFFSETS, in one transaction, only if the stored position is the
   * range's first offset.
   */
  loadRaw(load: RawLoad): Promise<RawLoadResult>;
  /** RAW_OFFSETS, by `topic:partition`. */
  rawPositions(): Promise<Map<string, RawPosition>>;
  close(): Promise<void>;
}

export interface RawLoad {
  table: TableSpec;
  topic: string;
  partition: number;
  /** The range's first offset, and the offset after its last message. */
  from: number;
  to: number;
  rows: Row[];
  /** Messages of the range that went to the dead-letter topic instead. */
  deadLetters: number;
  /** The partition's newest event time after the range (epoch ms), -1 when none. */
  mark: number;
  /**
   * Runs inside the transaction once the position guard passed, before the rows: the loader
   * sends the range's dead letters there, so a range refused as loaded already sends none again.
   */
  afterGuard?: () => Promise<void>;
  /** Runs inside the transaction, after the rows and before the commit (the kill test holds there). */
  beforeCommit?: () => Promise<void>;
}

export type RawLoadResult =
  | { applied: true; inserted: number; duplicates: number }
  /** The stored position is not the range's start: nothing changed; load from `position`, with the stored `mark`. */
  | { applied: false; position: number | null; mark: number };

export interface RawPosition {
  nextOffset: number;
  rows: number;
  duplicates: number;
  deadLetters: number;
  /** Newest event time loaded (epoch ms), -1 when none. */
  mark: number;
}

export class WarehouseLockedError extends Error {
  constructor(path: string, detail: string) {
    super(`the DuckDB file ${path} is open for writing in another process (${detail}); only one process may own it`);
    this.name = 'WarehouseLockedError';
  }
}

/** A statement given to query() that is not exactly one SELECT. */
export class ReadOnlyQueryError extends Error {
  constructor(detail: string) {
    super(`warehouse reads run exactly one SELECT statement; ${detail}`);
    this.name = 'ReadOnlyQueryError';
  }
}

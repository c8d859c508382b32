// DuckDB, the embedded default: one file, one writing process. Merges stage each row as its JSON
// array text through an appender (one call per row, not per cell), then insert-or-update from
// it, extracting and casting each column inside DuckDB. Raw loads append typed cells straight
// into their table, deduplicated in memory (recent-ids.ts) instead of by a key index.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, DuckDBTimestampValue, JSDuckDBValueConverter, StatementType, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { SerialByKey } from '../kafka/serial.ts';
import { parseEventTime } from '../stream/transform.ts';
import { ADHOC_LIMITS, AdhocQueryError, ResultCap, type AdhocOptions, type AdhocResult } from './adhoc.ts';
import { RecentIds } from './recent-ids.ts';
import { RAW_OFFSETS, type Column, type TableSpec } from './tables.ts';
import { ReadOnlyQueryError, WarehouseLockedError, isoTimestamps, type Cell, type RawLoad, type RawLoadResult, type RawPosition, type Row, type Warehouse } from './warehouse.ts';

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

export function duckdbType(c: Column): string {
  return c.type === 'JSON' ? 'JSON' : c.type;
}

export class DuckDBWarehouse implements Warehouse {
  readonly kind = 'duckdb';
  /** Each merge runs on a connection of its own: DuckDB writes to different tables concurrently. */
  readonly mergeConcurrency = 4;
  private readonly writers: ConnectionPool;
  /** Queries read on connections of their own, so they do not wait for merges (MVCC keeps them consistent). */
  private readonly readers: ConnectionPool;
  /** `segpipe sql` on one connection of its own, with a short queue: the named queries never wait for a caller's SELECT. */
  private readonly adhoc: ConnectionPool;
  /** Per `table:partition` of an append-only table, its ids of recent event time; filled from the table at first use. */
  private readonly recent = new Map<string, RecentIds>();
  /** Append-only tables that an earlier version created with a key index: still loaded through it. */
  private readonly keyed = new Set<string>();
  private readonly loadsBySlot = new SerialByKey();
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly dedupHorizonMs: number,
  ) {
    this.writers = new ConnectionPool(instance, this.mergeConcurrency);
    this.readers = new ConnectionPool(instance, 2);
    this.adhoc = new ConnectionPool(instance, 1, ADHOC_LIMITS.maxWaiting);
  }

  /** `dedupHorizonMs`: how far behind a partition's newest event time a re-sent raw row is still recognised in memory (DEDUP_HORIZON_MS). */
  static async open(file: string, opts: { checkpointMb?: number; dedupHorizonMs?: number; memoryLimit?: string } = {}): Promise<DuckDBWarehouse> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      const instance = await DuckDBInstance.create(file, {
        // No statement of this process touches a file but the database's own: no read_text,
        // COPY, ATTACH or extension install, whatever a statement says. Locked, so no SET
        // can turn it back on.
        enable_external_access: 'false',
        // Each checkpoint rewrites the key indexes; checkpointing less often (the WAL keeps what
        // is not checkpointed yet, replayed on open) halves the cost of a merge.
        checkpoint_threshold: `${opts.checkpointMb ?? 256}MB`,
        // What sorts, joins, aggregates and buffered rows may hold before they spill or fail
        // (DUCKDB_MEMORY_LIMIT; locked with the rest, so a caller's SET cannot raise it).
        ...(opts.memoryLimit ? { memory_limit: opts.memoryLimit } : {}),
        lock_configuration: 'true',
      });
      const conn = await instance.connect();
      return new DuckDBWarehouse(instance, conn, opts.dedupHorizonMs ?? 3_600_000);
    } catch (err) {
      const msg = (err as Error).message;
      if (/lock/i.test(msg)) throw new WarehouseLockedError(file, msg);
      throw err;
    }
  }

  async ensureSchema(tables: TableSpec[]): Promise<void> {
    for (const t of tables) {
      const cols = t.columns.map((c) => `${q(c.name)} ${duckdbType(c)}${c.nullable ? '' : ' NOT NULL'}`);
      const key = t.appendOnly ? '' : `, PRIMARY KEY (${t.key.map(q).join(', ')})`;
      await this.conn.run(`CREATE TABLE IF NOT EXISTS ${q(t.name)} (${cols.join(', ')}${key})`);
      // A table an earlier version created: its new optional columns are added (NULL in old rows).
      for (const c of t.columns) if (c.nullable) await this.conn.run(`ALTER TABLE ${q(t.name)} ADD COLUMN IF NOT EXISTS ${q(c.name)} ${duckdbType(c)}`);
    }
    const indexed = await this.conn.runAndReadAll(`SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND schema_name = 'main'`);
    const names = new Set(indexed.getRows().map((r) => String(r[0])));
    for (const t of tables) if (t.appendOnly && names.has(t.name)) this.keyed.add(t.name);
  }

  async merge(table: TableSpec, rows: Row[]): Promise<number> {
    return this.mergeJson(table, isoTimestamps(table, rows).map((r) => JSON.stringify(r)));
  }

  async mergeJson(table: TableSpec, rows: string[]): Promise<number> {
    if (rows.length === 0) return 0;
    await this.writers.with((conn) => this.mergeOn(conn, table, rows));
    return rows.length;
  }

  private async mergeOn(conn: DuckDBConnection, table: TableSpec, rows: string[]): Promise<void> {
    const stage = `stage_${table.name}`;
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${q(stage)} (r VARCHAR)`);
    const appender = await conn.createAppender(stage, 'main', 'temp');
    for (const row of rows) {
      appender.appendVarchar(row);
      appender.endRow();
    }
    appender.closeSync();
    // ->> yields the cell as text (JSON cells hold JSON text already), NULL for null.
    const cell = (i: number) => `(r->>${i})`;
    const columns = table.columns.map((c, i) => `CAST(${cell(i)} AS ${duckdbType(c)}) AS ${q(c.name)}`).join(', ');
    const keyOf = table.key.map((k) => cell(table.columns.findIndex((c) => c.name === k))).join(', ');
    // Several versions of one key in a batch: keep the newest one.
    const v = table.version ? table.columns.findIndex((c) => c.name === table.version) : -1;
    const order = v >= 0 ? `ORDER BY CAST(${cell(v)} AS BIGINT) DESC` : '';
    const keys = table.key.map(q).join(', ');
    await conn.run(
      // By name: a table of an earlier version has its newer columns appended, not in spec order.
      `INSERT INTO ${q(table.name)} (${table.columns.map((c) => q(c.name)).join(', ')}) SELECT ${columns} FROM (SELECT r, row_number() OVER (PARTITION BY ${keyOf} ${order}) AS rn FROM ${q(stage)}) WHERE rn = 1 ` +
        `ON CONFLICT (${keys}) DO UPDATE SET ${table.columns.filter((c) => !table.key.includes(c.name)).map((c) => `${q(c.name)} = EXCLUDED.${q(c.name)}`).join(', ')}`,
    );
    await conn.run(`DROP TABLE ${q(stage)}`);
  }

  async loadRaw(load: RawLoad): Promise<RawLoadResult> {
    const { table } = load;
    const slot = `${table.name}:${load.partition}`;
    // One load of a partition at a time: its recent ids are read and changed by the load that
    // holds them, never beside another (a replay, a retry) working from an older snapshot.
    return this.loadsBySlot.run(slot, () => this.writers.with(async (conn) => {
      await conn.run('BEGIN TRANSACTION');
      try {
        // The guard: a range loads only onto the position it starts from, inside the transaction
        // that moves the position, so a range is in the warehouse once whatever was replayed.
        const found = await conn.runAndReadAll(`SELECT next_offset, coalesce(event_time_mark, -1) FROM ${q(RAW_OFFSETS.name)} WHERE topic = $1 AND kafka_partition = $2`, [load.topic, load.partition]);
        const stored = found.currentRowCount > 0 ? Number(found.getRows()[0]![0]) : null;
        if (stored !== null && stored !== load.from) {
          const mark = Number(found.getRows()[0]![1]);
          await conn.run('ROLLBACK');
          return { applied: false, position: stored, mark };
        }
        await load.afterGuard?.();
        let inserted = 0;
        if (load.rows.length > 0) inserted = table.appendOnly && !this.keyed.has(table.name) ? await this.appendUnique(conn, load, await this.recentIds(conn, table, load.partition, slot)) : await this.appendNew(conn, table, load.rows);
        const duplicates = load.rows.length - inserted;
        await conn.run(
          `INSERT INTO ${q(RAW_OFFSETS.name)} (${RAW_OFFSETS.columns.map((c) => q(c.name)).join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, now(), $7) ON CONFLICT (topic, kafka_partition) DO UPDATE SET ` +
            'next_offset = EXCLUDED.next_offset, rows_loaded = rows_loaded + EXCLUDED.rows_loaded, duplicates = duplicates + EXCLUDED.duplicates, ' +
            'dead_letters = dead_letters + EXCLUDED.dead_letters, loaded_at = EXCLUDED.loaded_at, event_time_mark = EXCLUDED.event_time_mark',
          [load.topic, load.partition, BigInt(load.to), BigInt(inserted), BigInt(duplicates), BigInt(load.deadLetters), BigInt(load.mark)],
        );
        await load.beforeCommit?.();
        await conn.run('COMMIT');
        return { applied: true, inserted, duplicates };
      } catch (err) {
        // Ids the rollback takes back out of the table: refilled from it at the next load.
        this.recent.delete(slot);
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }));
  }

  /**
   * Rows whose event_id is new, in order, appended straight into the table. Ids within the
   * horizon are decided in memory; a row older than that (a late event) is checked against the
   * whole table, through a staging table. Runs inside the load's transaction, on the single
   * writing process, so nothing else can append one of these ids meanwhile.
   */
  private async appendUnique(conn: DuckDBConnection, load: RawLoad, recent: RecentIds): Promise<number> {
    const { table, rows } = load;
    const idAt = table.columns.findIndex((c) => c.name === table.key[0]);
    const timeAt = table.columns.findIndex((c) => c.name === 'event_time');
    const fresh: Row[] = [];
    const old: Row[] = [];
    const oldIds = new Set<string>();
    for (const row of rows) {
      // As the table will hold it (VARCHAR), so an id read back from the table matches.
      const id = String(row[idAt]);
      if (recent.has(id) || oldIds.has(id)) continue;
      const t = timestampMs(row[timeAt]!);
      if (recent.covers(t)) {
        recent.add(id, t);
        fresh.push(row);
      } else {
        oldIds.add(id);
        old.push(row);
      }
    }
    await appendRows(conn, table.name, 'database', table, fresh);
    if (old.length === 0) return fresh.length;
    const key = q(table.key[0]!);
    return fresh.length + (await insertViaStage(conn, table, `late_${table.name}`, old, (stage) => `INSERT INTO ${q(table.name)} SELECT * FROM ${q(stage)} s WHERE NOT EXISTS (SELECT 1 FROM ${q(table.name)} t WHERE t.${key} = s.${key})`));
  }

  /** A partition's ids from its newest event time back at least one horizon, read in the load's transaction. */
  private async recentIds(conn: DuckDBConnection, table: TableSpec, partition: number, slot: string): Promise<RecentIds> {
    let recent = this.recent.get(slot);
    if (recent) return recent;
    recent = new RecentIds(this.dedupHorizonMs);
    const [id, t] = [q(table.key[0]!), q('event_time')];
    // Two horizons back covers the buckets RecentIds keeps, wherever the newest falls in its own.
    const reader = await conn.runAndReadAll(
      `SELECT ${id}, epoch_ms(${t}) FROM ${q(table.name)} WHERE kafka_partition = $1 AND ${t} >= ` +
        `(SELECT max(${t}) FROM ${q(table.name)} WHERE kafka_partition = $1) - to_milliseconds($2)`,
      [partition, BigInt(2 * Math.max(1, this.dedupHorizonMs))],
    );
    for (const [rowId, ms] of reader.getRows()) recent.add(String(rowId), Number(ms));
    this.recent.set(slot, recent);
    return recent;
  }

  /** Typed rows through an appender into a staging table, then those with a new event_id (the first of each). */
  private async appendNew(conn: DuckDBConnection, table: TableSpec, rows: Row[]): Promise<number> {
    const keys = table.key.map(q).join(', ');
    return insertViaStage(conn, table, `load_${table.name}`, rows, (stage) => `INSERT OR IGNORE INTO ${q(table.name)} SELECT * FROM ${q(stage)} QUALIFY row_number() OVER (PARTITION BY ${keys} ORDER BY kafka_offset) = 1`);
  }

  async rawPositions(): Promise<Map<string, RawPosition>> {
    const rows = await this.query<{ topic: string; kafka_partition: number; next_offset: number; rows_loaded: number; duplicates: number; dead_letters: number; mark: number }>(
      `SELECT topic, kafka_partition, next_offset, rows_loaded, duplicates, dead_letters, coalesce(event_time_mark, -1) AS mark FROM ${q(RAW_OFFSETS.name)}`,
    );
    return new Map(rows.map((r) => [`${r.topic}:${r.kafka_partition}`, { nextOffset: r.next_offset, rows: r.rows_loaded, duplicates: r.duplicates, deadLetters: r.dead_letters, mark: Number(r.mark) }]));
  }

  async query<T = Record<string, unknown>>(sql: string, binds?: Cell[]): Promise<T[]> {
    const reader = await this.readers.with(async (conn) => {
      const statements = await conn.extractStatements(sql);
      if (statements.count !== 1) throw new ReadOnlyQueryError(`got ${statements.count}`);
      const prepared = await statements.prepare(0);
      if (prepared.statementType !== StatementType.SELECT) throw new ReadOnlyQueryError(`got a ${StatementType[prepared.statementType]} statement`);
      if (binds) prepared.bind(binds);
      return prepared.runAndReadAll();
    });
    // Plain JSON values: BIGINT as a number while exact, timestamps as ISO 8601 UTC text.
    return reader.getRowObjectsJS().map((row) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) {
        if (typeof v === 'bigint') out[k] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
        else if (v instanceof Date) out[k] = v.toISOString();
        else out[k] = v;
      }
      return out;
    }) as T[];
  }

  /**
   * A caller's statement (`segpipe sql`; see adhoc.ts for the guarantee): exactly one statement,
   * a SELECT by the prepared statement's type, inside a READ ONLY transaction that is rolled
   * back whatever happens; interrupted at the timeout, read only up to the row cap.
   */
  async adhocSelect(sql: string, opts: AdhocOptions): Promise<AdhocResult> {
    return this.adhoc.with(async (conn) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        conn.interrupt();
      }, opts.timeoutMs);
      await conn.run('BEGIN TRANSACTION READ ONLY');
      try {
        const statements = await conn.extractStatements(sql);
        if (statements.count !== 1) throw new AdhocQueryError(`segpipe sql runs exactly one statement, got ${statements.count}`);
        const prepared = await statements.prepare(0);
        if (prepared.statementType !== StatementType.SELECT) throw new AdhocQueryError(`segpipe sql runs a SELECT only, got a statement of type ${StatementType[prepared.statementType]}`);
        // Chunk by chunk, row by row, capped while reading: reading up to the row limit first
        // kept every row (and its JS copy) in memory before the byte cap was applied.
        const result = await prepared.stream();
        const types = result.columnTypes();
        const columns = result.columnNames().map((name, i) => ({ name, type: types[i]!.toString() }));
        const cap = new ResultCap(opts.limit);
        read: for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
          for (let r = 0; r < chunk.rowCount; r++) if (!cap.add(chunk.convertRowValues(r, JSDuckDBValueConverter))) break read;
        }
        return { columns, rows: cap.rows, truncated: cap.truncated };
      } catch (err) {
        if (err instanceof AdhocQueryError) throw err;
        const msg = (err as Error).message.split('\n')[0]!;
        throw new AdhocQueryError(timedOut ? `stopped at the timeout of ${opts.timeoutMs / 1000} s` : msg);
      } finally {
        clearTimeout(timer);
        await conn.run('ROLLBACK').catch(() => undefined);
      }
    });
  }

  /** A maintenance statement on a writing connection, for this process's own code (tests' fault injection); no job reaches it. */
  async execute(sql: string): Promise<void> {
    await this.writers.with((conn) => conn.run(sql));
  }

  async close(): Promise<void> {
    this.writers.close();
    this.readers.close();
    this.adhoc.close();
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** Rows through an appender into `table` (of the database, or `temp` for a staging table), in the connection's transaction. */
async function appendRows(conn: DuckDBConnection, table: string, where: 'database' | 'temp', spec: TableSpec, rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  const appender = where === 'temp' ? await conn.createAppender(table, 'main', 'temp') : await conn.createAppender(table);
  const put = spec.columns.map((c) => cellAppender(c));
  for (const row of rows) {
    for (let i = 0; i < put.length; i++) {
      const v = row[i];
      if (v === null || v === undefined) appender.appendNull();
      else put[i]!(appender, v);
    }
    appender.endRow();
  }
  appender.closeSync();
}

/** `rows` through a temporary staging table shaped like `table`, then `insert(stage)` from it; returns the rows it inserted. */
async function insertViaStage(conn: DuckDBConnection, table: TableSpec, stage: string, rows: Row[], insert: (stage: string) => string): Promise<number> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${q(stage)} AS SELECT * FROM ${q(table.name)} LIMIT 0`);
  await appendRows(conn, stage, 'temp', table, rows);
  const result = await conn.run(insert(stage));
  await conn.run(`DROP TABLE ${q(stage)}`);
  return result.rowsChanged;
}

/** Epoch ms of a TIMESTAMP cell (ISO 8601 text, or already a number). */
const timestampMs = (v: Cell): number => (typeof v === 'number' ? v : parseEventTime(v));

/** How a column's cells go into an appender; rows carry TIMESTAMP as ISO 8601 text or epoch ms, JSON as text. */
function cellAppender(c: Column): (a: DuckDBAppender, v: Cell) => void {
  switch (c.type) {
    case 'INTEGER':
      return (a, v) => a.appendInteger(Number(v));
    case 'BIGINT':
      return (a, v) => a.appendBigInt(BigInt(v as number));
    case 'DOUBLE':
      return (a, v) => a.appendDouble(Number(v));
    case 'BOOLEAN':
      return (a, v) => a.appendBoolean(Boolean(v));
    case 'TIMESTAMP': {
      // A range's rows share one ingested_at: its value is made once.
      let text: Cell = null;
      let value = new DuckDBTimestampValue(0n);
      return (a, v) => {
        if (v !== text) [text, value] = [v, new DuckDBTimestampValue(BigInt(timestampMs(v)) * 1000n)];
        a.appendTimestamp(value);
      };
    }
    default:
      return (a, v) => a.appendVarchar(String(v));
  }
}

/**
 * Up to `size` connections of one instance, opened on demand; callers beyond that wait in turn,
 * at most `maxWaiting` of them (a caller past that is refused with an AdhocQueryError).
 */
class ConnectionPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiting: Array<(conn: DuckDBConnection) => void> = [];
  private opened = 0;
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly size: number,
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
  ) {}

  async with<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const conn = await this.acquire();
    try {
      return await fn(conn);
    } finally {
      this.release(conn);
    }
  }

  private async acquire(): Promise<DuckDBConnection> {
    const conn = this.idle.pop();
    if (conn) return conn;
    if (this.opened < this.size) {
      this.opened++;
      try {
        return await this.instance.connect();
      } catch (err) {
        this.opened--; // a failed open must not use up a slot for good
        throw err;
      }
    }
    if (this.waiting.length >= this.maxWaiting) {
      throw new AdhocQueryError(`segpipe sql is busy: ${this.size} query running and ${this.waiting.length} waiting; try again when they finish`);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(conn: DuckDBConnection): void {
    const next = this.waiting.shift();
    if (next) next(conn);
    else this.idle.push(conn);
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.closeSync();
  }
}

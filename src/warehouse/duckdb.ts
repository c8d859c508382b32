// DuckDB, the embedded default: one file, one writing process. Merges stage each row as its JSON
// array text through an appender (one call per row, not per cell), then insert-or-update from
// it, extracting and casting each column inside DuckDB.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, DuckDBTimestampValue, StatementType, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { RAW_OFFSETS, type Column, type TableSpec } from './tables.ts';
import { ReadOnlyQueryError, WarehouseLockedError, type Cell, type RawLoad, type RawLoadResult, type RawPosition, type Row, type Warehouse } from './warehouse.ts';

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
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {
    this.writers = new ConnectionPool(instance, this.mergeConcurrency);
    this.readers = new ConnectionPool(instance, 2);
  }

  static async open(file: string, opts: { checkpointMb?: number } = {}): Promise<DuckDBWarehouse> {
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
        lock_configuration: 'true',
      });
      const conn = await instance.connect();
      return new DuckDBWarehouse(instance, conn);
    } catch (err) {
      const msg = (err as Error).message;
      if (/lock/i.test(msg)) throw new WarehouseLockedError(file, msg);
      throw err;
    }
  }

  async ensureSchema(tables: TableSpec[]): Promise<void> {
    for (const t of tables) {
      const cols = t.columns.map((c) => `${q(c.name)} ${duckdbType(c)}${c.nullable ? '' : ' NOT NULL'}`);
      await this.conn.run(`CREATE TABLE IF NOT EXISTS ${q(t.name)} (${cols.join(', ')}, PRIMARY KEY (${t.key.map(q).join(', ')}))`);
    }
  }

  async merge(table: TableSpec, rows: Row[]): Promise<number> {
    return this.mergeJson(table, rows.map((r) => JSON.stringify(r)));
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
      `INSERT INTO ${q(table.name)} SELECT ${columns} FROM (SELECT r, row_number() OVER (PARTITION BY ${keyOf} ${order}) AS rn FROM ${q(stage)}) WHERE rn = 1 ` +
        `ON CONFLICT (${keys}) DO UPDATE SET ${table.columns.filter((c) => !table.key.includes(c.name)).map((c) => `${q(c.name)} = EXCLUDED.${q(c.name)}`).join(', ')}`,
    );
    await conn.run(`DROP TABLE ${q(stage)}`);
  }

  async loadRaw(load: RawLoad): Promise<RawLoadResult> {
    return this.writers.with(async (conn) => {
      await conn.run('BEGIN TRANSACTION');
      try {
        // The guard: a range loads only onto the position it starts from, inside the transaction
        // that moves the position, so a range is in the warehouse once whatever was replayed.
        const found = await conn.runAndReadAll(`SELECT next_offset FROM ${q(RAW_OFFSETS.name)} WHERE topic = $1 AND kafka_partition = $2`, [load.topic, load.partition]);
        const stored = found.currentRowCount > 0 ? Number(found.getRows()[0]![0]) : null;
        if (stored !== null && stored !== load.from) {
          await conn.run('ROLLBACK');
          return { applied: false, position: stored };
        }
        const inserted = load.rows.length === 0 ? 0 : await this.appendNew(conn, load.table, load.rows);
        const duplicates = load.rows.length - inserted;
        await conn.run(
          `INSERT INTO ${q(RAW_OFFSETS.name)} VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (topic, kafka_partition) DO UPDATE SET ` +
            'next_offset = EXCLUDED.next_offset, rows_loaded = rows_loaded + EXCLUDED.rows_loaded, duplicates = duplicates + EXCLUDED.duplicates, ' +
            'dead_letters = dead_letters + EXCLUDED.dead_letters, loaded_at = EXCLUDED.loaded_at',
          [load.topic, load.partition, BigInt(load.to), BigInt(inserted), BigInt(duplicates), BigInt(load.deadLetters)],
        );
        await load.beforeCommit?.();
        await conn.run('COMMIT');
        return { applied: true, inserted, duplicates };
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Typed rows through an appender into a staging table, then those with a new event_id (the first of each). */
  private async appendNew(conn: DuckDBConnection, table: TableSpec, rows: Row[]): Promise<number> {
    const stage = `load_${table.name}`;
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${q(stage)} AS SELECT * FROM ${q(table.name)} LIMIT 0`);
    const appender = await conn.createAppender(stage, 'main', 'temp');
    const put = table.columns.map((c) => cellAppender(c));
    for (const row of rows) {
      for (let i = 0; i < put.length; i++) {
        const v = row[i];
        if (v === null || v === undefined) appender.appendNull();
        else put[i]!(appender, v);
      }
      appender.endRow();
    }
    appender.closeSync();
    const keys = table.key.map(q).join(', ');
    const result = await conn.run(
      `INSERT OR IGNORE INTO ${q(table.name)} SELECT * FROM ${q(stage)} QUALIFY row_number() OVER (PARTITION BY ${keys} ORDER BY kafka_offset) = 1`,
    );
    await conn.run(`DROP TABLE ${q(stage)}`);
    return result.rowsChanged;
  }

  async rawPositions(): Promise<Map<string, RawPosition>> {
    const rows = await this.query<{ topic: string; kafka_partition: number; next_offset: number; rows_loaded: number; duplicates: number; dead_letters: number }>(
      `SELECT topic, kafka_partition, next_offset, rows_loaded, duplicates, dead_letters FROM ${q(RAW_OFFSETS.name)}`,
    );
    return new Map(rows.map((r) => [`${r.topic}:${r.kafka_partition}`, { nextOffset: r.next_offset, rows: r.rows_loaded, duplicates: r.duplicates, deadLetters: r.dead_letters }]));
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

  /** A maintenance statement on a writing connection, for this process's own code (tests' fault injection); no job reaches it. */
  async execute(sql: string): Promise<void> {
    await this.writers.with((conn) => conn.run(sql));
  }

  async close(): Promise<void> {
    this.writers.close();
    this.readers.close();
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** How a column's cells go into an appender; rows carry TIMESTAMP as ISO 8601 text, JSON as text. */
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
    case 'TIMESTAMP':
      return (a, v) => a.appendTimestamp(new DuckDBTimestampValue(BigInt(Date.parse(String(v))) * 1000n));
    default:
      return (a, v) => a.appendVarchar(String(v));
  }
}

/** Up to `size` connections of one instance, opened on demand; callers beyond that wait in turn. */
class ConnectionPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiting: Array<(conn: DuckDBConnection) => void> = [];
  private opened = 0;
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly size: number,
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

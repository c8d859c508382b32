// DuckDB, the embedded default: one file, one writing process. Merges stage rows through an
// appender into a temp table (all VARCHAR, cast on the way in), then insert what is not there.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Column, TableSpec } from './tables.ts';
import { WarehouseLockedError, type Row, type Warehouse } from './warehouse.ts';

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

export function duckdbType(c: Column): string {
  return c.type === 'JSON' ? 'JSON' : c.type;
}

export class DuckDBWarehouse implements Warehouse {
  readonly kind = 'duckdb';
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string): Promise<DuckDBWarehouse> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      const instance = await DuckDBInstance.create(file);
      return new DuckDBWarehouse(instance, await instance.connect());
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
    if (rows.length === 0) return 0;
    const stage = q(`stage_${table.name}`);
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE ${stage} (${table.columns.map((c) => `${q(c.name)} VARCHAR`).join(', ')})`);
    const appender = await this.conn.createAppender(`stage_${table.name}`, 'main', 'temp');
    for (const row of rows) {
      for (const cell of row) {
        if (cell === null || cell === undefined) appender.appendNull();
        else appender.appendVarchar(typeof cell === 'string' ? cell : String(cell));
      }
      appender.endRow();
    }
    appender.closeSync();
    const casts = table.columns.map((c) => `CAST(${q(c.name)} AS ${duckdbType(c)})`).join(', ');
    const keys = table.key.map(q).join(', ');
    // Several versions of one key in a batch: keep the newest one.
    const order = table.version ? `ORDER BY CAST(${q(table.version)} AS BIGINT) DESC` : '';
    await this.conn.run(
      `INSERT INTO ${q(table.name)} SELECT ${casts} FROM (SELECT *, row_number() OVER (PARTITION BY ${keys} ${order}) AS rn FROM ${stage}) WHERE rn = 1 ` +
        `ON CONFLICT (${keys}) DO UPDATE SET ${table.columns.filter((c) => !table.key.includes(c.name)).map((c) => `${q(c.name)} = EXCLUDED.${q(c.name)}`).join(', ')}`,
    );
    await this.conn.run(`DROP TABLE ${stage}`);
    return rows.length;
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const reader = await this.conn.runAndReadAll(sql);
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

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

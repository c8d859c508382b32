// Snowflake through snowflake-sdk. A merge stages rows into a temporary all-VARCHAR table with
// array binds (in slices that stay under the driver's bind limits), then MERGEs on the key,
// casting on the way in (JSON via PARSE_JSON into VARIANT). Password or key-pair auth;
// transient failures (network, throttling, session expiry) are retried with back-off.
import { setTimeout as sleep } from 'node:timers/promises';
import snowflake from 'snowflake-sdk';
import type { Config } from '../config.ts';
import { childLog } from '../log.ts';
import { RAW_OFFSETS, type Column, type TableSpec } from './tables.ts';
import { isoTimestamps, type Cell, type RawLoad, type RawLoadResult, type RawPosition, type Row, type Warehouse } from './warehouse.ts';

type SnowflakeConfig = Extract<Config['warehouse'], { kind: 'snowflake' }>;

const log = childLog('snowflake');
const q = (ident: string) => `"${ident.toUpperCase().replace(/"/g, '""')}"`;
/**
 * Binds per INSERT (rows x columns). Past its array-binding threshold (100,000 by default) the
 * driver uploads binds through a temporary stage instead; the connection pins the threshold to
 * this value so every slice is sent inline, whatever the server announces at login.
 */
export const MAX_BINDS = 100_000;
const RETRIES = 4;

export function snowflakeType(c: Column): string {
  switch (c.type) {
    case 'JSON':
      return 'VARIANT';
    case 'TIMESTAMP':
      return 'TIMESTAMP_NTZ';
    case 'INTEGER':
    case 'BIGINT':
      return 'NUMBER(38,0)';
    case 'DOUBLE':
      return 'FLOAT';
    default:
      return c.type;
  }
}

const castFrom = (c: Column, expr: string) => (c.type === 'JSON' ? `PARSE_JSON(${expr})` : `CAST(${expr} AS ${snowflakeType(c)})`);

/** Statements the merge runs, exposed so tests can check the SQL against a real engine. */
export function mergeSql(table: TableSpec, stage: string): string {
  const cols = table.columns;
  const on = table.key.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ');
  const order = table.version ? `ORDER BY CAST(${q(table.version)} AS NUMBER(38,0)) DESC` : 'ORDER BY 1';
  const source = `SELECT ${cols.map((c) => `${castFrom(c, q(c.name))} AS ${q(c.name)}`).join(', ')} FROM ${stage} QUALIFY ROW_NUMBER() OVER (PARTITION BY ${table.key.map(q).join(', ')} ${order}) = 1`;
  const updates = cols.filter((c) => !table.key.includes(c.name)).map((c) => `${q(c.name)} = s.${q(c.name)}`);
  return (
    `MERGE INTO ${q(table.name)} t USING (${source}) s ON ${on} ` +
    `WHEN MATCHED THEN UPDATE SET ${updates.join(', ')} ` +
    `WHEN NOT MATCHED THEN INSERT (${cols.map((c) => q(c.name)).join(', ')}) VALUES (${cols.map((c) => `s.${q(c.name)}`).join(', ')})`
  );
}

/**
 * Driver rows as the plain JSON values DuckDB's query() gives: timestamps and dates as ISO 8601
 * UTC text, VARIANT/OBJECT/ARRAY as JSON text, and column names that Snowflake folded to upper
 * case (unquoted identifiers) in the lower case the table specs use.
 */
function plainRows(stmt: snowflake.RowStatement | undefined, rows: unknown[]): Record<string, unknown>[] {
  const columns = stmt?.getColumns() ?? [];
  const convert = columns.map((c) => {
    const type = c.getType().toLowerCase();
    const name = c.getName();
    const out = name === name.toUpperCase() ? name.toLowerCase() : name;
    if (type.startsWith('timestamp') || type === 'date') return { name, out, fn: (v: unknown) => (v instanceof Date ? v.toISOString() : v) };
    if (type === 'variant' || type === 'object' || type === 'array') return { name, out, fn: (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v)) };
    return { name, out, fn: (v: unknown) => v };
  });
  return (rows as Record<string, unknown>[]).map((row) => {
    const o: Record<string, unknown> = {};
    for (const c of convert) o[c.out] = c.fn(row[c.name] ?? null);
    return o;
  });
}

function isTransient(err: unknown): boolean {
  const e = err as { code?: string | number; name?: string; message?: string };
  return (
    /Network|Timeout|ECONNRESET|ECONNREFUSED|ETIMEDOUT|socket hang up|429|503|throttl/i.test(`${e.name} ${e.message}`) ||
    [390112, 390114, 390111, '390114', '390112'].includes(e.code as number)
  );
}

export class SnowflakeWarehouse implements Warehouse {
  readonly kind = 'snowflake';
  /** Bumped on every reconnect: temporary tables die with their session. */
  private session = 0;

  private constructor(
    private conn: snowflake.Connection,
    private readonly cfg: SnowflakeConfig,
  ) {}

  private static options(cfg: SnowflakeConfig): snowflake.ConnectionOptions {
    const base: snowflake.ConnectionOptions = {
      account: cfg.account,
      username: cfg.user,
      database: cfg.database,
      schema: cfg.schema,
      warehouse: cfg.warehouse,
      role: cfg.role,
      application: 'segpipe',
      arrayBindingThreshold: MAX_BINDS,
    };
    if (cfg.host) {
      const url = cfg.host.includes('://') ? cfg.host : `https://${cfg.host}`;
      Object.assign(base, { accessUrl: url, host: new URL(url).hostname });
    }
    return cfg.auth === 'keypair'
      ? { ...base, authenticator: 'SNOWFLAKE_JWT', privateKeyPath: cfg.privateKeyPath, privateKeyPass: cfg.privateKeyPassphrase }
      : { ...base, password: cfg.password };
  }

  static async connect(cfg: SnowflakeConfig): Promise<SnowflakeWarehouse> {
    snowflake.configure({ logLevel: 'WARN' });
    const conn = snowflake.createConnection(SnowflakeWarehouse.options(cfg));
    await conn.connectAsync();
    return new SnowflakeWarehouse(conn, cfg);
  }

  private execOnce<T>(sqlText: string, binds?: snowflake.Binds): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.conn.execute({
        sqlText,
        binds,
        complete: (err, stmt, rows) => (err ? reject(err) : resolve(plainRows(stmt, rows ?? []) as T[])),
      });
    });
  }

  private async exec<T = Record<string, unknown>>(sqlText: string, binds?: snowflake.Binds): Promise<T[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.execOnce<T>(sqlText, binds);
      } catch (err) {
        if (attempt >= RETRIES || !isTransient(err)) throw err;
        log.warn({ attempt: attempt + 1, err: (err as Error).message }, 'transient Snowflake error; retrying');
        await sleep(250 * 2 ** attempt);
        if (!this.conn.isUp()) {
          this.conn = snowflake.createConnection(SnowflakeWarehouse.options(this.cfg));
          await this.conn.connectAsync();
          this.session++;
        }
      }
    }
  }

  async ensureSchema(tables: TableSpec[]): Promise<void> {
    for (const t of tables) {
      const cols = t.columns.map((c) => `${q(c.name)} ${snowflakeType(c)}${c.nullable ? '' : ' NOT NULL'}`);
      await this.exec(`CREATE TABLE IF NOT EXISTS ${q(t.name)} (${cols.join(', ')}, PRIMARY KEY (${t.key.map(q).join(', ')}))`);
      // A table an earlier version created: its new optional columns are added (NULL in old rows).
      for (const c of t.columns) if (c.nullable) await this.exec(`ALTER TABLE ${q(t.name)} ADD COLUMN IF NOT EXISTS ${q(c.name)} ${snowflakeType(c)}`);
    }
  }

  async merge(table: TableSpec, rows: Row[]): Promise<number> {
    if (rows.length === 0) return 0;
    // A reconnect in the middle loses the session's stage table: start the merge over on the
    // new session (the MERGE is keyed, so a repeat changes nothing).
    for (let attempt = 0; ; attempt++) {
      const session = this.session;
      try {
        await this.mergeOnce(table, rows);
        if (this.session === session) return rows.length;
      } catch (err) {
        if (this.session === session || attempt >= RETRIES) throw err;
      }
      log.warn({ table: table.name, attempt: attempt + 1 }, 'Snowflake session replaced during a merge; merging again');
    }
  }

  /** Binds need cells, so JSON rows are parsed here. */
  mergeJson(table: TableSpec, rows: string[]): Promise<number> {
    return this.merge(table, rows.map((r) => JSON.parse(r) as Row));
  }

  private async mergeOnce(table: TableSpec, rows: Row[]): Promise<void> {
    const stage = q(`STAGE_${table.name}`);
    await this.stageRows(stage, table, rows, (sql, binds) => this.exec(sql, binds));
    await this.exec(mergeSql(table, stage));
    await this.exec(`DROP TABLE IF EXISTS ${stage}`);
  }

  /** A temporary all-VARCHAR table of the session holding `rows`, filled with array binds in slices under MAX_BINDS. */
  private async stageRows(stage: string, table: TableSpec, rows: Row[], run: (sql: string, binds?: snowflake.Binds) => Promise<unknown>): Promise<void> {
    await run(`CREATE OR REPLACE TEMPORARY TABLE ${stage} (${table.columns.map((c) => `${q(c.name)} VARCHAR`).join(', ')})`);
    const perInsert = Math.max(1, Math.floor(MAX_BINDS / table.columns.length));
    const placeholders = `(${table.columns.map(() => '?').join(', ')})`;
    for (let i = 0; i < rows.length; i += perInsert) {
      const slice = isoTimestamps(table, rows.slice(i, i + perInsert)).map((r) => r.map((v) => (v === null ? null : String(v))));
      await run(`INSERT INTO ${stage} VALUES ${placeholders}`, slice as snowflake.Binds);
    }
  }

  /**
   * The raw path's transaction: staged rows inserted where their event_id is new, and the
   * partition's position moved, only if the stored position is the range's start. Statements
   * inside it are never retried one by one (a new session would run the rest outside the
   * transaction): a failure rolls back, and the whole load runs again, which the guard makes safe.
   */
  async loadRaw(load: RawLoad): Promise<RawLoadResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.loadRawOnce(load);
      } catch (err) {
        await this.execOnce('ROLLBACK').catch(() => undefined);
        if (attempt >= RETRIES || !isTransient(err)) throw err;
        log.warn({ topic: load.topic, partition: load.partition, attempt: attempt + 1, err: (err as Error).message }, 'transient Snowflake error in a raw load; loading the range again');
        await sleep(250 * 2 ** attempt);
        if (!this.conn.isUp()) {
          this.conn = snowflake.createConnection(SnowflakeWarehouse.options(this.cfg));
          await this.conn.connectAsync();
          this.session++;
        }
      }
    }
  }

  private async loadRawOnce(load: RawLoad): Promise<RawLoadResult> {
    const { table } = load;
    const stage = q(`LOAD_${table.name}`);
    // Staged before the transaction (DDL would commit it), statement by statement without retries.
    if (load.rows.length > 0) await this.stageRows(stage, table, load.rows, (sql, binds) => this.execOnce(sql, binds));
    await this.execOnce('BEGIN');
    const found = await this.execOnce<{ next_offset: number; mark: number | null }>(
      `SELECT ${q('next_offset')}, ${q('event_time_mark')} AS ${q('mark')} FROM ${q(RAW_OFFSETS.name)} WHERE ${q('topic')} = ? AND ${q('kafka_partition')} = ?`,
      [load.topic, load.partition],
    );
    const stored = found.length > 0 ? Number(found[0]!.next_offset) : null;
    if (stored !== null && stored !== load.from) {
      await this.execOnce('ROLLBACK');
      return { applied: false, position: stored, mark: found[0]!.mark === null ? -1 : Number(found[0]!.mark) };
    }
    await load.afterGuard?.();
    let inserted = 0;
    if (load.rows.length > 0) {
      const cols = table.columns;
      const key = table.key.map(q);
      const fresh =
        `SELECT ${cols.map((c) => `${castFrom(c, `s.${q(c.name)}`)} AS ${q(c.name)}`).join(', ')} FROM ${stage} s ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${q(table.name)} t WHERE ${key.map((k) => `t.${k} = s.${k}`).join(' AND ')}) ` +
        `QUALIFY ROW_NUMBER() OVER (PARTITION BY ${key.map((k) => `s.${k}`).join(', ')} ORDER BY CAST(s.${q('kafka_offset')} AS NUMBER(38,0))) = 1`;
      const before = await this.execOnce<{ n: number }>(`SELECT COUNT(*) AS n FROM ${q(table.name)}`);
      await this.execOnce(`INSERT INTO ${q(table.name)} (${cols.map((c) => q(c.name)).join(', ')}) ${fresh}`);
      const after = await this.execOnce<{ n: number }>(`SELECT COUNT(*) AS n FROM ${q(table.name)}`);
      inserted = Number(after[0]!.n) - Number(before[0]!.n);
    }
    const duplicates = load.rows.length - inserted;
    // Plain INSERT or UPDATE, not MERGE: the position row is known from the read above.
    const pos = ['topic', 'kafka_partition'].map((c) => `${q(c)} = ?`).join(' AND ');
    if (stored === null) {
      await this.execOnce(
        `INSERT INTO ${q(RAW_OFFSETS.name)} (${RAW_OFFSETS.columns.map((c) => q(c.name)).join(', ')}) SELECT ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(), ?`,
        [load.topic, load.partition, load.to, inserted, duplicates, load.deadLetters, load.mark],
      );
    } else {
      await this.execOnce(
        `UPDATE ${q(RAW_OFFSETS.name)} SET ${q('next_offset')} = ?, ${q('rows_loaded')} = ${q('rows_loaded')} + ?, ${q('duplicates')} = ${q('duplicates')} + ?, ` +
          `${q('dead_letters')} = ${q('dead_letters')} + ?, ${q('loaded_at')} = CURRENT_TIMESTAMP(), ${q('event_time_mark')} = ? WHERE ${pos} AND ${q('next_offset')} = ?`,
        [load.to, inserted, duplicates, load.deadLetters, load.mark, load.topic, load.partition, load.from],
      );
    }
    await load.beforeCommit?.();
    await this.execOnce('COMMIT');
    if (load.rows.length > 0) await this.execOnce(`DROP TABLE IF EXISTS ${stage}`).catch(() => undefined);
    return { applied: true, inserted, duplicates };
  }

  async rawPositions(): Promise<Map<string, RawPosition>> {
    const rows = await this.exec<{ topic: string; kafka_partition: number; next_offset: number; rows_loaded: number; duplicates: number; dead_letters: number; event_time_mark: number | null }>(
      `SELECT ${['topic', 'kafka_partition', 'next_offset', 'rows_loaded', 'duplicates', 'dead_letters', 'event_time_mark'].map(q).join(', ')} FROM ${q(RAW_OFFSETS.name)}`,
    );
    return new Map(
      rows.map((r) => [
        `${r.topic}:${Number(r.kafka_partition)}`,
        { nextOffset: Number(r.next_offset), rows: Number(r.rows_loaded), duplicates: Number(r.duplicates), deadLetters: Number(r.dead_letters), mark: r.event_time_mark === null ? -1 : Number(r.event_time_mark) },
      ]),
    );
  }

  async query<T = Record<string, unknown>>(sql: string, binds?: Cell[]): Promise<T[]> {
    return this.exec<T>(sql, binds as snowflake.Binds | undefined);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.conn.destroy(() => resolve()));
  }
}

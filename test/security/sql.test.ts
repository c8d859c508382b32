// `segpipe sql`: one read-only SELECT, run where the warehouse lives (the worker that owns the
// DuckDB file), through a warehouse:query job. The guarantee is enforced in that worker, so the
// CLI, and a job forged straight into Redis, get the same refusals: one statement only, a
// SELECT by DuckDB's own prepared-statement type, in a read-only transaction always rolled back,
// rows and time capped, and no file access (the instance's enable_external_access=false).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { WAREHOUSE_QUERY } from '../../queues/warehouse.ts';
import { jobResult } from '../../queues/wait.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { warehouseOwner } from '../helpers/warehouse-owner.ts';
import { TEST_ENV } from '../helpers/env.ts';

const REDIS_URL = testRedisDb(15);

describe('segpipe sql', () => {
  const owner = warehouseOwner('sql', { REDIS_URL }, [
    ['1067', 'Heat', 1299, 'USD', Date.UTC(2026, 0, 1)],
    ['1068', 'Ran', 899, 'USD', Date.UTC(2026, 0, 1)],
    ['1069', 'Ikiru', 2500, 'EUR', Date.UTC(2026, 0, 2)],
  ]);
  const { dir, env } = owner;
  const written = path.join(dir, 'written.csv');

  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'sql', ...args], { env: { ...TEST_ENV, ...process.env, ...env, LOG_LEVEL: 'warn' }, timeout: 60_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  /** Every row of movie_sales, in order: what no refused statement may change. */
  const table = () => owner.w.query(`SELECT * FROM movie_sales ORDER BY movie_id`);

  const job = async (data: unknown) => {
    const queue = owner.ctx.queues[QUEUES.warehouse];
    const added = await queue.add(WAREHOUSE_QUERY, data, { attempts: 3 });
    const outcome = await jobResult<unknown>(queue, owner.ctx.queueEvents(QUEUES.warehouse), added as Job, 30_000).then(
      (value) => ({ ok: true, value }),
      (err: Error) => ({ ok: false, value: err.message }),
    );
    return { ...outcome, attempts: (await queue.getJob(added.id!))?.attemptsMade };
  };

  it('prints the rows of a SELECT as a table, or as JSON rows with --json', { timeout: 120_000 }, async () => {
    const plain = await cli(`SELECT movie_id, title, total_sales FROM movie_sales WHERE currency = 'USD' ORDER BY movie_id`);
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    const lines = plain.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^movie_id\s+│?\s*title\s+│?\s*total_sales/);
    expect(lines.some((l) => /1067\s.*Heat\s.*1299/.test(l))).toBe(true);
    expect(lines.some((l) => /1068\s.*Ran\s.*899/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\(2 rows\)$/);

    const json = await cli('--json', 'SELECT movie_id, total_sales, aggregated_at FROM movie_sales ORDER BY movie_id');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { movie_id: '1067', total_sales: 1299, aggregated_at: '2026-01-01T00:00:00.000Z' },
      { movie_id: '1068', total_sales: 899, aggregated_at: '2026-01-01T00:00:00.000Z' },
      { movie_id: '1069', total_sales: 2500, aggregated_at: '2026-01-02T00:00:00.000Z' },
    ]);
  });

  it('caps the rows (--limit) and says so; stops a statement at its timeout', { timeout: 120_000 }, async () => {
    const capped = await cli('--json', '--limit', '5', 'SELECT * FROM range(1000000) t(i)');
    expect(capped.code).toBe(0);
    expect(JSON.parse(capped.stdout)).toHaveLength(5);
    expect(capped.stderr).toMatch(/first 5 rows/);
    const slow = await cli('--timeout', '1', 'SELECT count(*) FROM range(100000000000) a');
    expect(slow.code).toBe(1);
    expect(slow.stderr.trim().split('\n')).toHaveLength(1);
    expect(slow.stderr).toMatch(/1 s/);
  });

  it('reports a syntax error in one line with DuckDB’s message', { timeout: 60_000 }, async () => {
    const r = await cli('SELEC 1');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/Parser Error: syntax error at or near "SELEC"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses anything but one SELECT, in the worker, and the table is unchanged after each', { timeout: 180_000 }, async () => {
    const before = await table();
    expect(before).toHaveLength(3);
    const refused = [
      'DELETE FROM movie_sales',
      'DROP TABLE movie_sales',
      "UPDATE movie_sales SET total_sales = 0",
      "INSERT INTO movie_sales VALUES ('9', 'x', 1, 'USD', now())",
      `COPY movie_sales TO '${written}'`,
      `COPY (SELECT 42) TO '${written}'`,
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_csv('/etc/passwd')",
      `ATTACH '${path.join(dir, 'other.duckdb')}' AS other`,
      'SELECT 1; DELETE FROM movie_sales',
      'SELECT 1; DROP TABLE movie_sales',
      'SET threads = 1',
      'SET enable_external_access = true',
      'PRAGMA threads = 1',
      'PRAGMA enable_profiling',
      'CALL pragma_version()',
      'CHECKPOINT',
      'BEGIN TRANSACTION',
      'CREATE TABLE t2 AS SELECT 1',
      'CREATE SEQUENCE s2',
      "SELECT * FROM query('DELETE FROM movie_sales')",
      'INSTALL httpfs',
      'LOAD httpfs',
      'EXPLAIN ANALYZE DELETE FROM movie_sales',
    ];
    for (const sql of refused) {
      // Through the job the CLI sends, and as a job written straight into Redis.
      const r = await job({ query: 'sql', params: { sql } });
      expect(r.ok, sql).toBe(false);
      expect(r.attempts, sql).toBe(1); // refused for good, never retried
      expect(await table(), sql).toEqual(before);
    }
    expect(fs.existsSync(written)).toBe(false);
    expect(await owner.w.query(`SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 't2'`)).toEqual([{ n: 0 }]);
    expect(await owner.w.query(`SELECT count(*) AS n FROM duckdb_databases() WHERE database_name = 'other'`)).toEqual([{ n: 0 }]);
    // A SELECT with a write inside (nextval) runs in a read-only transaction: refused too.
    await owner.w.execute('CREATE SEQUENCE IF NOT EXISTS sql_test_seq');
    expect((await job({ query: 'sql', params: { sql: "SELECT nextval('sql_test_seq')" } })).ok).toBe(false);
    expect(await owner.w.query(`SELECT nextval('sql_test_seq') AS n`)).toEqual([{ n: 1 }]);
  });

  it('refuses forged jobs whose parameters break the bounds, and jobs carrying SQL outside the sql query', { timeout: 60_000 }, async () => {
    for (const data of [
      { sql: 'DELETE FROM movie_sales' },
      { query: 'sql', sql: 'DELETE FROM movie_sales' },
      { query: 'sql', params: { sql: 'SELECT 1', limit: 1e9 } },
      { query: 'sql', params: { sql: 'SELECT 1', timeoutMs: 1e9 } },
      { query: 'sql', params: { sql: 'SELECT 1', extra: 'DELETE FROM movie_sales' } },
      { query: 'sql', params: { sql: 42 } },
      { query: 'sql', params: { sql: 'x'.repeat(200_000) } },
      { query: 'topSales', params: { limit: 3, sql: 'DELETE FROM movie_sales' } },
    ]) {
      const r = await job(data);
      expect(r.ok, JSON.stringify(data).slice(0, 80)).toBe(false);
      expect(r.attempts).toBe(1);
    }
    expect(await table()).toHaveLength(3);
    // The same job with a SELECT runs, capped.
    const ok = await job({ query: 'sql', params: { sql: 'SELECT movie_id FROM movie_sales ORDER BY movie_id', limit: 2 } });
    expect(ok).toMatchObject({ ok: true, value: { columns: [{ name: 'movie_id', type: 'VARCHAR' }], rows: [['1067'], ['1068']], truncated: true } });
  });

  it('with no stack running, says so in one line (the preflight)', { timeout: 60_000 }, async () => {
    const down = { KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' };
    const r = await promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'sql', 'SELECT 1'], { env: { ...process.env, ...down } }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    const lines = (r as { stderr: string }).stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('npm start');
  });
});

describe('segpipe sql on Snowflake', () => {
  it('says in one line that it reads the DuckDB warehouse only', { timeout: 60_000 }, async () => {
    const snowflake = { WAREHOUSE: 'snowflake', SNOWFLAKE_ACCOUNT: 'acme', SNOWFLAKE_USER: 'u', SNOWFLAKE_DATABASE: 'd', SNOWFLAKE_WAREHOUSE: 'w', SNOWFLAKE_PASSWORD: 'p' };
    const r = await promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'sql', 'SELECT 1'], { env: { ...process.env, ...snowflake } }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    const lines = (r as { stderr: string }).stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/DuckDB/);
  });
});

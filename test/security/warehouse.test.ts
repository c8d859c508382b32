// No SQL from a caller reaches the warehouse: forged warehouse:query jobs (as anyone who can
// write to Redis would forge them), Bull Board's job-writing routes, and the DuckDB connections
// themselves, which touch no file but the database's own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Worker } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { WAREHOUSE_QUERY } from '../../queues/warehouse.ts';
import { jobResult } from '../../queues/wait.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { rawTables } from '../../src/warehouse/tables.ts';
import { catalogTitles } from '../../src/windows/metrics.ts';
import { startAdminServer, testRedisDb, type AdminServer } from '../helpers/admin-server.ts';

const TOKEN = 'warehouse-security-token-0123456789';
const REDIS_URL = testRedisDb(8);

describe('warehouse reads are named queries on connections without file access', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-wh-sec-'));
  const secret = path.join(dir, 'secret.txt');
  const written = path.join(dir, 'written.csv');
  let s: AdminServer;
  let worker: Worker;

  beforeAll(async () => {
    fs.writeFileSync(secret, 'the-secret-content\n');
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, DUCKDB_PATH: path.join(dir, 'wh.duckdb') }, { freshDb: true });
    worker = (await serveQueues(s.ctx, [QUEUES.warehouse])).get(QUEUES.warehouse)!;
  });
  afterAll(async () => {
    await worker?.close();
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const forge = async (data: unknown, name = WAREHOUSE_QUERY) => {
    const queue = s.ctx.queues[QUEUES.warehouse];
    const job = await queue.add(name, data, { attempts: 3 });
    const outcome = await jobResult(queue, s.ctx.queueEvents(QUEUES.warehouse), job as Job, 30_000).then(
      (value) => ({ ok: true, value: JSON.stringify(value) }),
      (err: Error) => ({ ok: false, value: err.message }),
    );
    return { ...outcome, attempts: (await queue.getJob(job.id!))?.attemptsMade };
  };

  it('refuses forged query jobs, without retrying them, and runs no SQL of theirs', async () => {
    const forged: unknown[] = [
      { sql: `SELECT * FROM read_text('${secret}')` },
      { sql: `COPY (SELECT 42) TO '${written}'` },
      { query: 'topSales', params: { limit: '1; COPY (SELECT 42) TO ' } },
      { query: 'topSales', params: { limit: 10, sql: 'SELECT 1' } },
      { query: 'registrationWindows', params: { type: "tumbling_1h' OR 1=1 --" } },
      { query: 'rawOffsetCounts', params: { event: "checkout FROM read_text('x') --", topic: 't' } },
      { query: 'userEventCounts', params: { prefix: "x' OR 1=1 --" } },
      { query: 'constructor' },
      { query: '__proto__', params: {} },
      { query: 'toString' },
    ];
    for (const data of forged) {
      const r = await forge(data);
      expect(r.ok, JSON.stringify(data)).toBe(false);
      expect(r.attempts, JSON.stringify(data)).toBe(1);
      expect(r.value).not.toContain('the-secret-content');
    }
    expect((await forge({ query: 'topSales', params: {} }, 'other:job')).ok).toBe(false);
    expect(fs.existsSync(written)).toBe(false);
    // A bound string is data, never SQL.
    const bound = await forge({ query: 'rawAccounts', params: { event: 'checkout', topic: `'; COPY (SELECT 42) TO '${written}'; --` } });
    expect(bound).toMatchObject({ ok: true, value: '[]' });
    expect(fs.existsSync(written)).toBe(false);
    expect(await forge({ query: 'topSales', params: { limit: 5 } })).toMatchObject({ ok: true, value: '[]' });
  });

  it('a DuckDB warehouse reads one SELECT at a time and no statement of it touches a file', async () => {
    const w = await DuckDBWarehouse.open(path.join(dir, 'direct.duckdb'));
    try {
      await w.ensureSchema([...rawTables().values()]);
      for (const sql of [`DELETE FROM raw_checkout`, `SELECT 1; DROP TABLE raw_checkout`, `COPY raw_checkout TO '${written}'`, `ATTACH '${path.join(dir, 'other.duckdb')}'`, `SET enable_external_access = true`]) {
        await expect(w.query(sql), sql).rejects.toThrow();
      }
      await expect(w.query(`SELECT * FROM read_text('${secret}')`)).rejects.toThrow(/disabled|Permission/i);
      await expect(w.query(`SELECT * FROM read_csv('${secret}')`)).rejects.toThrow(/disabled|Permission/i);
      // Not even the writing connections: the whole instance has file access off, locked.
      await expect(w.execute(`COPY raw_checkout TO '${written}'`)).rejects.toThrow(/disabled|Permission/i);
      await expect(w.execute(`SET enable_external_access = true`)).rejects.toThrow();
      await expect(w.execute(`INSTALL httpfs`)).rejects.toThrow();
      expect(fs.existsSync(written)).toBe(false);
      expect(await w.query(`SELECT count(*) AS n FROM raw_checkout WHERE kafka_topic = ?`, ['x'])).toEqual([{ n: 0 }]);
      // Item ids come from events (anyone can produce one): the title lookup binds them.
      await w.ensureSchema([...rawTables().values()]);
      const titles = await catalogTitles(w, ["1067') UNION SELECT 'pwned', version() --", 'nul\0byte', "x' OR '1'='1", '\\\''] );
      expect([...titles]).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it("refuses Bull Board's job-writing routes to the token holder too, and adds nothing", async () => {
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const before = await s.ctx.queues[QUEUES.warehouse].getJobCounts();
    const add = await s.request('POST', `/admin/queues/api/queues/${QUEUES.warehouse}/add`, {
      headers: auth,
      body: JSON.stringify({ name: WAREHOUSE_QUERY, data: { sql: `SELECT * FROM read_text('${secret}')` } }),
    });
    expect(add.status).toBe(403);
    expect(add.body).not.toContain('the-secret-content');
    const update = await s.request('PATCH', `/admin/queues/api/queues/${QUEUES.simulator}/1/update-data`, { headers: auth, body: JSON.stringify({ data: { events: 1e9 } }) });
    expect(update.status).toBe(403);
    const concurrency = await s.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/concurrency`, { headers: auth, body: JSON.stringify({ concurrency: 8 }) });
    expect(concurrency.status).toBe(403);
    expect(await s.ctx.queues[QUEUES.warehouse].getJobCounts()).toEqual(before);
    // The read routes of the board still work for the token holder.
    expect((await s.request('GET', '/admin/queues/api/queues', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});

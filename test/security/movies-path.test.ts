// Movies runs read files inside DATA_DIR only, after symlinks, whether the path comes from REST
// or from a job written straight into Redis; errors do not reveal the server's directories.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Worker } from 'bullmq';
import { MOVIES_INGEST } from '../../queues/movies.ts';
import { QUEUES } from '../../queues/names.ts';
import { jobResult } from '../../queues/wait.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { SAMPLE_CATALOG } from '../../src/simulator/catalog.ts';
import { startAdminServer, type AdminServer } from '../helpers/admin-server.ts';

const TOKEN = 'movies-path-security-token-0123456789';
const REDIS_URL = `${process.env.REDIS_URL ?? 'redis://127.0.0.1:16379'}/9`;

describe('movies paths', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-movies-sec-'));
  const dataDir = path.join(root, 'data');
  const outside = path.join(root, 'outside.txt');
  let s: AdminServer;
  let worker: Worker;
  const post = (body: unknown) =>
    s.request('POST', '/api/runs/movies', { headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    fs.mkdirSync(path.join(dataDir, 'sub'), { recursive: true });
    fs.writeFileSync(outside, 'ITEM 1\nTitle=Not yours\n');
    fs.writeFileSync(path.join(dataDir, 'mine.txt'), 'ITEM 77001\nTitle=Mine\n');
    fs.symlinkSync('/etc/passwd', path.join(dataDir, 'passwd-link'));
    fs.symlinkSync(root, path.join(dataDir, 'sub', 'up'));
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, DATA_DIR: dataDir, PARSE_THREADS: '1', MOVIES_WATCH: 'false' });
    await s.ctx.redis.flushdb();
  });
  afterAll(async () => {
    await worker?.close();
    await s?.ctx.redis.flushdb();
    await s?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses every path that resolves outside DATA_DIR, naming only DATA_DIR', async () => {
    for (const p of ['/etc/passwd', outside, '../outside.txt', 'sub/../../outside.txt', 'passwd-link', 'sub/up/outside.txt', 'sub', '.', dataDir, 'nope.txt', 'mine.txt\u0000.png']) {
      const res = await post({ path: p });
      expect(res.status, p).toBe(400);
      const { message } = JSON.parse(res.body) as { message: string };
      expect(message, p).toContain('DATA_DIR');
      // Beyond the caller's own path, neither the data directory nor the server's tree.
      const rest = message.replace(p, '');
      expect(rest, p).not.toContain(root);
      expect(rest, p).not.toContain(process.cwd());
    }
    expect(await s.ctx.queues.movies.getJobCounts()).toMatchObject({ waiting: 0, active: 0 });
    expect(fs.existsSync(path.join(dataDir, 'quarantine'))).toBe(false);
    // Inside is fine, relative to DATA_DIR or absolute.
    expect((await post({ path: 'mine.txt' })).status).toBe(202);
    await s.ctx.queues.movies.obliterate({ force: true });
  });

  it('a forged movies:ingest job naming a file outside DATA_DIR fails at once and reads nothing', async () => {
    worker = (await serveQueues(s.ctx, [QUEUES.movies])).get(QUEUES.movies)!;
    const queue = s.ctx.queues.movies;
    for (const p of ['/etc/passwd', path.join(dataDir, 'passwd-link')]) {
      const job = await queue.add(MOVIES_INGEST, { path: p, checksum: 'x', size: 1 }, { attempts: 3 });
      await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.movies), job as Job, 60_000)).rejects.toThrow(/outside the data directory/);
      expect((await queue.getJob(job.id!))?.attemptsMade).toBe(1);
    }
    expect(fs.existsSync(path.join(dataDir, 'quarantine', 'passwd.jsonl'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'quarantine', 'passwd-link.jsonl'))).toBe(false);
    // The one file outside DATA_DIR a job may name: the sample catalog segpipe ships (a fresh install loads it).
    const sample = await queue.add(MOVIES_INGEST, { path: SAMPLE_CATALOG, checksum: 'sample', size: 1 });
    await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.movies), sample as Job, 90_000)).resolves.toMatchObject({ items: 306 });
  });
});

// Movies runs read files inside DATA_DIR only, after symlinks, whether the path comes from REST
// or from a job written straight into Redis; errors do not reveal the server's directories.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Worker } from 'bullmq';
import { execFileSync } from 'node:child_process';
import { MOVIES_INGEST, enqueueIngest } from '../../queues/movies.ts';
import { pinDataFile } from '../../src/movies/data-path.ts';
import { readRange } from '../../src/movies/chunk-task.ts';
import { planChunks } from '../../src/movies/chunks.ts';
import { FileChangedError, openPinned } from '../../src/movies/pinned-file.ts';
import { QUEUES } from '../../queues/names.ts';
import { jobResult } from '../../queues/wait.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { SAMPLE_CATALOG } from '../../src/simulator/catalog.ts';
import { startAdminServer, testRedisDb, type AdminServer } from '../helpers/admin-server.ts';

const TOKEN = 'movies-path-security-token-0123456789';
const REDIS_URL = testRedisDb(9);

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
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, DATA_DIR: dataDir, PARSE_THREADS: '1', MOVIES_WATCH: 'false' }, { freshDb: true });
  });
  afterAll(async () => {
    await worker?.close();
    await s?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses every path that resolves outside DATA_DIR, naming only DATA_DIR', async () => {
    for (const p of ['/etc/passwd', '/etc/no-such-file', outside, '../outside.txt', 'sub/../../outside.txt', 'passwd-link', 'sub/up/outside.txt', 'sub', '.', dataDir, 'nope.txt', 'mine.txt\u0000.png']) {
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
    // Outside as written is refused before any lookup: the answer says nothing about which server files exist.
    const [exists, missing] = await Promise.all([post({ path: '/etc/passwd' }), post({ path: '/etc/no-such-file' })]);
    expect(JSON.parse(exists.body).message.replace('/etc/passwd', 'X')).toBe(JSON.parse(missing.body).message.replace('/etc/no-such-file', 'X'));
    // Inside is fine, relative to DATA_DIR or absolute.
    expect((await post({ path: 'mine.txt' })).status).toBe(202);
    await s.ctx.queues.movies.obliterate({ force: true });
  });

  it('reads only the file that was checked: a rename or symlink swapped in afterwards fails the read; FIFOs are refused without blocking', async () => {
    const file = path.join(dataDir, 'swap.txt');
    fs.writeFileSync(file, 'ITEM 1\nTitle=Checked\n');
    const { path: real, identity } = pinDataFile(dataDir, 'swap.txt');
    expect(readRange(real, 0, 6, identity).toString()).toBe('ITEM 1');
    // Another file renamed over the checked name (what `mv -T` of a symlink or a file does).
    fs.writeFileSync(path.join(dataDir, '.other'), 'ITEM 2\nTitle=Not checked\n');
    fs.renameSync(path.join(dataDir, '.other'), file);
    expect(() => readRange(real, 0, 6, identity)).toThrow(FileChangedError);
    await expect(planChunks(real, 1024, identity)).rejects.toThrow(FileChangedError);
    fs.rmSync(file);
    fs.symlinkSync(outside, file);
    expect(() => readRange(real, 0, 6, identity)).toThrow(FileChangedError);
    expect(() => readRange(real, 0, 6)).toThrow(FileChangedError); // never through a final symlink
    fs.rmSync(file);

    execFileSync('mkfifo', [path.join(dataDir, 'fifo.txt')]);
    const started = Date.now();
    expect((await post({ path: 'fifo.txt' })).status).toBe(400);
    expect(() => openPinned(path.join(dataDir, 'fifo.txt'))).toThrow(/not a regular file/);
    expect(Date.now() - started).toBeLessThan(5000);
    // A symlink in incoming/ (the watcher's folder) to a device is never read.
    fs.mkdirSync(path.join(dataDir, 'incoming'), { recursive: true });
    fs.symlinkSync('/dev/zero', path.join(dataDir, 'incoming', 'zero.txt'));
    await expect(enqueueIngest(s.ctx.queues.movies, path.join(dataDir, 'incoming', 'zero.txt'))).rejects.toThrow(FileChangedError);
    fs.rmSync(path.join(dataDir, 'incoming'), { recursive: true });
  });

  it('a forged movies:ingest job naming a file outside DATA_DIR fails at once and reads nothing', async () => {
    worker = (await serveQueues(s.ctx, [QUEUES.movies])).get(QUEUES.movies)!;
    const queue = s.ctx.queues.movies;
    const hex = 'a'.repeat(64);
    for (const p of ['/etc/passwd', path.join(dataDir, 'passwd-link')]) {
      const job = await queue.add(MOVIES_INGEST, { path: p, checksum: hex, size: 1 }, { attempts: 3 });
      await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.movies), job as Job, 60_000)).rejects.toThrow(/data directory \(DATA_DIR\)/);
      expect((await queue.getJob(job.id!))?.attemptsMade).toBe(1);
    }
    const quarantined = fs.existsSync(path.join(dataDir, 'quarantine')) ? fs.readdirSync(path.join(dataDir, 'quarantine')) : [];
    expect(quarantined.filter((f) => f.startsWith('passwd'))).toEqual([]);
    // The checksum names files in processed/: a forged one must not climb out of it.
    fs.mkdirSync(path.join(dataDir, 'incoming'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'incoming', 'climb.txt'), 'ITEM 5\nTitle=Climb\n');
    const climb = await queue.add(MOVIES_INGEST, { path: 'incoming/climb.txt', checksum: '../../../xx_', size: 1 }, { attempts: 3 });
    await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.movies), climb as Job, 60_000)).rejects.toThrow(/checksum must be 64 hex/);
    expect(fs.existsSync(path.join(dataDir, 'incoming', 'climb.txt'))).toBe(true);
    // The one file outside DATA_DIR a job may name: the sample catalog segpipe ships (a fresh install loads it).
    const sample = await queue.add(MOVIES_INGEST, { path: SAMPLE_CATALOG, checksum: hex, size: 1 });
    await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.movies), sample as Job, 90_000)).resolves.toMatchObject({ items: 306 });
  });
});

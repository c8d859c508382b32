// Runs are bounded and cancellable: no request holds the simulator queue for good, a running
// 10 M-event run stops within seconds of DELETE (from this process or another), and the admin
// API stays quick while a big run is on.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Worker } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { SIMULATE_RUN } from '../../queues/simulator.ts';
import { jobResult } from '../../queues/wait.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { runSimulation } from '../../src/simulator/run.ts';
import { startAdminServer, testRedisDb, type AdminServer } from '../helpers/admin-server.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { TEST_ENV } from '../helpers/env.ts';
import { ownTopicsEnv, waitFor } from '../helpers/stream.ts';

const TOKEN = 'runs-security-token-0123456789';
const REDIS_URL = testRedisDb(10);

describe('bounded, cancellable runs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-runs-sec-'));
  // Topics of its own: a 10 M-event run must not land in other tests' topics.
  const env = { ...ownTopicsEnv('runs'), ADMIN_TOKEN: TOKEN, REDIS_URL, DUCKDB_PATH: path.join(dir, 'wh.duckdb'), SIMULATOR_MAX_RUN_S: '600', MOVIES_WATCH: 'false' };
  const procs = new RoleProcesses(dir, env);
  let s: AdminServer;
  let workers: Map<string, Worker> | undefined;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const post = (body: unknown) => s.request('POST', '/api/runs/simulator', { headers: auth, body: JSON.stringify(body) });
  const run = async (id: string) => JSON.parse((await s.request('GET', `/api/runs/simulator/${id}`, { headers: auth })).body) as { state: string; failedReason: string | null; progress: { sent?: number } | number };

  beforeAll(async () => {
    s = await startAdminServer(env, { freshDb: true });
  });
  afterAll(async () => {
    await procs.killAll();
    for (const w of workers?.values() ?? []) await w.close(true);
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a rate below the minimum, more events than allowed, or a run paced past the longest a run may last', async () => {
    for (const body of [
      { events: 2, rate: 1e-9 },
      { events: 2, rate: 0 },
      { events: 1e9 },
      { events: 3_600_000, rate: 1 },
      { events: 2, rate: 'fast' },
      // Two events a few simulated minutes apart, at one simulated second per 10^300 real ones.
      { events: 2, speed: 1e-300 },
      { events: 2, speed: 0.000001 },
      // Event time in year 9999 would become the stream's watermark and the world clock.
      { events: 10, start: '9999-12-31T23:59:59Z' },
      { events: 10, start: '1900-01-01T00:00:00Z' },
      // Past MAX_EVENT_TIME_SKEW_MS ahead of now, its events would be dead letters (future_timestamp).
      { events: 10, start: new Date(Date.now() + 2 * 86_400_000).toISOString() },
    ]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect(JSON.parse((await post({ events: 7200, rate: 1 })).body).message).toMatch(/SIMULATOR_MAX_RUN_S/);
    expect(JSON.parse((await post({ events: 2, speed: 1e-300 })).body).message).toMatch(/^speed must be at least .*SIMULATOR_MAX_RUN_S/);
    expect(await s.ctx.queues.simulator.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    // Only runs are cancellable: flush and warehouse jobs are the pipeline's own.
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const flush = await s.request('DELETE', `/api/runs/${QUEUES.flush}/1`, { headers: bearer });
    expect(flush.status).toBe(400);
    expect(flush.body).toMatch(/queue/);
    expect((await s.request('DELETE', `/api/runs/${QUEUES.simulator}/nope`, { headers: bearer })).status).toBe(404);
  });

  it('the processor refuses a forged job outside the bounds, and a paced or cancelled run stops at its deadline or signal', { timeout: 120_000 }, async () => {
    workers = await serveQueues(s.ctx, [QUEUES.simulator]);
    const queue = s.ctx.queues.simulator;
    for (const [data, why] of [
      [{ events: 2, seed: 1, rate: 1e-9 }, /rate must be at least/],
      [{ events: 2, seed: 1, start: Date.parse('9999-12-31T23:59:59Z') }, /start must be a time/],
      [{ events: 2, seed: 1, speed: 1e-300 }, /speed must be at least/],
      [{ events: 2, seed: 1, live: { world: { prefix: 'w1', seed: 42, rate: 1, genesis: 0 }, span: { from: 0, to: 1 } } }, /live/],
    ] as const) {
      const forged = await queue.add(SIMULATE_RUN, data, { attempts: 3 });
      await expect(jobResult(queue, s.ctx.queueEvents(QUEUES.simulator), forged as Job, 30_000)).rejects.toThrow(why);
      expect((await queue.getJob(forged.id!))?.attemptsMade).toBe(1);
    }

    {
      // A rate of one simulated second per 10^6 real ones: only the run's deadline ends it.
      let started = Date.now();
      const slow = await runSimulation(s.ctx, { events: 50, seed: 3, speed: 1e-6, userPrefix: 'slow' }, () => undefined, { maxDurationMs: 2000 });
      expect(slow.stopped).toBe('max_duration');
      expect(Date.now() - started).toBeLessThan(15_000);
      // Cancelled while waiting on its pace.
      const abort = new AbortController();
      setTimeout(() => abort.abort('test'), 1000);
      started = Date.now();
      const cancelled = await runSimulation(s.ctx, { events: 50, seed: 4, rate: 1, userPrefix: 'cxl' }, () => undefined, { signal: abort.signal, maxDurationMs: 600_000 });
      expect(cancelled.stopped).toBe('cancelled');
      expect(cancelled.events).toBeLessThan(50);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
  });

  it('cancels a running 10 M-event run within seconds; /api/status stays under 1 s meanwhile; the queue runs the next job', { timeout: 180_000 }, async () => {
    const big = JSON.parse((await post({ events: 10_000_000 })).body) as { jobId: string };
    let last = {};
    await waitFor('the big run to produce', async () => {
      const r = (last = await run(big.jobId));
      return r.state === 'active' && typeof r.progress === 'object' && (r.progress.sent ?? 0) > 0;
    }, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${JSON.stringify(last)}`);
    });
    // A waiting run is removed outright.
    const waiting = JSON.parse((await post({ events: 5 })).body) as { jobId: string };
    const removed = await s.request('DELETE', `/api/runs/simulator/${waiting.jobId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(removed.status).toBe(200);
    expect(JSON.parse(removed.body)).toMatchObject({ state: 'removed' });

    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const res = await s.request('GET', '/api/status', { headers: { authorization: `Bearer ${TOKEN}` } });
      latencies.push(performance.now() - t);
      expect(res.status).toBe(200);
      await sleep(200);
    }
    const t0 = Date.now();
    const del = await s.request('DELETE', `/api/runs/simulator/${big.jobId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(202);
    await waitFor('the run to stop', async () => (await run(big.jobId)).state === 'failed', 20_000);
    const stopped = await run(big.jobId);
    expect(stopped.failedReason).toMatch(/^cancelled .* after \d+ of 10000000 events/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect((await s.request('DELETE', `/api/runs/simulator/${big.jobId}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(409);
    // Asserted after the cancel, so a slow answer does not leave the run going for the next test.
    expect(Math.max(...latencies), `status latencies ${latencies.map(Math.round).join(', ')} ms`).toBeLessThan(1000);

    const next = JSON.parse((await post({ events: 20 })).body) as { jobId: string };
    await waitFor('the next run', async () => (await run(next.jobId)).state === 'completed', 60_000);
  });

  it('cancels a run on a worker in another process', { timeout: 180_000 }, async () => {
    for (const w of workers?.values() ?? []) await w.close(true);
    workers = undefined;
    procs.start('worker', 'worker');
    const big = JSON.parse((await post({ events: 10_000_000 })).body) as { jobId: string };
    await waitFor('the other process to produce', async () => {
      const r = await run(big.jobId);
      return r.state === 'active' && typeof r.progress === 'object' && (r.progress.sent ?? 0) > 0;
    }, 90_000);
    const del = await s.request('DELETE', `/api/runs/simulator/${big.jobId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(202);
    await waitFor('the run to stop', async () => (await run(big.jobId)).state === 'failed', 20_000);
    expect((await run(big.jobId)).failedReason).toMatch(/^cancelled/);
  });

  it('in `segpipe all`, with the stream consuming a 10 M-event run in the same process, /health and /api/status answer in under 1 s', { timeout: 240_000 }, async () => {
    await procs.killAll();
    const child = spawn(process.execPath, ['bin/segpipe.mjs', 'all'], {
      env: { ...process.env, ...TEST_ENV, ...env, LOCAL_DIR: path.join(dir, 'all'), API_PORT: '0', STREAM_GROUP_ID: `runs-all-${Date.now()}`, LOG_LEVEL: 'info', MOVIES_SEED_SAMPLE: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.stderr.on('data', (c: Buffer) => (out += String(c)));
    try {
      await waitFor('segpipe all to listen', () => /http:\/\/127\.0\.0\.1:\d+ \(on its own thread\)/.test(out), 90_000);
      const port = /http:\/\/127\.0\.0\.1:(\d+) \(on its own thread\)/.exec(out)![1]!;
      const call = async (method: string, p: string, body?: unknown) => {
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}${p}`, {
          method,
          headers: body === undefined ? { authorization: `Bearer ${TOKEN}` } : { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown>, ms: performance.now() - t };
      };
      const { json: started } = await call('POST', '/api/runs/simulator', { events: 10_000_000 });
      const id = started.jobId as string;
      await waitFor('the run to produce', async () => (((await call('GET', `/api/runs/simulator/${id}`)).json.progress as { sent?: number })?.sent ?? 0) > 200_000, 90_000);
      const latencies: number[] = [];
      for (let i = 0; i < 8; i++) {
        for (const p of ['/api/status', '/health']) {
          const r = await call('GET', p);
          expect(r.status, p).toBe(200);
          latencies.push(r.ms);
        }
        await sleep(500);
      }
      const lag = (await call('GET', '/api/status')).json.topics as Record<string, { loader_lag: number }>;
      expect(Object.values(lag).some((t) => t.loader_lag > 0), 'the loader has a backlog to chew on meanwhile').toBe(true);
      expect((await call('DELETE', `/api/runs/simulator/${id}`)).status).toBe(202);
      await waitFor('the run to stop', async () => (await call('GET', `/api/runs/simulator/${id}`)).json.state === 'failed', 30_000);
      expect(Math.max(...latencies), `latencies ${latencies.map(Math.round).join(', ')} ms`).toBeLessThan(1000);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

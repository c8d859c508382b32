import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AppContext } from '../../src/context.ts';
import { buildApi } from '../../src/roles/api.ts';
import { startRedis } from '../../src/stack/redis.ts';
import { stopPid, type RunningProcess } from '../../src/stack/process.ts';
import { testConfig } from '../helpers/env.ts';
import { topicSpecs } from '../../src/kafka/client.ts';

const TOKEN = 'test-admin-token-0123456789';
const REDIS_PORT = 16390;

describe('admin server', () => {
  // A Redis of its own, so this test can stop it without disturbing the shared one.
  const dir = path.resolve('.local/test/server-test-redis');
  const ctx = new AppContext(testConfig({ ADMIN_TOKEN: TOKEN, REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}` }));
  let redis: RunningProcess;
  let app: FastifyInstance;
  const startOwnRedis = () => startRedis({ host: '127.0.0.1', port: REDIS_PORT, dir, appendonly: false }, () => undefined);
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    redis = await startOwnRedis();
    await ctx.prepare();
    app = await buildApi(ctx);
  });
  afterAll(async () => {
    await app?.close();
    await ctx.close();
    if (redis) await stopPid(redis.pid, redis.pidFile);
  });

  it('rejects /api and /admin without the token with 401 JSON, accepts them with it', async () => {
    for (const url of ['/api', '/api/status', '/admin/queues', '/admin/queues/api/queues']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      const wrong = await app.inject({ url, headers: { authorization: 'Bearer not-the-token' } });
      expect(wrong.statusCode, url).toBe(401);
      const ok = await app.inject({ url, headers: auth });
      expect(ok.statusCode, url).toBe(200);
    }
    expect((await app.inject({ url: '/api', headers: auth })).json()).toMatchObject({ dashboard: '/dashboard', bull_board: '/admin/queues', status: '/api/status' });
    const status = (await app.inject({ url: '/api/status', headers: auth })).json();
    // In the configuration's topic order, each topic's partitions in order.
    expect(Object.keys(status.topics)).toEqual(topicSpecs(ctx.config).map((s) => s.topic));
    for (const t of Object.values(status.topics) as Array<{ partitions: Array<{ partition: number }> }>) expect(t.partitions.map((p) => p.partition)).toEqual(t.partitions.map((_, i) => i));
    expect(Object.keys(status.queues)).toEqual(['movies', 'simulator', 'flush', 'warehouse']);
    expect(status.topics[ctx.config.topics.checkout].partitions).toHaveLength(3);
    expect(Object.keys(status.warehouse.tables)).toContain('raw_checkout');
    const queues = (await app.inject({ url: '/admin/queues/api/queues', headers: auth })).json();
    expect(queues.queues.map((q: { name: string }) => q.name).sort()).toEqual(['flush', 'movies', 'simulator', 'warehouse']);
  });

  it('lets a browser sign in and reach Bull Board with the cookie', async () => {
    const html = await app.inject({ url: '/admin/queues', headers: { accept: 'text/html' } });
    expect(html.statusCode).toBe(302);
    expect(html.headers.location).toBe('/login?next=%2Fadmin%2Fqueues');
    const bad = await app.inject({ method: 'POST', url: '/login', payload: 'token=wrong&next=/admin/queues', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(bad.statusCode).toBe(401);
    const login = await app.inject({ method: 'POST', url: '/login', payload: `token=${TOKEN}&next=/admin/queues`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/admin/queues');
    const cookie = login.cookies.find((c) => c.name === 'segpipe_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.value).not.toContain(TOKEN);
    const board = await app.inject({ url: '/admin/queues', cookies: { segpipe_session: cookie!.value } });
    expect(board.statusCode).toBe(200);
    expect(board.body).toContain('<html');
  });

  it('answers unknown routes with 404 JSON and bad requests with 400 and a message', async () => {
    const res = await app.inject({ url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    const bad = await app.inject({ method: 'POST', url: '/login', payload: {}, headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/token/);
  });

  it('serves Prometheus metrics', async () => {
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('segpipe_process_cpu_user_seconds_total');
  });

  it('/health: each dependency up, 503 while Redis is down, up again after; the roles that move data are down while none runs', async () => {
    const deps = { kafka: { status: 'up' }, schema_registry: { status: 'up' }, redis: { status: 'up' } };
    const up = await app.inject({ url: '/health' });
    expect(up.json().checks).toMatchObject(deps);
    // Only the API runs here: no stream or loader member reports (consumer-restart.test.ts runs them).
    expect(up.statusCode).toBe(503);
    expect(up.json().checks.stream).toMatchObject({ status: 'down', error: expect.stringContaining('no stream member') });

    await stopPid(redis.pid, redis.pidFile);
    const down = await app.inject({ url: '/health' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'down', checks: { redis: { status: 'down' }, kafka: { status: 'up' } } });

    redis = await startOwnRedis();
    let again = await app.inject({ url: '/health' });
    for (let i = 0; i < 40 && again.json().checks.redis.status !== 'up'; i++) {
      await sleep(250); // the client reconnects on its own back-off
      again = await app.inject({ url: '/health' });
    }
    expect(again.json().checks).toMatchObject(deps);
  });
});

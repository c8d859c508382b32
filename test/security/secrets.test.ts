// Secrets never printed: config errors, /api/status, log lines and the start banner carry no
// token or password; Redis behind a password works through redis://:password@ URLs.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { redactUrl } from '../../src/redact.ts';
import { startRedis } from '../../src/stack/redis.ts';
import { stopPid, type RunningProcess } from '../../src/stack/process.ts';
import { startAdminServer, type AdminServer } from '../helpers/admin-server.ts';
import { TEST_ENV } from '../helpers/env.ts';
import { waitFor } from '../helpers/stream.ts';

const TOKEN = 'secrets-test-admin-token-0123456789';
const REDIS_PASSWORD = 'redis-pw-7f3a9c1e5b';
const REGISTRY_PASSWORD = 'registry-pw-2d8e4f6a';
const REDIS_PORT = 16391;

const configError = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('secrets are never printed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-secrets-'));
  let redis: RunningProcess;
  let s: AdminServer;

  beforeAll(async () => {
    redis = await startRedis({ host: '127.0.0.1', port: REDIS_PORT, dir, appendonly: false, password: REDIS_PASSWORD }, () => undefined);
    const registry = new URL(process.env.SCHEMA_REGISTRY_URL ?? TEST_ENV.SCHEMA_REGISTRY_URL!);
    registry.username = 'svc';
    registry.password = REGISTRY_PASSWORD;
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT}`, SCHEMA_REGISTRY_URL: registry.toString() });
  });
  afterAll(async () => {
    await s?.close();
    if (redis) await stopPid(redis.pid, redis.pidFile);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('config errors name the variable and the rule, never the value', () => {
    const msg = configError({ ADMIN_TOKEN: 'tooshort-secret', REDIS_URL: `redis://:${REDIS_PASSWORD}@host:notaport`, SCHEMA_REGISTRY_URL: `ftp://u:${REGISTRY_PASSWORD}@x`, LOG_LEVEL: 'loud' });
    expect(msg).toContain('ADMIN_TOKEN: must be at least 16 characters');
    expect(msg).toContain('REDIS_URL');
    expect(msg).toContain('SCHEMA_REGISTRY_URL');
    expect(msg).toContain('LOG_LEVEL');
    for (const secret of ['tooshort-secret', REDIS_PASSWORD, REGISTRY_PASSWORD]) expect(msg).not.toContain(secret);
  });

  it('the CLI reports a bad config (even LOG_LEVEL=loud) without the values, and without crashing in the logger first', async () => {
    const r = await promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'verify'], {
      env: { ...process.env, ...TEST_ENV, LOG_LEVEL: 'loud', ADMIN_TOKEN: 'tooshort-secret', REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:bad` },
    }).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('LOG_LEVEL');
    expect(r.out).toContain('ADMIN_TOKEN');
    expect(r.out).not.toContain('tooshort-secret');
    expect(r.out).not.toContain(REDIS_PASSWORD);
  });

  it('/api/status and /health show service URLs without credentials; Redis and the registry work through them', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const health = await s.request('GET', '/health');
    // The services answer through the redacted URLs (no stream or loader runs here: those checks are down).
    expect(JSON.parse(health.body).checks).toMatchObject({ kafka: { status: 'up' }, schema_registry: { status: 'up' }, redis: { status: 'up' } });
    const status = await s.request('GET', '/api/status', { headers: auth });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body).schema_registry.url).toMatch(/^http:\/\/\*\*\*@127\.0\.0\.1:\d+$/);
    for (const body of [status.body, health.body]) {
      for (const secret of [REDIS_PASSWORD, REGISTRY_PASSWORD, TOKEN]) expect(body).not.toContain(secret);
    }
    expect(redactUrl(`rediss://user:${REDIS_PASSWORD}@h:6380/2`)).toBe('rediss://***@h:6380/2');
    // ioredis also takes the password as a query parameter.
    expect(redactUrl(`redis://h:6379/?password=${REDIS_PASSWORD}&db=2`)).toBe('redis://h:6379/?password=***&db=2');
    expect(redactUrl(`http://h/x?api_key=${REGISTRY_PASSWORD}`)).not.toContain(REGISTRY_PASSWORD);
  });

  it('log lines censor tokens, passwords and authorization headers', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += String(chunk);
        done();
      },
    });
    const logger = createLogger(sink as never);
    logger.warn({ password: REDIS_PASSWORD, token: TOKEN, req: { headers: { authorization: `Bearer ${TOKEN}`, cookie: `segpipe_session=${TOKEN}` } } }, 'probe');
    logger.warn({ config: { api: { adminToken: TOKEN } } }, 'probe');
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(REDIS_PASSWORD);
  });

  it('the start banner prints the admin token only to a terminal; piped, it says where the token file is', { timeout: 120_000 }, async () => {
    const local = path.join(dir, 'local');
    const child = spawn(process.execPath, ['bin/segpipe.mjs', 'api'], {
      env: { ...process.env, ...TEST_ENV, LOCAL_DIR: local, ADMIN_TOKEN: '', API_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.stderr.on('data', (c: Buffer) => (out += String(c)));
    try {
      await waitFor('the banner', () => out.includes('segpipe is running'), 90_000);
      const token = fs.readFileSync(path.join(local, 'admin-token'), 'utf8').trim();
      expect(token.length).toBeGreaterThanOrEqual(16);
      expect(out).not.toContain(token);
      expect(out).toContain(path.join(local, 'admin-token'));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

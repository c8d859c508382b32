import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// Option parsing fails before any service is reached, so these need no stack.
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/segpipe.mjs', ...args], { encoding: 'utf8', timeout: 30_000 });
const snowflakeEnv = { WAREHOUSE: 'snowflake', SNOWFLAKE_ACCOUNT: 'acme', SNOWFLAKE_USER: 'u', SNOWFLAKE_DATABASE: 'd', SNOWFLAKE_WAREHOUSE: 'w', SNOWFLAKE_PASSWORD: 'p' };

describe('CLI usage errors', () => {
  it('names the parameter and exits non-zero', { timeout: 60_000 }, () => {
    for (const [args, name] of [
      [['simulate', '--events', '0'], '--events'],
      [['simulate', '--events', '10', '--seed', '-1'], '--seed'],
      [['simulate', '--events', '10', '--seed', '2147483648'], '--seed'],
      [['simulate', '--events', '10', '--speed', '0'], '--speed'],
      [['simulate', '--events', '10', '--rate', '-5'], '--rate'],
      [['simulate', '--events', '10', '--users', '0'], '--users'],
      [['simulate', '--events', '10', '--start', 'yesterday'], '--start'],
      [['simulate', '--events', '10', '--user-prefix', 'a b'], '--user-prefix'],
      // Two days ahead: past MAX_EVENT_TIME_SKEW_MS (1 day), every event would be a dead letter.
      [['simulate', '--events', '10', '--start', new Date(Date.now() + 2 * 86_400_000).toISOString()], 'MAX_EVENT_TIME_SKEW_MS'],
      [['simulate', '--events', '10', '--start', '9999-12-31T23:59:59Z'], '--start'],
      // Refused before any service is reached: the run would outlast SIMULATOR_MAX_RUN_S.
      [['simulate', '--events', '2', '--speed', '0.000001'], 'SIMULATOR_MAX_RUN_S'],
      [['simulate', '--events', '7200', '--rate', '1'], 'SIMULATOR_MAX_RUN_S'],
    ] as const) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toContain(name);
    }
  });

  it('gen-movies numbers its records clear of the sample file (ITEM 1..1300), so two products never share an id', { timeout: 60_000 }, () => {
    const out = path.join(os.tmpdir(), `segpipe-gen-${process.pid}.txt`);
    try {
      expect(cli('gen-movies', '--items', '2', '--out', out).status).toBe(0);
      expect(fs.readFileSync(out, 'utf8').match(/^ITEM \d+/gm)).toEqual(['ITEM 1000001', 'ITEM 1000002']);
      expect(cli('gen-movies', '--items', '1', '--out', out, '--first-id', '5000').status).toBe(0);
      expect(fs.readFileSync(out, 'utf8')).toMatch(/^ITEM 5000\b/);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });

  it('with no service running, verify, simulate and movies ingest say in one line what is down and to run npm start', { timeout: 90_000 }, () => {
    // Ports nothing listens on (1 is reserved): the commands must not retry for half a minute.
    const down = { KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://:secret@127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' };
    for (const args of [['verify'], ['simulate', '--events', '10'], ['movies', 'ingest', 'data/Movies.txt']]) {
      const r = spawnSync(process.execPath, ['bin/segpipe.mjs', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...down } });
      expect(r.status, args.join(' ')).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toContain('cannot reach Kafka at 127.0.0.1:1, Redis at redis://***@127.0.0.1:1, the Schema Registry at http://127.0.0.1:1');
      expect(lines[0]).toContain('npm start');
      expect(r.stderr).not.toContain('secret');
    }
  });

  it('start with the admin port taken says so in one line before it starts anything', { timeout: 60_000 }, async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/segpipe.mjs', 'start'], { env: { ...process.env, API_PORT: String(port), API_HOST: '127.0.0.1' } });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += String(d)));
        child.on('exit', (status) => resolve({ status, stderr }));
      });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`segpipe: port ${port} on 127.0.0.1 is already in use (another segpipe, or another server): stop it, or set API_PORT to a free port`]);
    } finally {
      server.close();
    }
  });

  it('a command that fails says why in one line, with the stack trace only under LOG_LEVEL=debug', { timeout: 60_000 }, () => {
    const args = ['gen-movies', '--items', '1', '--out', '/nonexistent-dir/x.txt'];
    const plain = spawnSync(process.execPath, ['bin/segpipe.mjs', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LOG_LEVEL: 'info' } });
    expect(plain.status).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/^segpipe: failed: .*ENOENT.*\(LOG_LEVEL=debug shows where\)/);
    const debug = spawnSync(process.execPath, ['bin/segpipe.mjs', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LOG_LEVEL: 'debug' } });
    // The stack as the error has it (an fs error's is its name and message only).
    expect(debug.stderr).toMatch(/^segpipe: failed: Error: ENOENT/);
    expect(debug.stderr).not.toContain('LOG_LEVEL=debug shows where');
  });

  it('refuses verify --metrics on Snowflake (the oracle is DuckDB SQL) before connecting anywhere', () => {
    const r = spawnSync(process.execPath, ['bin/segpipe.mjs', 'verify', '--metrics'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...snowflakeEnv } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('verify --metrics');
    expect(r.stderr).toContain('WAREHOUSE=duckdb');
  });
});

// A Schema Registry behind HTTP Basic auth, named as http://user:password@host:port (Confluent's
// basic.auth.user.info): fetch refuses URLs that carry credentials, so every probe of the
// registry (the CLI's preflight, `npm start`'s stack) must send them as an Authorization header,
// and never print them. The registry here is the test stack's, behind a small proxy that
// demands the password.
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from '../../src/stack/index.ts';
import { servicesProblem, unreachableServices } from '../../src/stack/preflight.ts';
import { registryReady } from '../../src/stack/registry.ts';
import { TEST_ENV, testConfig } from '../helpers/env.ts';

const USER = 'reg-user';
const PASSWORD = 's3cr@t-registry-pw';

describe('a password-protected Schema Registry', () => {
  const upstream = (process.env.SCHEMA_REGISTRY_URL ?? TEST_ENV.SCHEMA_REGISTRY_URL!).replace(/\/+$/, '');
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const proxy = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"', 'content-type': 'application/json' }).end('{"error_code":401,"message":"Unauthorized"}');
      return;
    }
    fetch(`${upstream}${req.url}`, { method: req.method, headers: { accept: String(req.headers.accept ?? '*/*') } }).then(
      async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(await r.text()),
      () => res.writeHead(502).end(),
    );
  });
  let url = '';
  let wrong = '';

  beforeAll(async () => {
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    url = `http://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`;
    wrong = `http://${USER}:not-the-password@127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('answers the probe with the credentials of the URL, and not without them', async () => {
    expect(await registryReady(url)).toBe(true);
    expect(await registryReady(wrong)).toBe(false);
    expect(await unreachableServices(testConfig({ SCHEMA_REGISTRY_URL: url }))).toEqual([]);
  });

  it('the preflight names a registry that refuses the password without printing it', async () => {
    const problem = await servicesProblem(testConfig({ SCHEMA_REGISTRY_URL: `${url.replace(PASSWORD.replace('@', '%40'), 'wrong-pw-91c2')}` }));
    expect(problem).toMatch(/the Schema Registry at http:\/\/\*\*\*@127\.0\.0\.1/);
    expect(problem).not.toContain('wrong-pw-91c2');
    expect(problem).not.toContain(USER);
  });

  it('npm start reuses it instead of taking its port for something that is not a registry', { timeout: 60_000 }, async () => {
    const stack = await startStack(testConfig({ SCHEMA_REGISTRY_URL: url }), { redisAppendonly: false });
    try {
      expect(stack.services.find((s) => s.name === 'Schema Registry')).toMatchObject({ state: 'reused' });
      expect(JSON.stringify(stack.services)).not.toContain(PASSWORD);
    } finally {
      await stack.stop();
    }
  });

  it('segpipe sql gets past the preflight and prints no credential', { timeout: 60_000 }, async () => {
    const r = await promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'sql', 'SELECT 1'], {
      env: { ...TEST_ENV, ...process.env, SCHEMA_REGISTRY_URL: url, LOG_LEVEL: 'warn' },
      timeout: 60_000,
    }).then(
      (x) => ({ stderr: x.stderr, stdout: x.stdout }),
      (e: { stderr: string; stdout: string }) => ({ stderr: e.stderr, stdout: e.stdout }),
    );
    expect(r.stderr).not.toMatch(/cannot reach/);
    expect(r.stderr + r.stdout).not.toContain(PASSWORD);
    expect(r.stderr + r.stdout).not.toContain(encodeURIComponent(PASSWORD));
  });
});

// The embedded fallback registry: Confluent's API shapes, error codes and compatibility rules.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildRegistryServer } from '../../src/registry-server/server.ts';

const CT = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
const rec = (fields: object[]) => JSON.stringify({ type: 'record', name: 'User', fields });
const A = { name: 'a', type: 'string' };
const B_NO_DEFAULT = { name: 'b', type: 'int' };
const B_DEFAULT = { name: 'b', type: 'int', default: 0 };

describe('embedded schema registry', () => {
  const dirs: string[] = [];
  const apps: FastifyInstance[] = [];
  const open = async (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-reg-'))) => {
    dirs.push(dir);
    const app = await buildRegistryServer({ dataDir: dir });
    apps.push(app);
    const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) => {
      const res = await app.inject({ method, url, headers: CT, payload: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() as Record<string, unknown> & unknown[] };
    };
    const register = (subject: string, schema: string) => call('POST', `/subjects/${subject}/versions`, { schema });
    return { dir, app, call, register };
  };
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('registers, returns the same id for the same schema, and serves it by id and version', async () => {
    const { call, register } = await open();
    const first = await register('u-value', rec([A]));
    expect(first).toEqual({ status: 200, body: { id: 1 } });
    expect((await register('u-value', JSON.stringify(JSON.parse(rec([A])), null, 2))).body).toEqual({ id: 1 });
    // Same text under another subject keeps its global id.
    expect((await register('other-value', rec([A]))).body).toEqual({ id: 1 });
    expect((await call('GET', '/schemas/ids/1')).body).toEqual({ schema: rec([A]) });
    expect((await call('GET', '/subjects')).body).toEqual(['other-value', 'u-value']);
    expect((await call('GET', '/subjects/u-value/versions/latest')).body).toMatchObject({ subject: 'u-value', version: 1, id: 1 });
    expect((await call('POST', '/subjects/u-value', { schema: rec([A]) })).body).toMatchObject({ version: 1, id: 1 });
  });

  it('answers unknown things with Confluent error codes', async () => {
    const { call, register } = await open();
    expect(await call('GET', '/schemas/ids/99')).toMatchObject({ status: 404, body: { error_code: 40403 } });
    expect(await call('GET', '/subjects/nope/versions')).toMatchObject({ status: 404, body: { error_code: 40401 } });
    await register('u-value', rec([A]));
    expect(await call('GET', '/subjects/u-value/versions/5')).toMatchObject({ status: 404, body: { error_code: 40402 } });
    expect(await register('u-value', '{"type":"record","name":"X","fields":[{"name":"a","type":"nosuchtype"}]}')).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call('PUT', '/config', { compatibility: 'SIDEWAYS' })).toMatchObject({ status: 422, body: { error_code: 42203 } });
  });

  it('enforces BACKWARD by default: adding a field needs a default', async () => {
    const { call, register } = await open();
    await register('u-value', rec([A]));
    const rejected = await register('u-value', rec([A, B_NO_DEFAULT]));
    expect(rejected.status).toBe(409);
    expect(rejected.body.error_code).toBe(409);
    expect((await call('POST', '/compatibility/subjects/u-value/versions/latest', { schema: rec([A, B_NO_DEFAULT]) })).body).toMatchObject({ is_compatible: false });
    expect((await register('u-value', rec([A, B_DEFAULT]))).body).toEqual({ id: 2 });
    // Removing a field is backward compatible (the new reader ignores it).
    expect((await register('u-value', rec([B_DEFAULT]))).status).toBe(200);
  });

  it('applies FORWARD, FULL, NONE and transitive levels per subject', async () => {
    const { call, register } = await open();
    await call('PUT', '/config/f-value', { compatibility: 'FORWARD' });
    await register('f-value', rec([A, B_DEFAULT]));
    // Forward: old readers must read new data; dropping a field that old readers need without default fails.
    expect((await register('f-value', rec([B_DEFAULT]))).status).toBe(409);
    expect((await register('f-value', rec([A, B_DEFAULT, { name: 'c', type: 'int' }]))).status).toBe(200);

    await call('PUT', '/config/full-value', { compatibility: 'FULL' });
    await register('full-value', rec([A]));
    expect((await register('full-value', rec([A, B_NO_DEFAULT]))).status).toBe(409);
    expect((await register('full-value', rec([A, B_DEFAULT]))).status).toBe(200);

    await call('PUT', '/config/n-value', { compatibility: 'NONE' });
    await register('n-value', rec([A]));
    expect((await register('n-value', rec([{ name: 'a', type: 'int' }]))).status).toBe(200);

    // Transitive: v3 is compatible with v2 but not with v1.
    await call('PUT', '/config/t-value', { compatibility: 'BACKWARD_TRANSITIVE' });
    await register('t-value', rec([{ name: 'x', type: 'int' }]));
    await call('PUT', '/config/t-value', { compatibility: 'NONE' });
    await register('t-value', rec([{ name: 'x', type: 'string' }]));
    await call('PUT', '/config/t-value', { compatibility: 'BACKWARD_TRANSITIVE' });
    expect((await register('t-value', rec([{ name: 'x', type: 'string' }, { name: 'y', type: 'int', default: 1 }]))).status).toBe(409);
    await call('PUT', '/config/t-value', { compatibility: 'BACKWARD' });
    expect((await register('t-value', rec([{ name: 'x', type: 'string' }, { name: 'y', type: 'int', default: 1 }]))).status).toBe(200);
    expect((await call('GET', '/config/t-value')).body).toEqual({ compatibilityLevel: 'BACKWARD' });
  });

  it('keeps schemas, ids and config across a restart', async () => {
    const first = await open();
    await first.call('PUT', '/config/u-value', { compatibility: 'FULL' });
    await first.register('u-value', rec([A]));
    await first.register('u-value', rec([A, B_DEFAULT]));
    await first.app.close();
    const again = await open(first.dir);
    expect((await again.call('GET', '/schemas/ids/2')).body).toEqual({ schema: rec([A, B_DEFAULT]) });
    expect((await again.call('GET', '/subjects/u-value/versions')).body).toEqual([1, 2]);
    expect((await again.call('GET', '/config/u-value')).body).toEqual({ compatibilityLevel: 'FULL' });
    expect((await again.register('v-value', rec([{ name: 'z', type: 'long' }]))).body).toEqual({ id: 3 });
  });
});

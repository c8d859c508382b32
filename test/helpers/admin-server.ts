// A real admin server on a loopback port, and raw HTTP requests to it: request lines are sent
// as written (percent-encoded, absolute-form, dot segments), which app.inject would normalise.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { AppContext } from '../../src/context.ts';
import { buildApi } from '../../src/roles/api.ts';
import { TEST_ENV, testConfig } from './env.ts';

/**
 * The test Redis, database `db`: a test file's own, so jobs its probes add never reach another
 * file's workers. startAdminServer(..., { freshDb: true }) empties it at start and at close.
 */
export const testRedisDb = (db: number): string => `${process.env.REDIS_URL ?? TEST_ENV.REDIS_URL}/${db}`;

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface AdminServer {
  ctx: AppContext;
  app: FastifyInstance;
  port: number;
  request(method: string, path: string, opts?: { headers?: Record<string, string>; body?: string }): Promise<RawResponse>;
  close(): Promise<void>;
}

export async function startAdminServer(env: Record<string, string>, opts: { freshDb?: boolean } = {}): Promise<AdminServer> {
  const ctx = new AppContext(testConfig(env));
  await ctx.prepare();
  if (opts.freshDb) await ctx.redis.flushdb();
  const app = await buildApi(ctx);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const request: AdminServer['request'] = (method, path, opts = {}) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...opts.headers }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
      req.end(opts.body);
    });
  return {
    ctx,
    app,
    port,
    request,
    close: async () => {
      if (opts.freshDb) await ctx.redis.flushdb();
      await app.close();
      await ctx.close();
    },
  };
}

/** Cookies a response sets, name → value (attributes dropped). */
export function setCookies(res: RawResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of [res.headers['set-cookie'] ?? []].flat()) {
    const [pair] = c.split(';');
    const i = pair!.indexOf('=');
    out[pair!.slice(0, i)] = pair!.slice(i + 1);
  }
  return out;
}

export const cookieHeader = (cookies: Record<string, string>) =>
  Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');

// The admin server. Open: /health, /metrics, /login, /logout. Guarded, each as its own
// encapsulated scope with the admin guard as its onRequest hook: /api, /admin (Bull Board),
// /dashboard.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import cookie from '@fastify/cookie';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { FailedAttempts } from './attempts.ts';
import { adminGuard } from './guard.ts';
import { loginRoutes } from './login.ts';
import { SessionStore } from './sessions.ts';
import { REFUSED_BOARD_ROUTES, registerBoard } from './board.ts';
import { healthRoutes, type Probe } from './health.ts';
import { metricsRoute } from './metrics-route.ts';
import { dashboardRoutes } from './routes/dashboard.ts';

export interface ServerOptions {
  adminToken: string;
  /** Sessions and the count of wrong tokens live here. */
  redis: Redis;
  sessionTtlMs: number;
  loginAttemptsPerMinute: number;
  /** Behind a TLS proxy: trust its X-Forwarded-For/-Proto/-Host (TRUST_PROXY). */
  trustProxy?: boolean | string[];
  probes: Record<string, Probe>;
  queues: Queue[];
  metrics: Registry;
  /** Route plugins mounted under /api. */
  api: FastifyPluginAsync[];
  logger?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, as the router knows it (the security tests probe each). */
    routeTable: Array<{ method: string; url: string }>;
  }
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    trustProxy: opts.trustProxy ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });
  const routeTable: FastifyInstance['routeTable'] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routeTable.push({ method, url: r.url });
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `No route ${req.method} ${req.url.split('?')[0]}` }),
  );
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send({
      statusCode: status,
      error: status === 400 ? 'Bad Request' : status >= 500 ? 'Internal Server Error' : err.name,
      message: status >= 500 ? 'The server failed to answer; its log has the details.' : err.message,
    });
  });

  // No page of this server may be framed (a page on another port of this host is the same site,
  // and would get the signed-in Bull Board in a frame to click through).
  // Pages load only this server's own scripts, styles, images and fonts: Bull Board's page links
  // Google Fonts, which a browser then never fetches (the page falls back to local fonts), and no
  // page reaches another host.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-frame-options', 'DENY');
    const html = String(reply.getHeader('content-type') ?? '').startsWith('text/html');
    if (!reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', html ? "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'" : "frame-ancestors 'none'");
    }
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
  });

  await app.register(cookie);
  const sessions = new SessionStore(opts.redis, opts.sessionTtlMs, opts.adminToken);
  const failures = new FailedAttempts(opts.redis, opts.loginAttemptsPerMinute);
  const guard = adminGuard({ token: opts.adminToken, sessions, failures, refused: REFUSED_BOARD_ROUTES });
  const guarded = (prefix: string, body: FastifyPluginAsync) =>
    app.register(
      async (scope) => {
        scope.addHook('onRequest', guard);
        await body(scope, {});
      },
      { prefix },
    );

  await app.register(loginRoutes, { token: opts.adminToken, sessions, failures });
  await app.register(healthRoutes, { probes: opts.probes });
  await app.register(metricsRoute, { registry: opts.metrics });
  app.get('/', async (_req, reply) => reply.redirect('/dashboard'));
  await guarded('/admin', (scope) => registerBoard(scope, opts.queues));
  await guarded('/dashboard', dashboardRoutes);
  await guarded('/api', async (api) => {
    for (const plugin of opts.api) await api.register(plugin);
  });
  return app;
}

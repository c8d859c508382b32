// The admin server: health, metrics, Bull Board, and the /api route plugins.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { authPlugin } from './auth.ts';
import { registerBoard, BOARD_PATH } from './board.ts';
import { healthRoutes, type Probe } from './health.ts';
import { metricsRoute } from './metrics-route.ts';
import { dashboardRoutes } from './routes/dashboard.ts';

export interface ServerOptions {
  adminToken: string;
  probes: Record<string, Probe>;
  queues: Queue[];
  metrics: Registry;
  /** Route plugins mounted under /api. */
  api: FastifyPluginAsync[];
  logger?: boolean;
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
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
      message: err.message,
    });
  });

  await app.register(authPlugin, { token: opts.adminToken });
  await app.register(healthRoutes, { probes: opts.probes });
  await app.register(metricsRoute, { registry: opts.metrics });
  await registerBoard(app, opts.queues);
  await app.register(dashboardRoutes);
  app.get('/', async (_req, reply) => reply.redirect(BOARD_PATH));
  await app.register(
    async (api) => {
      for (const plugin of opts.api) await api.register(plugin);
    },
    { prefix: '/api' },
  );
  return app;
}

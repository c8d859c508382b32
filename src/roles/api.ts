// Role `api`: the Fastify admin server over this process's context.
import type { FastifyPluginAsync } from 'fastify';
import { resolveAdminToken, type AppContext } from '../context.ts';
import { checkRole } from '../kafka/liveness.ts';
import { exposePipelineGauges, exposeSharedCounters, metrics } from '../metrics.ts';
import { consumerLag } from '../kafka/lag.ts';
import { buildServer } from '../server/app.ts';
import { statusRoutes } from '../server/routes/status.ts';
import { runsRoutes } from '../server/routes/runs.ts';
import { metricsApiRoutes } from '../server/routes/metrics-api.ts';
import { childLog } from '../log.ts';

const log = childLog('api');

export function apiPlugins(ctx: AppContext): FastifyPluginAsync[] {
  return [statusRoutes(ctx), runsRoutes(ctx), metricsApiRoutes(ctx)];
}

export async function buildApi(ctx: AppContext) {
  exposeSharedCounters(ctx.redis);
  exposePipelineGauges({
    lag: () => consumerLag(ctx),
    jobCounts: async () => Object.fromEntries(await Promise.all(Object.entries(ctx.queues).map(async ([name, q]) => [name, await q.getJobCounts('active', 'waiting', 'delayed', 'failed')] as const))),
  });
  return buildServer({
    adminToken: resolveAdminToken(ctx.config),
    redis: ctx.redis,
    sessionTtlMs: ctx.config.api.sessionTtlMs,
    loginAttemptsPerMinute: ctx.config.api.loginAttemptsPerMinute,
    trustProxy: ctx.config.api.trustProxy,
    metrics,
    queues: Object.values(ctx.queues),
    probes: {
      kafka: async () => (await ctx.admin()).describeCluster(),
      schema_registry: () => ctx.registry.subjects(),
      redis: () => ctx.redisProbe.ping(),
      // The roles that move data: down while no member reports, one restarts after a crash, or one with lag is stuck.
      stream: () => checkRole(ctx.redisProbe, () => ctx.admin(), 'stream'),
      loader: () => checkRole(ctx.redisProbe, () => ctx.admin(), 'loader'),
    },
    api: apiPlugins(ctx),
  });
}

export async function startApi(ctx: AppContext): Promise<string> {
  const app = await buildApi(ctx);
  const address = await app.listen({ host: ctx.config.api.host, port: ctx.config.api.port });
  ctx.onClose(() => app.close());
  log.info({ address }, 'admin server listening');
  return address;
}

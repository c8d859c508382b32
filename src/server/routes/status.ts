// GET /api/status: queues, the loader's and the stream's lag per partition, loads per table.
// GET /api/status/reconcile: the `segpipe verify` report.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { redactUrl } from '../../redact.ts';
import { consumerLag } from '../../kafka/lag.ts';
import { LOAD_STATS_KEY } from '../../loader/raw-loader.ts';
import { reconcile } from '../../stream/reconcile.ts';
import { rawTables } from '../../warehouse/tables.ts';
import { STATE_EVENT_NAMES } from '../../config.ts';

export const statusRoutes = (ctx: AppContext) =>
  async function status(app: FastifyInstance): Promise<void> {
    // The API root: where everything is.
    app.get('/', async () => ({
      dashboard: '/dashboard',
      bull_board: '/admin/queues',
      status: '/api/status',
      runs: '/api/runs',
      metrics: { registrations: '/api/metrics/registrations?type=tumbling_1h', sessions: '/api/metrics/sessions', top_sales: '/api/metrics/sales/top', simulator_runs: '/api/metrics/simulator', prometheus: '/metrics' },
      health: '/health',
    }));

    app.get('/status', async () => {
      const queues = Object.fromEntries(
        await Promise.all(
          Object.entries(ctx.queues).map(async ([name, q]) => [
            name,
            await q.getJobCounts('active', 'waiting', 'delayed', 'completed', 'failed', 'prioritized'),
          ]),
        ),
      );
      const stateTopics = new Set(STATE_EVENT_NAMES.map((e) => ctx.config.topics[e]));
      const topics = Object.fromEntries(
        [...(await consumerLag(ctx))].map(([topic, lags]) => {
          const partitions = lags.map(({ low: _low, ...p }) => p);
          const sum = (k: 'loader_lag' | 'stream_lag') => lags.reduce((s, p) => s + (p[k] ?? 0), 0);
          return [topic, { messages: lags.reduce((s, p) => s + p.high - p.low, 0), loader_lag: sum('loader_lag'), ...(stateTopics.has(topic) ? { stream_lag: sum('stream_lag') } : {}), partitions }];
        }),
      );
      const stats = await ctx.redis.hgetall(LOAD_STATS_KEY);
      const warehouse = Object.fromEntries(
        [...rawTables().values()].map((t) => [t.name, { last_load: stats[`${t.name}:last_flush`] ?? null, rows_loaded: Number(stats[`${t.name}:rows`] ?? 0) }]),
      );
      return { queues, topics, warehouse: { kind: ctx.config.warehouse.kind, tables: warehouse }, schema_registry: { url: redactUrl(ctx.config.registry.url), subjects: await ctx.registry.subjects() } };
    });

    app.get('/status/reconcile', async () => reconcile(ctx));
  };

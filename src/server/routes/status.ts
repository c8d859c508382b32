// GET /api/status: queues, consumer lag per partition, outbox depth and flushes per table.
// GET /api/status/reconcile: the `segpipe verify` report.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { redactUrl } from '../../redact.ts';
import { topicSpecs } from '../../kafka/client.ts';
import { FLUSH_STATS_KEY, outboxDepths } from '../../stream/flush.ts';
import { reconcile } from '../../stream/reconcile.ts';
import { rawTables } from '../../warehouse/tables.ts';
import { shardCount } from '../../state/scripts.ts';

export const statusRoutes = (ctx: AppContext) =>
  async function status(app: FastifyInstance): Promise<void> {
    app.get('/status', async () => {
      const queues = Object.fromEntries(
        await Promise.all(
          Object.entries(ctx.queues).map(async ([name, q]) => [
            name,
            await q.getJobCounts('active', 'waiting', 'delayed', 'completed', 'failed', 'prioritized'),
          ]),
        ),
      );
      const admin = await ctx.admin();
      const committed = new Map<string, number>();
      const groupOffsets = await admin.fetchOffsets({ groupId: ctx.config.stream.groupId }).catch(() => []);
      for (const t of groupOffsets) for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, Number(p.offset));
      const topics = Object.fromEntries(
        await Promise.all(
          topicSpecs(ctx.config).map(async ({ topic }) => {
            const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
            const partitions = offsets.map((p) => {
              const c = committed.get(`${topic}:${p.partition}`);
              const from = c === undefined || c < 0 ? Number(p.low) : c;
              return { partition: p.partition, high: Number(p.high), committed: c ?? null, lag: Math.max(0, Number(p.high) - from) };
            });
            return [topic, { messages: offsets.reduce((s, p) => s + Number(p.high) - Number(p.low), 0), lag: partitions.reduce((s, p) => s + p.lag, 0), partitions }];
          }),
        ),
      );
      const tables = [...rawTables().values()];
      const depth = await outboxDepths(ctx.redis, tables, shardCount(ctx.config));
      const stats = await ctx.redis.hgetall(FLUSH_STATS_KEY);
      const warehouse = Object.fromEntries(
        tables.map((t) => [t.name, { outbox_depth: depth[t.name] ?? 0, last_flush: stats[`${t.name}:last_flush`] ?? null, rows_merged: Number(stats[`${t.name}:rows`] ?? 0) }]),
      );
      return { queues, topics, warehouse: { kind: ctx.config.warehouse.kind, tables: warehouse }, schema_registry: { url: redactUrl(ctx.config.registry.url), subjects: await ctx.registry.subjects() } };
    });

    app.get('/status/reconcile', async () => reconcile(ctx));
  };

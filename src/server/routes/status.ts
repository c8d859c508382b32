// GET /api/status: queues, the loader's and the stream's lag per partition, loads per table.
// GET /api/status/reconcile: the `segpipe verify` report.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { redactUrl } from '../../redact.ts';
import { topicSpecs } from '../../kafka/client.ts';
import { LOAD_STATS_KEY } from '../../loader/raw-loader.ts';
import { reconcile } from '../../stream/reconcile.ts';
import { rawTables } from '../../warehouse/tables.ts';
import { STATE_EVENT_NAMES } from '../../config.ts';

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
      // The loader's commits trail its warehouse positions (they are hints); the stream's trail Redis.
      const committedBy = async (groupId: string) => {
        const out = new Map<string, number>();
        for (const t of await admin.fetchOffsets({ groupId }).catch(() => [])) for (const p of t.partitions) out.set(`${t.topic}:${p.partition}`, Number(p.offset));
        return out;
      };
      const [streamCommits, loaderCommits] = await Promise.all([committedBy(ctx.config.stream.groupId), committedBy(ctx.config.stream.loaderGroupId)]);
      const stateTopics = new Set(STATE_EVENT_NAMES.map((e) => ctx.config.topics[e]));
      const topics = Object.fromEntries(
        await Promise.all(
          topicSpecs(ctx.config).map(async ({ topic }) => {
            const offsets = (await admin.fetchTopicOffsets(topic).catch(() => [])).sort((a, b) => a.partition - b.partition);
            const lagOf = (commits: Map<string, number>, p: (typeof offsets)[number]) => {
              const c = commits.get(`${topic}:${p.partition}`);
              return Math.max(0, Number(p.high) - (c === undefined || c < 0 ? Number(p.low) : c));
            };
            const partitions = offsets.map((p) => ({
              partition: p.partition,
              high: Number(p.high),
              loader_lag: lagOf(loaderCommits, p),
              ...(stateTopics.has(topic) ? { stream_lag: lagOf(streamCommits, p) } : {}),
            }));
            const sum = (k: 'loader_lag' | 'stream_lag') => partitions.reduce((s, p) => s + ((p as Record<string, number>)[k] ?? 0), 0);
            return [topic, { messages: offsets.reduce((s, p) => s + Number(p.high) - Number(p.low), 0), loader_lag: sum('loader_lag'), ...(stateTopics.has(topic) ? { stream_lag: sum('stream_lag') } : {}), partitions }];
          }),
        ),
      );
      const stats = await ctx.redis.hgetall(LOAD_STATS_KEY);
      const warehouse = Object.fromEntries(
        [...rawTables().values()].map((t) => [t.name, { last_load: stats[`${t.name}:last_flush`] ?? null, rows_loaded: Number(stats[`${t.name}:rows`] ?? 0) }]),
      );
      return { queues, topics, warehouse: { kind: ctx.config.warehouse.kind, tables: warehouse }, schema_registry: { url: redactUrl(ctx.config.registry.url), subjects: await ctx.registry.subjects() } };
    });

    app.get('/status/reconcile', async () => reconcile(ctx));
  };

// GET /api/status: what is queued and what is in Kafka, at a glance.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { topicSpecs } from '../../kafka/client.ts';

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
      const topics = Object.fromEntries(
        await Promise.all(
          topicSpecs(ctx.config).map(async ({ topic }) => {
            const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
            const messages = offsets.reduce((sum, p) => sum + (Number(p.high) - Number(p.low)), 0);
            return [topic, { partitions: offsets.length, messages }];
          }),
        ),
      );
      return { queues, topics, schema_registry: { url: ctx.config.registry.url, subjects: await ctx.registry.subjects() } };
    });
  };

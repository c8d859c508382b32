// How far each consumer group is behind Kafka's end, per topic-partition: /api/status shows it,
// /metrics exports it. The loader's commits trail its warehouse positions and the stream's trail
// Redis (both are hints, behind the positions of record), so this is an upper bound.
import type { AppContext } from '../context.ts';
import { STATE_EVENT_NAMES } from '../config.ts';
import { topicSpecs } from './client.ts';

export interface PartitionLag {
  partition: number;
  low: number;
  high: number;
  loader_lag: number;
  /** Only on the topics the stream reads. */
  stream_lag?: number;
}

/** Per topic, its partitions in order with each group's lag. */
export async function consumerLag(ctx: AppContext): Promise<Map<string, PartitionLag[]>> {
  const admin = await ctx.admin();
  const committedBy = async (groupId: string) => {
    const out = new Map<string, number>();
    for (const t of await admin.fetchOffsets({ groupId }).catch(() => [])) for (const p of t.partitions) out.set(`${t.topic}:${p.partition}`, Number(p.offset));
    return out;
  };
  const [streamCommits, loaderCommits] = await Promise.all([committedBy(ctx.config.stream.groupId), committedBy(ctx.config.stream.loaderGroupId)]);
  const stateTopics = new Set(STATE_EVENT_NAMES.map((e) => ctx.config.topics[e]));
  const lags = await Promise.all(
    topicSpecs(ctx.config).map(async ({ topic }): Promise<[string, PartitionLag[]]> => {
      const offsets = (await admin.fetchTopicOffsets(topic).catch(() => [])).sort((a, b) => a.partition - b.partition);
      const lagOf = (commits: Map<string, number>, p: (typeof offsets)[number]) => {
        const c = commits.get(`${topic}:${p.partition}`);
        return Math.max(0, Number(p.high) - (c === undefined || c < 0 ? Number(p.low) : c));
      };
      return [
        topic,
        offsets.map((p) => ({
          partition: p.partition,
          low: Number(p.low),
          high: Number(p.high),
          loader_lag: lagOf(loaderCommits, p),
          ...(stateTopics.has(topic) ? { stream_lag: lagOf(streamCommits, p) } : {}),
        })),
      ];
    }),
  );
  // In the configuration's topic order, whichever answered first.
  return new Map(lags);
}

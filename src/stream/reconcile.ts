// Reconciliation, per topic and partition, on each path's position of record:
//   raw path: every offset the loader passed (the warehouse's position) is a raw row, a
//   duplicate of one, or a dead letter; the rest of the partition is the loader's pending range;
//   state path: how far the stream's position in Redis is behind Kafka.
import { STATE_EVENT_NAMES, USER_EVENT_NAMES, type EventName } from '../config.ts';
import type { AppContext } from '../context.ts';
import { topicOffsets } from '../kafka/client.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { shardKeys } from '../state/scripts.ts';

export interface PartitionReport {
  topic: string;
  partition: number;
  /** Offsets the loader passed, from the partition's first offset to the warehouse's position. */
  loaded: number;
  /** Rows the raw table holds from the partition. */
  warehouse: number;
  /** Re-sent events whose event_id was already a row. */
  duplicates: number;
  deadLetters: number;
  /** Offsets in Kafka past the warehouse's position: the loader's pending range. */
  pending: number;
  /** loaded − warehouse − duplicates − dead letters: 0 unless rows are missing or extra. */
  difference: number;
  /** Offsets in Kafka past the stream's position in Redis (state topics only, else null). */
  streamLag: number | null;
}

export interface ReconcileReport {
  ok: boolean;
  partitions: PartitionReport[];
}

/** `events`: the raw topics to account for; the user events by default (the catalog's is a raw table too). */
export async function reconcile(ctx: AppContext, events: readonly EventName[] = USER_EVENT_NAMES): Promise<ReconcileReport> {
  const admin = await ctx.admin();
  const stateTopics = new Set<string>(STATE_EVENT_NAMES.map((e) => ctx.config.topics[e]));
  const partitions: PartitionReport[] = [];
  for (const event of events) {
    const topic = ctx.config.topics[event];
    const accounts = new Map((await warehouseQuery(ctx, 'rawAccounts', { event, topic })).map((r) => [Number(r.p), r]));
    for (const [partition, { low, high }] of [...(await topicOffsets(admin, topic))].sort(([a], [b]) => a - b)) {
      const a = accounts.get(partition);
      const next = a ? Number(a.next) : low;
      const loaded = Math.max(0, next - low);
      const warehouse = a ? Number(a.n) : 0;
      const duplicates = a ? Number(a.duplicates) : 0;
      const deadLetters = a ? Number(a.dead) : 0;
      let streamLag: number | null = null;
      if (stateTopics.has(topic)) {
        const stored = await ctx.redis.hget(shardKeys(partition).offsets, topic);
        streamLag = Math.max(0, high - (stored === null ? low : Number(stored) + 1));
      }
      partitions.push({ topic, partition, loaded, warehouse, duplicates, deadLetters, pending: Math.max(0, high - next), difference: loaded - warehouse - duplicates - deadLetters, streamLag });
    }
  }
  return { ok: partitions.every((p) => p.difference === 0), partitions };
}

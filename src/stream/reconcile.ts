// Reconciliation: per topic and partition, every offset the stream consumed must be a warehouse
// row, a dead letter, or a row still waiting in the outbox. Any difference is reported.
import type { EventName } from '../config.ts';
import { EVENT_NAMES } from '../config.ts';
import type { AppContext } from '../context.ts';
import { topicOffsets } from '../kafka/client.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { shardKeys } from '../state/scripts.ts';
import { rawTableName } from '../warehouse/tables.ts';

export interface PartitionReport {
  topic: string;
  partition: number;
  /** Offsets consumed and applied (the offset guard), from the partition's first offset. */
  consumed: number;
  warehouse: number;
  deadLetters: number;
  pending: number;
  difference: number;
  /** Messages in Kafka not consumed yet. */
  lag: number;
}

export interface ReconcileReport {
  ok: boolean;
  partitions: PartitionReport[];
}

export async function reconcile(ctx: AppContext): Promise<ReconcileReport> {
  const admin = await ctx.admin();
  const partitions: PartitionReport[] = [];
  for (const event of EVENT_NAMES as readonly EventName[]) {
    const topic = ctx.config.topics[event];
    const table = rawTableName(event);
    const rows = await warehouseQuery(ctx, 'rawOffsetCounts', { event, topic });
    const inWarehouse = new Map(rows.map((r) => [Number(r.p), Number(r.n)]));
    for (const [partition, { low, high }] of await topicOffsets(admin, topic)) {
      const keys = shardKeys(partition);
      const [stored, dead, pending] = await Promise.all([
        ctx.redis.hget(keys.offsets, topic),
        ctx.redis.hget(keys.dead, topic),
        ctx.redis.xlen(keys.outbox(table)),
      ]);
      const applied = stored === null ? -1 : Number(stored);
      const consumed = Math.max(0, applied + 1 - low);
      const warehouse = inWarehouse.get(partition) ?? 0;
      const deadLetters = Number(dead ?? 0);
      partitions.push({
        topic,
        partition,
        consumed,
        warehouse,
        deadLetters,
        pending,
        difference: consumed - warehouse - deadLetters - pending,
        lag: Math.max(0, high - (applied + 1)),
      });
    }
  }
  return { ok: partitions.every((p) => p.difference === 0), partitions };
}

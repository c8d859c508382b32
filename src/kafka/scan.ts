// Reads topics from their first offset to the end they had when the scan began, without
// committing anything: for checks that recount what Kafka holds.
import crypto from 'node:crypto';
import type { AppContext } from '../context.ts';
import { topicOffsets } from './client.ts';

export interface ScannedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Calls `onMessage` for every message of `topics` below the high watermark read at the start;
 * with `from` (offsets by `topic:partition`), only from those offsets on, in the partitions named.
 */
export async function scanTopics(
  ctx: AppContext,
  topics: string[],
  onMessage: (m: ScannedMessage) => void | Promise<void>,
  timeoutMs = 600_000,
  from?: ReadonlyMap<string, number>,
): Promise<number> {
  const admin = await ctx.admin();
  const ends = new Map<string, number>();
  for (const topic of topics) {
    for (const [partition, { low, high }] of await topicOffsets(admin, topic)) {
      const id = `${topic}:${partition}`;
      const first = from ? from.get(id) : low;
      if (first !== undefined && high > Math.max(low, first)) ends.set(id, high);
    }
  }
  if (ends.size === 0) return 0;
  const groupId = `segpipe-scan-${crypto.randomBytes(6).toString('hex')}`;
  const consumer = ctx.kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024 });
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`scanning ${topics.join(', ')} did not reach the end within ${timeoutMs / 1000} s; ${ends.size} partition(s) left`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const id = `${batch.topic}:${batch.partition}`;
            const end = ends.get(id);
            if (end === undefined) return;
            const first = from?.get(id) ?? 0;
            for (const m of batch.messages) {
              if (Number(m.offset) >= end) break;
              if (Number(m.offset) < first) continue; // fetched before the seek took effect
              const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));
              const pending = onMessage({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers });
              if (pending) await pending;
              read++;
            }
            const last = batch.messages.at(-1);
            if (last && Number(last.offset) + 1 >= end) {
              ends.delete(id);
              if (ends.size === 0) resolve();
            }
          },
        })
        .then(() => {
          for (const id of from ? ends.keys() : []) {
            const at = id.lastIndexOf(':');
            consumer.seek({ topic: id.slice(0, at), partition: Number(id.slice(at + 1)), offset: String(from!.get(id)) });
          }
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return read;
}

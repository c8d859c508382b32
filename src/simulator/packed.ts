// Encoded events crossing from the generator thread to the producing thread: keys and values
// back to back in one buffer, with typed-array indexes, transferred without a copy. The
// receiving side only slices views out of it, so the thread that runs kafkajs does no model,
// no Avro and no partitioning work.
import type { Message, Producer, TopicMessages } from 'kafkajs';

export interface PackedBatch {
  count: number;
  /** Key i is data[bounds[2i], bounds[2i+1]), its value data[bounds[2i+1], bounds[2i+2]). */
  data: Uint8Array;
  bounds: Uint32Array;
  /** Index into the topic list both sides share. */
  topic: Uint8Array;
  partition: Uint16Array;
}

export class BatchPacker {
  private data: Buffer;
  private bounds: Uint32Array;
  private topic: Uint8Array;
  private partition: Uint16Array;
  private count = 0;
  private pos = 0;

  constructor(private readonly capacity: number) {
    this.data = Buffer.allocUnsafe(capacity * 160);
    this.bounds = new Uint32Array(2 * capacity + 1);
    this.topic = new Uint8Array(capacity);
    this.partition = new Uint16Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Appends one message; `encode` writes the value at a position and returns its end, or -1 when it does not fit. */
  add(topic: number, partition: number, key: string, encode: (buf: Buffer, pos: number) => number): void {
    const i = this.count;
    this.bounds[2 * i] = this.pos;
    for (;;) {
      const keyEnd = this.pos + Buffer.byteLength(key);
      const end = keyEnd <= this.data.length ? (this.data.write(key, this.pos), encode(this.data, keyEnd)) : -1;
      if (end >= 0) {
        this.bounds[2 * i + 1] = keyEnd;
        this.bounds[2 * i + 2] = end;
        this.pos = end;
        break;
      }
      const bigger = Buffer.allocUnsafe(this.data.length * 2);
      this.data.copy(bigger, 0, 0, this.pos);
      this.data = bigger;
    }
    this.topic[i] = topic;
    this.partition[i] = partition;
    this.count++;
  }

  /** The batch so far (exact-size copies, ready to transfer); the packer starts empty again. */
  take(): PackedBatch {
    const n = this.count;
    const batch: PackedBatch = {
      count: n,
      data: new Uint8Array(this.data.subarray(0, this.pos)),
      bounds: this.bounds.slice(0, 2 * n + 1),
      topic: this.topic.slice(0, n),
      partition: this.partition.slice(0, n),
    };
    this.count = 0;
    this.pos = 0;
    return batch;
  }
}

export const transferables = (b: PackedBatch): ArrayBuffer[] =>
  [b.data.buffer, b.bounds.buffer, b.topic.buffer, b.partition.buffer] as ArrayBuffer[];

/** kafkajs messages viewing the batch's buffer, grouped by topic, partitions set. */
export function unpack(batch: PackedBatch, topics: readonly string[]): TopicMessages[] {
  const data = Buffer.from(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength);
  const byTopic: Message[][] = topics.map(() => []);
  const b = batch.bounds;
  for (let i = 0; i < batch.count; i++) {
    byTopic[batch.topic[i]!]!.push({
      key: data.subarray(b[2 * i]!, b[2 * i + 1]!),
      value: data.subarray(b[2 * i + 1]!, b[2 * i + 2]!),
      partition: batch.partition[i]!,
    });
  }
  return topics.map((topic, t) => ({ topic, messages: byTopic[t]! })).filter((tm) => tm.messages.length > 0);
}

/** What one acknowledged batch put on a topic-partition: `events` of it, the log then ending at `next`. */
export interface PackedSend {
  topic: number;
  partition: number;
  events: number;
  next: number;
}

/** One packed batch as one request, acks=all; resolves when acknowledged, with where each topic-partition's share landed. */
export async function sendPacked(producer: Producer, batch: PackedBatch, topicOrder: readonly string[]): Promise<PackedSend[]> {
  const acks = await producer.sendBatch({ topicMessages: unpack(batch, topicOrder), acks: -1 });
  const counts = new Map<number, number>();
  for (let i = 0; i < batch.count; i++) {
    const k = batch.topic[i]! * 65_536 + batch.partition[i]!;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const topicIndex = new Map(topicOrder.map((t, i) => [t, i]));
  return acks.map((a) => {
    const topic = topicIndex.get(a.topicName)!;
    const events = counts.get(topic * 65_536 + a.partition) ?? 0;
    return { topic, partition: a.partition, events, next: Number(a.baseOffset) + events };
  });
}

// The one producer path for domain events: any DomainEvent goes to its topic, under its key,
// as Avro in the Confluent wire format. Events are encoded with the cached types and sent in
// large batches (acks=all, idempotent), with a few batches in flight while the next is encoded.
import type { Message, TopicMessages } from 'kafkajs';
import type { AppContext } from '../context.ts';
import { LazyProducer } from '../kafka/client.ts';
import type { DomainEvent } from './model.ts';
import { unpack, type PackedBatch } from '../simulator/packed.ts';

export interface ProduceOptions {
  /** Events per Kafka request; default 5000. */
  batchSize?: number;
  /** Encoded batches queued behind the one on the wire; default 3. */
  inFlight?: number;
  /** Called after each acknowledged batch with the running total. */
  onProgress?: (sent: number) => void;
  /**
   * Pacing (simulated clock, rate limit): returns a promise when the event must wait. What is
   * batched so far is sent before waiting, so paced events reach Kafka close to their time.
   */
  pace?: (event: DomainEvent) => Promise<void> | undefined;
}

export class EventProducer {
  private readonly producer: LazyProducer;

  constructor(private readonly ctx: AppContext) {
    this.producer = new LazyProducer(ctx.kafka);
  }

  async close(): Promise<void> {
    await this.producer.close();
  }

  /**
   * Encodes one event as a Kafka message for its topic. The Kafka timestamp stays the produce
   * time: event time is in the payload, and a simulated past as message time would make the
   * broker's time-based retention delete the data on arrival.
   */
  toMessage(event: DomainEvent): { topic: string; message: Message } {
    const topic = event.topic(this.ctx.config.topics);
    return { topic, message: { key: event.key(), value: this.ctx.serde.encode(topic, event.toRecord()) } };
  }

  /**
   * Sends one batch encoded and partitioned elsewhere (the simulator's generator thread);
   * resolves when acknowledged. Callers keep one batch on the wire at a time, for per-key order.
   */
  async sendPacked(batch: PackedBatch, topicOrder: readonly string[]): Promise<void> {
    const producer = await this.producer.get();
    await producer.sendBatch({ topicMessages: unpack(batch, topicOrder), acks: -1 });
  }

  /** Produces every event, in order per key; resolves when all are acknowledged. */
  async send(events: Iterable<DomainEvent> | AsyncIterable<DomainEvent>, opts: ProduceOptions = {}): Promise<number> {
    const producer = await this.producer.get();
    const batchSize = opts.batchSize ?? 5000;
    const queued = Math.max(1, opts.inFlight ?? 3);
    let sent = 0;
    let byTopic = new Map<string, Message[]>();
    let size = 0;
    // Requests go out one after another: kafkajs does not keep concurrent sends in order, and
    // per-key order is the contract. Encoding the next batches overlaps with the send.
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;

    const flush = async () => {
      if (size === 0) return;
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      const n = size;
      byTopic = new Map();
      size = 0;
      pending++;
      chain = chain
        .then(() => producer.sendBatch({ topicMessages, acks: -1 }))
        .then(() => {
          pending--;
          sent += n;
          opts.onProgress?.(sent);
        });
      // Bound memory: at most `queued` encoded batches wait for the wire.
      if (pending >= queued) await chain;
    };

    const add = async (event: DomainEvent) => {
      const wait = opts.pace?.(event);
      if (wait) {
        await flush();
        await wait;
      }
      const { topic, message } = this.toMessage(event);
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(message);
      if (++size >= batchSize) await flush();
    };
    try {
      // A plain loop for generators: `for await` would add a promise per event.
      if (Symbol.iterator in events) for (const event of events) await add(event);
      else for await (const event of events) await add(event);
      await flush();
      await chain;
    } catch (err) {
      await chain.catch(() => undefined);
      throw err;
    }
    return sent;
  }
}

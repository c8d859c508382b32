// Domain events to Kafka: any DomainEvent goes to its topic, under its key, as Avro in the
// Confluent wire format, in large batches (acks=all, idempotent). send() encodes here, with a few
// batches queued while the next is encoded. (The simulator's lanes send the batches its generator
// thread encodes through the same base type: src/simulator/lane.ts.)
import type { Message, TopicMessages } from 'kafkajs';
import type { AppContext } from '../context.ts';
import { LazyProducer } from '../kafka/client.ts';
import type { DomainEvent } from './model.ts';

export interface ProduceOptions {
  /** Events per Kafka request; default 5000. */
  batchSize?: number;
}

/** Encoded batches queued behind the one on the wire. */
const QUEUED = 3;

export class EventProducer {
  private readonly producer: LazyProducer;

  constructor(private readonly ctx: AppContext) {
    this.producer = new LazyProducer(ctx.kafka, ctx.config);
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

  /** Produces every event, in order per key; resolves when all are acknowledged. */
  async send(events: Iterable<DomainEvent>, opts: ProduceOptions = {}): Promise<number> {
    const producer = await this.producer.get();
    const batchSize = opts.batchSize ?? 5000;
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
        });
      // Bound memory: at most QUEUED encoded batches wait for the wire.
      if (pending >= QUEUED) await chain;
    };

    const add = async (event: DomainEvent) => {
      const { topic, message } = this.toMessage(event);
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(message);
      if (++size >= batchSize) await flush();
    };
    try {
      for (const event of events) await add(event);
      await flush();
      await chain;
    } catch (err) {
      await chain.catch(() => undefined);
      throw err;
    }
    return sent;
  }
}

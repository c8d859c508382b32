// The one producer path for domain events: any DomainEvent goes to its topic, under its key,
// as Avro in the Confluent wire format. Events are encoded with the cached types and sent in
// large batches (acks=all, idempotent), with a few batches in flight while the next is encoded.
import type { Message, Producer, TopicMessages } from 'kafkajs';
import type { AppContext } from '../context.ts';
import { createIdempotentProducer } from '../kafka/client.ts';
import type { DomainEvent } from './model.ts';

export interface ProduceOptions {
  /** Events per Kafka request; default 5000. */
  batchSize?: number;
  /** Requests outstanding while the next batch is encoded; default 3. */
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
  private producer?: Promise<Producer>;

  constructor(private readonly ctx: AppContext) {}

  private connected(): Promise<Producer> {
    this.producer ??= (async () => {
      const p = createIdempotentProducer(this.ctx.kafka);
      await p.connect();
      return p;
    })();
    return this.producer;
  }

  async close(): Promise<void> {
    if (this.producer) await (await this.producer).disconnect();
    this.producer = undefined;
  }

  /** Encodes one event as a Kafka message for its topic. */
  toMessage(event: DomainEvent): { topic: string; message: Message } {
    const topic = event.topic(this.ctx.config.topics);
    return { topic, message: { key: event.key(), value: this.ctx.serde.encode(topic, event.toRecord()), timestamp: String(event.time) } };
  }

  /** Produces every event, in order per key; resolves when all are acknowledged. */
  async send(events: Iterable<DomainEvent> | AsyncIterable<DomainEvent>, opts: ProduceOptions = {}): Promise<number> {
    const producer = await this.connected();
    const batchSize = opts.batchSize ?? 5000;
    const inFlight = Math.max(1, opts.inFlight ?? 3);
    const outstanding: Array<Promise<unknown>> = [];
    let sent = 0;
    let byTopic = new Map<string, Message[]>();
    let size = 0;

    const flush = async () => {
      if (size === 0) return;
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      const n = size;
      byTopic = new Map();
      size = 0;
      outstanding.push(
        producer.sendBatch({ topicMessages, acks: -1 }).then(() => {
          sent += n;
          opts.onProgress?.(sent);
        }),
      );
      // kafkajs sends one idempotent request per broker at a time; waiting here bounds memory.
      while (outstanding.length >= inFlight) await outstanding.shift();
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
      await Promise.all(outstanding);
    } catch (err) {
      await Promise.allSettled(outstanding);
      throw err;
    }
    return sent;
  }
}

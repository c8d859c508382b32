// kafkajs wiring: one factory for clients, topic creation at start, kafkajs logs routed to pino.
import kafkajs, { Kafka, logLevel, type Admin, type ITopicConfig, type LogEntry, type Producer } from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import type { Config } from '../config.ts';
import { childLog } from '../log.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const kafkaLog = childLog('kafkajs');
const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// Coordinator-loading and rebalance errors are retried by kafkajs; keep them at debug.
const RETRIED = /coordinator is loading|coordinator is not available|rebalance in progress|not the correct coordinator/i;

const logCreator = () => ({ level, log: entry }: LogEntry) => {
  const { message, ...rest } = entry;
  const lvl = RETRIED.test(String(rest.error ?? '')) ? 'debug' : (LEVELS[level] ?? 'info');
  kafkaLog[lvl](rest, message);
};

export function createKafka(config: Config, clientId = config.kafka.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: config.kafka.brokers,
    logLevel: logLevel.WARN,
    logCreator,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** Every topic segpipe produces to: user topics share one partition count (see DESIGN.md). */
export function topicSpecs(config: Config): ITopicConfig[] {
  const { topics, kafka } = config;
  const user = [topics.consumer_registration, topics.sign_in, topics.sign_out, topics.item_view, topics.added_to_cart, topics.checkout];
  return [
    ...user.map((topic) => ({ topic, numPartitions: kafka.partitions, replicationFactor: kafka.replicationFactor })),
    { topic: topics.movies_catalog_enriched, numPartitions: kafka.catalogPartitions, replicationFactor: kafka.replicationFactor },
    { topic: topics.dlq, numPartitions: kafka.partitions, replicationFactor: kafka.replicationFactor },
  ];
}

/** Creates missing topics; existing ones are left as they are (their partition count is checked). */
export async function ensureTopics(admin: Admin, specs: ITopicConfig[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length === 0) return;
  const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
  const wrong = meta.topics.filter((t) => t.partitions.length !== present.find((s) => s.topic === t.name)?.numPartitions);
  if (wrong.length > 0) {
    throw new Error(
      `topics exist with a partition count other than configured: ${wrong.map((t) => `${t.name} has ${t.partitions.length}`).join(', ')}. ` +
        'Set KAFKA_PARTITIONS / KAFKA_CATALOG_PARTITIONS to match, or recreate the topics.',
    );
  }
}

// Snappy (pure JS) is registered in every thread that loads this module, for producing and for
// reading batches compressed with it; gzip is built into kafkajs. (These two are not named ESM
// exports of the CommonJS package.)
const { CompressionCodecs, CompressionTypes } = kafkajs;
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;

const COMPRESSION: Record<Config['kafka']['compression'], kafkajs.CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
};

/**
 * Idempotent producer, acks=all by every send. kafkajs requires unlimited retries for
 * idempotence; the back-off is capped so a broker that returns is used within seconds. Every
 * send and sendBatch compresses with KAFKA_COMPRESSION unless the call names its own.
 */
export function createIdempotentProducer(kafka: Kafka, compression: Config['kafka']['compression']): Producer {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 },
  });
  const type = COMPRESSION[compression];
  const send = producer.send.bind(producer);
  const sendBatch = producer.sendBatch.bind(producer);
  return Object.assign(producer, {
    send: (record: Parameters<Producer['send']>[0]) => send({ compression: type, ...record }),
    sendBatch: (batch: Parameters<Producer['sendBatch']>[0]) => sendBatch({ compression: type, ...batch }),
  });
}

/** An idempotent producer connected on first use, for components that may never send. */
export class LazyProducer {
  private producer?: Promise<Producer>;

  constructor(
    private readonly kafka: Kafka,
    private readonly compression: Config['kafka']['compression'],
  ) {}

  get(): Promise<Producer> {
    this.producer ??= (async () => {
      const p = createIdempotentProducer(this.kafka, this.compression);
      await p.connect();
      return p;
    })();
    return this.producer;
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p) await (await p).disconnect();
  }
}

/** Per partition of a topic, the first offset still held and the offset after the last message. */
export async function topicOffsets(admin: Admin, topic: string): Promise<Map<number, { low: number; high: number }>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
}

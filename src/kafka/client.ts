// kafkajs wiring: one factory for clients, topic creation at start, kafkajs logs routed to pino.
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, {
  Kafka,
  logLevel,
  type Admin,
  type ITopicConfig,
  type LogEntry,
  type Message,
  type Producer,
  type ProducerBatch,
  type ProducerRecord,
  type RecordMetadata,
  type TopicMessages,
} from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import type { Config } from '../config.ts';
import { childLog } from '../log.ts';
import { partitionerFor } from './partitioner.ts';
import { SerialByKey } from './serial.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const kafkaLog = childLog('kafkajs');
const producerLog = childLog('producer');
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

/**
 * Creates topics and waits until every partition has a leader. kafkajs's own wait
 * (waitForLeaders) fails at once when the broker it asks does not know the topic yet, which a
 * node of a cluster answers for a moment after the creation (or after its restart).
 */
export async function createTopicsWithLeaders(admin: Admin, topics: ITopicConfig[], timeoutMs = 60_000): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) }).catch(() => null);
    const led = meta?.topics.every((t) => t.partitions.length === (topics.find((x) => x.topic === t.name)?.numPartitions ?? t.partitions.length) && t.partitions.every((p) => p.leader >= 0));
    if (led) return;
    if (Date.now() > deadline) throw new Error(`${topics.map((t) => t.topic).join(', ')}: not every partition has a leader ${timeoutMs / 1000} s after creation; check the brokers' logs`);
    await sleep(250);
  }
}

/** Creates missing topics; existing ones are left as they are (their partition count is checked). */
export async function ensureTopics(admin: Admin, specs: ITopicConfig[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) await createTopicsWithLeaders(admin, missing);
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
 * One request per partition, so one leader per sendBatch call. kafkajs 2.2.4 re-sends a failed
 * request only to brokers that have not answered within the same call: a partition whose
 * leadership moved to a broker that already answered is dropped while the call reports success
 * (kafkajs #1303). With one partition per call there is only one broker to answer, before and
 * after a leader change. Calls for different partitions run concurrently; per partition the
 * caller keeps one call on the wire, so order holds.
 */
export function splitByPartition(topicMessages: TopicMessages[], partitionOf: (topic: string, key: Message['key']) => number): TopicMessages[] {
  const groups = new Map<string, TopicMessages>();
  for (const { topic, messages } of topicMessages) {
    for (const m of messages) {
      const partition = m.partition ?? partitionOf(topic, m.key);
      const id = `${partition}\0${topic}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { topic, messages: [] }));
      g.messages.push(m.partition === undefined ? { ...m, partition } : m);
    }
  }
  return [...groups.values()];
}

/** Where kafkajs's default partitioner puts a key, for segpipe's topics (their partition counts are configured). */
function configuredPartitioner(config: Config): (topic: string, key: Message['key']) => number {
  const byTopic = new Map(topicSpecs(config).map((t) => [t.topic, partitionerFor(t.numPartitions ?? 1)]));
  return (topic, key) => {
    const partitionOf = byTopic.get(topic);
    if (!partitionOf) throw new Error(`${topic} is not one of segpipe's configured topics; give each message sent to it a partition`);
    return partitionOf(topic, key ?? null);
  };
}

/**
 * Idempotent producer, acks=all by every send, one leader per request (splitByPartition) and one
 * unresolved request per partition (SerialByKey), so concurrent callers (the stream's batches
 * sending dead letters) cannot interleave on a partition. kafkajs requires unlimited retries for
 * idempotence; the back-off is capped at 1 s, so a partition is written again within a second of
 * its new leader's election. kafkajs gives up with KafkaJSLockTimeout when a request waits more
 * than 65 s for its broker (one request per broker at a time, each up to the request timeout,
 * while a broker hangs or too few replicas are in sync): nothing of that request was sent, so it
 * is sent again, and the producer blocks instead of failing. Every send and sendBatch compresses
 * with KAFKA_COMPRESSION unless the call names its own.
 */
export function createIdempotentProducer(kafka: Kafka, config: Config): Producer {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const type = COMPRESSION[config.kafka.compression];
  const partitionOf = configuredPartitioner(config);
  const sendBatch = producer.sendBatch.bind(producer);
  const serial = new SerialByKey();
  const sendPartition = async (batch: ProducerBatch): Promise<RecordMetadata[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await sendBatch(batch);
      } catch (err) {
        if (!(err instanceof kafkajs.KafkaJSLockTimeout)) throw err;
        producerLog.warn({ topic: batch.topicMessages?.[0]?.topic, attempt, err: err.message }, 'a broker kept a request waiting past the lock timeout; sending it again');
        await sleep(Math.min(1000, 100 * attempt));
      }
    }
  };
  const split = async ({ topicMessages = [], ...rest }: ProducerBatch): Promise<RecordMetadata[]> =>
    (
      await Promise.all(
        splitByPartition(topicMessages, partitionOf).map((tm) => serial.run(`${tm.messages[0]!.partition}\0${tm.topic}`, () => sendPartition({ compression: type, ...rest, topicMessages: [tm] }))),
      )
    ).flat();
  return Object.assign(producer, {
    send: ({ topic, messages, ...rest }: ProducerRecord) => split({ ...rest, topicMessages: [{ topic, messages }] }),
    sendBatch: split,
  });
}

/** An idempotent producer connected on first use, for components that may never send. */
export class LazyProducer {
  private producer?: Promise<Producer>;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: Config,
  ) {}

  get(): Promise<Producer> {
    this.producer ??= (async () => {
      const p = createIdempotentProducer(this.kafka, this.config);
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

/**
 * Per partition of a topic, the first offset still held and the offset after the last message.
 * kafkajs gives up at the first NOT_LEADER answer, which a broker gives for a moment after a
 * topic's creation or a leader's move; those retriable errors are retried here for a while.
 */
export async function topicOffsets(admin: Admin, topic: string, timeoutMs = 30_000): Promise<Map<number, { low: number; high: number }>> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
    } catch (err) {
      if (!(err instanceof kafkajs.KafkaJSError && err.retriable) || Date.now() + wait > deadline) throw err;
      await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined); // refreshes the leaders kafkajs asks
      await sleep(wait);
    }
  }
}

/** The broker's default max.message.bytes, when a topic's cannot be read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** A topic's max.message.bytes: the largest record batch the broker takes for it. */
export async function maxMessageBytes(admin: Admin, topic: string): Promise<number> {
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    const value = Number(resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    return Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES;
  } catch {
    return DEFAULT_MAX_MESSAGE_BYTES;
  }
}

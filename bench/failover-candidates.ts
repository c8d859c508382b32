// The Kafka clients compared in the failover benchmark, each behind the same small interface.
// segpipe's own producer and bare kafkajs always run; @confluentinc/kafka-javascript and
// @platformatic/kafka run when installed in BENCH_CANDIDATES_DIR (they are not segpipe
// dependencies; BENCHMARKS.md says how to install them).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { createIdempotentProducer } from '../src/kafka/client.ts';
import { loadConfig } from '../src/config.ts';
import type { Candidate, WireMessage } from './failover.ts';

const byTopic = (ms: WireMessage[]) => {
  const topics = new Map<string, WireMessage[]>();
  for (const m of ms) {
    let l = topics.get(m.topic);
    if (!l) topics.set(m.topic, (l = []));
    l.push(m);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
};

/** kafkajs 2.2.4 as segpipe configured it before: one sendBatch per batch. */
const bareKafkajs: Candidate = {
  name: 'kafkajs 2.2.4, one sendBatch',
  async connect(brokers) {
    const kafka = new Kafka({ brokers, clientId: 'bench-kafkajs', logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 5, retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 } });
    await p.connect();
    return { send: async (ms) => void (await p.sendBatch({ acks: -1, topicMessages: byTopic(ms) })), close: () => p.disconnect() };
  },
};

/** segpipe's producer: kafkajs with one request per partition (src/kafka/client.ts). */
const segpipe: Candidate = {
  name: 'segpipe (kafkajs 2.2.4, one request per partition)',
  async connect(brokers) {
    const config = loadConfig({ KAFKA_BROKERS: brokers.join(','), KAFKA_COMPRESSION: 'none', LOG_LEVEL: 'warn' });
    const p = createIdempotentProducer(new Kafka({ brokers, clientId: 'bench-segpipe', logLevel: logLevel.NOTHING }), config);
    await p.connect();
    return { send: async (ms) => void (await p.sendBatch({ acks: -1, topicMessages: byTopic(ms) })), close: () => p.disconnect() };
  },
};

type Loaded = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function load(pkg: string): Promise<Loaded | undefined> {
  const dir = process.env.BENCH_CANDIDATES_DIR;
  if (!dir || !fs.existsSync(path.join(dir, 'node_modules', pkg))) return undefined;
  const resolved = createRequire(path.join(path.resolve(dir), 'package.json')).resolve(pkg);
  return (await import(pathToFileURL(resolved).href)) as Loaded;
}

async function confluent(): Promise<Candidate | undefined> {
  const mod = await load('@confluentinc/kafka-javascript');
  if (!mod) return undefined;
  const { KafkaJS } = (mod.default ?? mod) as Loaded;
  return {
    name: '@confluentinc/kafka-javascript 1.10.1 (librdkafka)',
    async connect(brokers) {
      const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers, clientId: 'bench-confluent', logLevel: KafkaJS.logLevel.NOTHING } });
      const p = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 } });
      await p.connect();
      return { send: async (ms) => void (await p.sendBatch({ topicMessages: byTopic(ms) })), close: () => p.disconnect() };
    },
  };
}

async function platformatic(): Promise<Candidate | undefined> {
  const mod = await load('@platformatic/kafka');
  if (!mod) return undefined;
  const { Producer, ProduceAcks } = mod;
  return {
    name: '@platformatic/kafka 1.35.0 (the last for Node 20)',
    async connect(brokers) {
      const p = new Producer({ clientId: 'bench-platformatic', bootstrapBrokers: brokers, idempotent: true, acks: ProduceAcks.ALL });
      return {
        send: async (ms) => void (await p.send({ messages: ms.map((m) => ({ topic: m.topic, partition: m.partition, key: m.key, value: m.value })) })),
        close: () => p.close(),
      };
    },
  };
}

export async function failoverCandidates(): Promise<Candidate[]> {
  return [segpipe, bareKafkajs, ...[await confluent(), await platformatic()].filter((c): c is Candidate => c !== undefined)];
}

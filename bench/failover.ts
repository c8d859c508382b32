// Producer failover, client against client: each candidate sends the same numbered messages to a
// three-node KRaft cluster (replication factor 3, min.insync.replicas 2), one batch on the wire at
// a time, while the active controller (leading partitions of the topic) is SIGKILLed and
// restarted, twice. Afterwards the topic is read back: an acknowledged message that is not there
// is lost, one that is there twice is a duplicate. The stall of a kill is the time from the kill
// to the next acknowledgement.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { createTopicsWithLeaders } from '../src/kafka/client.ts';
import { KafkaCluster, activeControllerLeading } from '../src/stack/kafka.ts';
import { progress } from './env.ts';

export interface WireMessage {
  topic: string;
  partition: number;
  key: Buffer;
  value: Buffer;
}

export interface CandidateProducer {
  /** Resolves when every message is acknowledged by acks=all. */
  send(messages: WireMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface Candidate {
  name: string;
  connect(brokers: string[]): Promise<CandidateProducer>;
}

export interface FailoverResult {
  candidate: string;
  acked: number;
  eventsPerS: number;
  lost: number;
  duplicates: number;
  stallsS: number[];
  error?: string;
}

const PARTITIONS = 6;
/** A batch not acknowledged within this long counts as a stopped producer. */
const SEND_DEADLINE_MS = 120_000;

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no acknowledgement within ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
const BATCH = 5000;

function messages(topic: string, from: number, n: number): WireMessage[] {
  return Array.from({ length: n }, (_, j) => {
    const i = from + j;
    const value = Buffer.alloc(100, 0x2e);
    value.writeUInt32BE(i, 0);
    return { topic, partition: i % PARTITIONS, key: Buffer.from(`user-${i % 10_000}`), value };
  });
}

/** Every message of the topic, counted by its number. */
async function readBack(brokers: string[], topic: string, expected: number): Promise<Map<number, number>> {
  const kafka = new Kafka({ brokers, clientId: 'failover-check', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((a, o) => a + Number(o.high) - Number(o.low), 0);
  const seen = new Map<number, number>();
  const consumer = kafka.consumer({ groupId: `failover-check-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let read = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const id = m.value!.readUInt32BE(0);
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        read += batch.messages.length;
        if (read >= total) resolve();
      },
    });
  });
  await Promise.race([done, sleep(120_000)]);
  await consumer.disconnect();
  if (read < total) progress(`read back ${read} of ${total} messages (${expected} acknowledged)`);
  return seen;
}

/** Sends `total` messages, killing the controller after each share of `kills` and restarting it 5 s later. */
export async function failoverRun(cluster: KafkaCluster, candidate: Candidate, total: number, kills: number[]): Promise<FailoverResult> {
  const brokers = cluster.brokers;
  const topic = `failover-${candidate.name.replace(/[^a-z0-9]+/gi, '-')}-${Date.now().toString(36)}`;
  const admin = new Kafka({ brokers, clientId: 'failover-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await createTopicsWithLeaders(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }]);
  const producer = await candidate.connect(brokers);
  const killAt = kills.map((f) => Math.floor((f * total) / BATCH) * BATCH);
  const stallsS: number[] = [];
  const restarts: Promise<void>[] = [];
  let acked = 0;
  let error: string | undefined;
  const started = performance.now();
  try {
    for (let from = 0; from < total; from += BATCH) {
      let killedAt: number | undefined;
      if (killAt.includes(from)) {
        const { id: victim, epoch, leads } = await activeControllerLeading(cluster, admin, [topic]);
        progress(`${candidate.name}: SIGKILL of node ${victim} (quorum leader in epoch ${epoch}, leads ${leads} partition(s)) after ${acked} acknowledged`);
        await cluster.kill(victim);
        killedAt = performance.now();
        restarts.push(sleep(5000).then(() => cluster.restart(victim)));
      }
      await withDeadline(producer.send(messages(topic, from, Math.min(BATCH, total - from))), SEND_DEADLINE_MS);
      acked = Math.min(total, from + BATCH);
      if (killedAt !== undefined) stallsS.push(Math.round((performance.now() - killedAt) / 100) / 10);
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    progress(`${candidate.name}: send failed after ${acked} acknowledged: ${error}`);
  }
  const eventsPerS = Math.round(acked / ((performance.now() - started) / 1000));
  await producer.close().catch(() => undefined);
  await Promise.all(restarts);
  const seen = await readBack(brokers, topic, acked);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  let lost = 0;
  let duplicates = 0;
  for (let i = 0; i < acked; i++) {
    const n = seen.get(i) ?? 0;
    if (n === 0) lost++;
    else duplicates += n - 1;
  }
  return { candidate: candidate.name, acked, eventsPerS, lost, duplicates, stallsS, error };
}

/** A three-node cluster of its own under .local/bench, started for the run and stopped after. */
export async function withBenchCluster<T>(fn: (cluster: KafkaCluster) => Promise<T>): Promise<T> {
  const ports = [29292, 29294, 29296];
  const dirs = ports.map((p) => path.join('.local/bench', `failover-kafka-${p}`));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  const cluster = new KafkaCluster({ host: '127.0.0.1', ports, dirs, partitions: PARTITIONS, leaderImbalanceCheckS: 5 });
  await cluster.start(progress);
  try {
    return await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

const slug = (name: string) => name.split(' ')[0]!.replace(/^@/, '').replace(/[^a-z0-9]+/gi, '_').toLowerCase();

/** npm run bench -- failover: every candidate on one cluster, a clean run and a run with two kills. */
export async function benchFailover(): Promise<{ figures: Record<string, number>; notes: string[] }> {
  const { failoverCandidates } = await import('./failover-candidates.ts');
  const candidates = await failoverCandidates();
  const rows: { clean: FailoverResult; killed: FailoverResult }[] = [];
  await withBenchCluster(async (cluster) => {
    for (const c of candidates) {
      progress(`${c.name}: 300k messages, no kill`);
      const clean = await failoverRun(cluster, c, 300_000, []);
      progress(`${c.name}: 300k messages, the controller killed at 30 % and 65 %`);
      const killed = await failoverRun(cluster, c, 300_000, [0.3, 0.65]);
      progress(`${c.name}: ${clean.eventsPerS} events/s clean; ${killed.lost} lost, ${killed.duplicates} duplicates, stalls ${killed.stallsS.join(', ')} s`);
      rows.push({ clean, killed });
    }
  });
  const figures: Record<string, number> = {};
  for (const [i, { clean, killed }] of rows.entries()) {
    // segpipe's producer is the first candidate: its figures are the headline ones.
    const prefix = i === 0 ? 'failover' : `failover_${slug(clean.candidate)}`;
    figures[`${prefix}_acked_lost_events`] = killed.lost;
    figures[`${prefix}_duplicate_events`] = killed.duplicates;
    // A producer that never acknowledged again stalled for at least the deadline.
    figures[`${prefix}_stall_max_s`] = killed.error ? SEND_DEADLINE_MS / 1000 : Math.max(0, ...killed.stallsS);
    figures[`${prefix}_stopped`] = killed.error ? 1 : 0;
    figures[`${prefix}_clean_events_per_s`] = clean.eventsPerS;
  }
  const table = [
    '| client | lost of acknowledged (2 kills) | duplicates | stall per kill, s | events/s, no kill | events/s, with kills |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      ({ clean, killed }) =>
        `| ${clean.candidate} | ${killed.lost}${killed.error ? ` of ${killed.acked}, then stopped: ${killed.error}` : ''} | ${killed.duplicates} | ${killed.error ? `${[...killed.stallsS, `≥ ${SEND_DEADLINE_MS / 1000}`].join(', ')}` : killed.stallsS.join(', ')} | ${clean.eventsPerS} | ${killed.eventsPerS} |`,
    ),
  ];
  return {
    figures,
    notes: [
      'Three KRaft nodes on loopback (replication factor 3, min.insync.replicas 2), one topic of 6 partitions; 300k messages of 100 bytes in batches of 5000, one batch on the wire at a time, idempotent, acks=all. The active controller, leading partitions, is SIGKILLed at 30 % and 65 % and restarted 5 s later; then the topic is read back.',
      'Stall: from the kill to the next acknowledged batch. Every batch spans every partition, so it waits for the killed leader\'s partitions to be led again: the controller fences a dead broker after broker.session.timeout.ms (9 s by default).',
      `Candidates other than kafkajs run when installed in BENCH_CANDIDATES_DIR (\`mkdir -p .local/candidates && cd .local/candidates && npm init -y && CKJS_LINKING=dynamic npm i @confluentinc/kafka-javascript@1.10.1 @platformatic/kafka@1.35.0\`; the Confluent client builds librdkafka from source, about 2 min, after \`apt-get install zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev\`).`,
      '',
      ...table,
    ],
  };
}

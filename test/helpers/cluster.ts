// A three-node KRaft cluster (replication factor 3, min.insync.replicas 2) with its own Redis and
// Schema Registry, for the failover suite (npm run test:cluster). The suite kills and restarts
// single nodes; its ports and data are apart from the regular test stack's.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { KafkaCluster } from '../../src/stack/kafka.ts';
import { startStack, type Stack } from '../../src/stack/index.ts';
import type { Admin } from 'kafkajs';
import { TEST_ENV } from './env.ts';

const LOCAL_DIR = '.local/cluster';
const PORTS = [19192, 19194, 19196];

export const CLUSTER_ENV: Record<string, string> = {
  ...TEST_ENV,
  LOCAL_DIR,
  KAFKA_BROKERS: PORTS.map((p) => `127.0.0.1:${p}`).join(','),
  KAFKA_REPLICATION_FACTOR: '3',
  KAFKA_PARTITIONS: '6',
  KAFKA_CATALOG_PARTITIONS: '3',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18181',
  REDIS_URL: 'redis://127.0.0.1:16479',
};

export interface ClusterStack {
  cluster: KafkaCluster;
  stop(): Promise<void>;
}

/** Fresh data every time: the cluster, then Redis and the registry (the stack reuses the cluster). */
export async function startClusterStack(): Promise<ClusterStack> {
  const say = (m: string) => process.stderr.write(`[cluster] ${m}\n`);
  fs.rmSync(LOCAL_DIR, { recursive: true, force: true });
  // Leadership moves back to a restarted node's preferred partitions within seconds (Kafka's
  // default check is every 300 s), so each test starts from a balanced cluster and a quorum
  // leader that was restarted leads partitions again before the next kill.
  const cluster = new KafkaCluster({ host: '127.0.0.1', ports: PORTS, dirs: PORTS.map((p) => path.join(LOCAL_DIR, `kafka-${p}`)), partitions: 6, leaderImbalanceCheckS: 5 });
  await cluster.start(say);
  let stack: Stack;
  try {
    stack = await startStack(loadConfig({ ...process.env, ...CLUSTER_ENV }), { redisAppendonly: false, onProgress: say });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return {
    cluster,
    stop: async () => {
      await stack.stop();
      await cluster.stop();
    },
  };
}

/**
 * Waits until every node runs and every partition of the cluster is led by its preferred
 * replica (the first of its replicas): the state a test starts from, whatever ran before it.
 */
export async function balancedCluster(cluster: KafkaCluster, admin: Admin, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let off: string[] = ['(not read)'];
  for (;;) {
    const down = cluster.nodes.filter((n) => !n.proc).map((n) => n.id);
    if (down.length > 0) throw new Error(`Kafka node(s) ${down.join(', ')} not running at the start of a test`);
    const meta = await admin.fetchTopicMetadata({ topics: await admin.listTopics() }).catch(() => null);
    if (meta) {
      off = meta.topics.flatMap((t) => t.partitions.filter((p) => p.leader !== p.replicas[0]).map((p) => `${t.name}:${p.partitionId} led by ${p.leader}, preferred ${p.replicas[0]}`));
      if (off.length === 0 && cluster.quorumLeader()) return;
    }
    if (Date.now() > deadline) throw new Error(`the cluster did not balance within ${timeoutMs / 1000} s: ${off.slice(0, 5).join('; ')}${off.length > 5 ? ` and ${off.length - 5} more` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// A three-node KRaft cluster (replication factor 3, min.insync.replicas 2) with its own Redis and
// Schema Registry, for the failover suite (npm run test:cluster). The suite kills and restarts
// single nodes; its ports and data are apart from the regular test stack's.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { KafkaCluster } from '../../src/stack/kafka.ts';
import { startStack, type Stack } from '../../src/stack/index.ts';
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
  const cluster = new KafkaCluster({ host: '127.0.0.1', ports: PORTS, dirs: PORTS.map((p) => path.join(LOCAL_DIR, `kafka-${p}`)), partitions: 6 });
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

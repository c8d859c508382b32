// The local stack: Kafka, Schema Registry and Redis at the addresses the config names.
// Whatever already answers there is reused (and left running); whatever is missing and local is
// started under <LOCAL_DIR>/<service>/ and stopped again by stop().
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { kafkaReady, startKafka } from './kafka.ts';
import { isLocalHost } from './paths.ts';
import { StackError, isPortOpen, readLivePid, stopPid, type RunningProcess } from './process.ts';
import { redisReady, startRedis } from './redis.ts';
import { redactUrl } from '../redact.ts';
import { registryReady, startRegistry } from './registry.ts';

export interface ServiceState {
  name: 'Kafka' | 'Schema Registry' | 'Redis';
  address: string;
  state: 'started' | 'reused';
  logFile?: string;
}

export interface Stack {
  services: ServiceState[];
  stop(): Promise<void>;
}

export interface StackOptions {
  onProgress?: (msg: string) => void;
  /** Redis append-only file; on for the local stack, off in tests. */
  redisAppendonly?: boolean;
  /**
   * Kafka nodes to start where none answers: by default one per address in KAFKA_BROKERS; more
   * than that puts the others on the next free pair of ports (broker port + 2, + 4, ...).
   */
  kafkaBrokers?: number;
}

/** The local Kafka cluster to start: node ports and their directories under LOCAL_DIR. */
export function kafkaNodes(config: Config, count = config.kafka.brokers.length): { host: string; ports: number[]; dirs: string[] } {
  const listed = config.kafka.brokers.map(splitHostPort);
  const host = listed[0]!.host;
  const ports = Array.from({ length: Math.max(count, listed.length) }, (_, i) => listed[i]?.port ?? listed[0]!.port + 2 * i);
  const foreign = listed.find((e) => e.host !== host);
  if (foreign) throw new StackError('Kafka', foreign.port, undefined, `KAFKA_BROKERS names more than one host (${host}, ${foreign.host}); a local cluster runs on one`);
  return { host, ports, dirs: ports.map((port) => path.join(config.localDir, `kafka-${port}`)) };
}

interface Endpoint {
  host: string;
  port: number;
}

function splitHostPort(hostPort: string): Endpoint {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
}

function endpoints(config: Config): Record<ServiceState['name'], Endpoint> {
  const reg = new URL(config.registry.url);
  const redis = new URL(config.redis.url);
  return {
    Kafka: splitHostPort(config.kafka.brokers[0]!),
    'Schema Registry': { host: reg.hostname, port: Number(reg.port || (reg.protocol === 'https:' ? 443 : 80)) },
    Redis: { host: redis.hostname, port: Number(redis.port || 6379) },
  };
}

export async function startStack(config: Config, opts: StackOptions = {}): Promise<Stack> {
  const progress = opts.onProgress ?? (() => undefined);
  const ep = endpoints(config);
  const started: RunningProcess[] = [];
  const services: ServiceState[] = [];
  const stop = async () => {
    for (const p of started.splice(0).reverse()) {
      progress(`stopping ${p.service} (pid ${p.pid})`);
      await stopPid(p.pid, p.pidFile);
    }
  };

  const ensure = async (
    name: ServiceState['name'],
    address: string,
    ready: () => Promise<boolean>,
    start: (e: Endpoint, dir: string) => Promise<RunningProcess | RunningProcess[]>,
  ) => {
    const e = ep[name];
    if (await ready().catch(() => false)) {
      services.push({ name, address, state: 'reused' });
      progress(`${name} already answers at ${address}; reusing it`);
      return;
    }
    if (!isLocalHost(e.host)) {
      throw new StackError(name, e.port, undefined, `${address} does not answer and is not local, so it cannot be started here; check the address`);
    }
    if (await isPortOpen(e.port, e.host)) {
      throw new StackError(name, e.port, undefined, `port ${e.port} is taken by something that is not ${name}; free it or configure another address`);
    }
    const dir = path.join(config.localDir, `${name.toLowerCase().replace(/\s+/g, '-')}-${e.port}`);
    fs.mkdirSync(dir, { recursive: true });
    const procs = [await start(e, dir)].flat();
    started.push(...procs);
    services.push({ name, address, state: 'started', logFile: procs[0]!.logFile });
  };

  try {
    // Start in parallel where there is no dependency: Redis and Kafka; the registry may need Kafka.
    // allSettled, not all: when one fails, the other may still be starting, and stop() below must
    // see what it started, or a redis-server is left running with no parent.
    await settledOrFirstError([
      ensure('Redis', redactUrl(config.redis.url), () => redisReady(config.redis.url), (e, dir) =>
        startRedis({ ...e, dir, appendonly: opts.redisAppendonly ?? config.redis.appendonly, password: decodeURIComponent(new URL(config.redis.url).password) || undefined }, progress),
      ),
      (async () => {
        const nodes = kafkaNodes(config, opts.kafkaBrokers);
        const address = nodes.ports.map((p) => `${nodes.host}:${p}`).join(',');
        await ensure('Kafka', address, () => kafkaReady(config.kafka.brokers[0]!, nodes.ports.length), () =>
          startKafka({ ...nodes, partitions: config.kafka.partitions }, progress),
        );
      })(),
    ]);
    await ensure('Schema Registry', redactUrl(config.registry.url), () => registryReady(config.registry.url), (e, dir) =>
      startRegistry({ ...e, dir, kafkaBrokers: config.kafka.brokers }, progress),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { services, stop };
}

/** Waits for every promise; then throws the first rejection, if any. */
async function settledOrFirstError(all: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(all)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Stops services an earlier `start` left behind (its pid files under LOCAL_DIR). */
export async function stopLeftovers(config: Config, onProgress: (msg: string) => void = () => undefined): Promise<number> {
  if (!fs.existsSync(config.localDir)) return 0;
  let stopped = 0;
  // Registry first (it may depend on Kafka), then Kafka, then Redis.
  const order = ['schema-registry', 'kafka', 'redis'];
  const dirs = fs
    .readdirSync(config.localDir)
    .filter((d) => order.some((o) => d.startsWith(`${o}-`)))
    .sort((a, b) => order.findIndex((o) => a.startsWith(o)) - order.findIndex((o) => b.startsWith(o)));
  for (const d of dirs) {
    for (const f of fs.readdirSync(path.join(config.localDir, d)).filter((x) => x.endsWith('.pid'))) {
      const pidFile = path.join(config.localDir, d, f);
      const pid = readLivePid(pidFile);
      if (pid === undefined) {
        fs.rmSync(pidFile, { force: true });
        continue;
      }
      onProgress(`stopping ${d} (pid ${pid})`);
      await stopPid(pid, pidFile);
      stopped++;
    }
  }
  return stopped;
}

// Local KRaft brokers (combined broker + controller, one node or a quorum of several) from the
// Apache Kafka jars on Maven Central.
// The jars are resolved once with `mvn` into the cache dir; nothing binary lives in the repo.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { StackError, spawnService, stopPid, waitUntilReady, type RunningProcess } from './process.ts';
import { cacheDir } from './paths.ts';

export const KAFKA_VERSION = '4.1.1';
const POM = path.join(import.meta.dirname, 'kafka', 'pom.xml');

export async function resolveKafkaJars(onProgress: (msg: string) => void): Promise<string> {
  const libs = path.join(cacheDir(), `kafka-${KAFKA_VERSION}`, 'libs');
  const marker = path.join(libs, '.complete');
  if (fs.existsSync(marker)) return libs;
  onProgress(`resolving Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${libs} (first run only)`);
  try {
    await promisify(execFile)(
      'mvn',
      ['-q', '-B', '-f', POM, `-Dkafka.version=${KAFKA_VERSION}`, 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'],
      { maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('Kafka: `mvn` not found. Install Java 17 and Maven (Debian: apt-get install -y openjdk-17-jre-headless maven), or set KAFKA_BROKERS to an existing broker.');
    }
    throw new Error(`Kafka: resolving jars with mvn failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  fs.writeFileSync(marker, KAFKA_VERSION);
  return libs;
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
`;

export interface KafkaStartOptions {
  host: string;
  /** Broker ports, one node each; a node's controller listens on its broker port + 1. */
  ports: number[];
  /** Node directories, one per port (data, server.properties, log, pid file). */
  dirs: string[];
  partitions: number;
  heapMb?: number;
}

/** One KRaft node (combined broker + controller) of a local cluster. */
export interface KafkaNode {
  id: number;
  port: number;
  dir: string;
  /** Set while the node runs. */
  proc?: RunningProcess;
}

function java(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function jvmArgs(libs: string, dir: string, heapMb: number): string[] {
  return [
    `-Xms256m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(dir, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${dir}`,
    '-cp',
    `${libs}/*`,
  ];
}

/** server.properties of node `id` in a quorum of every node; internal topics replicated up to 3 times. */
function nodeProperties(opts: KafkaStartOptions, id: number): string {
  const n = opts.ports.length;
  const port = opts.ports[id - 1]!;
  const voters = opts.ports.map((p, i) => `${i + 1}@${opts.host}:${p + 1}`).join(',');
  const rf = Math.min(3, n);
  const minIsr = Math.max(1, rf - 1);
  return [
    'process.roles=broker,controller',
    `node.id=${id}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${opts.host}:${port},CONTROLLER://${opts.host}:${port + 1}`,
    `advertised.listeners=PLAINTEXT://${opts.host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${path.join(opts.dirs[id - 1]!, 'data')}`,
    `num.partitions=${opts.partitions}`,
    `default.replication.factor=${rf}`,
    // With three replicas an acknowledged write (acks=all) is on at least two brokers.
    `min.insync.replicas=${minIsr}`,
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=10',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'unclean.leader.election.enable=false',
    'log.retention.hours=168',
    '',
  ].join('\n');
}

/** Marker of the quorum a node's storage was formatted for: a node cannot join another one. */
const QUORUM_FILE = 'segpipe-quorum';

/**
 * A local KRaft cluster of `ports.length` nodes from the cached jars, one quorum, one cluster
 * id. Tests kill and restart single nodes with kill() and restart().
 */
export class KafkaCluster {
  readonly nodes: KafkaNode[];
  private libs = '';

  constructor(private readonly opts: KafkaStartOptions) {
    if (opts.ports.length !== opts.dirs.length || opts.ports.length === 0) throw new Error('KafkaCluster: one directory per port, at least one node');
    const taken = new Set(opts.ports);
    const clash = opts.ports.find((p) => taken.has(p + 1));
    if (clash !== undefined) {
      throw new StackError('Kafka', clash, undefined, `port ${clash + 1} is both a broker port and node ${clash}'s controller port (broker port + 1); space the broker ports at least 2 apart`);
    }
    this.nodes = opts.ports.map((port, i) => ({ id: i + 1, port, dir: opts.dirs[i]! }));
  }

  /** host:port of every node, for KAFKA_BROKERS. */
  get brokers(): string[] {
    return this.nodes.map((n) => `${this.opts.host}:${n.port}`);
  }

  node(id: number): KafkaNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no Kafka node ${id} in this cluster`);
    return node;
  }

  async start(onProgress: (msg: string) => void): Promise<RunningProcess[]> {
    this.libs = await resolveKafkaJars(onProgress);
    await this.format();
    const n = this.nodes.length;
    onProgress(`starting Kafka ${KAFKA_VERSION} (KRaft, ${n === 1 ? 'one node' : `${n} nodes`}) on ${this.brokers.join(', ')}`);
    // Every voter at once: none is ready before a quorum of them runs.
    for (const node of this.nodes) this.spawn(node);
    try {
      await Promise.all(this.nodes.map((node) => waitUntilReady(node.proc!, () => kafkaReady(this.brokers[node.id - 1]!, n), 120_000)));
      // A new cluster creates __consumer_offsets on the first group request and answers
      // "coordinator loading" meanwhile; do that once here so the first consumers join cleanly.
      await waitUntilReady(this.nodes[0]!.proc!, () => groupCoordinatorReady(this.brokers), 90_000);
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this.nodes.map((node) => node.proc!);
  }

  /** SIGKILL of one node; resolves once the process has gone. */
  async kill(id: number): Promise<void> {
    const node = this.node(id);
    const proc = node.proc;
    if (!proc) return;
    node.proc = undefined;
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await proc.exited;
    fs.rmSync(proc.pidFile, { force: true });
  }

  /** Starts a killed node again and waits until the cluster lists it as a broker. */
  async restart(id: number): Promise<void> {
    const node = this.node(id);
    if (node.proc) return;
    this.spawn(node);
    await waitUntilReady(node.proc!, () => brokerRegistered(this.brokers, id), 120_000);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const proc = node.proc;
        node.proc = undefined;
        if (proc) await stopPid(proc.pid, proc.pidFile);
      }),
    );
  }

  private async format(): Promise<void> {
    const quorum = this.brokers.join(',');
    const unformatted = this.nodes.filter((node) => !fs.existsSync(path.join(node.dir, 'data', 'meta.properties')));
    for (const node of this.nodes.filter((x) => !unformatted.includes(x))) {
      const was = fs.existsSync(path.join(node.dir, QUORUM_FILE)) ? fs.readFileSync(path.join(node.dir, QUORUM_FILE), 'utf8').trim() : this.brokers[0];
      if (was !== quorum) {
        throw new StackError('Kafka', node.port, undefined, `${node.dir} holds a node of the cluster ${was}, not of ${quorum}; remove that directory to start afresh, or start the same brokers as before`);
      }
    }
    if (unformatted.length > 0 && unformatted.length < this.nodes.length) {
      throw new StackError('Kafka', unformatted[0]!.port, undefined, `some nodes of ${quorum} have storage and some do not; remove ${this.nodes.map((x) => x.dir).join(' ')} to start afresh`);
    }
    const clusterId = crypto.randomBytes(16).toString('base64url');
    for (const node of this.nodes) {
      fs.mkdirSync(path.join(node.dir, 'data'), { recursive: true });
      fs.writeFileSync(path.join(node.dir, 'server.properties'), nodeProperties(this.opts, node.id));
      fs.writeFileSync(path.join(node.dir, 'log4j2.properties'), LOG4J2);
      if (!unformatted.includes(node)) continue;
      try {
        await promisify(execFile)(java(), [...jvmArgs(this.libs, node.dir, 256), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, `--config=${path.join(node.dir, 'server.properties')}`]);
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === 'ENOENT') throw new StackError('Kafka', node.port, undefined, 'java not found: install Java 17 (Debian: apt-get install -y openjdk-17-jre-headless)');
        throw new StackError('Kafka', node.port, undefined, `formatting the KRaft storage failed: ${e.stderr ?? e.message}`);
      }
      fs.writeFileSync(path.join(node.dir, QUORUM_FILE), `${quorum}\n`);
    }
  }

  private spawn(node: KafkaNode): void {
    node.proc = spawnService({
      service: this.nodes.length === 1 ? 'Kafka' : `Kafka node ${node.id}`,
      port: node.port,
      command: java(),
      args: [...jvmArgs(this.libs, node.dir, this.opts.heapMb ?? (this.nodes.length === 1 ? 1024 : 512)), 'kafka.Kafka', path.join(node.dir, 'server.properties')],
      logFile: path.join(node.dir, 'kafka.log'),
      pidFile: path.join(node.dir, 'kafka.pid'),
    });
  }
}

/** Starts every node of a local cluster; resolves with their processes once all are ready. */
export async function startKafka(opts: KafkaStartOptions, onProgress: (msg: string) => void): Promise<RunningProcess[]> {
  return new KafkaCluster(opts).start(onProgress);
}

/** A short-lived admin client of the stack's own probes, disconnected after `fn`. */
async function withProbe<T>(brokers: string[], retries: number, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ brokers, clientId: 'segpipe-stack-probe', logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries } }).admin();
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function groupCoordinatorReady(brokers: string[]): Promise<boolean> {
  // With retries the first FindCoordinator makes the broker create the offsets topic.
  return withProbe(brokers, 5, async (admin) => (await admin.describeGroups(['segpipe-stack-probe'])).groups.length === 1);
}

/** True when the broker answers metadata, sees `brokers` brokers and an active controller. */
export async function kafkaReady(broker: string, brokers = 1): Promise<boolean> {
  return withProbe([broker], 0, async (admin) => {
    const cluster = await admin.describeCluster();
    return cluster.brokers.length >= brokers && cluster.controller !== null;
  });
}

async function brokerRegistered(brokers: string[], id: number): Promise<boolean> {
  return withProbe(brokers, 0, async (admin) => (await admin.describeCluster()).brokers.some((b) => b.nodeId === id));
}

/** The node a failover test kills: the active controller if it leads partitions of `topics`, else the node leading most. */
export async function controllerLeadingMost(admin: Admin, topics: string[]): Promise<number> {
  const [{ controller }, meta] = await Promise.all([admin.describeCluster(), admin.fetchTopicMetadata({ topics })]);
  const leads = new Map<number, number>();
  for (const t of meta.topics) for (const p of t.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  if (controller !== null && (leads.get(controller) ?? 0) > 0) return controller;
  return [...leads].sort((a, b) => b[1] - a[1])[0]![0];
}

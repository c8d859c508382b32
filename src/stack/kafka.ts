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
  /**
   * leader.imbalance.check.interval.seconds (Kafka's default 300): how soon the controller moves
   * partition leadership back to the preferred replicas after a node restarts. The failover
   * suite sets it low, so a restarted node leads its partitions again within seconds.
   */
  leaderImbalanceCheckS?: number;
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
    ...(opts.leaderImbalanceCheckS !== undefined ? [`leader.imbalance.check.interval.seconds=${opts.leaderImbalanceCheckS}`] : []),
    '',
  ].join('\n');
}

/** A KRaft node's election state as it last persisted it (`__cluster_metadata-0/quorum-state`). */
export interface QuorumState {
  /** The leader it knows of in `leaderEpoch`, or -1 (an election under way, or no leader known yet). */
  leaderId: number;
  leaderEpoch: number;
}

/**
 * Reads a node's `quorum-state` file. KRaft rewrites it (write, then rename) on its durable
 * transitions: becoming candidate or leader, voting, moving to a new epoch (Kafka 4.1's
 * QuorumState; the pre-vote and resigned states are kept in memory only). So a leader's own file
 * names itself at its epoch for as long as it leads, and a killed node's file tells what it was
 * when it died. A follower's file can lag: one that voted in an epoch may not name the leader it
 * then learnt (-1), and a node just restarted can still name an older epoch's leader.
 */
export function readQuorumState(dataDir: string): QuorumState | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, '__cluster_metadata-0', 'quorum-state'), 'utf8');
  } catch {
    return null;
  }
  const j = JSON.parse(text) as { leaderId?: number; leaderEpoch?: number };
  return { leaderId: j.leaderId ?? -1, leaderEpoch: j.leaderEpoch ?? -1 };
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

  /** A node's persisted election state (also of a node that is not running: what it was when it died). */
  quorumState(id: number): QuorumState | null {
    return readQuorumState(path.join(this.node(id).dir, 'data'));
  }

  /**
   * The active controller (the KRaft quorum leader) as the running nodes' own files tell it: the
   * leader of the highest epoch any running node knows, if that node runs and its own file says
   * it leads that epoch; null during an election (or when no running node's file says so).
   * kafkajs's describeCluster().controller is not this: in KRaft it names a random live broker.
   */
  quorumLeader(): { id: number; epoch: number } | null {
    const running = this.nodes.filter((n) => n.proc);
    const states = running.map((n) => this.quorumState(n.id)).filter((q): q is QuorumState => q !== null);
    if (states.length === 0) return null;
    const epoch = Math.max(...states.map((q) => q.leaderEpoch));
    // A follower may hold the epoch it voted in without the leader it then learnt (-1): only
    // the ones naming a leader count, and they must agree.
    const named = new Set(states.filter((q) => q.leaderEpoch === epoch && q.leaderId >= 0).map((q) => q.leaderId));
    if (named.size !== 1) return null;
    const [id] = named as Set<number>;
    if (!running.some((n) => n.id === id)) return null;
    const own = this.quorumState(id!);
    if (!own || own.leaderId !== id || own.leaderEpoch !== epoch) return null;
    return { id: id!, epoch };
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

/** Partitions of `topics` each node leads, by node id (nodes leading none are absent). */
export async function partitionsLed(admin: Admin, topics: string[]): Promise<Map<number, number>> {
  const meta = await admin.fetchTopicMetadata({ topics });
  const leads = new Map<number, number>();
  for (const t of meta.topics) for (const p of t.partitions) if (p.leader >= 0) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  return leads;
}

/** What a failover test kills: the KRaft quorum leader, at an epoch, while it leads `leads` partitions of the topics. */
export interface ControllerVictim {
  id: number;
  epoch: number;
  leads: number;
}

/**
 * Waits until the active controller (the quorum leader) leads partitions of `topics`, and returns
 * it. A node restarted after a kill leads nothing until the controller moves its preferred
 * partitions back to it (leader.imbalance.check.interval.seconds); if it is the quorum leader by
 * then, this waits for that. Throws after `timeoutMs`.
 */
export async function activeControllerLeading(cluster: KafkaCluster, admin: Admin, topics: string[], timeoutMs = 60_000): Promise<ControllerVictim> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no quorum leader';
  for (;;) {
    const leader = cluster.quorumLeader();
    if (leader) {
      const leads = (await partitionsLed(admin, topics).catch(() => new Map<number, number>())).get(leader.id) ?? 0;
      // Still the same leader at the same epoch after the metadata call.
      const now = cluster.quorumLeader();
      if (leads > 0 && now?.id === leader.id && now.epoch === leader.epoch) return { ...leader, leads };
      last = `quorum leader node ${leader.id} (epoch ${leader.epoch}) leads ${leads} partition(s) of ${topics.join(', ')}`;
    }
    if (Date.now() > deadline) throw new Error(`no active controller leading partitions within ${timeoutMs / 1000} s: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the running nodes elect a quorum leader other than `victim` in an epoch after `epoch`. */
export async function newQuorumLeader(cluster: KafkaCluster, victim: number, epoch: number, timeoutMs = 60_000): Promise<{ id: number; epoch: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = cluster.quorumLeader();
    if (leader && leader.id !== victim && leader.epoch > epoch) return leader;
    if (Date.now() > deadline) throw new Error(`no quorum leader after node ${victim} (epoch ${epoch}) within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

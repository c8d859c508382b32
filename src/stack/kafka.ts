// Single-node KRaft broker (combined broker + controller) from the Apache Kafka jars on Maven Central.
// The jars are resolved once with `mvn` into the cache dir; nothing binary lives in the repo.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { StackError, spawnService, waitUntilReady, type RunningProcess } from './process.ts';
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
  port: number;
  dir: string;
  partitions: number;
  heapMb?: number;
}

export async function startKafka(opts: KafkaStartOptions, onProgress: (msg: string) => void): Promise<RunningProcess> {
  const libs = await resolveKafkaJars(onProgress);
  const controllerPort = opts.port + 1;
  const dataDir = path.join(opts.dir, 'data');
  const logFile = path.join(opts.dir, 'kafka.log');
  fs.mkdirSync(dataDir, { recursive: true });
  const props = path.join(opts.dir, 'server.properties');
  fs.writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${opts.host}:${controllerPort}`,
      `listeners=PLAINTEXT://${opts.host}:${opts.port},CONTROLLER://${opts.host}:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://${opts.host}:${opts.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      `num.partitions=${opts.partitions}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'log.retention.hours=168',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(opts.dir, 'log4j2.properties'), LOG4J2);
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const jvm = [
    `-Xms256m`,
    `-Xmx${opts.heapMb ?? 1024}m`,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(opts.dir, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${opts.dir}`,
    '-cp',
    `${libs}/*`,
  ];

  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    const clusterId = crypto.randomBytes(16).toString('base64url');
    try {
      await promisify(execFile)(java, [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, `--config=${props}`]);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new StackError('Kafka', opts.port, undefined, 'java not found: install Java 17 (Debian: apt-get install -y openjdk-17-jre-headless)');
      throw new StackError('Kafka', opts.port, undefined, `formatting the KRaft storage failed: ${e.stderr ?? e.message}`);
    }
  }

  onProgress(`starting Kafka ${KAFKA_VERSION} (KRaft) on ${opts.host}:${opts.port}`);
  const proc = spawnService({
    service: 'Kafka',
    port: opts.port,
    command: java,
    args: [...jvm, 'kafka.Kafka', props],
    logFile,
    pidFile: path.join(opts.dir, 'kafka.pid'),
  });
  await waitUntilReady(proc, () => kafkaReady(`${opts.host}:${opts.port}`), 90_000);
  // A new broker creates __consumer_offsets on the first group request and answers
  // "coordinator loading" meanwhile; do that once here so the first consumers join cleanly.
  await waitUntilReady(proc, () => groupCoordinatorReady(`${opts.host}:${opts.port}`), 60_000);
  return proc;
}

async function groupCoordinatorReady(broker: string): Promise<boolean> {
  // With retries the first FindCoordinator makes the broker create the offsets topic.
  const admin = new Kafka({ brokers: [broker], clientId: 'segpipe-stack-probe', logLevel: logLevel.NOTHING, retry: { retries: 5 } }).admin();
  try {
    await admin.connect();
    const { groups } = await admin.describeGroups(['segpipe-stack-probe']);
    return groups.length === 1;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True when the broker answers metadata and has an active controller. */
export async function kafkaReady(broker: string): Promise<boolean> {
  const admin = new Kafka({
    brokers: [broker],
    clientId: 'segpipe-stack-probe',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

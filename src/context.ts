// The connections a role needs, opened once per process and closed in reverse order.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { EVENT_NAMES, type Config, type EventName } from './config.ts';
import { createKafka, ensureTopics, topicSpecs } from './kafka/client.ts';
import { SchemaRegistryClient } from './registry/client.ts';
import { AvroSerde } from './registry/serde.ts';
import { QUEUES, QUEUE_PREFIX, type QueueName } from '../queues/names.ts';
import { childLog } from './log.ts';

const queueLog = childLog('queues');

/** BullMQ needs blocking-safe connections: no per-request retry limit. */
export const bullConnection = (url: string, extra: RedisOptions = {}): Redis =>
  new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra });

export class AppContext {
  readonly kafka: Kafka;
  readonly registry: SchemaRegistryClient;
  readonly serde: AvroSerde;
  /** General-purpose connection (state scripts, status); BullMQ gets its own. */
  readonly redis: Redis;
  /** Fails fast while Redis is away instead of queueing: what a health probe needs. */
  readonly redisProbe: Redis;
  readonly queueConnection: Redis;
  readonly queues: Record<QueueName, Queue>;
  private adminClient?: Promise<Admin>;
  private readonly events = new Map<QueueName, QueueEvents>();
  private readonly closers: Array<() => Promise<unknown>> = [];

  constructor(readonly config: Config) {
    this.kafka = createKafka(config);
    this.registry = new SchemaRegistryClient(config.registry.url);
    this.serde = new AvroSerde(this.registry);
    this.redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
    this.redisProbe = new Redis(config.redis.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    for (const c of [this.redis, this.redisProbe]) c.on('error', () => undefined);
    this.queueConnection = bullConnection(config.redis.url);
    this.queueConnection.on('error', () => undefined);
    this.queues = Object.fromEntries(
      Object.values(QUEUES).map((name) => [name, new Queue(name, { connection: this.queueConnection, prefix: QUEUE_PREFIX })]),
    ) as Record<QueueName, Queue>;
    // Connection loss shows in /health; per-queue errors would only repeat it.
    for (const q of Object.values(this.queues)) q.on('error', (err) => queueLog.debug({ queue: q.name, err: err.message }, 'queue error'));
    this.onClose(async () => {
      await Promise.all(Object.values(this.queues).map((q) => q.close()));
      this.queueConnection.disconnect();
      this.redis.disconnect();
      this.redisProbe.disconnect();
    });
  }

  admin(): Promise<Admin> {
    this.adminClient ??= (async () => {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
      } catch (err) {
        this.adminClient = undefined; // retry on the next call instead of caching the failure
        throw err;
      }
      this.onClose(() => admin.disconnect());
      return admin;
    })();
    return this.adminClient;
  }

  /** Completion events of a queue (for waiting on a job's result); one connection per queue. */
  queueEvents(name: QueueName): QueueEvents {
    let ev = this.events.get(name);
    if (!ev) {
      ev = new QueueEvents(name, { connection: bullConnection(this.config.redis.url), prefix: QUEUE_PREFIX });
      ev.on('error', (err) => queueLog.debug({ queue: name, err: err.message }, 'queue events error'));
      this.events.set(name, ev);
      const e = ev;
      this.onClose(() => e.close());
    }
    return ev;
  }

  /** Topic name for an event schema file (schemas/<event_name>.avsc). */
  topicOf = (schemaName: string): string | undefined =>
    (EVENT_NAMES as readonly string[]).includes(schemaName) ? this.config.topics[schemaName as EventName] : undefined;

  /** Creates missing topics and registers every schema; idempotent, run by each role at start. */
  async prepare(): Promise<void> {
    await ensureTopics(await this.admin(), topicSpecs(this.config));
    await this.serde.registerAll(this.topicOf, this.config.registry.compatibility);
  }

  onClose(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0).reverse()) await fn().catch(() => undefined);
  }
}

/** ADMIN_TOKEN, or a token generated once and kept (mode 600) under the local dir. */
export function resolveAdminToken(config: Config): string {
  if (config.api.adminToken) return config.api.adminToken;
  const file = path.join(config.localDir, 'admin-token');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const token = crypto.randomBytes(24).toString('base64url');
    fs.mkdirSync(config.localDir, { recursive: true });
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    return token;
  }
}

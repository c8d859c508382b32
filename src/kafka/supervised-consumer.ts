// A consumer group member that keeps running. kafkajs restarts a crashed consumer by itself only
// after an error it classes as retriable; anything else thrown from a batch (Redis unreachable
// for a moment, a request the broker refuses) disconnects it for good while the process looks
// alive. This starts a new consumer after such a crash, with back-off, and reports what the
// member is doing to Redis (liveness.ts), so /health on any process can tell.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import type { Consumer, ConsumerConfig, ConsumerRunConfig, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { childLog } from '../log.ts';
import { REPORT_EVERY_MS, REPORT_STALE_MS, livenessKey, type ConsumerRole, type MemberReport } from './liveness.ts';

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

export interface SupervisedConsumerOptions {
  role: ConsumerRole;
  config: ConsumerConfig;
  topics: string[];
  /** Run options; eachBatch should call progress() after each batch it finished. */
  run: ConsumerRunConfig;
  /** Awaited before each consumer runs, the first and each after a crash: re-read what may have changed (a topic's limits). */
  beforeRun?: () => Promise<void>;
  /** Called with each new consumer once it runs (after a restart too): re-apply pauses and the like. */
  onRun?: (consumer: Consumer) => void;
}

export class SupervisedConsumer {
  /** The running consumer; a restart replaces it. */
  consumer?: Consumer;
  readonly member = `${os.hostname()}:${process.pid}:${threadId}:${randomBytes(3).toString('hex')}`;
  private readonly log;
  private report: MemberReport;
  private stopped = false;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  /** A relaunch under way, so stop() can wait for it instead of racing it. */
  private relaunching?: Promise<void>;

  constructor(
    private readonly kafka: Kafka,
    private readonly redis: Redis,
    private readonly opts: SupervisedConsumerOptions,
  ) {
    this.log = childLog(opts.role);
    const now = Date.now();
    this.report = { groupId: opts.config.groupId, state: 'running', at: now, progressAt: now, restarts: 0, assigned: {} };
  }

  async start(): Promise<void> {
    await this.launch();
    this.timer = setInterval(() => void this.publish(), REPORT_EVERY_MS);
    this.timer.unref();
    await this.publish();
  }

  /** A batch finished: the member is making progress, and a later crash starts its back-off afresh. */
  progress(): void {
    this.report.progressAt = Date.now();
    this.failures = 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.restartTimer);
    await this.relaunching;
    await this.consumer?.disconnect();
    await this.redis.hdel(livenessKey(this.opts.role), this.member).catch(() => undefined);
  }

  private async launch(): Promise<void> {
    const consumer = this.kafka.consumer(this.opts.config);
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.report.assigned = payload.memberAssignment as Record<string, number[]>;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // restart: kafkajs starts this consumer again itself.
      if (payload.restart || this.stopped || this.consumer !== consumer) return;
      this.crashed(payload.error);
    });
    try {
      await this.opts.beforeRun?.();
      await consumer.connect();
      await consumer.subscribe({ topics: this.opts.topics, fromBeginning: true });
      await consumer.run(this.opts.run);
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    try {
      this.opts.onRun?.(consumer);
    } catch (err) {
      // kafkajs may have crashed it while it started (a failed join): that crash restarts it.
      this.log.warn({ err: (err as Error).message }, `the ${this.opts.role} consumer's start-up hook failed`);
    }
  }

  private crashed(err: Error): void {
    // One restart at a time, and none after stop().
    if (this.stopped || this.restartTimer) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.failures);
    this.failures++;
    this.report = { ...this.report, state: 'restarting', restarts: this.report.restarts + 1, lastError: `${err.name}: ${err.message}`, assigned: {} };
    this.log.error({ err: err.message, name: err.name, restartInMs: delay, restarts: this.report.restarts }, `the ${this.opts.role} consumer crashed; starting a new one after back-off`);
    void this.publish();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      const restarts = this.report.restarts;
      this.relaunching = this.launch().then(
        async () => {
          if (this.stopped) return void (await this.consumer?.disconnect().catch(() => undefined));
          // It crashed again while starting (kafkajs reports a failed join that way): that crash restarts it.
          if (this.report.restarts !== restarts) return;
          this.report = { ...this.report, state: 'running', progressAt: Date.now() };
          void this.publish();
          this.log.info({ restarts }, `the ${this.opts.role} consumer runs again`);
        },
        (e: Error) => this.crashed(e),
      );
    }, delay);
  }

  private async publish(): Promise<void> {
    if (this.stopped) return;
    this.report.at = Date.now();
    const key = livenessKey(this.opts.role);
    try {
      await this.redis.hset(key, this.member, JSON.stringify(this.report));
      // Members that stopped reporting long ago (killed processes) go, so the hash stays small.
      const all = await this.redis.hgetall(key);
      const gone = Object.entries(all).filter(([, v]) => Date.now() - (JSON.parse(v) as MemberReport).at > 30 * REPORT_STALE_MS).map(([m]) => m);
      if (gone.length) await this.redis.hdel(key, ...gone);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'liveness report not written');
    }
  }
}

// The stream role: a consumer group over every event topic, one batch of one partition at a
// time. Per batch (DESIGN.md, the exactly-once rule):
//   1. decode and validate every message; what fails goes to the dead-letter topic;
//   2. one Lua call applies the offset guard, appends rows to the table's outbox stream and
//      stores the batch's last offset, atomically;
//   3. only then is the Kafka offset committed.
// A crash anywhere replays from the last committed offset; the guard makes the replay a no-op.
import type { Consumer, EachBatchPayload, Producer } from 'kafkajs';
import { EVENT_NAMES, type EventName } from '../config.ts';
import type { AppContext } from '../context.ts';
import { createIdempotentProducer, maxMessageBytes } from '../kafka/client.ts';
import { sendDeadLetters, type DeadLetter } from '../kafka/dead-letters.ts';
import { childLog } from '../log.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';
import { MessageDecodeError } from '../registry/errors.ts';
import { applyBatch, shardKeys, type BatchApply } from '../state/scripts.ts';
import { REGISTRATION_WINDOWS, finalWindowKeys, watermark } from '../windows/window.ts';
import { rawTables } from '../warehouse/tables.ts';
import { InvalidEventError, parseEventTime, toRow } from './transform.ts';

const log = childLog('stream');

/** The state change an event makes besides its raw row (see applyBatch-9.lua). */
export function stateOp(event: EventName, value: Record<string, unknown>, t: number): string {
  if (event === 'consumer_registration') return `R ${String(value.user_id).trim()} ${t}`;
  if (event === 'sign_in') return `I ${String(value.user_id).trim()} ${t}`;
  if (event === 'sign_out') return `O ${String(value.user_id).trim()} ${t}`;
  if (event === 'checkout') return `S ${String(value.item_id).trim()}|${String(value.currency ?? 'USD').trim()} ${Number(value.purchase_amount)}`;
  return '';
}

export class StreamConsumer {
  private consumer?: Consumer;
  private dlqProducer?: Producer;
  private readonly tables = rawTables();
  private readonly eventByTopic: Map<string, EventName>;
  private readonly paused = new Map<string, NodeJS.Timeout>();
  /** Dead letters per request at most: half the dead-letter topic's max.message.bytes. */
  private dlqRequestBytes = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: { groupId: string; maxOutbox: number; backpressureCheckMs?: number },
  ) {
    this.eventByTopic = new Map(EVENT_NAMES.map((e) => [ctx.config.topics[e], e]));
  }

  get topics(): string[] {
    return [...this.eventByTopic.keys()];
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.dlqProducer = createIdempotentProducer(ctx.kafka, ctx.config);
    await this.dlqProducer.connect();
    this.dlqRequestBytes = Math.floor((await maxMessageBytes(await ctx.admin(), ctx.config.topics.dlq)) / 2);
    this.consumer = ctx.kafka.consumer({
      groupId: this.opts.groupId,
      maxBytesPerPartition: 1024 * 1024,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      // kafkajs commits only resolved offsets, and an offset is resolved only after the Lua
      // step returned, so Kafka never runs ahead of Redis. Committing on an interval instead
      // of per batch saves a round trip per batch; a replay of the gap is a no-op for the guard.
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  async stop(): Promise<void> {
    for (const t of this.paused.values()) clearInterval(t);
    this.paused.clear();
    await this.consumer?.disconnect();
    await this.dlqProducer?.disconnect();
  }

  private async handleBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const event = this.eventByTopic.get(topic);
    if (!event) return;
    const table = this.tables.get(event)!;
    const keys = shardKeys(partition);
    const redis = this.ctx.redis;

    // Backpressure: the outbox takes at most OUTBOX_MAX rows; what does not fit stays in Kafka
    // and the partition pauses until flushes drain it. Nothing is dropped.
    const outbox = keys.outbox(table.name);
    // One round trip for what the batch needs to know: outbox depth, offset guard, event-time mark,
    // and how far flush:metrics has paired this shard's sessions.
    const replies = (await redis.multi().xlen(outbox).hget(keys.offsets, topic).hget(keys.maxTime, topic).hget(keys.sessionTotals, 'done').exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const [depth, storedText, markText, pairedText] = replies.map(([, v]) => v) as [number, string | null, string | null, string | null];
    const room = this.opts.maxOutbox - depth;
    if (room <= 0) {
      this.pauseUntilDrained(topic, partition, outbox);
      return;
    }
    const messages = batch.messages.length > room ? batch.messages.slice(0, room) : batch.messages;

    const ingestedAt = new Date().toISOString();
    const rows: BatchApply['rows'] = [];
    const dead: DeadLetter[] = [];
    const late: BatchApply['late'] = [];
    // Event-time mark of this topic-partition: what was applied before, then this batch in order.
    // Replays see the same marks (the stored one moves atomically with the offset guard).
    const stored = Number(storedText ?? -1);
    let mark = Number(markText ?? -1);
    const pairedThrough = pairedText === null ? null : Number(pairedText);
    let maxApplied = -1;
    const lateness = this.ctx.config.stream.latenessMs;
    const serde = this.ctx.serde;
    for (const m of messages) {
      try {
        const origin = { topic, partition, offset: m.offset };
        const { value } = serde.decodeLoaded<Record<string, unknown>>(m.value, origin) ?? (await serde.decode<Record<string, unknown>>(m.value, origin));
        const t = parseEventTime(value.timestamp);
        const row = toRow(event, table, value, { topic, partition, offset: m.offset, ingestedAt }, t);
        if (event === 'consumer_registration' && mark >= 0) {
          const wm = watermark(mark, lateness);
          const closed = finalWindowKeys(REGISTRATION_WINDOWS, t, wm);
          if (closed.length > 0) {
            for (const windowKey of closed) late.push({ offset: m.offset, windowKey });
            dead.push({ offset: m.offset, key: m.key, value: m.value, reason: 'late', error: `event time ${new Date(t).toISOString()} is behind the watermark ${new Date(wm).toISOString()}: its window is final` });
            continue;
          }
        }
        // Sessions are paired in event-time order up to a boundary; one behind it would be paired
        // out of order into hours already final.
        if ((event === 'sign_in' || event === 'sign_out') && pairedThrough !== null && t <= pairedThrough) {
          dead.push({ offset: m.offset, key: m.key, value: m.value, reason: 'late', error: `event time ${new Date(t).toISOString()} is not after ${new Date(pairedThrough).toISOString()}, where this shard's sessions are paired: its hour is final` });
          continue;
        }
        if (Number(m.offset) > stored) {
          mark = Math.max(mark, t);
          maxApplied = Math.max(maxApplied, t);
        }
        rows.push({ offset: m.offset, row: JSON.stringify(row), op: stateOp(event, value, t) });
      } catch (err) {
        if (!(err instanceof MessageDecodeError || err instanceof InvalidEventError)) throw err;
        dead.push({ offset: m.offset, key: m.key, value: m.value, reason: err.reason, error: err.message });
      }
    }
    const last = messages[messages.length - 1]!.offset;

    // Dead letters already counted by an earlier run of this batch are not sent again.
    const fresh = dead.filter((d) => Number(d.offset) > stored);
    if (fresh.length > 0) await this.sendDeadLetters(topic, partition, fresh);
    await applyBatch(redis, partition, table.name, { topic, lastOffset: last, maxEventTime: maxApplied, deadOffsets: dead.map((d) => d.offset), late, rows });
    resolveOffset(last);
    await commitOffsetsIfNecessary();
    await heartbeat();
    // The rest of the batch did not fit: it is fetched again after the partition resumes.
    if (messages.length < batch.messages.length) this.pauseUntilDrained(topic, partition, outbox);
  }

  private async sendDeadLetters(topic: string, partition: number, dead: DeadLetter[]): Promise<void> {
    await sendDeadLetters(this.dlqProducer!, this.ctx.config.topics.dlq, { topic, partition }, dead, this.dlqRequestBytes);
    const byReason = new Map<string, number>();
    for (const d of dead) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
    await Promise.all([...byReason].map(([reason, n]) => bumpShared(this.ctx.redis, SHARED_COUNTERS.deadLetters, { reason }, n)));
    log.warn({ topic, partition, count: dead.length, reasons: Object.fromEntries(byReason) }, 'messages sent to the dead-letter topic');
  }

  private pauseUntilDrained(topic: string, partition: number, outbox: string): void {
    const id = `${topic}:${partition}`;
    if (this.paused.has(id)) return;
    this.consumer!.pause([{ topic, partitions: [partition] }]);
    log.warn({ topic, partition, outbox }, 'outbox full: partition paused until flushes catch up');
    const timer = setInterval(async () => {
      const len = await this.ctx.redis.xlen(outbox).catch(() => Number.POSITIVE_INFINITY);
      if (len < this.opts.maxOutbox * 0.8) {
        clearInterval(timer);
        this.paused.delete(id);
        this.consumer!.resume([{ topic, partitions: [partition] }]);
        log.info({ topic, partition }, 'outbox drained: partition resumed');
      }
    }, this.opts.backpressureCheckMs ?? 500);
    this.paused.set(id, timer);
  }
}

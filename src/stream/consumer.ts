// The stream role, the state path (DESIGN.md, exactly-once: two paths): a consumer group over the
// topics that carry state, one batch of one partition at a time:
//   1. decode and validate every message (what fails is the raw loader's dead letter, skipped here);
//   2. dead-letter the events the state cannot take: beyond the dedup horizon, or session events
//      behind the shard's pairing boundary (their raw rows are still loaded); a registration late
//      for some windows is applied to the others;
//   3. one Lua call applies the guards and the state changes and stores the batch's last offset;
//   4. only then is the Kafka offset committed.
// Redis is the position of record: a batch that starts past the offset after the stored one (Redis
// lost its last writes, Kafka's commit is ahead) is not applied; the consumer seeks back to it.
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import { STATE_EVENT_NAMES, type StateEventName } from '../config.ts';
import type { AppContext } from '../context.ts';
import { createIdempotentProducer, maxMessageBytes, topicOffsets } from '../kafka/client.ts';
import { sendDeadLetters, type DeadLetter } from '../kafka/dead-letters.ts';
import { SupervisedConsumer } from '../kafka/supervised-consumer.ts';
import { childLog } from '../log.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';
import { MessageDecodeError } from '../registry/errors.ts';
import { applyBatch, shardKeys, type BatchApply } from '../state/scripts.ts';
import { REGISTRATION_WINDOWS, finalWindowKeys, parseFinalThrough, type FinalThrough } from '../windows/window.ts';
import { rawTables } from '../warehouse/tables.ts';
import { InvalidEventError, futureTimestampError, parseEventTime, toRow } from './transform.ts';

const log = childLog('stream');

/** The state change an event makes (see applyBatch-9.lua). */
export function stateOp(event: StateEventName, value: Record<string, unknown>, t: number): string {
  if (event === 'consumer_registration') return `R ${String(value.user_id).trim()} ${t}`;
  if (event === 'sign_in') return `I ${String(value.user_id).trim()} ${t}`;
  if (event === 'sign_out') return `O ${String(value.user_id).trim()} ${t}`;
  return `S ${String(value.item_id).trim()}|${String(value.currency ?? 'USD').trim()} ${Number(value.purchase_amount)}`;
}

/** Offsets Redis had not applied that Kafka no longer holds: they can never be applied. */
export class OffsetsLostError extends Error {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly from: number,
    readonly to: number,
  ) {
    super(`${topic}[${partition}] offsets ${from}..${to - 1} were deleted by Kafka's retention before the stream applied them; their state is missing (restore Redis, or accept the gap)`);
    this.name = 'OffsetsLostError';
  }
}

/** How many times a batch is decided again when another consumer moved its partition meanwhile. */
const MAX_REDECIDE = 3;

export class StreamConsumer {
  private group?: SupervisedConsumer;
  private dlqProducer?: Producer;
  private readonly tables = rawTables();
  private readonly eventByTopic: Map<string, StateEventName>;
  /** Dead letters per request at most: half the dead-letter topic's max.message.bytes. */
  private dlqRequestBytes = 0;
  /** Lost ranges already reported, by `topic:partition:from`. */
  private readonly reportedGaps = new Set<string>();

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: { groupId: string },
  ) {
    this.eventByTopic = new Map(STATE_EVENT_NAMES.map((e) => [ctx.config.topics[e], e]));
  }

  get topics(): string[] {
    return [...this.eventByTopic.keys()];
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.dlqProducer = createIdempotentProducer(ctx.kafka, ctx.config);
    await this.dlqProducer.connect();
    this.group = new SupervisedConsumer(ctx.kafka, ctx.redis, {
      role: 'stream',
      // Read at each (re)start: a dead-letter topic whose limit was lowered since refuses the
      // requests sized for the old one (MESSAGE_TOO_LARGE, not retriable), and the restart fits them.
      beforeRun: async () => {
        this.dlqRequestBytes = Math.floor((await maxMessageBytes(await ctx.admin(), ctx.config.topics.dlq)) / 2);
      },
      config: { groupId: this.opts.groupId, maxBytesPerPartition: 1024 * 1024, sessionTimeout: 30_000, heartbeatInterval: 3000 },
      topics: this.topics,
      run: {
        // kafkajs commits only resolved offsets, and an offset is resolved only after the Lua
        // step returned; committing on an interval saves a round trip per batch. Kafka's commit is
        // only where a restart starts reading: the batch check below goes back to Redis's position.
        autoCommit: true,
        autoCommitInterval: 1000,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 4,
        eachBatch: async (payload) => {
          await this.handleBatch(payload);
          this.group!.progress();
        },
      },
    });
    await this.group.start();
  }

  async stop(): Promise<void> {
    await this.group?.stop();
    await this.dlqProducer?.disconnect();
  }

  private get consumer(): Consumer | undefined {
    return this.group?.consumer;
  }

  private async handleBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const event = this.eventByTopic.get(topic);
    if (!event) return;
    const keys = shardKeys(partition);
    const redis = this.ctx.redis;
    const last = batch.messages[batch.messages.length - 1]!.offset;

    for (let attempt = 1; ; attempt++) {
      // One round trip for what the batch is decided from: the position, the event-time mark, how
      // far flush:metrics has paired this shard's sessions, and which windows it made final.
      const replies = (await redis.multi().hget(keys.offsets, topic).hget(keys.maxTime, topic).hget(keys.sessionTotals, 'done').get(keys.finalThrough).exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      const [storedText, markText, pairedText, finalText] = replies.map(([, v]) => v) as [string | null, string | null, string | null, string | null];
      const stored = storedText === null ? null : Number(storedText);
      if (stored !== null && !(await this.startsAtPosition(topic, partition, stored + 1, Number(batch.messages[0]!.offset)))) return;
      const fresh = stored === null ? batch.messages : batch.messages.filter((m) => Number(m.offset) > stored);
      const decided = await this.decide(event, topic, partition, fresh, Number(markText ?? -1), pairedText === null ? null : Number(pairedText), parseFinalThrough(finalText));
      if (decided.late.length > 0) await this.sendDeadLetters(topic, partition, decided.late);
      // Session events were judged against the pairing boundary read above, registrations against
      // the windows final then: the step checks neither moved.
      const pairedFrom = event === 'sign_in' || event === 'sign_out' ? pairedText : undefined;
      const finalFrom = event === 'consumer_registration' ? finalText : undefined;
      const result = await applyBatch(redis, partition, { topic, readFrom: stored, lastOffset: last, dedupHorizonMs: this.ctx.config.stream.dedupHorizonMs, pairedFrom, finalFrom, ...decided.apply });
      if (result.moved) {
        if (attempt >= MAX_REDECIDE) throw new Error(`${topic}[${partition}]: its stored offset or session pairing moved under this batch ${attempt} times; another consumer is applying the same partition, or flush:metrics runs without pause`);
        continue;
      }
      if (result.refused > 0) log.error({ topic, partition, refused: result.refused }, 'events beyond the dedup horizon refused inside the state step but not dead-lettered');
      // Not awaited: a statistic, not on the batch's path.
      if (result.applied > 0) void (bumpShared(redis, SHARED_COUNTERS.streamEvents, { topic }, result.applied) as Promise<unknown>).catch(() => undefined);
      break;
    }
    resolveOffset(last);
    await commitOffsetsIfNecessary();
    await heartbeat();
  }

  /**
   * Whether a batch starting at `first` may be applied onto a position of `next`. One starting
   * past it is refused and the consumer seeks back, unless Kafka no longer has the gap: then the
   * gap is reported (once, loudly, and in /metrics) and the batch applies.
   */
  private async startsAtPosition(topic: string, partition: number, next: number, first: number): Promise<boolean> {
    if (first <= next) return true;
    const low = (await topicOffsets(await this.ctx.admin(), topic)).get(partition)?.low ?? 0;
    if (low <= next) {
      log.warn({ topic, partition, position: next, fetched: first }, "Kafka's committed offset is ahead of Redis's position: reading again from Redis's position");
      this.consumer!.seek({ topic, partition, offset: String(next) });
      return false;
    }
    const gap = `${topic}:${partition}:${next}`;
    if (!this.reportedGaps.has(gap)) {
      this.reportedGaps.add(gap);
      const err = new OffsetsLostError(topic, partition, next, low);
      log.error({ err: err.name, topic, partition, from: next, to: low }, err.message);
      await bumpShared(this.ctx.redis, SHARED_COUNTERS.streamOffsetsLost, { topic }, low - next);
    }
    return true;
  }

  /** What the batch changes, from the position and marks read: events, late entries, dead letters. */
  private async decide(event: StateEventName, topic: string, partition: number, messages: KafkaMessage[], markAtStart: number, pairedThrough: number | null, finalThrough: FinalThrough) {
    const table = this.tables.get(event)!;
    const apply: Pick<BatchApply, 'maxEventTime' | 'late' | 'events'> = { maxEventTime: -1, late: [], events: [] };
    const late: DeadLetter[] = [];
    const { dedupHorizonMs, maxSkewMs } = this.ctx.config.stream;
    const horizonFloor = markAtStart >= 0 ? markAtStart - dedupHorizonMs : Number.NEGATIVE_INFINITY;
    const ingestedAt = Date.now();
    const serde = this.ctx.serde;
    let mark = markAtStart;
    for (const m of messages) {
      let value: Record<string, unknown>;
      let t: number;
      try {
        const origin = { topic, partition, offset: m.offset };
        value = (serde.decodeLoaded<Record<string, unknown>>(m.value, origin) ?? (await serde.decode<Record<string, unknown>>(m.value, origin))).value;
        t = parseEventTime(value.timestamp);
        // The raw loader's rules, so both paths take the same events (it dead-letters the rest).
        toRow(event, table, value, { topic, partition, offset: m.offset, ingestedAt }, t);
      } catch (err) {
        if (err instanceof MessageDecodeError || err instanceof InvalidEventError) continue;
        throw err;
      }
      // Judged from the partition's history as the raw loader judges it (which dead-letters it).
      if (futureTimestampError(t, Number(m.timestamp), mark, maxSkewMs)) continue;
      // The mark follows every event the loader keeps, late or not, so both paths judge the next
      // event's time against the same newest time.
      mark = Math.max(mark, t);
      apply.maxEventTime = Math.max(apply.maxEventTime, t);
      const tooLate = (error: string) => late.push({ offset: m.offset, key: m.key, value: m.value, reason: 'late', error });
      if (t < horizonFloor) {
        tooLate(`event time ${new Date(t).toISOString()} is more than the dedup horizon behind ${new Date(markAtStart).toISOString()}: it could not be told from a re-sent event`);
        continue;
      }
      // Lateness is per window (as in Kafka Streams): a registration skips only the windows
      // flush:metrics has already counted as final in this shard (also on a partition with no
      // event-time mark yet), counted in their late_events, and still counts in its open ones.
      if (event === 'consumer_registration') {
        for (const windowKey of finalWindowKeys(REGISTRATION_WINDOWS, t, finalThrough)) apply.late.push({ offset: m.offset, windowKey });
      }
      // Sessions are paired in event-time order up to a boundary; one behind it would be paired
      // out of order into hours already final.
      if ((event === 'sign_in' || event === 'sign_out') && pairedThrough !== null && t <= pairedThrough) {
        tooLate(`event time ${new Date(t).toISOString()} is not after ${new Date(pairedThrough).toISOString()}, where this shard's sessions are paired: its hour is final`);
        continue;
      }
      apply.events.push({ offset: m.offset, eventId: String(value.event_id).trim(), time: t, op: stateOp(event, value, t) });
    }
    return { apply, late };
  }

  private async sendDeadLetters(topic: string, partition: number, dead: DeadLetter[]): Promise<void> {
    await sendDeadLetters(this.dlqProducer!, this.ctx.config.topics.dlq, { topic, partition }, dead, this.dlqRequestBytes);
    await bumpShared(this.ctx.redis, SHARED_COUNTERS.deadLetters, { reason: 'late' }, dead.length);
    log.warn({ topic, partition, count: dead.length }, 'late events sent to the dead-letter topic (their raw rows are loaded)');
  }
}

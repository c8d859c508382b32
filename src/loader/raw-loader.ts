// The raw path (DESIGN.md, exactly-once: two paths): every event topic read straight from Kafka
// into its raw table. Per partition, messages are decoded and validated with the stream's pure
// functions and buffered; a full or old buffer becomes one warehouse transaction that appends
// the rows and moves the partition's position in the warehouse (RAW_OFFSETS), only if the
// position is where the range starts. The warehouse is the position of record: Kafka offsets are
// committed after each load only so a restart does not re-read from the start, and a replay or
// a stale fetch is refused by the guard inside that transaction, then re-read from the position.
import type { Consumer, EachBatchPayload, Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_NAMES, type EventName } from '../config.ts';
import type { AppContext } from '../context.ts';
import { createIdempotentProducer, maxMessageBytes, topicOffsets } from '../kafka/client.ts';
import { sendDeadLetters, type DeadLetter } from '../kafka/dead-letters.ts';
import { SerialByKey } from '../kafka/serial.ts';
import { SupervisedConsumer } from '../kafka/supervised-consumer.ts';
import { childLog } from '../log.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';
import { MessageDecodeError } from '../registry/errors.ts';
import { InvalidEventError, futureTimestampError, parseEventTime, toRow } from '../stream/transform.ts';
import { rawTables, type TableSpec } from '../warehouse/tables.ts';
import type { RawLoad, RawLoadResult, RawPosition, Row } from '../warehouse/warehouse.ts';

const log = childLog('loader');

/** `topic:partition` (a topic name may hold ':') → topic, partition. */
const splitTp = (tp: string): [string, number] => [tp.slice(0, tp.lastIndexOf(':')), Number(tp.slice(tp.lastIndexOf(':') + 1))];

/** Per raw table: `<table>:last_flush` (ISO time of the last load) and `<table>:rows` (rows loaded), for /api/status. */
export const LOAD_STATS_KEY = 'segpipe:flush:stats';

/** What the loader needs of a warehouse. */
export interface RawTarget {
  loadRaw(load: RawLoad): Promise<RawLoadResult>;
  rawPositions(): Promise<Map<string, RawPosition>>;
  query<T = Record<string, unknown>>(sql: string, binds?: Array<string | number | boolean | null>): Promise<T[]>;
}

export interface RawLoaderOptions {
  groupId: string;
  /** Rows per transaction at most; a fuller buffer loads at once. */
  maxRows?: number;
  /** A buffer older than this loads even when not full. */
  maxWaitMs?: number;
  /** Event types loaded; all by default. */
  events?: readonly EventName[];
  /** Passed to every load (RawLoad.beforeCommit): the kill test's hold. */
  beforeCommit?: () => Promise<void>;
  /** kafkajs's fetch size per partition; 4 MiB by default. */
  maxBytesPerPartition?: number;
  /** Called with a range's rows after its commit (the benchmark's latency clock). */
  afterCommit?: (table: string, rows: Row[]) => void;
}

interface Pending {
  from: number;
  to: number;
  rows: Row[];
  /** Dead letters of the range not sent yet, and all of the range's. */
  unsent: DeadLetter[];
  deadLetters: number;
  /** Dead letters of the range by reason. */
  reasons: Map<string, number>;
  /** The partition's newest event time through the range's last message (future_timestamp's bound), -1 when none. */
  mark: number;
  since: number;
}

export interface RawLoaderStats {
  loads: number;
  rows: number;
  duplicates: number;
  deadLetters: number;
  /** Ranges the guard refused (replays, stale fetches), re-read from the stored position. */
  refused: number;
}

export class RawLoader {
  private group?: SupervisedConsumer;
  private dlq?: Producer;
  private readonly tables = rawTables();
  private readonly eventByTopic: Map<string, EventName>;
  /** Next offset to load per `topic:partition`, as the warehouse has it. */
  private positions?: Map<string, number>;
  /** Newest event time loaded per `topic:partition`, as the warehouse has it. */
  private readonly marks = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  /** One task at a time per partition: a batch, a load, a retry. */
  private readonly perPartition = new SerialByKey();
  private readonly paused = new Set<string>();
  private timer?: NodeJS.Timeout;
  /** Dead letters per request at most: half the dead-letter topic's max.message.bytes. */
  private dlqRequestBytes = 0;
  readonly stats: RawLoaderStats = { loads: 0, rows: 0, duplicates: 0, deadLetters: 0, refused: 0 };

  private get consumer(): Consumer | undefined {
    return this.group?.consumer;
  }

  constructor(
    private readonly ctx: AppContext,
    private readonly target: RawTarget,
    private readonly opts: RawLoaderOptions,
  ) {
    // Every event topic, the catalog's included (its table keyed by event_id: a version is one row).
    const events = opts.events ?? EVENT_NAMES;
    this.eventByTopic = new Map(events.map((e) => [ctx.config.topics[e], e]));
  }

  private get maxRows(): number {
    return this.opts.maxRows ?? 50_000;
  }

  private get maxWaitMs(): number {
    return this.opts.maxWaitMs ?? this.ctx.config.stream.flushEveryMs;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const stored = await this.target.rawPositions();
    this.positions = new Map([...stored].map(([tp, p]) => [tp, p.nextOffset]));
    for (const [tp, p] of stored) this.marks.set(tp, p.mark >= 0 || p.rows === 0 ? p.mark : await this.newestLoaded(tp));
    // A partition the warehouse has never loaded starts at Kafka's first offset, wherever the
    // group's committed offset (a hint) may point.
    const admin = await ctx.admin();
    for (const topic of this.eventByTopic.keys()) {
      for (const [partition, { low }] of await topicOffsets(admin, topic)) if (!this.positions.has(`${topic}:${partition}`)) this.positions.set(`${topic}:${partition}`, low);
    }
    this.dlq = createIdempotentProducer(ctx.kafka, ctx.config);
    await this.dlq.connect();
    this.group = new SupervisedConsumer(ctx.kafka, ctx.redis, {
      role: 'loader',
      // Read at each (re)start, as the stream does.
      beforeRun: () => this.readDlqLimit(),
      config: { groupId: this.opts.groupId, maxBytesPerPartition: this.opts.maxBytesPerPartition ?? 4 * 1024 * 1024, sessionTimeout: 30_000 },
      topics: [...this.eventByTopic.keys()],
      run: {
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 4,
        eachBatch: async (payload) => {
          await this.perPartition.run(`${payload.batch.topic}:${payload.batch.partition}`, () => this.take(payload));
          this.group!.progress();
        },
      },
      // A consumer started after a crash reads again from the committed offsets; partitions whose
      // load is failing stay paused.
      onRun: (consumer) => {
        for (const tp of this.paused) {
          const [topic, partition] = splitTp(tp);
          consumer.pause([{ topic, partitions: [partition] }]);
        }
      },
    });
    await this.group.start();
    const tick = Math.min(1000, this.maxWaitMs);
    this.timer = setInterval(() => {
      for (const [tp, p] of this.pending) if (Date.now() - p.since >= this.maxWaitMs || this.paused.has(tp)) void this.perPartition.run(tp, () => this.load(tp)).catch(() => undefined);
    }, tick);
  }

  /** Loads everything buffered now (a flush before a check or a stop). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((tp) => this.perPartition.run(tp, () => this.load(tp))));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    // Buffered ranges load while the consumer is still in its group, so their Kafka commits (the
    // hint for the next start, and what /health measures the loader's lag by) go through too.
    await this.onConsumer((c) => c.pause([...this.eventByTopic.keys()].map((topic) => ({ topic }))));
    await this.drain().catch((err) => log.warn({ err: (err as Error).message }, 'buffered ranges not loaded at stop; they are read again at the next start'));
    await this.group?.stop();
    await this.dlq?.disconnect();
  }

  /** A call on the current consumer that must not fail a load already committed: after a crash it is disconnected until its restart. */
  private async onConsumer(call: (consumer: Consumer) => unknown): Promise<void> {
    try {
      if (this.consumer) await call(this.consumer);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'consumer call skipped (it restarts)');
    }
  }

  private async take({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const event = this.eventByTopic.get(topic);
    if (!event) return;
    const tp = `${topic}:${partition}`;
    if (this.paused.has(tp)) return;
    const table = this.tables.get(event)!;
    let pend = this.pending.get(tp);
    // A partition created after the start begins at its first offset, 0.
    const expected = pend ? pend.to : (this.positions!.get(tp) ?? 0);
    const messages = batch.messages.filter((m) => Number(m.offset) >= expected);
    if (messages.length === 0) {
      // Wholly before the position (a group whose commit lags the warehouse): left unresolved,
      // kafkajs would fetch the same batch for ever, so read from the position.
      this.consumer!.seek({ topic, partition, offset: String(expected) });
      // Kafka's commit was behind the warehouse: move it on, so it is the hint it should be.
      await this.consumer!.commitOffsets([{ topic, partition, offset: String(expected) }]).catch(() => undefined);
      return;
    }
    const first = Number(messages[0]!.offset);
    if (first > expected) {
      const low = (await topicOffsets(await this.ctx.admin(), topic)).get(partition)?.low ?? 0;
      if (low <= expected) {
        // Fetched from past the position (a commit ahead of a restored warehouse): read from the position.
        this.consumer!.seek({ topic, partition, offset: String(expected) });
        return;
      }
      // Kafka's retention deleted what was never loaded: the range still starts at the position,
      // so its counts fall short of its length and verify reports the partition.
      log.error({ topic, partition, position: expected, firstInKafka: low }, 'messages deleted by retention before they were loaded');
    }
    if (!pend) this.pending.set(tp, (pend = { from: expected, to: expected, rows: [], unsent: [], deadLetters: 0, reasons: new Map(), mark: this.marks.get(tp) ?? -1, since: Date.now() }));
    const ingestedAt = Date.now();
    const serde = this.ctx.serde;
    const skew = this.ctx.config.stream.maxSkewMs;
    for (const m of messages) {
      try {
        const origin = { topic, partition, offset: m.offset };
        const { value } = serde.decodeLoaded<Record<string, unknown>>(m.value, origin) ?? (await serde.decode<Record<string, unknown>>(m.value, origin));
        const t = parseEventTime(value.timestamp);
        const row = toRow(event, table, value, { topic, partition, offset: m.offset, ingestedAt }, t);
        const future = futureTimestampError(t, Number(m.timestamp), pend.mark, skew);
        if (future) throw future;
        pend.rows.push(row);
        if (t > pend.mark) pend.mark = t;
      } catch (err) {
        if (!(err instanceof MessageDecodeError || err instanceof InvalidEventError)) throw err;
        pend.unsent.push({ offset: m.offset, key: m.key, value: m.value, reason: err.reason, error: err.message });
        pend.deadLetters++;
        pend.reasons.set(err.reason, (pend.reasons.get(err.reason) ?? 0) + 1);
      }
      pend.to = Number(m.offset) + 1;
    }
    resolveOffset(messages[messages.length - 1]!.offset);
    await heartbeat();
    // A failed load has paused the partition and keeps the buffer; the timer retries it.
    if (pend.rows.length + pend.deadLetters >= this.maxRows) await this.load(tp).catch(() => undefined);
  }

  /**
   * A partition loaded before its position kept a mark (a warehouse of an earlier version): its
   * newest row's event time is the same mark, as its rows are exactly the events it kept.
   */
  private async newestLoaded(tp: string): Promise<number> {
    const [topic, partition] = splitTp(tp);
    const event = this.eventByTopic.get(topic);
    if (!event) return -1;
    // Both warehouses' query() give timestamps as ISO 8601 UTC text.
    const [row] = await this.target.query<{ t: string | null }>(`SELECT max(event_time) AS "t" FROM ${this.tables.get(event)!.name} WHERE kafka_partition = ?`, [partition]);
    const ms = parseEventTime(row?.t);
    return Number.isNaN(ms) ? -1 : ms;
  }

  private async readDlqLimit(): Promise<void> {
    this.dlqRequestBytes = Math.floor((await maxMessageBytes(await this.ctx.admin(), this.ctx.config.topics.dlq)) / 2);
  }

  /** One transaction for a partition's buffer; a failure keeps it and pauses the partition until a retry loads it. */
  private async load(tp: string): Promise<void> {
    const pend = this.pending.get(tp);
    if (!pend) return;
    const [topic, p] = splitTp(tp);
    const table: TableSpec = this.tables.get(this.eventByTopic.get(topic)!)!;
    let result: RawLoadResult;
    // Sent inside the transaction once its position guard passed, before the commit: a range
    // refused (loaded already, by this loader before a restart or by another) sends none again;
    // a crash between the send and the commit sends them again when the range reloads.
    const sendDeadLettersOfRange = async () => {
      if (pend.unsent.length === 0) return;
      // A failed send may have been refused for a limit lowered since it was read: read it again.
      if (this.paused.has(tp)) await this.readDlqLimit();
      await sendDeadLetters(this.dlq!, this.ctx.config.topics.dlq, { topic, partition: p }, pend.unsent, this.dlqRequestBytes);
      pend.unsent = [];
    };
    try {
      result = await this.target.loadRaw({ table, topic, partition: p, from: pend.from, to: pend.to, rows: pend.rows, deadLetters: pend.deadLetters, mark: pend.mark, afterGuard: sendDeadLettersOfRange, beforeCommit: this.opts.beforeCommit });
    } catch (err) {
      if (!this.paused.has(tp)) {
        this.paused.add(tp);
        await this.onConsumer((c) => c.pause([{ topic, partitions: [p] }]));
        log.warn({ topic, partition: p, err: (err as Error).message }, 'loading a range failed: partition paused, retrying');
      }
      throw err;
    }
    this.pending.delete(tp);
    if (this.paused.delete(tp)) await this.onConsumer((c) => c.resume([{ topic, partitions: [p] }]));
    if (!result.applied) {
      this.stats.refused++;
      const position = result.position ?? pend.from;
      this.positions!.set(tp, position);
      this.marks.set(tp, result.mark);
      await this.onConsumer((c) => c.seek({ topic, partition: p, offset: String(position) }));
      return;
    }
    this.stats.loads++;
    this.stats.rows += result.inserted;
    this.stats.duplicates += result.duplicates;
    this.stats.deadLetters += pend.deadLetters;
    this.positions!.set(tp, pend.to);
    this.marks.set(tp, pend.mark);
    this.opts.afterCommit?.(table.name, pend.rows);
    // A hint for the next start only; the position of record is the warehouse's.
    await this.onConsumer((c) => c.commitOffsets([{ topic, partition: p, offset: String(pend.to) }]));
    // Statistics for /api/status and /metrics, after the commit (a crash before it loads again).
    const stats = this.ctx.redis.multi();
    stats.hset(LOAD_STATS_KEY, `${table.name}:last_flush`, new Date().toISOString());
    stats.hincrby(LOAD_STATS_KEY, `${table.name}:rows`, result.inserted);
    bumpShared(stats, SHARED_COUNTERS.warehouseRows, { table: table.name }, result.inserted);
    for (const [reason, n] of pend.reasons) bumpShared(stats, SHARED_COUNTERS.deadLetters, { reason }, n);
    await stats.exec().catch((err) => log.warn({ err: (err as Error).message }, 'load statistics not recorded'));
  }
}

export interface LoadedThrough {
  /** Messages that were in Kafka when the wait began and are not loaded yet, per topic. */
  pending: Record<string, number>;
}

/**
 * Waits until the warehouse has loaded every raw topic up to the end Kafka had when the wait
 * began (the flush:raw barrier), draining this process's loader meanwhile. Loaders of other
 * processes load within their maxWaitMs. Returns what is still pending after `maxMs`.
 */
export async function loadedThrough(ctx: AppContext, target: RawTarget, loader: RawLoader | undefined, maxMs: number): Promise<LoadedThrough> {
  const admin = await ctx.admin();
  const topics = EVENT_NAMES.map((e) => ctx.config.topics[e]);
  const ends = new Map(await Promise.all(topics.map(async (t) => [t, await topicOffsets(admin, t)] as const)));
  const deadline = Date.now() + maxMs;
  for (;;) {
    await loader?.drain();
    const positions = await target.rawPositions();
    const pending: Record<string, number> = {};
    let total = 0;
    for (const [topic, partitions] of ends) {
      let n = 0;
      for (const [p, { low, high }] of partitions) n += Math.max(0, high - (positions.get(`${topic}:${p}`)?.nextOffset ?? low));
      pending[topic] = n;
      total += n;
    }
    if (total === 0 || Date.now() >= deadline) return { pending };
    await sleep(100);
  }
}

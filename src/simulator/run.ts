// A simulation run. Journeys are generated, encoded and partitioned on a worker thread
// (src/simulator/generate-task.ts) and sent by producing lanes (src/simulator/lane.ts), each on a
// thread of its own. Each lane owns a share of the partitions and keeps one request on the wire
// at a time, so per-key order holds.
// Pacing (speed = simulated seconds per real second; rate = events/s cap) happens on the
// generator thread.
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { AppContext } from '../context.ts';
import { createTaskPool } from '../threads.ts';
import { defaultUserPrefix } from './journeys.ts';
import { EVENT_NAMES } from '../config.ts';
import { loadCatalog } from './catalog.ts';
import type { GenerateSummary, GenerateTask, ToGenerator } from './generate-task.ts';
import type { LaneAck, LaneTask } from './lane.ts';
import { RunCheckpoint } from './checkpoint.ts';
import { shardCount, shardKeys } from '../state/scripts.ts';
import { catalogFingerprint, recordRun } from './run-log.ts';
import type { LiveClaim } from './live-state.ts';

export interface RunParams {
  events: number;
  seed: number;
  users?: number;
  /** Simulated start, epoch ms; default now. */
  start?: number;
  /** Simulated seconds per real second; 0 or absent = as fast as possible. */
  speed?: number;
  /** Upper bound on events per second; absent = none. */
  rate?: number;
  userPrefix?: string;
  /** A live burst: the live world's span to produce (live.ts); `events` is then only a cap. */
  live?: LiveClaim;
}

export interface RunResult {
  events: number;
  durationMs: number;
  eventsPerSecond: number;
  firstEventAt: string | null;
  lastEventAt: string | null;
  catalogItems: number;
  catalogSource: string;
  /** Of `events`, those an earlier attempt of the same job had already put in Kafka (not sent again). */
  resumed: number;
  /** Why the run ended before its events were all produced: cancelled, or at SIMULATOR_MAX_RUN_S. */
  stopped: 'cancelled' | 'max_duration' | null;
}

export interface RunControl {
  /** Aborts the run: generation stops, what was handed to the lanes is still sent and counted. */
  signal?: AbortSignal;
  /** Wall-clock budget, ms; SIMULATOR_MAX_RUN_S when absent. */
  maxDurationMs?: number;
  /**
   * A key naming the run across retries (a job's id): its acknowledged progress is checkpointed
   * under it, and a run with a checkpoint sends only what Kafka does not hold yet. The retry must
   * have the same parameters, start included.
   */
  resumeKey?: string;
}

const BATCH = 5000;
/** Encoded batches allowed ahead of the acknowledged ones. */
const CREDITS = 4;

/** Producing lanes: kafkajs's encoding is what bounds a lane, so two use both cores. */
export const LANES = 2;

interface Pools {
  generator: Piscina<GenerateTask, GenerateSummary>;
  lanes: Piscina<LaneTask, number>;
}
const pools = new WeakMap<AppContext, Pools>();

/** The generator and lane threads of a context, started on first use and kept for the next burst. */
function simulatorPools(ctx: AppContext): Pools {
  let p = pools.get(ctx);
  if (!p) {
    const idle = { minThreads: 0, idleTimeout: 10 * 60_000 };
    const created: Pools = {
      generator: createTaskPool<GenerateTask, GenerateSummary>('simulator-generate.task.ts', { ...idle, maxThreads: 1 }),
      lanes: createTaskPool<LaneTask, number>('simulator-lane.task.ts', { ...idle, minThreads: 0, maxThreads: LANES }),
    };
    pools.set(ctx, (p = created));
    ctx.onClose(() => Promise.all([created.generator.destroy(), created.lanes.destroy()]));
  }
  return p;
}

/**
 * The simulated world's clock: the time after the last event any run produced. A run as fast as
 * possible puts hours of activity into seconds, so its events run ahead of the wall clock; the
 * next run without an explicit start goes on from there instead of starting behind the
 * stream's watermark, where its events would be late.
 */
const WORLD_CLOCK = 'segpipe:simulator:clock';
const ADVANCE_CLOCK = "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end";

/** A user prefix no earlier CLI run had: `c<n>`. With the same seed, one prefix gives the same event ids. */
export async function nextCliPrefix(ctx: AppContext): Promise<string> {
  return `c${await ctx.redis.incr('segpipe:simulator:cli-runs')}`;
}

/**
 * Where a run without an explicit start begins: now, or later if earlier runs got ahead, and
 * never behind an event the stream has applied (its shards' event-time marks): a run whose last
 * clock update was lost (Redis unreachable at that moment) must not make the next one late.
 */
export async function worldClock(ctx: AppContext): Promise<number> {
  const shards = Array.from({ length: shardCount(ctx.config) }, (_, p) => shardKeys(p).maxTime);
  // One read per shard: each is its own Redis Cluster slot.
  const [clock, ...marks] = await Promise.all([ctx.redis.get(WORLD_CLOCK), ...shards.map((k) => ctx.redis.hvals(k))]);
  const base = Math.max(Date.now(), Number(clock ?? 0));
  // A mark far past the clock is one bad timestamp, not a run: the world does not jump to it.
  const applied = Math.max(0, ...marks.flat().map(Number).filter((t) => Number.isFinite(t) && t <= base + MARK_AHEAD_MS));
  return Math.max(base, applied > 0 ? applied + 1 : 0);
}

/** How far past the world clock an applied event may be and still move it (REST runs may start up to 30 days ahead). */
const MARK_AHEAD_MS = 30 * 86_400_000;

export async function runSimulation(
  ctx: AppContext,
  params: RunParams,
  onProgress: (sent: number) => void = () => undefined,
  control: RunControl = {},
): Promise<RunResult> {
  const { items, source } = await loadCatalog(ctx.redis);
  const start = params.live?.span.from ?? params.start ?? (await worldClock(ctx));
  const topics = ctx.config.topics;
  const topicOrder = EVENT_NAMES.map((n) => topics[n]);
  const userPrefix = params.live?.world.prefix ?? params.userPrefix ?? defaultUserPrefix(params.seed);
  const checkpoint = control.resumeKey ? await RunCheckpoint.open(ctx, control.resumeKey, topicOrder, userPrefix) : undefined;
  if (checkpoint?.complete) {
    return { events: params.events, durationMs: 0, eventsPerSecond: 0, firstEventAt: null, lastEventAt: null, catalogItems: items.length, catalogSource: source, resumed: params.events, stopped: null };
  }
  const topicIndex = new Map(topicOrder.map((t, i) => [t, i]));
  const skip = (checkpoint?.inKafka() ?? []).map((s) => ({ topic: topicIndex.get(s.topic)!, partition: s.partition, events: s.events }));
  const resumed = skip.reduce((a, s) => a + s.events, 0);
  const wallStart = performance.now();
  const { generator, lanes } = simulatorPools(ctx);
  const channels = Array.from({ length: LANES }, () => new MessageChannel());
  const controlChannel = new MessageChannel();
  // Progress counts every lane's acknowledgements as they come; the result counts what each lane
  // reports at its end (a remote lane's last progress message may still be on its way).
  // Each acknowledged batch moves the world clock and the checkpoint on (best effort, in order: a
  // lost write is made good by the run's last clock update and by a retry's scan of Kafka), so a
  // run that fails part way leaves the clock past every event it put in Kafka.
  let progressed = resumed;
  let acked: Promise<unknown> = Promise.resolve();
  const counted = (ack: LaneAck) => {
    progressed += ack.events;
    onProgress(progressed);
    checkpoint?.acknowledged(ack.sends.map((s) => ({ topic: topicOrder[s.topic]!, partition: s.partition, events: s.events, next: s.next })));
    acked = acked.then(() => ctx.redis.eval(ADVANCE_CLOCK, 1, WORLD_CLOCK, String(ack.lastTime + 1))).catch(() => undefined);
  };

  // Every lane on a thread of its own, reporting progress here: this thread (which may also
  // serve the admin API) only counts, so a big run does not stall its event loop.
  const remote = channels.map((ch) => {
    const progress = new MessageChannel();
    progress.port1.on('message', counted);
    const task: LaneTask = { config: ctx.config, topicOrder, port: ch.port1 as never, progress: progress.port2 as never };
    return lanes.run(task, { transferList: [ch.port1, progress.port2] as never }).finally(() => progress.port1.close());
  });
  const task: GenerateTask = {
    params: { seed: params.seed, events: params.events, users: params.users, start, userPrefix: params.userPrefix },
    live: params.live,
    skip,
    speed: params.speed,
    rate: params.rate,
    catalog: items,
    writers: ctx.serde.writer.schemas(),
    topics,
    topicOrder,
    partitions: ctx.config.kafka.partitions,
    batchSize: BATCH,
    credits: CREDITS,
    maxDurationMs: control.maxDurationMs ?? ctx.config.simulator.maxRunSeconds * 1000,
    ports: channels.map((ch) => ch.port2) as never,
    control: controlChannel.port2 as never,
  };
  const cancel = () => controlChannel.port1.postMessage('cancel' satisfies ToGenerator);
  if (control.signal?.aborted) cancel();
  control.signal?.addEventListener('abort', cancel, { once: true });
  let summary: GenerateSummary;
  let sent: number;
  try {
    let sentThere: number[];
    [summary, ...sentThere] = await Promise.all([generator.run(task, { transferList: [...channels.map((ch) => ch.port2), controlChannel.port2] as never }), ...remote]);
    sent = sentThere.reduce((a, b) => a + b, 0);
  } finally {
    control.signal?.removeEventListener('abort', cancel);
    controlChannel.port1.close();
    await acked;
    await checkpoint?.flushed();
  }
  if (summary.lastTime !== null) await ctx.redis.eval(ADVANCE_CLOCK, 1, WORLD_CLOCK, String(summary.lastTime + 1));
  // Only a run that produced all its events is recomputable: a stopped one dropped what it held.
  if (summary.stopped === null) {
    await checkpoint?.done();
    await recordRun(ctx.redis, {
      seed: params.live?.world.seed ?? params.seed,
      events: params.live ? summary.events : params.events,
      users: params.users,
      start,
      userPrefix,
      catalog: catalogFingerprint(items),
      partitions: ctx.config.kafka.partitions,
      finishedAt: Date.now(),
      mode: params.live ? 'live' : 'fast-forward',
      ...(params.live ? { live: params.live } : {}),
      firstTime: summary.firstTime,
      lastTime: summary.lastTime,
    });
  }
  const durationMs = performance.now() - wallStart;
  return {
    events: sent + resumed,
    durationMs: Math.round(durationMs),
    eventsPerSecond: Math.round(sent / (durationMs / 1000)),
    firstEventAt: summary.firstTime === null ? null : new Date(summary.firstTime).toISOString(),
    lastEventAt: summary.lastTime === null ? null : new Date(summary.lastTime).toISOString(),
    catalogItems: items.length,
    catalogSource: source,
    resumed,
    stopped: summary.stopped === 'lane_failed' ? null : summary.stopped,
  };
}

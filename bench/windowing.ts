// The state step alone: registration batches through applyBatch (offset guard, event_id dedup,
// ZADD LT into the shard's sorted set, event-time mark) as the stream runs it, and the Redis
// memory the registration state and the dedup set take per million events.
import type { Config } from '../src/config.ts';
import { AppContext } from '../src/context.ts';
import { ConsumerRegistration } from '../src/events/model.ts';
import { stateOp } from '../src/stream/consumer.ts';
import { applyBatch, clearShardState, shardKeys, type BatchApply } from '../src/state/scripts.ts';
import { progress } from './env.ts';

const REGISTRATIONS = Number(process.env.BENCH_WINDOWING_EVENTS ?? 1_000_000);
const BATCH = 1000;
const SHARDS = 6;
/** Longer than the 14 h of event time the events span: every id is held, so the figure is per million ids held. */
const HORIZON_MS = 24 * 3_600_000;

export async function benchWindowing(config: Config): Promise<{ figures: Record<string, number>; notes: string[] }> {
  const ctx = new AppContext(config);
  const redis = ctx.redis;
  const topic = 'bench_registrations';
  await clearShardState(redis);

  // Batches are built before the clock starts: this measures the state step, not decoding.
  progress(`building ${REGISTRATIONS} registrations`);
  const start = Date.UTC(2026, 0, 1);
  type Event = BatchApply['events'][number];
  const batches: Array<{ partition: number; rows: Event[]; last: string; max: number }> = [];
  const offsets = new Array<number>(SHARDS).fill(0);
  let current = Array.from({ length: SHARDS }, () => [] as Event[]);
  let maxT = new Array<number>(SHARDS).fill(-1);
  for (let i = 0; i < REGISTRATIONS; i++) {
    const p = i % SHARDS;
    const t = start + i * 50;
    const e = new ConsumerRegistration(`bench-${i}`, t, `user-${i}`, 30, 'x@example.com', 'en');
    const record = e.toRecord() as unknown as Record<string, unknown>;
    const offset = String(offsets[p]!++);
    current[p]!.push({ offset, eventId: e.eventId, time: t, op: stateOp('consumer_registration', record, t) });
    maxT[p] = t;
    if (current[p]!.length === BATCH) {
      batches.push({ partition: p, rows: current[p]!, last: offset, max: maxT[p]! });
      current[p] = [];
    }
  }
  current.forEach((rows, p) => rows.length && batches.push({ partition: p, rows, last: rows[rows.length - 1]!.offset, max: maxT[p]! }));
  current = [];
  maxT = [];

  progress('applyBatch');
  const memBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const t0 = performance.now();
  // Shards run concurrently, as partitions do in the stream; batches of one shard in order.
  await Promise.all(
    Array.from({ length: SHARDS }, async (_, p) => {
      let readFrom: number | null = null;
      for (const b of batches.filter((x) => x.partition === p)) {
        await applyBatch(redis, p, { topic, readFrom, lastOffset: b.last, maxEventTime: b.max, dedupHorizonMs: HORIZON_MS, late: [], events: b.rows });
        readFrom = Number(b.last);
      }
    }),
  );
  const rate = REGISTRATIONS / ((performance.now() - t0) / 1000);
  progress(`  ${Math.round(rate)} events/s`);
  let zsetBytes = 0;
  let seenBytes = 0;
  for (let p = 0; p < SHARDS; p++) {
    zsetBytes += Number(await redis.memory('USAGE', shardKeys(p).registrations, 'SAMPLES', '0'));
    seenBytes += Number(await redis.memory('USAGE', shardKeys(p).seen(topic), 'SAMPLES', '0'));
  }
  const memAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await clearShardState(redis);
  await ctx.close();
  const perMillion = (bytes: number) => Math.round((bytes / REGISTRATIONS) * 1e6 / 2 ** 20);
  return {
    figures: {
      windowing_events_per_s: Math.round(rate),
      windowing_registration_state_mb_per_million: perMillion(zsetBytes),
      windowing_dedup_mb_per_million: perMillion(seenBytes),
      windowing_redis_mb_per_million: perMillion(memAfter - memBefore),
    },
    notes: [
      `${REGISTRATIONS} registrations over ${SHARDS} shards in batches of ${BATCH}, one every 50 ms of event time: one applyBatch-9.lua call per batch doing the position check, the offset guard, ZADD NX of the event_id into the shard's dedup set (kept for a horizon of ${HORIZON_MS / 3_600_000} h of event time, trimmed in the same step), ZADD LT into the registrations set and the event-time mark. Raw rows do not pass through Redis (the raw loader takes them from Kafka).`,
      'State memory is MEMORY USAGE of the registrations sets (what windows need) and of the dedup sets (what exactly-once for re-sent events costs per million event ids inside the horizon; a deployment holds as many as its state topics carry within DEDUP_HORIZON_MS of event time); the Redis figure is used_memory before and after.',
      'Target (issue #6): at least 100,000 events/s through the state step.',
    ],
  };
}

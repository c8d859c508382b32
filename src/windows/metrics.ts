// flush:metrics: per-shard partial state (Redis) summed into warehouse metrics.
// Registrations: one sorted set per shard (user_id scored by earliest registration time, ZADD LT), so a
// window's distinct count is the sum over shards of ZCOUNT [start, end) (a user's events all
// live in one shard). Windows are upserted while open (is_final=false) and once more when the
// watermark passes their end (is_final=true). Registrations are never trimmed: a user's earliest
// registration is what tells a later one apart (it counts nowhere), so Redis holds one entry per
// registered user; the work of a run follows the windows touched, not the set's size. Sales:
// cents per item per shard, summed.
import type { Redis } from 'ioredis';
import { shardKeys, withStateCommands } from '../state/scripts.ts';
import type { TableSpec } from '../warehouse/tables.ts';
import type { Row, Warehouse } from '../warehouse/warehouse.ts';
import { SESSION_METRICS, pairShard, sessionRows } from './sessions.ts';
import { REGISTRATION_WINDOWS, formatFinalThrough, lastEndBy, parseFinalThrough, watermark, windowsFor, type FinalThrough, type WindowSpec } from './window.ts';

export const REGISTRATION_METRICS: TableSpec = {
  name: 'user_registration_metrics',
  key: ['window_type', 'window_start'],
  columns: [
    { name: 'window_start', type: 'TIMESTAMP', nullable: false },
    { name: 'window_end', type: 'TIMESTAMP', nullable: false },
    { name: 'window_type', type: 'VARCHAR', nullable: false },
    { name: 'registration_count', type: 'BIGINT', nullable: false },
    { name: 'late_events', type: 'BIGINT', nullable: false },
    { name: 'is_final', type: 'BOOLEAN', nullable: false },
    { name: 'computed_at', type: 'TIMESTAMP', nullable: false },
  ],
};

export const MOVIE_SALES: TableSpec = {
  name: 'movie_sales',
  key: ['movie_id', 'currency'],
  columns: [
    { name: 'movie_id', type: 'VARCHAR', nullable: false },
    { name: 'title', type: 'VARCHAR', nullable: true },
    { name: 'total_sales', type: 'BIGINT', nullable: false },
    { name: 'currency', type: 'VARCHAR', nullable: false },
    { name: 'aggregated_at', type: 'TIMESTAMP', nullable: false },
  ],
};

/**
 * Registrations the stream applied while some of their windows were already final (those kept
 * their count; the open ones counted it), with the shard's final-through at that moment
 * (`<window_type>=<end ms>;…`): what the oracle needs to recompute every final window from the
 * warehouse alone.
 */
export const LATE_REGISTRATIONS: TableSpec = {
  name: 'late_registrations',
  key: ['kafka_topic', 'kafka_partition', 'kafka_offset'],
  columns: [
    { name: 'kafka_topic', type: 'VARCHAR', nullable: false },
    { name: 'kafka_partition', type: 'INTEGER', nullable: false },
    { name: 'kafka_offset', type: 'BIGINT', nullable: false },
    { name: 'event_id', type: 'VARCHAR', nullable: false },
    { name: 'final_through', type: 'VARCHAR', nullable: false },
    { name: 'recorded_at', type: 'TIMESTAMP', nullable: false },
  ],
};

/** Every table flush:metrics writes. */
export const METRICS_TABLES: TableSpec[] = [REGISTRATION_METRICS, LATE_REGISTRATIONS, SESSION_METRICS, MOVIE_SALES];

/** Late-log entries a shard hands to the warehouse per merge. */
const LATE_LOG_BATCH = 10_000;

/** Per window type: end of the last window written as final (windows before it are done). */
const FINAL_THROUGH = 'segpipe:metrics:final_through';
/** Final counts by `<type>:<start>`, kept so a final row can be rewritten with new late counts. */
const FINAL_COUNTS = 'segpipe:metrics:final_counts';
const LATE_REPORTED = 'segpipe:metrics:late_reported';
/**
 * `<type>:<start>` of windows written open and not final yet. Windows are built around the
 * buckets that hold data, and a registration can leave a window (ZADD LT moves a user to an
 * earlier time): such a window is still rewritten, with its new count, until it is final.
 */
const OPEN_WRITTEN = 'segpipe:metrics:open_written';
/** Per `<item>|<currency>`: the total last merged with a title; unchanged totals are not merged again. */
const SALES_REPORTED = 'segpipe:metrics:sales_reported';

/** Forgets which windows were written as final and which sales were merged: with clearShardState, a fresh start. */
export async function clearMetricsState(redis: Redis): Promise<void> {
  await redis.del(FINAL_THROUGH, FINAL_COUNTS, LATE_REPORTED, SALES_REPORTED, OPEN_WRITTEN);
}

export interface MetricsOptions {
  shards: number;
  registrationTopic: string;
  sessionTopics: { signIn: string; signOut: string };
  latenessMs: number;
  /** SESSION_TIMEOUT_MS: a session with no sign-out ends this long after its sign-in; none when absent. */
  sessionTimeoutMs?: number;
  specs?: WindowSpec[];
  now?: () => Date;
  /**
   * Kafka's offsets per partition of a topic. A shard still behind Kafka that has no event-time
   * mark yet (a cold start with a backlog) holds finality back; without this, only shards with a
   * mark decide.
   */
  partitionOffsets?: (topic: string) => Promise<Map<number, { low: number; high: number }>>;
}

/** Shards that have not applied everything Kafka holds for `topic` yet. */
async function laggingShards(redis: Redis, shards: number, topic: string, offsets: MetricsOptions['partitionOffsets']): Promise<Set<number>> {
  const lagging = new Set<number>();
  if (!offsets) return lagging;
  const [kafka, applied] = await Promise.all([offsets(topic), Promise.all(Array.from({ length: shards }, (_, p) => redis.hget(shardKeys(p).offsets, topic)))]);
  applied.forEach((a, p) => {
    const o = kafka.get(p);
    if (o && o.high > Math.max(o.low, a === null ? 0 : Number(a) + 1)) lagging.add(p);
  });
  return lagging;
}

export interface MetricsResult {
  watermark: string | null;
  windows: number;
  finalized: number;
  sessionWindows: number;
  sales: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Occupied buckets one shard reports at most per window type and run; only those after the windows written final are asked for, so real data stays far below. */
const MAX_BUCKETS = 1_000_000;
/** 10000-01-01T00:00:00Z: a window ending there or later has no ISO 8601 text a warehouse takes, so it is not stored. */
const TIME_LIMIT = 253_402_300_800_000;

/**
 * Starts of the windows of `spec` that hold a registration of some shard in [from, to): sparse,
 * built around the buckets with data (occupiedBuckets-1.lua), so the work follows the data and
 * not the time span (a year-9999 event, a gap of months).
 */
async function occupiedStarts(redis: Redis, shards: Array<ReturnType<typeof shardKeys>>, spec: WindowSpec, from: number, to: number): Promise<Set<number>> {
  const state = withStateCommands(redis);
  const lists = await Promise.all(shards.map((k) => state.occupiedBuckets(k.registrations, Math.floor(from), Math.ceil(to), spec.advanceMs, MAX_BUCKETS)));
  const starts = new Set<number>();
  for (const list of lists) for (const b of list) for (const w of windowsFor(spec, Number(b))) if (w.end < TIME_LIMIT) starts.add(w.start);
  return starts;
}

export async function flushMetrics(redis: Redis, warehouse: Warehouse, opts: MetricsOptions): Promise<MetricsResult> {
  const specs = opts.specs ?? REGISTRATION_WINDOWS;
  const now = (opts.now ?? (() => new Date()))().toISOString();
  const shards = Array.from({ length: opts.shards }, (_, p) => shardKeys(p));
  const rows: Row[] = [];
  let finalized = 0;

  // Watermark: the slowest shard that has seen registrations decides, and none is final while a
  // shard behind Kafka has no mark yet (it may hold registrations for any window).
  const [markTexts, lagging] = await Promise.all([
    Promise.all(shards.map((k) => redis.hget(k.maxTime, opts.registrationTopic))),
    laggingShards(redis, opts.shards, opts.registrationTopic, opts.partitionOffsets),
  ]);
  const marks = markTexts.filter((m): m is string => m !== null).map(Number);
  const unmarkedBehind = markTexts.some((m, p) => m === null && lagging.has(p));
  let wm: number | null = null;
  if (marks.length > 0) {
    wm = unmarkedBehind ? Number.NEGATIVE_INFINITY : watermark(Math.min(...marks), opts.latenessMs);
    const newest = Math.max(...marks);
    const firsts = await Promise.all(shards.map((k) => redis.zrange(k.registrations, '0', '0', 'WITHSCORES')));
    const earliest = Math.min(...firsts.filter((f) => f.length === 2).map((f) => Number(f[1])));
    const lateCounts = await sumHashes(redis, shards.map((k) => k.late));
    const [finalThroughs, openWritten] = await Promise.all([redis.hgetall(FINAL_THROUGH), redis.hkeys(OPEN_WRITTEN)]);
    // What this run writes final is recorded only after the warehouse took the rows: a failed
    // merge leaves the windows to be written final again by the next run.
    const record = withStateCommands(redis).multi() as ReturnType<Redis['multi']> & { raiseHash(key: string, ...pairs: Array<string | number>): unknown };
    const written = { open: [] as string[], final: [] as string[] };
    const through = await finalInShards(redis, shards, specs, finalThroughs, wm);
    // The counts each shard took as its windows became final: what their final rows say.
    const countedFinal = await Promise.all(shards.map((k) => redis.hgetall(k.finalCounts)));
    for (const spec of specs) {
      const done = Number(finalThroughs[spec.type] ?? Number.NEGATIVE_INFINITY);
      const from = Math.max(Number.isFinite(earliest) ? earliest - spec.sizeMs + 1 : newest, Number.isFinite(done) ? done - spec.sizeMs + spec.advanceMs : Number.NEGATIVE_INFINITY);
      const finalThrough = through[spec.type]!;
      const starts = await occupiedStarts(redis, shards, spec, from, newest + 1);
      for (const key of openWritten) if (key.startsWith(`${spec.type}:`)) starts.add(Number(key.slice(spec.type.length + 1)));
      // Also a window counted when it became final that its users have left since (a late
      // registration moved them earlier): it keeps that count.
      for (const counted of countedFinal) for (const key of Object.keys(counted)) if (key.startsWith(`${spec.type}:`)) starts.add(Number(key.slice(spec.type.length + 1)));
      const windows = [...starts]
        .sort((a, b) => a - b)
        .map((start) => ({ start, end: start + spec.sizeMs }))
        .filter((w) => w.end > done); // earlier ones were written final
      // Open windows are counted now, in one round trip for every ZCOUNT of every window and
      // shard; a final one has the counts its shards took as it became final (none: 0).
      const open = windows.filter((w) => w.end > finalThrough);
      const pipe = redis.pipeline();
      for (const w of open) for (const k of shards) pipe.zcount(k.registrations, w.start, `(${w.end}`);
      const replies = (await pipe.exec()) ?? [];
      const openCount = new Map<number, number>();
      open.forEach((w, i) => {
        let count = 0;
        for (let j = 0; j < shards.length; j++) {
          const [err, n] = replies[i * shards.length + j]!;
          if (err) throw err;
          count += Number(n);
        }
        openCount.set(w.start, count);
      });
      const finalCounts: Record<string, number> = {};
      windows.forEach((w) => {
        const key = `${spec.type}:${w.start}`;
        const isFinal = w.end <= finalThrough;
        const count = isFinal ? countedFinal.reduce((sum, counted) => sum + Number(counted[key] ?? 0), 0) : openCount.get(w.start)!;
        rows.push([iso(w.start), iso(w.end), spec.type, count, lateCounts[key] ?? 0, isFinal, now]);
        if (isFinal) {
          finalized++;
          finalCounts[key] = count;
          written.final.push(key);
        } else {
          written.open.push(key);
        }
      });
      if (Object.keys(finalCounts).length) record.hset(FINAL_COUNTS, finalCounts);
      if (finalThrough > done) record.raiseHash(FINAL_THROUGH, spec.type, finalThrough);
    }
    if (written.open.length) record.hset(OPEN_WRITTEN, Object.fromEntries(written.open.map((key) => [key, 1])));
    if (written.final.length) record.hdel(OPEN_WRITTEN, ...written.final);
    // Final windows that received late events since they were written: rewrite with the count.
    const reported = await redis.hgetall(LATE_REPORTED);
    const changed = Object.entries(lateCounts).filter(([key, n]) => Number(reported[key] ?? 0) !== n);
    const finalCounts = changed.length ? await redis.hmget(FINAL_COUNTS, ...changed.map(([key]) => key)) : [];
    changed.forEach(([key, n], i) => {
      const [type, startText] = [key.slice(0, key.lastIndexOf(':')), key.slice(key.lastIndexOf(':') + 1)];
      const spec = specs.find((s) => s.type === type);
      const start = Number(startText);
      if (!spec || start + spec.sizeMs >= TIME_LIMIT) return;
      // A final window with no registration of its own has no row yet (windows are sparse): its count is 0.
      const finalCount = finalCounts[i] ?? (start + spec.sizeMs <= (through[type] ?? Number.NEGATIVE_INFINITY) ? '0' : null);
      if (finalCount === null) return;
      if (!rows.some((r) => r[2] === type && r[0] === iso(start))) rows.push([iso(start), iso(start + spec.sizeMs), type, Number(finalCount), n, true, now]);
      record.hset(LATE_REPORTED, key, n);
    });
    if (rows.length) await warehouse.merge(REGISTRATION_METRICS, rows);
    await record.exec();
    // Written final and recorded: no run counts these windows again.
    if (written.final.length) await Promise.all(shards.map((k) => redis.hdel(k.finalCounts, ...written.final)));
  }

  await loadLateLog(redis, warehouse, shards, opts.registrationTopic, now);

  // Shards pair independently (each has its own keys).
  const signInsBehind = await laggingShards(redis, opts.shards, opts.sessionTopics.signIn, opts.partitionOffsets);
  const boundaries = await Promise.all(
    shards.map(async (_, p) => {
      const b = await pairShard(redis, p, opts.sessionTopics, { latenessMs: opts.latenessMs, timeoutMs: opts.sessionTimeoutMs });
      // No sign-ins seen yet, but some are still to come: its sessions may fall in any hour.
      return b === null && signInsBehind.has(p) ? Number.NEGATIVE_INFINITY : b;
    }),
  );
  const sessions = await sessionRows(redis, opts.shards, boundaries, now);
  if (sessions.length) await warehouse.merge(SESSION_METRICS, sessions);

  // Sales: only totals that changed since they were last merged (or were merged without a title,
  // which the catalog may have by now) are merged again.
  const [sales, salesReported] = await Promise.all([sumHashes(redis, shards.map((k) => k.sales)), redis.hgetall(SALES_REPORTED)]);
  const changedSales = Object.entries(sales).filter(([field, cents]) => Number(salesReported[field] ?? -1) !== cents);
  const titles = await catalogTitles(warehouse, [...new Set(changedSales.map(([field]) => field.slice(0, field.lastIndexOf('|'))))]);
  const saleRows: Row[] = [];
  const titled: Record<string, number> = {};
  for (const [field, cents] of changedSales) {
    const cut = field.lastIndexOf('|');
    const item = field.slice(0, cut);
    const title = titles.get(item) ?? null;
    saleRows.push([item, title, cents, field.slice(cut + 1), now]);
    if (title !== null) titled[field] = cents;
  }
  if (saleRows.length) await warehouse.merge(MOVIE_SALES, saleRows);
  if (Object.keys(titled).length) await redis.hset(SALES_REPORTED, titled);
  return { watermark: wm === null || !Number.isFinite(wm) ? null : iso(wm), windows: rows.length, finalized, sessionWindows: sessions.length, sales: saleRows.length };
}

/** Moves each shard's late log into LATE_REGISTRATIONS: merged first (keyed, so a repeat changes nothing), then removed up to what was merged. */
async function loadLateLog(redis: Redis, warehouse: Warehouse, shards: Array<ReturnType<typeof shardKeys>>, topic: string, now: string): Promise<void> {
  await Promise.all(
    shards.map(async (k, partition) => {
      // In slices, until the log is empty: the oracle reads the whole of it from the warehouse.
      for (;;) {
        const flat = await redis.zrange(k.lateLog, '0', String(LATE_LOG_BATCH - 1), 'WITHSCORES');
        if (flat.length === 0) return;
        const rows: Row[] = [];
        for (let i = 0; i < flat.length; i += 2) {
          const [eventId, through] = flat[i]!.split('\t') as [string, string];
          rows.push([topic, partition, Number(flat[i + 1]), eventId, through ?? '', now]);
        }
        await warehouse.merge(LATE_REGISTRATIONS, rows);
        await redis.zremrangebyscore(k.lateLog, '-inf', flat[flat.length - 1]!);
      }
    }),
  );
}

/**
 * Makes the windows ending at or before the watermark final in every shard and takes their
 * counts in the same step (finalizeShard-3.lua): from then on a registration for one of them is
 * late (the state step checks the final-through a batch was judged by), and the final rows carry
 * the counts taken, whatever late registrations change in the sorted set afterwards. Never moves
 * back (the watermark can, when a shard gets its first mark); a run that failed after this step
 * left the counts behind, and the next run writes the same ones. Returns the final-through of
 * each spec.
 */
async function finalInShards(redis: Redis, shards: Array<ReturnType<typeof shardKeys>>, specs: WindowSpec[], recorded: Record<string, string>, wm: number): Promise<FinalThrough> {
  const texts = await Promise.all(shards.map((k) => redis.get(k.finalThrough)));
  const through: FinalThrough = {};
  for (const text of texts) for (const [type, end] of Object.entries(parseFinalThrough(text))) through[type] = Math.max(through[type] ?? end, end);
  for (const spec of specs) {
    const ends = [through[spec.type] ?? Number.NEGATIVE_INFINITY, Number(recorded[spec.type] ?? Number.NEGATIVE_INFINITY)];
    if (Number.isFinite(wm)) ends.push(lastEndBy(spec, wm));
    through[spec.type] = Math.max(...ends);
  }
  const wanted = formatFinalThrough(Object.fromEntries(Object.entries(through).filter(([, end]) => Number.isFinite(end))));
  const quads = specs.flatMap((spec) => (Number.isFinite(through[spec.type]) ? [spec.type, spec.sizeMs, spec.advanceMs, through[spec.type]!] : []));
  // One script per shard (each is its own Redis Cluster slot): it raises, never lowers, and
  // takes the counts of the windows it makes final in the same step.
  const state = withStateCommands(redis);
  if (quads.length) await Promise.all(shards.map((k, p) => (texts[p] === wanted ? null : state.finalizeShard(k.registrations, k.finalThrough, k.finalCounts, ...quads))));
  return through;
}

async function sumHashes(redis: Redis, keys: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const h of await Promise.all(keys.map((k) => redis.hgetall(k)))) for (const [f, v] of Object.entries(h)) out[f] = (out[f] ?? 0) + Number(v);
  return out;
}

/**
 * Latest title per item from the raw catalog table. Portable SQL: max_by is arg_max in DuckDB
 * and MAX_BY in Snowflake, and the quoted aliases keep lower-case names on both.
 */
export async function catalogTitles(warehouse: Warehouse, ids: string[]): Promise<Map<string, string>> {
  const titles = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 1000) {
    // Item ids come from events: bound, never spliced into the SQL text.
    const slice = ids.slice(i, i + 1000);
    const rows = await warehouse.query<{ item_id: string; title: string | null }>(
      `SELECT item_id AS "item_id", max_by(title, event_time) AS "title" FROM raw_movies_catalog_enriched WHERE item_id IN (${slice.map(() => '?').join(', ')}) GROUP BY item_id`,
      slice,
    );
    for (const r of rows) if (r.title !== null) titles.set(r.item_id, r.title);
  }
  return titles;
}

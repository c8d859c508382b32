// `segpipe verify --runs`: recomputes, for each completed simulator run, which events it put on
// each partition and in what order, and compares with what Kafka holds for the run's users (by
// event_id; a live burst's by event id, since a live world's bursts share its users). An event acknowledged to the producer but lost before Kafka shows as missing, one
// sent twice as a duplicate, one overtaken by a later event of its partition as out of order.
// Memory: one entry per event of the runs checked.
import { EVENT_NAMES } from '../config.ts';
import type { AppContext } from '../context.ts';
import { partitionerFor } from '../kafka/partitioner.ts';
import { scanTopics } from '../kafka/scan.ts';
import { MessageDecodeError } from '../registry/errors.ts';
import { loadCatalog } from './catalog.ts';
import { simulate, type SimEvent } from './journeys.ts';
import { liveEvents } from './live.ts';
import { liveClaims, type LiveClaim } from './live-state.ts';
import { catalogFingerprint, completedRuns, type RunRecord } from './run-log.ts';

/** A live burst's name in the report: its world's prefix and its span. */
const liveLabel = (c: LiveClaim) => `${c.world.prefix}@${new Date(c.span.from).toISOString()}..${new Date(c.span.to).toISOString()}`;
const runLabel = (r: RunRecord) => (r.live ? liveLabel(r.live) : r.userPrefix);

export interface RunCheckRow {
  userPrefix: string;
  topic: string;
  partition: number;
  expected: number;
  /** Messages of the prefix's users on the partition. */
  found: number;
  missing: number;
  duplicates: number;
  /** Events of the prefix's users that no recorded run produced. */
  unexpected: number;
  /** Events that came after a later event of the same run on the partition. */
  outOfOrder: number;
}

export interface RunCheckReport {
  ok: boolean;
  runs: number;
  /** Runs that cannot be recomputed, and why. */
  skipped: { userPrefix: string; reason: string }[];
  /** Live bursts claimed and not completed (failed, or running): their events are recognised, not checked. */
  unfinished: string[];
  /** Partitions with anything missing, repeated, unexpected or out of order. */
  differences: RunCheckRow[];
  rows: RunCheckRow[];
}

interface Expected {
  row: RunCheckRow;
  /** event_id → position among the partition's events of the prefix, in production order. */
  index: Map<string, number>;
  seen: Uint8Array;
  last: number;
}

export async function checkRuns(ctx: AppContext): Promise<RunCheckReport> {
  const { config } = ctx;
  const runs = await completedRuns(ctx.redis);
  const { items } = await loadCatalog(ctx.redis);
  const catalog = catalogFingerprint(items);
  const skipped: RunCheckReport['skipped'] = [];
  const partitions = new Map<string, Expected>();
  const at = (userPrefix: string, topic: string, partition: number): Expected => {
    const id = `${userPrefix}\0${topic}\0${partition}`;
    let e = partitions.get(id);
    if (!e) {
      const row = { userPrefix, topic, partition, expected: 0, found: 0, missing: 0, duplicates: 0, unexpected: 0, outOfOrder: 0 };
      partitions.set(id, (e = { row, index: new Map(), seen: new Uint8Array(0), last: -1 }));
    }
    return e;
  };
  const partitionOf = partitionerFor(config.kafka.partitions);
  const checked = new Set<string>();
  // Live bursts share their world's users (and prefix): their events are found by event id, and
  // each burst is checked on its own (its label: prefix and span).
  const liveIds = new Map<string, { e: Expected; i: number }>();
  const expect = (label: string, events: Iterable<SimEvent>, live: boolean) => {
    const partitionOfKey = new Map<string, number>();
    for (const event of events) {
      const key = event.key();
      const topic = event.topic(config.topics);
      let p = partitionOfKey.get(key);
      if (p === undefined) partitionOfKey.set(key, (p = partitionOf(topic, key)));
      const e = at(label, topic, p);
      const i = e.row.expected++;
      const id = event.toRecord().event_id;
      e.index.set(id, i);
      if (live) liveIds.set(id, { e, i });
    }
  };
  const livePrefixes = new Set<string>();
  // One seed and one prefix give the same event ids: such runs cannot be told apart in Kafka.
  const sameIds = new Map<string, number>();
  for (const run of runs) if (!run.live) sameIds.set(`${run.seed}\0${run.userPrefix}`, (sameIds.get(`${run.seed}\0${run.userPrefix}`) ?? 0) + 1);
  const completedSpans = new Set<string>();
  for (const run of runs) {
    const twins = run.live ? 1 : sameIds.get(`${run.seed}\0${run.userPrefix}`)!;
    if (twins > 1) skipped.push({ userPrefix: run.userPrefix, reason: `${twins} runs with seed ${run.seed} and this user prefix share their event ids; give each run a prefix of its own` });
    else if (run.catalog !== catalog) skipped.push({ userPrefix: runLabel(run), reason: 'the catalog changed since the run (its journeys depend on it)' });
    else if (run.partitions !== config.kafka.partitions) skipped.push({ userPrefix: runLabel(run), reason: `the run saw ${run.partitions} partitions, the topics have ${config.kafka.partitions}` });
    else if (run.live) {
      livePrefixes.add(run.live.world.prefix);
      completedSpans.add(liveLabel(run.live));
      expect(liveLabel(run.live), liveEvents(run.live.world, run.live.span, items), true);
    } else {
      checked.add(run.userPrefix);
      expect(run.userPrefix, simulate(run, items), false);
    }
  }
  // Live bursts claimed but not completed (failed, or running now): their events are recognised,
  // not checked (a classic run that did not complete is not recorded, so not checked either).
  const unfinished = new Set<string>();
  for (const claim of await liveClaims(ctx)) {
    if (!livePrefixes.has(claim.world.prefix) || completedSpans.has(liveLabel(claim))) continue;
    unfinished.add(liveLabel(claim));
    expect(liveLabel(claim), liveEvents(claim.world, claim.span, items), true);
  }
  for (const e of partitions.values()) e.seen = new Uint8Array(e.row.expected);

  // Users are `<prefix>-<n>`: the key names its run's prefix.
  await scanTopics(
    ctx,
    EVENT_NAMES.filter((e) => e !== 'movies_catalog_enriched').map((e) => config.topics[e]),
    async ({ topic, partition, offset, key, value }) => {
      if (!key) return;
      const k = key.toString();
      const userPrefix = k.slice(0, k.lastIndexOf('-'));
      if (!checked.has(userPrefix) && !livePrefixes.has(userPrefix)) return;
      let eventId: string;
      try {
        const origin = { topic, partition, offset };
        const { value: record } = ctx.serde.decodeLoaded<{ event_id: string }>(value, origin) ?? (await ctx.serde.decode<{ event_id: string }>(value, origin));
        eventId = record.event_id;
      } catch (err) {
        if (err instanceof MessageDecodeError) return; // not an event: the stream's dead letters account for it
        throw err;
      }
      let e: Expected;
      let i: number | undefined;
      if (livePrefixes.has(userPrefix)) {
        const owner = liveIds.get(eventId);
        e = owner?.e ?? at(userPrefix, topic, partition);
        i = owner?.i;
      } else {
        e = at(userPrefix, topic, partition);
        i = e.index.get(eventId);
      }
      e.row.found++;
      if (i === undefined) e.row.unexpected++;
      else if (e.seen[i]) e.row.duplicates++;
      else {
        e.seen[i] = 1;
        if (i < e.last) e.row.outOfOrder++;
        e.last = Math.max(e.last, i);
      }
    },
  );
  const rows = [...partitions.values()].filter(({ row }) => !unfinished.has(row.userPrefix)).map(({ row, seen }) => ({ ...row, missing: row.expected - seen.reduce((a, b) => a + b, 0) }));
  rows.sort((a, b) => a.userPrefix.localeCompare(b.userPrefix) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
  const differences = rows.filter((r) => r.missing + r.duplicates + r.unexpected + r.outOfOrder > 0);
  return { ok: differences.length === 0 && skipped.length === 0, runs: runs.length, skipped, unfinished: [...unfinished], differences, rows };
}

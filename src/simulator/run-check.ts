// `segpipe verify --runs`: recomputes, for each completed simulator run, which events it put on
// each partition and in what order, and compares with what Kafka holds for the run's users (by
// event_id). An event acknowledged to the producer but lost before Kafka shows as missing, one
// sent twice as a duplicate, one overtaken by a later event of its partition as out of order.
// Memory: one entry per event of the runs checked.
import { EVENT_NAMES } from '../config.ts';
import type { AppContext } from '../context.ts';
import { partitionerFor } from '../kafka/partitioner.ts';
import { scanTopics } from '../kafka/scan.ts';
import { MessageDecodeError } from '../registry/errors.ts';
import { loadCatalog } from './catalog.ts';
import { simulate } from './journeys.ts';
import { catalogFingerprint, completedRuns } from './run-log.ts';

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
  // One seed and one prefix give the same event ids: such runs cannot be told apart in Kafka.
  const sameIds = new Map<string, number>();
  for (const run of runs) sameIds.set(`${run.seed}\0${run.userPrefix}`, (sameIds.get(`${run.seed}\0${run.userPrefix}`) ?? 0) + 1);
  for (const run of runs) {
    const twins = sameIds.get(`${run.seed}\0${run.userPrefix}`)!;
    if (twins > 1) skipped.push({ userPrefix: run.userPrefix, reason: `${twins} runs with seed ${run.seed} and this user prefix share their event ids; give each run a prefix of its own` });
    else if (run.catalog !== catalog) skipped.push({ userPrefix: run.userPrefix, reason: 'the catalog changed since the run (its journeys depend on it)' });
    else if (run.partitions !== config.kafka.partitions) skipped.push({ userPrefix: run.userPrefix, reason: `the run saw ${run.partitions} partitions, the topics have ${config.kafka.partitions}` });
    else {
      checked.add(run.userPrefix);
      const partitionOfKey = new Map<string, number>();
      for (const event of simulate(run, items)) {
        const key = event.key();
        const topic = event.topic(config.topics);
        let p = partitionOfKey.get(key);
        if (p === undefined) partitionOfKey.set(key, (p = partitionOf(topic, key)));
        const e = at(run.userPrefix, topic, p);
        e.index.set(event.toRecord().event_id, e.row.expected++);
      }
    }
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
      if (!checked.has(userPrefix)) return;
      let eventId: string;
      try {
        const origin = { topic, partition, offset };
        const { value: record } = ctx.serde.decodeLoaded<{ event_id: string }>(value, origin) ?? (await ctx.serde.decode<{ event_id: string }>(value, origin));
        eventId = record.event_id;
      } catch (err) {
        if (err instanceof MessageDecodeError) return; // not an event: the stream's dead letters account for it
        throw err;
      }
      const e = at(userPrefix, topic, partition);
      e.row.found++;
      const i = e.index.get(eventId);
      if (i === undefined) e.row.unexpected++;
      else if (e.seen[i]) e.row.duplicates++;
      else {
        e.seen[i] = 1;
        if (i < e.last) e.row.outOfOrder++;
        e.last = Math.max(e.last, i);
      }
    },
  );
  const rows = [...partitions.values()].map(({ row, seen }) => ({ ...row, missing: row.expected - seen.reduce((a, b) => a + b, 0) }));
  rows.sort((a, b) => a.userPrefix.localeCompare(b.userPrefix) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
  const differences = rows.filter((r) => r.missing + r.duplicates + r.unexpected + r.outOfOrder > 0);
  return { ok: differences.length === 0 && skipped.length === 0, runs: runs.length, skipped, differences, rows };
}

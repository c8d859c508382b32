// `segpipe verify --runs`: recomputes, for each completed simulator run, how many events it put on
// each partition, and compares with what Kafka holds for the run's users. An event acknowledged
// to the producer but lost before Kafka shows as missing; one sent twice as a duplicate (a
// retried event is byte for byte the same message).
import crypto from 'node:crypto';
import { EVENT_NAMES } from '../config.ts';
import type { AppContext } from '../context.ts';
import { scanTopics } from '../kafka/scan.ts';
import { loadCatalog } from './catalog.ts';
import { simulate } from './journeys.ts';
import { partitionerFor } from '../kafka/partitioner.ts';
import { catalogFingerprint, completedRuns } from './run-log.ts';

export interface RunCheckRow {
  userPrefix: string;
  topic: string;
  partition: number;
  expected: number;
  /** Messages of the prefix's users on the partition. */
  found: number;
  /** Of those, distinct messages. */
  distinct: number;
}

export interface RunCheckReport {
  ok: boolean;
  runs: number;
  /** Runs that cannot be recomputed, and why. */
  skipped: { userPrefix: string; reason: string }[];
  /** Partitions where found or distinct differs from expected. */
  differences: RunCheckRow[];
  rows: RunCheckRow[];
}

export async function checkRuns(ctx: AppContext): Promise<RunCheckReport> {
  const { config } = ctx;
  const runs = await completedRuns(ctx.redis);
  const { items } = await loadCatalog(ctx.redis);
  const catalog = catalogFingerprint(items);
  const skipped: RunCheckReport['skipped'] = [];
  const rows = new Map<string, RunCheckRow>();
  const row = (userPrefix: string, topic: string, partition: number): RunCheckRow => {
    const id = `${userPrefix}\0${topic}\0${partition}`;
    let r = rows.get(id);
    if (!r) rows.set(id, (r = { userPrefix, topic, partition, expected: 0, found: 0, distinct: 0 }));
    return r;
  };
  const partitionOf = partitionerFor(config.kafka.partitions);
  const checked = new Set<string>();
  for (const run of runs) {
    if (run.catalog !== catalog) skipped.push({ userPrefix: run.userPrefix, reason: 'the catalog changed since the run (its journeys depend on it)' });
    else if (run.partitions !== config.kafka.partitions) skipped.push({ userPrefix: run.userPrefix, reason: `the run saw ${run.partitions} partitions, the topics have ${config.kafka.partitions}` });
    else {
      checked.add(run.userPrefix);
      const partitionOfKey = new Map<string, number>();
      for (const event of simulate(run, items)) {
        const key = event.key();
        let p = partitionOfKey.get(key);
        if (p === undefined) partitionOfKey.set(key, (p = partitionOf(event.topic(config.topics), key)));
        row(run.userPrefix, event.topic(config.topics), p).expected++;
      }
    }
  }
  // Users are `<prefix>-<n>`: the key names its run's prefix.
  const seen = new Map<RunCheckRow, Set<string>>();
  await scanTopics(
    ctx,
    EVENT_NAMES.filter((e) => e !== 'movies_catalog_enriched').map((e) => config.topics[e]),
    ({ topic, partition, key, value }) => {
      if (!key) return;
      const k = key.toString();
      const userPrefix = k.slice(0, k.lastIndexOf('-'));
      if (!checked.has(userPrefix)) return;
      const r = row(userPrefix, topic, partition);
      r.found++;
      let s = seen.get(r);
      if (!s) seen.set(r, (s = new Set()));
      s.add(crypto.createHash('sha1').update(value ?? Buffer.alloc(0)).digest('base64'));
    },
  );
  for (const [r, s] of seen) r.distinct = s.size;
  const all = [...rows.values()].sort((a, b) => a.userPrefix.localeCompare(b.userPrefix) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
  const differences = all.filter((r) => r.found !== r.expected || r.distinct !== r.expected);
  return { ok: differences.length === 0 && skipped.length === 0, runs: runs.length, skipped, differences, rows: all };
}

// The record of completed simulator runs: what each run must have put on Kafka follows from its
// parameters (the simulator is deterministic), so `segpipe verify --runs` can recompute it and
// see an event that never reached Kafka, which a comparison of Kafka with the warehouse cannot.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CatalogItem } from './catalog.ts';
import type { LiveClaim } from './live-state.ts';

const RUNS_KEY = 'segpipe:simulator:runs';
/** Runs kept: the newest ones. */
const KEEP = 10_000;

export interface RunRecord {
  seed: number;
  events: number;
  users?: number;
  /** Simulated start, epoch ms, as the run resolved it. */
  start: number;
  userPrefix: string;
  /** sha256 of the catalog the run sold from: another catalog gives other journeys. */
  catalog: string;
  partitions: number;
  finishedAt: number;
  /** live: a span of the live world (`live`), at wall-clock time; fast-forward: simulated time from `start`. Absent in records of earlier versions (fast-forward). */
  mode?: 'live' | 'fast-forward';
  live?: LiveClaim;
  /** Event time of the run's first and last event (epoch ms), null for a run with none. */
  firstTime?: number | null;
  lastTime?: number | null;
}

export function catalogFingerprint(items: readonly CatalogItem[]): string {
  const h = crypto.createHash('sha256');
  for (const i of items) h.update(`${i.itemId}\t${i.priceCents}\t${i.currency}\n`);
  return h.digest('hex');
}

export async function recordRun(redis: Redis, run: RunRecord): Promise<void> {
  await redis.multi().zadd(RUNS_KEY, String(run.finishedAt), JSON.stringify(run)).zremrangebyrank(RUNS_KEY, 0, -KEEP - 1).exec();
}

export async function completedRuns(redis: Redis): Promise<RunRecord[]> {
  return (await redis.zrange(RUNS_KEY, '0', '-1')).map((m) => JSON.parse(m) as RunRecord);
}

/** The newest `n` completed runs, newest first. */
export async function recentRuns(redis: Redis, n: number): Promise<RunRecord[]> {
  return (await redis.zrange(RUNS_KEY, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, n)).map((m) => JSON.parse(m) as RunRecord);
}

// A simulator job whose worker is SIGKILLed in the middle of its run is retried by BullMQ. The
// retry must resume where Kafka is (not send the events again at new offsets) and run the same
// events (same start, same users): Kafka then holds exactly the run's events, each once, in
// order, and the warehouse and the metrics equal them. The world clock must be past every event
// the killed attempt sent, so a next run does not land behind the stream's watermark.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { checkRuns } from '../../src/simulator/run-check.ts';
import { worldClock } from '../../src/simulator/run.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { enqueueRun, type FirstAttempt, type SimulateResult } from '../../queues/simulator.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { oracleDiff, ownTopicsEnv, settle, userRowCounts, waitFor } from '../helpers/stream.ts';

describe('simulator job retried after its worker is killed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-sim-retry-'));
  // A Redis database of its own: the run log (verify --runs) holds only this run.
  const env = { ...ownTopicsEnv('sr'), REDIS_URL: testRedisDb(13), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('sim-retry'), ALLOWED_LATENESS_MS: '600000' };
  const ctx = new AppContext(testConfig(env));
  const procs = new RoleProcesses(dir, env);
  let stream: StreamConsumer;

  beforeAll(async () => {
    await ctx.redis.flushdb();
    await ctx.prepare();
    stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID });
    await stream.start();
  });
  afterAll(async () => {
    await procs.killAll();
    await stream?.stop();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('resumes from what Kafka holds: exactly the requested events, once each, and the metrics equal the oracle', { timeout: 300_000 }, async () => {
    const first = procs.start('worker', 'first');
    const userPrefix = unique('sr');
    // Paced so the kill lands in the middle; no start given, so the first attempt's world clock must be kept.
    const job = await enqueueRun(ctx.queues.simulator, { events: 40_000, seed: 77, rate: 4_000, userPrefix });
    const sentOf = async () => Number(((await ctx.queues.simulator.getJob(job.id!))?.progress as { sent?: number } | undefined)?.sent ?? 0);
    await waitFor('the first attempt to send 8,000 events', async () => (await sentOf()) >= 8_000, 120_000);
    await procs.kill9(first);
    const sentBeforeKill = await sentOf();
    const { start } = (await ctx.queues.simulator.getJob(job.id!))!.data.firstAttempt as FirstAttempt;
    // Every event acknowledged before the kill moved the clock on, not only the run's end.
    expect(await worldClock(ctx)).toBeGreaterThan(start + 1);

    procs.start('worker', 'second');
    await waitFor('the retried job to complete', async () => (await ctx.queues.simulator.getJob(job.id!))?.finishedOn !== undefined, 180_000);
    const done = (await ctx.queues.simulator.getJob(job.id!))!;
    expect(done.failedReason).toBeUndefined();
    const result = done.returnvalue as SimulateResult;
    expect(result.start).toBe(new Date(start).toISOString());
    expect(result.events).toBe(40_000);
    expect(result.resumed).toBeGreaterThanOrEqual(sentBeforeKill);
    expect(result.resumed).toBeLessThan(40_000);

    // Kafka: the run recomputed from its parameters, event by event.
    const runs = await checkRuns(ctx);
    expect(runs.skipped).toEqual([]);
    expect(runs.differences).toEqual([]);
    expect(runs.rows.reduce((a, r) => a + r.found, 0)).toBe(40_000);

    // The warehouse and the metrics.
    await settle(ctx, 180_000);
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0 || p.duplicates !== 0)).toEqual([]);
    const rows = await userRowCounts(ctx, userPrefix);
    expect(USER_EVENT_NAMES.reduce((a, e) => a + (rows[e]?.d ?? 0), 0)).toBe(40_000);
    await flushNow(ctx, { name: FLUSH_METRICS });
    const oracle = await oracleDiff(ctx);
    expect(oracle.diffs).toEqual([]);
    expect(oracle.finalWindows).toBeGreaterThan(0);
  });
});

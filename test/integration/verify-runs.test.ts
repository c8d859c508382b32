// verify --runs: a completed simulator run is recomputed and compared with Kafka, event by event,
// so what never reached Kafka, what reached it twice and what reached it out of order show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { checkRuns, type RunCheckRow } from '../../src/simulator/run-check.ts';
import { catalogFingerprint, recordRun } from '../../src/simulator/run-log.ts';
import { runSimulation } from '../../src/simulator/run.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv } from '../helpers/stream.ts';

const total = (rows: RunCheckRow[], field: keyof RunCheckRow) => rows.reduce((a, r) => a + Number(r[field]), 0);

describe('verify --runs', () => {
  // A Redis database of its own: the run log holds only this file's runs.
  const ctx = new AppContext(testConfig({ ...ownTopicsEnv('vr'), REDIS_URL: testRedisDb(12) }));

  beforeAll(async () => {
    await ctx.redis.flushdb();
    await ctx.prepare();
  });
  afterAll(() => ctx.close());

  it('finds every event of a completed run once, in order, on its partition', async () => {
    const params = { events: 3000, seed: 5, start: Date.parse('2026-08-01T00:00:00Z'), userPrefix: unique('vr-good') };
    const result = await runSimulation(ctx, params);
    expect(result.events).toBe(3000);
    const report = await checkRuns(ctx);
    expect(report.skipped).toEqual([]);
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
    expect(total(report.rows, 'found')).toBe(3000);
    expect(report.rows.length).toBeGreaterThan(6);
  });

  it('reports events lost before Kafka, sent twice, and sent out of order', async () => {
    const params = { events: 2000, seed: 6, start: Date.parse('2026-08-02T00:00:00Z'), userPrefix: unique('vr-bad') };
    const { items } = await loadCatalog(ctx.redis);
    const events = [...simulate(params, items)];
    // Two events of one user on one topic (so one partition) trade places.
    const i = events.findIndex((e, k) => events.slice(k + 1).some((f) => f.eventName === e.eventName && f.key() === e.key()));
    const j = events.findIndex((f, k) => k > i && f.eventName === events[i]!.eventName && f.key() === events[i]!.key());
    [events[i], events[j]] = [events[j]!, events[i]!];
    const lost = new Set([100, 200, 300].map((k) => events[k]!));
    const sent = events.filter((e) => !lost.has(e));
    sent.push(events[400]!, events[500]!);
    const producer = new EventProducer(ctx);
    await producer.send(sent);
    await producer.close();
    await recordRun(ctx.redis, { ...params, catalog: catalogFingerprint(items), partitions: ctx.config.kafka.partitions, finishedAt: Date.now() });

    const report = await checkRuns(ctx);
    expect(report.ok).toBe(false);
    const bad = report.differences.filter((d) => d.userPrefix === params.userPrefix);
    expect(report.differences).toEqual(bad);
    expect(total(bad, 'missing')).toBe(3);
    expect(total(bad, 'duplicates')).toBe(2);
    expect(total(bad, 'unexpected')).toBe(0);
    expect(total(bad, 'outOfOrder')).toBeGreaterThan(0);
    expect(total(report.rows, 'found')).toBe(3000 + 2000 - 3 + 2);
  });

  it('does not check runs it cannot tell apart: one seed and one user prefix twice', async () => {
    const { items } = await loadCatalog(ctx.redis);
    const run = { seed: 8, events: 10, start: Date.parse('2026-08-03T00:00:00Z'), userPrefix: unique('vr-twice'), catalog: catalogFingerprint(items), partitions: ctx.config.kafka.partitions };
    await recordRun(ctx.redis, { ...run, finishedAt: Date.now() });
    await recordRun(ctx.redis, { ...run, start: run.start + 60_000, finishedAt: Date.now() + 1 });
    const report = await checkRuns(ctx);
    expect(report.skipped.filter((s) => s.userPrefix === run.userPrefix)).toEqual([
      { userPrefix: run.userPrefix, reason: expect.stringMatching(/2 runs with seed 8 and this user prefix share their event ids/) },
      { userPrefix: run.userPrefix, reason: expect.stringMatching(/share their event ids/) },
    ]);
    expect(report.ok).toBe(false);
  });
});

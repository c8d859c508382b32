// Live by default (#14): `npm start`'s repeatable bursts produce one continuous world at
// wall-clock time. Two consecutive bursts, run as the scheduler runs them (simulate:burst jobs on
// a real worker, real Kafka): their events lie within minutes of now and never after it, the
// second goes on with the first's users (sign-ins and checkouts of users registered in the
// first), and verify --runs accounts for every event of both exactly. A Redis database of its own (5).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Worker } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { SIMULATE_BURST, type SimulateResult } from '../../queues/simulator.ts';
import { jobResult } from '../../queues/wait.ts';
import { AppContext } from '../../src/context.ts';
import { ConsumerRegistration } from '../../src/events/model.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { liveEvents } from '../../src/simulator/live.ts';
import type { LiveClaim } from '../../src/simulator/live-state.ts';
import { checkRuns } from '../../src/simulator/run-check.ts';
import { completedRuns } from '../../src/simulator/run-log.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { testConfig } from '../helpers/env.ts';
import { ownTopicsEnv } from '../helpers/stream.ts';

const MINUTE = 60_000;

describe('live bursts', () => {
  const ctx = new AppContext(
    testConfig({ ...ownTopicsEnv('live'), REDIS_URL: testRedisDb(5), SIMULATOR_BURST_MODE: 'live', SIMULATOR_BURST_EVENTS: '600', SIMULATOR_BURST_EVERY_S: '30', ALLOWED_LATENESS_MS: '600000', DEDUP_HORIZON_MS: '3600000' }),
  );
  let worker: Worker;

  beforeAll(async () => {
    await ctx.prepare();
    await ctx.redis.flushdb();
    worker = (await serveQueues(ctx, [QUEUES.simulator])).get(QUEUES.simulator)!;
  });
  afterAll(async () => {
    await worker?.close();
    await ctx.redis.flushdb();
    await ctx.close();
  });

  const burst = async (): Promise<{ result: SimulateResult; claim: LiveClaim }> => {
    const queue = ctx.queues[QUEUES.simulator];
    const job = await queue.add(SIMULATE_BURST, { events: 600 });
    const result = await jobResult<SimulateResult>(queue, ctx.queueEvents(QUEUES.simulator), job as Job, 120_000);
    return { result, claim: (await queue.getJob(job.id!))!.data.live as LiveClaim };
  };

  it('produce events around now, keep their users from one burst to the next, and pass verify --runs', { timeout: 240_000 }, async () => {
    const t1 = Date.now();
    const first = await burst();
    expect(first.result.mode).toBe('live');
    expect(first.result.events).toBeGreaterThan(200);
    // A new world's first burst: the few minutes before now, nothing after it.
    expect(Date.parse(first.result.firstEventAt!)).toBeGreaterThan(t1 - 7 * MINUTE);
    expect(Date.parse(first.result.lastEventAt!)).toBeLessThanOrEqual(Date.now());
    await sleep(10_000);
    const t2 = Date.now();
    const second = await burst();
    expect(second.claim.world.prefix).toBe(first.claim.world.prefix);
    expect(second.claim.span.from).toBe(first.claim.span.to);
    expect(second.result.events).toBeGreaterThan(20);
    expect(Date.parse(second.result.firstEventAt!)).toBeGreaterThanOrEqual(first.claim.span.to);
    expect(Date.parse(second.result.firstEventAt!)).toBeGreaterThan(t2 - 2 * MINUTE);
    expect(Date.parse(second.result.lastEventAt!)).toBeLessThanOrEqual(Date.now());

    // The second burst's users include the first's: what Kafka holds is these events (verify below).
    const { items } = await loadCatalog(ctx.redis);
    const registered = new Set(liveEvents(first.claim.world, first.claim.span, items).filter((e) => e instanceof ConsumerRegistration).map((e) => e.userId));
    const next = liveEvents(second.claim.world, second.claim.span, items);
    expect(next).toHaveLength(second.result.events);
    const again = next.filter((e) => registered.has(e.userId) && (e.eventName === 'sign_in' || e.eventName === 'item_view' || e.eventName === 'checkout' || e.eventName === 'added_to_cart'));
    expect(again.length).toBeGreaterThan(0);
    expect(next.some((e) => registered.has(e.userId) && e.eventName === 'sign_in')).toBe(true);

    // Both bursts recorded as live, and every one of their events in Kafka once, in order.
    const runs = await completedRuns(ctx.redis);
    expect(runs.map((r) => r.mode)).toEqual(['live', 'live']);
    const report = await checkRuns(ctx);
    expect(report.skipped).toEqual([]);
    expect(report.unfinished).toEqual([]);
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rows.reduce((a, r) => a + r.found, 0)).toBe(first.result.events + second.result.events);
  });
});

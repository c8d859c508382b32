// The simulator through the real stack: REST trigger → BullMQ job → producer → Kafka, every
// record decoded with the schema registered for its topic and compared with the pure simulation.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Consumer } from 'kafkajs';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { subjectFor } from '../../src/registry/serde.ts';
import { buildApi } from '../../src/roles/api.ts';
import { startWorkers } from '../../src/roles/worker.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { runSimulation } from '../../src/simulator/run.ts';
import { SIMULATE_BURST } from '../../queues/simulator.ts';
import { waitFor } from '../helpers/stream.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { lastBatchCodec, partitionDir } from '../helpers/kafka-log.ts';

const TOKEN = 'simulator-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('simulator through Kafka', () => {
  // Fast-forward bursts (the live ones have a test of their own: live-bursts.test.ts).
  const ctx = new AppContext(testConfig({ ADMIN_TOKEN: TOKEN, SIMULATOR_BURST_MODE: 'fast-forward' }));
  const userTopics = USER_EVENT_NAMES;
  const received: Array<{ topic: string; partition: number; value: Record<string, unknown>; schemaId: number; key: string }> = [];
  let consumer: Consumer;
  let api: FastifyInstance;

  beforeAll(async () => {
    await ctx.prepare();
    await ctx.queues.simulator.obliterate({ force: true });
    consumer = ctx.kafka.consumer({ groupId: unique('sim-test') });
    await consumer.connect();
    await consumer.subscribe({ topics: userTopics.map((t) => ctx.config.topics[t]), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        // Other tests put poison messages on these topics; only this run's events matter here.
        const decoded = await ctx.serde.decode<Record<string, unknown>>(message.value, { topic, partition, offset: message.offset }).catch(() => null);
        if (decoded) received.push({ topic, partition, value: decoded.value, schemaId: decoded.schemaId, key: message.key!.toString() });
      },
    });
    await startWorkers(ctx);
    api = await buildApi(ctx);
  });
  afterAll(async () => {
    await api?.close();
    await consumer?.disconnect();
    await ctx.close();
  });

  it('rejects bad parameters with a 400 naming the parameter', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /events/],
      [{ events: 0 }, /events must be >= 1/],
      [{ events: 10, speed: -1 }, /speed/],
      [{ events: 10, seed: 'abc' }, /seed/],
      [{ events: 10, start: 'yesterday' }, /start/],
      [{ events: 10, userPrefix: 'two words' }, /userPrefix/],
      [{ events: 10, rate: 0 }, /rate/],
      [{ events: 10, users: 0 }, /users/],
      [{ events: 10, colour: 'red' }, /additional properties/],
    ];
    for (const [payload, message] of cases) {
      const res = await api.inject({ method: 'POST', url: '/api/runs/simulator', headers: auth, payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().message).toMatch(message);
    }
  });

  type Run = { state: string; result: { events: number; firstEventAt: string; lastEventAt: string } | null; failedReason: string | null };
  const finished = async (jobId: string): Promise<Run> => {
    let run: Run = { state: '', result: null, failedReason: null };
    for (let i = 0; i < 300 && run.state !== 'completed' && run.state !== 'failed'; i++) {
      await sleep(100);
      run = (await api.inject({ url: `/api/runs/simulator/${jobId}`, headers: auth })).json();
    }
    return run;
  };

  it('a REST run produces the requested events, each decoding with its topic\'s registered schema and matching the simulation', async () => {
    const start = Date.parse('2026-11-20T08:00:00.000Z');
    const res = await api.inject({ method: 'POST', url: '/api/runs/simulator', headers: auth, payload: { events: 3000, seed: 99, start: new Date(start).toISOString() } });
    expect(res.statusCode).toBe(202);
    const { jobId } = res.json();
    const run = await finished(jobId);
    expect(run.failedReason).toBeNull();
    expect(run.result).toMatchObject({ events: 3000 });
    expect((run as Run & { progress: unknown }).progress).toMatchObject({ sent: 3000, percent: 100 });
    // Runs can be listed, newest first, with their state.
    const listed = (await api.inject({ url: '/api/runs/simulator?state=completed', headers: auth })).json() as { runs: Array<{ id: string; state: string }> };
    expect(listed.runs.map((r) => r.id)).toContain(jobId);
    const all = (await api.inject({ url: '/api/runs?limit=5', headers: auth })).json() as { runs: Array<{ id: string; queue: string; state: string }> };
    expect(all.runs.length).toBeLessThanOrEqual(5);
    expect(all.runs.find((r) => r.id === jobId)).toMatchObject({ queue: 'simulator', state: 'completed' });
    expect((await api.inject({ url: '/api/runs?limit=0', headers: auth })).statusCode).toBe(400);
    expect((await api.inject({ url: '/api/runs' })).statusCode).toBe(401);

    const prefix = `r${jobId}-`;
    const mine = () => received.filter((r) => String(r.value.user_id).startsWith(prefix));
    for (let i = 0; i < 200 && mine().length < 3000; i++) await sleep(100);
    expect(mine()).toHaveLength(3000);

    const latest = new Map(
      await Promise.all(userTopics.map(async (t) => [ctx.config.topics[t], (await ctx.registry.latest(subjectFor(ctx.config.topics[t]))).id] as const)),
    );
    for (const r of mine()) {
      expect(r.schemaId).toBe(latest.get(r.topic));
      expect(r.key).toBe(r.value.user_id);
    }
    // Stored compressed (KAFKA_COMPRESSION, snappy by default): the broker's newest batch says so.
    const dir = partitionDir(ctx.config, ctx.config.topics.item_view, mine().find((r) => r.topic === ctx.config.topics.item_view)!.partition);
    expect(fs.existsSync(dir), `${dir}: the test stack's broker data`).toBe(true);
    expect(lastBatchCodec(dir)).toBe(2);

    const { items } = await loadCatalog(ctx.redis);
    const expected = [...simulate({ seed: 99, events: 3000, start, userPrefix: prefix.slice(0, -1) }, items)];
    const byId = new Map(mine().map((r) => [r.value.event_id as string, r]));
    for (const e of expected) {
      const got = byId.get(e.eventId);
      expect(got, e.eventId).toBeDefined();
      expect(got!.topic).toBe(ctx.config.topics[e.eventName]);
      expect(got!.value).toEqual(e.toRecord());
    }
  });

  it('encodes the same seed to the same bytes, and another seed to different ones', async () => {
    const producer = new EventProducer(ctx);
    const { items } = await loadCatalog(ctx.redis);
    const bytes = (seed: number) =>
      Buffer.concat([...simulate({ seed, events: 2000, start: 0, userPrefix: 'same' }, items)].map((e) => producer.toMessage(e).message.value as Buffer));
    expect(bytes(5).equals(bytes(5))).toBe(true);
    expect(bytes(5).equals(bytes(6))).toBe(false);
  });

  it('runs without a start continue the simulated world: each begins where the last one ended, never before now', async () => {
    const submitted = Date.now();
    const run = async () => {
      const res = await api.inject({ method: 'POST', url: '/api/runs/simulator', headers: auth, payload: { events: 500, seed: 3 } });
      const done = await finished(res.json().jobId);
      expect(done.failedReason).toBeNull();
      return done.result!;
    };
    const first = await run();
    const second = await run();
    expect(Date.parse(first.firstEventAt)).toBeGreaterThanOrEqual(submitted - 1000);
    // As fast as possible, 500 events span hours of simulated time: far ahead of the wall clock.
    expect(Date.parse(first.lastEventAt)).toBeGreaterThan(Date.now() + 60_000);
    expect(Date.parse(second.firstEventAt)).toBeGreaterThan(Date.parse(first.lastEventAt));
  });

  it('a run whose generator fails rejects, and the next run on the same threads still completes', async () => {
    // An invalid start makes the generator thread throw on its first event.
    await expect(runSimulation(ctx, { events: 200, seed: 1, start: Number.NaN })).rejects.toThrow(/Invalid time value/);
    const next = await Promise.race([runSimulation(ctx, { events: 200, seed: 1, userPrefix: unique('after-failure') }), sleep(30_000).then(() => null)]);
    expect(next?.events).toBe(200);
  });

  it('two REST runs with the same seed, start, parameters and userPrefix produce the same records', async () => {
    const userPrefix = unique('det');
    const body = { events: 400, seed: 11, start: '2026-11-21T06:00:00.000Z', userPrefix };
    for (let i = 0; i < 2; i++) {
      const res = await api.inject({ method: 'POST', url: '/api/runs/simulator', headers: auth, payload: body });
      expect((await finished(res.json().jobId)).failedReason).toBeNull();
    }
    const mine = () => received.filter((r) => String(r.value.user_id).startsWith(`${userPrefix}-`));
    for (let i = 0; i < 200 && mine().length < 800; i++) await sleep(100);
    const byId = new Map<string, string[]>();
    for (const r of mine()) byId.set(r.value.event_id as string, [...(byId.get(r.value.event_id as string) ?? []), JSON.stringify(r.value)]);
    expect(byId.size).toBe(400);
    for (const [id, copies] of byId) expect(copies, id).toEqual([copies[0], copies[0]]);
  });

  it('paces a run to its rate', async () => {
    const res = await api.inject({ method: 'POST', url: '/api/runs/simulator', headers: auth, payload: { events: 300, seed: 4, rate: 300 } });
    const run = await finished(res.json().jobId);
    expect(run.result).toMatchObject({ events: 300 });
    // Event n is due at n / rate seconds: the 300th at about 1 s.
    expect((run.result as unknown as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(900);
  });

  it('the repeatable simulate:burst job in fast-forward mode produces its events, each burst with new users after the last', async () => {
    const queue = ctx.queues.simulator;
    await queue.upsertJobScheduler(SIMULATE_BURST, { every: 1000 }, { name: SIMULATE_BURST, data: { events: 300 } });
    type Burst = { events: number; start: string; lastEventAt: string; seed: number };
    let bursts: Burst[] = [];
    try {
      await waitFor('two bursts', async () => {
        bursts = (await queue.getJobs(['completed'])).filter((j) => j.name === SIMULATE_BURST).map((j) => j.returnvalue as Burst);
        return bursts.length >= 2;
      });
    } finally {
      await queue.removeJobScheduler(SIMULATE_BURST);
    }
    bursts.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    const [a, b] = bursts as [Burst, Burst];
    expect(a.events).toBe(300);
    expect(b.events).toBe(300);
    expect(a.seed).not.toBe(b.seed);
    expect(Date.parse(b.start)).toBeGreaterThan(Date.parse(a.lastEventAt));
  });
});

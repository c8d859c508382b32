// The worker that owns the warehouse SIGKILLed inside a raw load's transaction (after the rows
// and the new position, before the commit): a worker process holds there (fault injection), is
// killed, and a fresh worker loads again from the position the warehouse kept. The warehouse must
// end with every produced event exactly once and every offset accounted for.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { ownTopicsEnv, resetStreamState, settle, userRowCounts, waitFor } from '../helpers/stream.ts';

describe('warehouse owner killed inside a raw load', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-flush-kill-'));
  const env = { ...ownTopicsEnv('fk'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('flush-kill') };
  const ctx = new AppContext(testConfig(env));
  const procs = new RoleProcesses(dir, env);
  let stream: StreamConsumer;

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    await ctx.queues.flush.obliterate({ force: true });
    stream = new StreamConsumer(ctx, { groupId: ctx.config.stream.groupId });
    await stream.start();
  });
  afterAll(async () => {
    await procs.killAll();
    await stream.stop();
    await ctx.queues.flush.obliterate({ force: true });
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reloads the range the killed load had not committed, and ends with each event exactly once', { timeout: 180_000 }, async () => {
    const prefix = unique('fk');
    const { items } = await loadCatalog(ctx.redis);
    const events = [...simulate({ seed: 808, events: 30_000, start: Date.parse('2026-10-01T00:00:00Z'), userPrefix: prefix }, items)];
    const expected = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, events.filter((x) => x.eventName === e).length]));
    const producer = new EventProducer(ctx);
    await producer.send(events);
    await producer.close();

    const marker = path.join(dir, 'loading.pid');
    const holding = procs.start('worker', 'holding', { SEGPIPE_FAULT_HOLD_IN_LOAD: marker });
    await waitFor('a load to hold inside its transaction', () => fs.existsSync(marker), 90_000);
    await procs.kill9(holding);

    const fresh = procs.start('worker', 'fresh');
    await settle(ctx, 120_000);
    const got = await userRowCounts(ctx, prefix);
    for (const e of USER_EVENT_NAMES) expect(got[e], e).toEqual({ n: expected[e], d: expected[e] });
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0)).toEqual([]);
    expect(report.partitions.reduce((s, p) => s + p.duplicates + p.deadLetters, 0)).toBe(0);
    await procs.kill9(fresh);
  });
});

// The raw path: every event topic straight from Kafka into the raw tables, the warehouse the
// position of record (RAW_OFFSETS, moved in the transaction that appends the rows). Re-sent
// events and junk must leave each event once (a loader SIGKILLed inside its transaction: see
// flush-kill.test.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { createIdempotentProducer, topicOffsets } from '../../src/kafka/client.ts';
import { scanTopics } from '../../src/kafka/scan.ts';
import { RawLoader } from '../../src/loader/raw-loader.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTableName, rawTables } from '../../src/warehouse/tables.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, waitFor } from '../helpers/stream.ts';

describe('raw loader', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-loader-'));
  const env = { ...ownTopicsEnv('rl'), DUCKDB_PATH: path.join(dir, 'wh.duckdb') };
  const ctx = new AppContext(testConfig(env));
  const prefix = unique('rl');
  const expected: Record<string, number> = {};
  const JUNK = 40;
  const RESENT = 50;

  const open = async (file: string) => {
    const w = await DuckDBWarehouse.open(file);
    await w.ensureSchema([...rawTables().values(), RAW_OFFSETS]);
    return w;
  };
  /** True once every partition's position is Kafka's end. */
  const caughtUp = async (w: DuckDBWarehouse) => {
    const positions = await w.rawPositions();
    for (const e of USER_EVENT_NAMES) {
      for (const [p, { high }] of await topicOffsets(await ctx.admin(), ctx.config.topics[e])) if ((positions.get(`${ctx.config.topics[e]}:${p}`)?.nextOffset ?? 0) < high) return false;
    }
    return true;
  };
  /** Each event once, every offset accounted for as a row, a duplicate or a dead letter. */
  const expectExact = async (w: DuckDBWarehouse) => {
    for (const e of USER_EVENT_NAMES) {
      const [got] = await w.query<{ n: number; d: number }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM ${rawTableName(e)} WHERE user_id LIKE ?`, [`${prefix}-%`]);
      expect(got, e).toEqual({ n: expected[e], d: expected[e] });
    }
    const positions = await w.rawPositions();
    let duplicates = 0;
    let dead = 0;
    for (const e of USER_EVENT_NAMES) {
      for (const [p, { low, high }] of await topicOffsets(await ctx.admin(), ctx.config.topics[e])) {
        const pos = positions.get(`${ctx.config.topics[e]}:${p}`)!;
        expect(pos.nextOffset).toBe(high);
        expect(pos.rows + pos.duplicates + pos.deadLetters, `${e}:${p}`).toBe(high - low);
        duplicates += pos.duplicates;
        dead += pos.deadLetters;
      }
    }
    expect(duplicates).toBe(RESENT);
    expect(dead).toBe(JUNK);
  };

  beforeAll(async () => {
    await ctx.prepare();
    const { items } = await loadCatalog(ctx.redis);
    const events = [...simulate({ seed: 77, events: 20_000, start: Date.parse('2026-09-01T00:00:00Z'), userPrefix: prefix }, items)];
    for (const e of USER_EVENT_NAMES) expected[e] = events.filter((x) => x.eventName === e).length;
    const producer = new EventProducer(ctx);
    // Every event once, then 50 of them again at new offsets (an at-least-once producer's retry).
    await producer.send(events);
    await producer.send(events.slice(1000, 1000 + RESENT));
    await producer.close();
    const junk = createIdempotentProducer(ctx.kafka, ctx.config);
    await junk.connect();
    await junk.send({ topic: ctx.config.topics.item_view, messages: Array.from({ length: JUNK }, () => ({ key: crypto.randomBytes(6), value: crypto.randomBytes(48) })) });
    await junk.disconnect();
  }, 120_000);
  afterAll(async () => {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads every topic-partition from Kafka: each event once, the re-sent ones counted as duplicates, junk dead-lettered once', { timeout: 180_000 }, async () => {
    const w = await open(ctx.config.warehouse.kind === 'duckdb' ? ctx.config.warehouse.path : '');
    const loader = new RawLoader(ctx, w, { groupId: unique('rl'), maxRows: 5000, maxWaitMs: 300 });
    try {
      await loader.start();
      await waitFor('the loader to reach the end of every partition', () => caughtUp(w), 120_000);
      await expectExact(w);
      const deadAt = new Set<string>();
      await scanTopics(ctx, [ctx.config.topics.dlq], ({ headers }) => void deadAt.add(`${headers.source_topic}:${headers.source_partition}:${headers.source_offset}`));
      expect(deadAt.size).toBe(JUNK);
      // A range loaded again (a replay) is refused inside the transaction and changes nothing.
      const table = rawTables().get('item_view')!;
      expect(await w.loadRaw({ table, topic: ctx.config.topics.item_view, partition: 0, from: 0, to: 1, rows: [], deadLetters: 1, mark: -1 })).toMatchObject({ applied: false });
      await expectExact(w);
    } finally {
      await loader.stop();
      await w.close();
    }
  });

  it('a loader whose group is far behind the warehouse (a new LOADER_GROUP_ID, a lost commit) skips to the warehouse position and loads what follows', { timeout: 180_000 }, async () => {
    const w = await open(ctx.config.warehouse.kind === 'duckdb' ? ctx.config.warehouse.path : '');
    // Small fetches: every batch the new group gets at first lies wholly before the position.
    const loader = new RawLoader(ctx, w, { groupId: unique('rl-new'), maxRows: 5000, maxWaitMs: 300, maxBytesPerPartition: 16_384 });
    try {
      await loader.start();
      const { items } = await loadCatalog(ctx.redis);
      const more = [...simulate({ seed: 78, events: 2_000, start: Date.parse('2026-09-20T00:00:00Z'), userPrefix: prefix }, items)];
      for (const e of USER_EVENT_NAMES) expected[e] = (expected[e] ?? 0) + more.filter((x) => x.eventName === e).length;
      const producer = new EventProducer(ctx);
      await producer.send(more);
      await producer.close();
      await waitFor('the new group to load the events after the position', () => caughtUp(w), 120_000);
      await expectExact(w);
    } finally {
      await loader.stop();
      await w.close();
    }
  });
});

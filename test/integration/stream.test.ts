// Ingestion against the real stack: raw rows Kafka → loader → DuckDB, state Kafka → stream → Lua
// step → Redis, dead letters for poison messages, and reconciliation.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, IHeaders } from 'kafkajs';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { createIdempotentProducer } from '../../src/kafka/client.ts';
import { startWorkers } from '../../src/roles/worker.ts';
import type { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { ownedWarehouse } from '../../workers/warehouse-owner.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate, type SimEvent } from '../../src/simulator/journeys.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { rawTableName } from '../../src/warehouse/tables.ts';
import { TEST_ENV, testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, resetStreamState, settle, waitFor, ownedQuery } from '../helpers/stream.ts';

describe('stream ingestion into DuckDB', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-stream-'));
  // Topics of its own: other files produce the same event twice on the shared topics (a REST run
  // repeated with the same seed), which reconcile rightly counts as a difference.
  const env = { ...ownTopicsEnv('s'), DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('stream'), FLUSH_EVERY_MS: '500' };
  const ctx = new AppContext(testConfig(env));
  const stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID });
  const query = ownedQuery(ctx);
  const events: SimEvent[] = [];
  const prefix = unique('st');
  let dlqConsumer: Consumer;
  const deadLetters: Array<{ headers: Record<string, string>; value: Buffer | null }> = [];

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    await ctx.queues.flush.obliterate({ force: true });
    await startWorkers(ctx);
    dlqConsumer = ctx.kafka.consumer({ groupId: unique('dlq-reader') });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({ topic: ctx.config.topics.dlq, fromBeginning: true });
    await dlqConsumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers as IHeaders).map(([k, v]) => [k, String(v)]));
        deadLetters.push({ headers, value: message.value });
      },
    });
    await stream.start();
  });
  afterAll(async () => {
    await stream.stop();
    await dlqConsumer?.disconnect();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lands every event type in its table with the values produced', async () => {
    const { items } = await loadCatalog(ctx.redis);
    events.push(...simulate({ seed: 4242, events: 3000, start: Date.parse('2026-11-21T00:00:00Z'), userPrefix: prefix }, items));
    const producer = new EventProducer(ctx);
    await producer.send(events);
    await producer.close();

    const byType = new Map<string, SimEvent[]>();
    for (const e of events) byType.set(e.eventName, [...(byType.get(e.eventName) ?? []), e]);
    await waitFor('all rows in the warehouse', async () => {
      const counts = await Promise.all(
        [...byType.keys()].map(async (t) => (await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM ${rawTableName(t as SimEvent['eventName'])} WHERE user_id LIKE '${prefix}%'`))[0]!.n),
      );
      return counts.every((n, i) => n === [...byType.values()][i]!.length);
    });

    for (const [type, list] of byType) {
      const rows = await query<Record<string, unknown>>(`SELECT * FROM ${rawTableName(type as SimEvent['eventName'])} WHERE user_id LIKE '${prefix}%'`);
      const byId = new Map(rows.map((r) => [r.event_id as string, r]));
      for (const e of list) {
        const row = byId.get(e.eventId)!;
        const rec = e.toRecord() as unknown as Record<string, unknown>;
        expect(row, `${type} ${e.eventId}`).toBeDefined();
        expect(row.event_time).toBe(rec.timestamp);
        for (const [k, v] of Object.entries(rec)) if (k !== 'timestamp') expect(row[k], `${type}.${k}`).toEqual(v);
        expect(row.kafka_topic).toBe(ctx.config.topics[e.eventName]);
      }
    }
  });

  it('sends poison messages to the DLQ once, with their reason, and keeps the good ones around them', async () => {
    const topic = ctx.config.topics.sign_in;
    const good = (n: number) => ({ event_id: `${prefix}-good-${n}`, event_name: 'sign_in', timestamp: '2026-11-21T10:00:00.000Z', user_id: `${prefix}-poison-user` });
    const valid = ctx.serde.encode(topic, good(1));
    const unknownId = Buffer.from(valid);
    unknownId.writeInt32BE(1_999_999_999, 1);
    const poison = [
      { value: Buffer.from('total garbage, not even close'), reason: 'wrong_magic_byte' },
      { value: Buffer.concat([Buffer.from([7]), valid.subarray(1)]), reason: 'wrong_magic_byte' },
      { value: unknownId, reason: 'unknown_schema_id' },
      { value: ctx.serde.encode(topic, { ...good(9), user_id: '   ' }), reason: 'missing_required_field' },
      { value: ctx.serde.encode(topic, { ...good(8), timestamp: 'last tuesday' }), reason: 'invalid_timestamp' },
      // A 2000-character user id breaks the schema's rule for strings (at most 1024).
      { value: ctx.serde.encode(topic, { ...good(7), user_id: 'u'.repeat(2000) }), reason: 'invalid_value' },
    ];
    const key = `${prefix}-poison-user`; // one key: one partition, good and bad interleaved
    const p = createIdempotentProducer(ctx.kafka, ctx.config);
    await p.connect();
    await p.send({
      topic,
      acks: -1,
      messages: [
        { key, value: valid },
        ...poison.flatMap((x, i) => [{ key, value: x.value }, { key, value: ctx.serde.encode(topic, good(100 + i)) }]),
      ],
    });
    await p.disconnect();

    await waitFor('six dead letters', () => deadLetters.filter((d) => d.headers.source_topic === topic && poison.some((x) => x.value.equals(d.value ?? Buffer.alloc(0)))).length >= poison.length);
    for (const x of poison) {
      const d = deadLetters.find((dl) => dl.value?.equals(x.value))!;
      expect(d, x.reason).toBeDefined();
      expect(d.headers.reason).toBe(x.reason);
      expect(d.headers.source_topic).toBe(topic);
      expect(Number(d.headers.source_offset)).toBeGreaterThanOrEqual(0);
      expect(d.headers.error!.length).toBeGreaterThan(0);
    }
    await waitFor('the seven good sign-ins', async () => (await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM raw_sign_in WHERE user_id = '${key}'`))[0]!.n === 7);
    // Both paths read the topic; only the raw loader dead-letters, so each poison message is there once.
    await settle(ctx, 60_000);
    for (const x of poison) expect(deadLetters.filter((d) => d.value?.equals(x.value)).length, x.reason).toBe(1);
  });

  it('reconciles to zero difference, then reports (and `segpipe verify` exits 1 on) a row deleted by hand', async () => {
    await settle(ctx, 60_000);
    const report = await reconcile(ctx);
    expect(report.partitions.filter((p) => p.difference !== 0)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.partitions.reduce((s, p) => s + p.deadLetters, 0)).toBeGreaterThanOrEqual(5);

    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['bin/segpipe.mjs', ...args], { env: { ...process.env, ...TEST_ENV, ...env, LOG_LEVEL: 'error' } }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    const clean = await cli(['verify']);
    expect(clean.out).toContain('every offset the loader passed is a row, a duplicate or a dead letter');
    // Each topic's partitions in order, then its total.
    const checkoutLines = clean.out.split('\n').filter((l) => l.startsWith(ctx.config.topics.checkout));
    const parts = checkoutLines.map((l) => l.split(/\s+/)[1]!);
    expect(parts.at(-1)).toBe('all');
    const numbers = parts.slice(0, -1).map(Number);
    expect(numbers.length).toBeGreaterThan(1);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(clean.code).toBe(0);
    // --json: stdout is one JSON document, the report with the oracle's result in it.
    const json = (await promisify(execFile)(process.execPath, ['bin/segpipe.mjs', 'verify', '--json', '--metrics'], { env: { ...process.env, ...TEST_ENV, ...env, LOG_LEVEL: 'error' } }).catch((e: { stdout: string }) => e)) as { stdout: string };
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, partitions: expect.any(Array), oracle: { diffs: expect.any(Array), finalWindows: expect.any(Number) } });

    const victim = events.find((e) => e.eventName === 'item_view')!;
    // A row lost by hand, on the writing connection of the warehouse this process owns.
    const owned = (await ownedWarehouse(ctx)) as DuckDBWarehouse;
    await owned.execute(`DELETE FROM raw_item_view WHERE event_id = '${victim.eventId}'`);
    const after = await reconcile(ctx);
    expect(after.ok).toBe(false);
    expect(after.partitions.filter((p) => p.difference !== 0)).toEqual([expect.objectContaining({ topic: ctx.config.topics.item_view, difference: 1 })]);
    const broken = await cli(['verify']);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('MISMATCH');
  });

  it('a year-9999 timestamp and one days ahead of the clock go to the DLQ as future_timestamp: no raw row, no watermark moved, the flush goes on', { timeout: 120_000 }, async () => {
    const { partitionerFor } = await import('../../src/kafka/partitioner.ts');
    const { shardKeys } = await import('../../src/state/scripts.ts');
    const topic = ctx.config.topics.consumer_registration;
    const key = `${prefix}-clock-user`;
    const partition = partitionerFor(ctx.config.kafka.partitions)(topic, key);
    const markBefore = Number(await ctx.redis.hget(shardKeys(partition).maxTime, topic));
    expect(markBefore).toBeGreaterThan(0); // the first test's registrations reached this partition
    const reg = (n: string, timestamp: string) => ({ event_id: `${prefix}-clock-${n}`, event_name: 'consumer_registration', timestamp, user_id: key, age: 30, masked_email: 'x***@example.com', preferred_language: 'en' });
    const inThreeDays = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const bad = [reg('9999', '9999-12-31T23:59:59.999Z'), reg('ahead', inThreeDays)];
    const good = reg('good', new Date(markBefore + 60_000).toISOString());
    const p = createIdempotentProducer(ctx.kafka, ctx.config);
    await p.connect();
    await p.send({ topic, acks: -1, messages: [...bad, good].map((r) => ({ key, value: ctx.serde.encode(topic, r) })) });
    await p.disconnect();

    await waitFor('the good registration in the warehouse', async () => (await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM raw_consumer_registration WHERE user_id = '${key}'`))[0]!.n === 1);
    await waitFor('two future_timestamp dead letters', () => deadLetters.filter((d) => d.headers.source_topic === topic && d.headers.reason === 'future_timestamp').length >= 2);
    const rows = await query<{ event_id: string }>(`SELECT event_id FROM raw_consumer_registration WHERE user_id = '${key}'`);
    expect(rows.map((r) => r.event_id)).toEqual([good.event_id]);
    const dead = deadLetters.filter((d) => d.headers.source_topic === topic && d.headers.reason === 'future_timestamp');
    expect(dead).toHaveLength(2);
    expect(dead[0]!.headers.error).toContain('MAX_EVENT_TIME_SKEW_MS');
    // The stream left both out: its mark is the good event's time, not year 9999.
    await settle(ctx, 60_000);
    expect(Number(await ctx.redis.hget(shardKeys(partition).maxTime, topic))).toBe(Date.parse(good.timestamp));
    // flush:metrics (run by this process's flush worker) writes no window near either bad time.
    const far = await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM user_registration_metrics WHERE window_end > TIMESTAMP '${inThreeDays.slice(0, 10)}' - INTERVAL 1 day`);
    expect(far[0]!.n).toBe(0);
    // Each offset of the topic is a row or a dead letter (the test before deleted an item view by hand).
    expect((await reconcile(ctx)).partitions.filter((r) => r.topic === topic && r.difference !== 0)).toEqual([]);
  });

  it('the state step applies a batch once: a replay, a re-sent event_id and an event beyond the dedup horizon change nothing; a moved position applies nothing', async () => {
    const { applyBatch, shardKeys } = await import('../../src/state/scripts.ts');
    const redis = ctx.redis.duplicate();
    await redis.select(1); // a separate database: state of this test only
    await redis.flushdb();
    try {
      const k = shardKeys(0);
      const HOUR = 3_600_000;
      const t0 = Date.parse('2026-11-22T00:00:00Z');
      const sale = (offset: number, id: string, t: number) => ({ offset: String(offset), eventId: id, time: t, op: `S 42|USD ${100 + offset}` });
      const batch = { topic: 't', lastOffset: '2', maxEventTime: t0 + 2, dedupHorizonMs: HOUR, late: [], events: [sale(0, 'a', t0), sale(1, 'b', t0 + 1), sale(2, 'c', t0 + 2)] };
      expect(await applyBatch(redis, 0, { ...batch, readFrom: null })).toEqual({ applied: 3, duplicates: 0, refused: 0, moved: false });
      expect(await redis.hget(k.sales, '42|USD')).toBe(String(100 + 101 + 102));
      // The same batch decided from the old position: the position moved, nothing applies.
      expect(await applyBatch(redis, 0, { ...batch, readFrom: null })).toMatchObject({ applied: 0, moved: true });
      // A replay from the right position: offsets already applied are skipped.
      expect(await applyBatch(redis, 0, { ...batch, readFrom: 2 })).toEqual({ applied: 0, duplicates: 0, refused: 0, moved: false });
      // The same events re-sent at new offsets (a retried producer): recognised by event_id.
      const resent = { ...batch, lastOffset: '5', events: [sale(3, 'a', t0), sale(4, 'b', t0 + 1), sale(5, 'd', t0 + 3)], maxEventTime: t0 + 3 };
      expect(await applyBatch(redis, 0, { ...resent, readFrom: 2 })).toEqual({ applied: 1, duplicates: 2, refused: 0, moved: false });
      expect(await redis.hget(k.sales, '42|USD')).toBe(String(100 + 101 + 102 + 105));
      // Far on in event time the old ids are forgotten; an event that old is refused, not counted again.
      const later = { ...batch, lastOffset: '6', events: [sale(6, 'e', t0 + 3 * HOUR)], maxEventTime: t0 + 3 * HOUR };
      expect(await applyBatch(redis, 0, { ...later, readFrom: 5 })).toMatchObject({ applied: 1 });
      expect(await redis.zcard(k.seen('t'))).toBe(1);
      const old = { ...batch, lastOffset: '7', events: [sale(7, 'a', t0)], maxEventTime: -1 };
      expect(await applyBatch(redis, 0, { ...old, readFrom: 6 })).toEqual({ applied: 0, duplicates: 0, refused: 1, moved: false });
      expect(await redis.hget(k.sales, '42|USD')).toBe(String(100 + 101 + 102 + 105 + 106));
    } finally {
      await redis.flushdb();
      redis.disconnect();
    }
  });
});

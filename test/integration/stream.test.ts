// Stream ingestion against the real stack: Kafka → decode/validate → Lua outbox step → flush →
// DuckDB, dead letters for poison messages, and reconciliation.
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
  const stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID, maxOutbox: 100_000 });
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
    await ctx.queues.flush.upsertJobScheduler('flush:raw', { every: 500 }, { name: 'flush:raw' });
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
    await ctx.queues.flush.removeJobScheduler('flush:raw');
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

  it('sends poison messages to the DLQ with their reason and keeps the good ones around them', async () => {
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

    await waitFor('five dead letters', () => deadLetters.filter((d) => d.headers.source_topic === topic && poison.some((x) => x.value.equals(d.value ?? Buffer.alloc(0)))).length >= 5);
    for (const x of poison) {
      const d = deadLetters.find((dl) => dl.value?.equals(x.value))!;
      expect(d, x.reason).toBeDefined();
      expect(d.headers.reason).toBe(x.reason);
      expect(d.headers.source_topic).toBe(topic);
      expect(Number(d.headers.source_offset)).toBeGreaterThanOrEqual(0);
      expect(d.headers.error!.length).toBeGreaterThan(0);
    }
    await waitFor('the six good sign-ins', async () => (await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM raw_sign_in WHERE user_id = '${key}'`))[0]!.n === 6);
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
    expect(clean.out).toContain('every consumed offset is accounted for');
    expect(clean.code).toBe(0);

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

  it('re-merging rows after a crash between MERGE and trim changes nothing; a run past its time budget leaves the rest to the next', async () => {
    const { flushOutboxes } = await import('../../src/stream/flush.ts');
    const { DuckDBWarehouse } = await import('../../src/warehouse/duckdb.ts');
    const { rawTables } = await import('../../src/warehouse/tables.ts');
    // A warehouse of its own (the worker owns the shared one), fed from a copy of outbox rows.
    const w = await DuckDBWarehouse.open(path.join(dir, 'crash.duckdb'));
    const tables = [...rawTables().values()];
    await w.ensureSchema(tables);
    const { items } = await loadCatalog(ctx.redis);
    const redis = ctx.redis.duplicate();
    await redis.select(1); // a separate database: outboxes of this test only
    await redis.flushdb();
    const { applyBatch, shardKeys } = await import('../../src/state/scripts.ts');
    const batch = [...simulate({ seed: 77, events: 500, start: Date.parse('2026-11-22T00:00:00Z'), userPrefix: `${prefix}-crash` }, items)].filter((e) => e.eventName === 'item_view');
    const table = tables.find((t) => t.name === 'raw_item_view')!;
    const { toRow } = await import('../../src/stream/transform.ts');
    const rows = batch.map((e, i) => ({ offset: String(i), op: '', row: JSON.stringify(toRow('item_view', table, e.toRecord() as unknown as Record<string, unknown>, { topic: 't', partition: 0, offset: String(i), ingestedAt: new Date().toISOString() })) }));
    const k = shardKeys(0);
    const apply = () => applyBatch(redis, 0, table.name, { topic: 't', lastOffset: String(batch.length - 1), maxEventTime: -1, deadOffsets: [], late: [], rows });
    await apply();

    await expect(flushOutboxes(redis, w, tables, { shards: 1, afterMerge: () => Promise.reject(new Error('killed between MERGE and trim')) })).rejects.toThrow('killed');
    expect(await redis.xlen(k.outbox(table.name))).toBe(batch.length); // nothing trimmed
    // Past its time budget a run finishes the batch in hand and leaves the rest to the next run.
    expect(batch.length).toBeGreaterThan(100);
    const capped = await flushOutboxes(redis, w, tables, { shards: 1, batch: 100, maxMs: 0 });
    expect(capped.raw_item_view).toBe(100);
    expect(await redis.xlen(k.outbox(table.name))).toBe(batch.length - 100);
    const merged = await flushOutboxes(redis, w, tables, { shards: 1 });
    expect(merged.raw_item_view).toBe(batch.length - 100);
    expect(await redis.xlen(k.outbox(table.name))).toBe(0);
    const [counts] = await w.query<{ n: number; d: number }>(`SELECT CAST(count(*) AS INTEGER) AS n, CAST(count(DISTINCT event_id) AS INTEGER) AS d FROM raw_item_view`);
    expect(counts).toEqual({ n: batch.length, d: batch.length });
    // A replay of the same Kafka batch is a no-op for the guard.
    expect(await apply()).toEqual([0, 0, -1]);
    await redis.flushdb();
    redis.disconnect();
    await w.close();
  });
});

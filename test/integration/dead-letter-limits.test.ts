// Dead letters under the broker's limits: a batch of dead letters bigger than the dead-letter
// topic's max.message.bytes goes in several requests, and a letter too big even alone goes as a
// stub (reason too_large) at its source offset. The raw loader (which owns invalid records'
// dead letters) loads on; nothing stops it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { createIdempotentProducer } from '../../src/kafka/client.ts';
import { STUB_BYTES } from '../../src/kafka/dead-letters.ts';
import { scanTopics } from '../../src/kafka/scan.ts';
import { RawLoader } from '../../src/loader/raw-loader.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables } from '../../src/warehouse/tables.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, waitFor } from '../helpers/stream.ts';

describe('dead letters under the broker limits', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-dl-'));
  const ctx = new AppContext(testConfig(ownTopicsEnv('dl')));
  let w: DuckDBWarehouse;
  let loader: RawLoader;
  const DLQ_MAX = 64 * 1024;

  beforeAll(async () => {
    // A dead-letter topic that takes at most 64 KiB per record batch.
    const admin = await ctx.admin();
    await admin.createTopics({
      topics: [{ topic: ctx.config.topics.dlq, numPartitions: ctx.config.kafka.partitions, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(DLQ_MAX) }] }],
      waitForLeaders: true,
    });
    await ctx.prepare();
    w = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'));
    await w.ensureSchema([...rawTables().values(), RAW_OFFSETS]);
    loader = new RawLoader(ctx, w, { groupId: unique('dl'), maxWaitMs: 300 });
  });
  afterAll(async () => {
    await loader.stop();
    await w.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends 2000 dead letters of one batch in requests the topic takes, and a 100 KB one as a too_large stub', { timeout: 180_000 }, async () => {
    const topic = ctx.config.topics.sign_in;
    const junk = createIdempotentProducer(ctx.kafka, ctx.config);
    await junk.connect();
    // One key: one partition, so the loader gets them in one or two batches.
    const key = 'dl-one-user';
    await junk.send({ topic, messages: Array.from({ length: 2000 }, () => ({ key, value: crypto.randomBytes(100) })) });
    await junk.send({ topic, messages: [{ key, value: Buffer.concat([Buffer.from([7]), crypto.randomBytes(100 * 1024 - 1)]) }] });
    await junk.disconnect();
    const partition = (await (await ctx.admin()).fetchTopicOffsets(topic)).find((o) => Number(o.high) > 0)!.partition;

    await loader.start();
    await waitFor('the loader to get past every junk message', async () => ((await w.rawPositions()).get(`${topic}:${partition}`)?.nextOffset ?? 0) >= 2001, 120_000);

    const letters = new Map<string, { reason: string; bytes: number; headers: Record<string, string> }[]>();
    await scanTopics(ctx, [ctx.config.topics.dlq], ({ headers, value }) => {
      const at = `${headers.source_partition}:${headers.source_offset}`;
      letters.set(at, [...(letters.get(at) ?? []), { reason: headers.reason!, bytes: value?.length ?? 0, headers }]);
    });
    expect(letters.size).toBe(2001);
    expect([...letters.values()].filter((l) => l.length > 1)).toEqual([]);
    const stub = letters.get(`${partition}:2000`)![0]!;
    expect(stub).toMatchObject({ reason: 'too_large', bytes: STUB_BYTES, headers: { original_reason: 'wrong_magic_byte', original_bytes: String(key.length + 100 * 1024) } });
  });
});

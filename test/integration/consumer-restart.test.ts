// A consumer that crashes on an error kafkajs does not class as retriable used to stay down for
// good while the process and /health looked fine (issue #12: the broker refused an oversized
// dead-letter request). Here an operator lowers the dead-letter topic's max.message.bytes while
// the pipeline runs, then late events and junk arrive: the stream's request sized for the old
// limit is refused (MESSAGE_TOO_LARGE), the stream starts again with back-off and fits the new
// limit, the loader's refused request is retried to the new limit, and /health names a role that
// has no member or whose member restarts. Real Kafka, a redis-server of the test's own (its
// liveness reports are the only ones there), real DuckDB.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { STATE_EVENT_NAMES, USER_EVENT_NAMES } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { topicOffsets } from '../../src/kafka/client.ts';
import { scanTopics } from '../../src/kafka/scan.ts';
import { livenessKey, type MemberReport } from '../../src/kafka/liveness.ts';
import { RawLoader } from '../../src/loader/raw-loader.ts';
import { buildApi } from '../../src/roles/api.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import type { DomainEvent } from '../../src/events/model.ts';
import { startRedis } from '../../src/stack/redis.ts';
import { stopPid, type RunningProcess } from '../../src/stack/process.ts';
import { shardKeys } from '../../src/state/scripts.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables } from '../../src/warehouse/tables.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, waitFor } from '../helpers/stream.ts';

const PORT = 16_581;
const TOKEN = 'test-admin-token-restart-0123456789';

describe('consumers that crash start again, and /health says so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-restart-'));
  const env = { ...ownTopicsEnv('cr'), LOADER_GROUP_ID: unique('cr-loader'), REDIS_URL: `redis://127.0.0.1:${PORT}`, ADMIN_TOKEN: TOKEN, STREAM_GROUP_ID: unique('cr-stream'), ALLOWED_LATENESS_MS: '600000', DEDUP_HORIZON_MS: '3600000' };
  let redis: RunningProcess;
  let ctx: AppContext;
  let app: FastifyInstance;
  let warehouse: DuckDBWarehouse;
  let stream: StreamConsumer | undefined;
  let loader: RawLoader | undefined;
  const startOurRedis = async () => (redis = await startRedis({ host: '127.0.0.1', port: PORT, dir: path.join(dir, 'redis'), appendonly: true }, () => undefined));
  let items: Awaited<ReturnType<typeof loadCatalog>>['items'];
  const produce = async (events: number, seed: number, at: number): Promise<DomainEvent[]> => {
    const list = [...simulate({ seed, events, start: at, userPrefix: unique('cr') }, items)];
    const producer = new EventProducer(ctx);
    await producer.send(list);
    await producer.close();
    return list;
  };
  /** Offsets of the state topics that Redis's positions are behind Kafka. */
  const streamLag = async () => {
    let lag = 0;
    for (const e of STATE_EVENT_NAMES) {
      const topic = ctx.config.topics[e];
      for (const [p, { high }] of await topicOffsets(await ctx.admin(), topic)) lag += high - (Number((await ctx.redis.hget(shardKeys(p).offsets, topic)) ?? -1) + 1);
    }
    return lag;
  };
  const health = async () => (await app.inject({ url: '/health' })).json() as { status: string; checks: Record<string, { status: string; error?: string }> };

  beforeAll(async () => {
    await startOurRedis();
    ctx = new AppContext(testConfig(env));
    await ctx.prepare();
    ({ items } = await loadCatalog(ctx.redis));
    app = await buildApi(ctx);
    warehouse = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'));
    await warehouse.ensureSchema([...rawTables().values(), RAW_OFFSETS]);
  }, 120_000);
  afterAll(async () => {
    await stream?.stop().catch(() => undefined);
    await loader?.stop().catch(() => undefined);
    await app?.close();
    await warehouse?.close();
    await ctx?.close();
    if (redis) await stopPid(redis.pid, redis.pidFile);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('/health is 503 and says what to start while no stream or loader member runs', async () => {
    const h = await health();
    expect(h.status).toBe('down');
    expect(h.checks.stream).toMatchObject({ status: 'down', error: expect.stringMatching(/no stream member .*start the stream role/) });
    expect(h.checks.loader).toMatchObject({ status: 'down', error: expect.stringMatching(/no loader member .*start the worker role/) });
    expect(h.checks.kafka?.status).toBe('up');
  });

  it('after the dead-letter limit is lowered mid-run, the stream crashes, starts again and dead-letters the events beyond the dedup horizon; the loader dead-letters the junk; nothing is left behind', { timeout: 240_000 }, async () => {
    stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID });
    loader = new RawLoader(ctx, warehouse, { groupId: env.LOADER_GROUP_ID, maxWaitMs: 200 });
    await Promise.all([stream.start(), loader.start()]);
    await waitFor('/health 200 with both roles reporting', async () => (await app.inject({ url: '/health' })).statusCode === 200, 30_000);

    const start = Date.UTC(2026, 3, 10);
    await produce(3000, 1, start);
    await waitFor('the stream to apply the first run', async () => (await streamLag()) === 0, 60_000);

    const admin = await ctx.admin();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: ctx.config.topics.dlq, configEntries: [{ name: 'max.message.bytes', value: '4096' }] }] });
    // Three days behind the stream's marks, past the dedup horizon (1 h): every state event of this run is a late dead letter.
    const late = await produce(3000, 2, start - 3 * 86_400_000);
    const lateStateEvents = late.filter((e) => (STATE_EVENT_NAMES as readonly string[]).includes(e.eventName)).length;
    const JUNK = 300;
    const junkProducer = ctx.kafka.producer();
    await junkProducer.connect();
    await junkProducer.send({ topic: ctx.config.topics.item_view, messages: Array.from({ length: JUNK }, (_, i) => ({ key: `junk-${i}`, value: Buffer.from(`not avro ${i} `.repeat(5)) })) });
    await junkProducer.disconnect();

    await waitFor('the stream to pass every late event', async () => (await streamLag()) === 0, 120_000);
    await waitFor('the loader to load every topic to its end', async () => {
      const positions = await warehouse.rawPositions();
      for (const e of USER_EVENT_NAMES) {
        for (const [p, { high }] of await topicOffsets(admin, ctx.config.topics[e])) if ((positions.get(`${ctx.config.topics[e]}:${p}`)?.nextOffset ?? 0) !== high) return false;
      }
      return true;
    }, 120_000);

    const dead = { late: new Set<string>(), junk: new Set<string>() };
    await scanTopics(ctx, [ctx.config.topics.dlq], ({ headers: h }) => {
      const at = `${h.source_topic}:${h.source_partition}:${h.source_offset}`;
      if (h.reason === 'late' || h.original_reason === 'late') dead.late.add(at);
      else dead.junk.add(at);
    });
    // Each is a late dead letter, once.
    expect(dead.late.size).toBe(lateStateEvents);
    expect(dead.junk.size).toBe(JUNK);

    const reports = Object.values(await ctx.redis.hgetall(livenessKey('stream'))).map((v) => JSON.parse(v) as MemberReport);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ state: 'running', restarts: expect.any(Number) });
    expect(reports[0]!.restarts).toBeGreaterThanOrEqual(1);
    expect(reports[0]!.lastError).toMatch(/larger than the max message size/);
    await waitFor('/health 200 again', async () => (await app.inject({ url: '/health' })).statusCode === 200, 30_000);
  });
});

// Broker failover against a real three-node KRaft cluster (replication factor 3,
// min.insync.replicas 2): while segpipe's producers run, the active controller, leading
// partitions, is SIGKILLed and restarted. Every message acknowledged to a producer must be in
// Kafka exactly once (the simulator's runs recomputed by verify --runs, the dead letters by their
// source offsets, the catalog by item), and the warehouse must then equal what was sent.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES, loadConfig } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { createIdempotentProducer, createTopicsWithLeaders } from '../../src/kafka/client.ts';
import { scanTopics } from '../../src/kafka/scan.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { MovieIngestor } from '../../src/movies/ingest.ts';
import { createParsePool } from '../../src/movies/pool.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { checkRuns } from '../../src/simulator/run-check.ts';
import { runSimulation } from '../../src/simulator/run.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES } from '../../queues/names.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { controllerLeadingMost } from '../../src/stack/kafka.ts';
import { CLUSTER_ENV, startClusterStack, type ClusterStack } from '../helpers/cluster.ts';
import { unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { oracleDiff, settle, userRowCounts } from '../helpers/stream.ts';

describe('a Kafka broker SIGKILLed while segpipe produces', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-failover-'));
  const env = { ...CLUSTER_ENV, DUCKDB_PATH: path.join(dir, 'wh.duckdb'), FLUSH_EVERY_MS: '500', ALLOWED_LATENESS_MS: String(90 * 86_400_000), MOVIES_CHUNK_MB: '1' };
  const procs = new RoleProcesses(dir, env);
  let stack: ClusterStack;
  let ctx: AppContext;
  const stalls: number[] = [];

  /**
   * Kills the controller once `acked()` reaches each threshold, restarts it 5 s later, and
   * records each stall: from the kill to the next acknowledgement.
   */
  function killer(thresholds: number[], topics: string[]) {
    let next = 0;
    let killedAt: number | undefined;
    const restarts: Promise<void>[] = [];
    let busy = false;
    return {
      onAcked(acked: number) {
        if (killedAt !== undefined) {
          stalls.push(Math.round((performance.now() - killedAt) / 100) / 10);
          killedAt = undefined;
        }
        if (busy || next >= thresholds.length || acked < thresholds[next]!) return;
        busy = true;
        next++;
        void (async () => {
          const victim = await controllerLeadingMost(await ctx.admin(), topics);
          process.stderr.write(`[failover] SIGKILL of Kafka node ${victim} after ${acked} acknowledged\n`);
          await stack.cluster.kill(victim);
          killedAt = performance.now();
          busy = false;
          restarts.push(sleep(5000).then(() => stack.cluster.restart(victim)));
        })();
      },
      /** Every killed node runs again. */
      done: async () => {
        while (busy) await sleep(100);
        await Promise.all(restarts);
      },
    };
  }

  beforeAll(async () => {
    stack = await startClusterStack();
    ctx = new AppContext(loadConfig({ ...process.env, ...env }));
    await ctx.prepare();
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse]);
  }, 300_000);
  afterAll(async () => {
    process.stderr.write(`[failover] stalls per kill (s): ${stalls.join(', ')}\n`);
    await procs.killAll();
    await ctx?.close();
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('the simulator and the dead-letter producer lose no acknowledged event and send none twice; the warehouse holds each once', { timeout: 600_000 }, async () => {
    const { topics } = ctx.config;
    const userTopics = USER_EVENT_NAMES.map((e) => topics[e]);
    procs.start('stream', 'stream');
    // Random bytes on a user topic all along: the raw loader (in this process, which owns the
    // warehouse) sends each to the dead-letter topic, through the brokers' deaths too.
    const junk = createIdempotentProducer(ctx.kafka, ctx.config);
    await junk.connect();
    let junkAcked = 0;
    let producing = true;
    const junkLoop = (async () => {
      while (producing) {
        const messages = Array.from({ length: 200 }, () => ({ key: crypto.randomBytes(8), value: crypto.randomBytes(64) }));
        await junk.send({ topic: topics.sign_in, messages });
        junkAcked += messages.length;
        await sleep(100);
      }
    })();

    const params = { events: 150_000, seed: 9001, start: Date.parse('2026-10-01T00:00:00Z'), userPrefix: unique('fo') };
    const kills = killer([0.3 * params.events, 0.65 * params.events], userTopics);
    const result = await runSimulation(ctx, params, (acked) => kills.onAcked(acked));
    producing = false;
    await junkLoop;
    await junk.disconnect();
    await kills.done();
    expect(result.events).toBe(params.events);
    expect(stalls.length).toBe(2);

    // In Kafka: exactly the events the run must have produced, on their partitions.
    const runs = await checkRuns(ctx);
    expect(runs.skipped).toEqual([]);
    expect(runs.differences).toEqual([]);
    expect(runs.rows.reduce((a, r) => a + r.found, 0)).toBe(params.events);

    // In the warehouse: each event once, every consumed offset accounted for, metrics = oracle.
    await settle(ctx, 300_000);
    const { items } = await loadCatalog(ctx.redis);
    const expected = Object.fromEntries(USER_EVENT_NAMES.map((e) => [e, 0]));
    for (const e of simulate(params, items)) expected[e.eventName]! += 1;
    const got = await userRowCounts(ctx, params.userPrefix);
    for (const e of USER_EVENT_NAMES) expect(got[e], e).toEqual({ n: expected[e], d: expected[e] });
    expect((await reconcile(ctx)).partitions.filter((p) => p.difference !== 0)).toEqual([]);
    await flushNow(ctx, { name: FLUSH_METRICS });
    const oracle = await oracleDiff(ctx, 300_000);
    expect(oracle.diffs).toEqual([]);

    // The dead letters: every junk message once, by its source offset.
    const junkIn = new Map<string, number>();
    let junkOnTopic = 0;
    await scanTopics(ctx, [topics.sign_in], ({ key }) => {
      if (key && key.length === 8) junkOnTopic++;
    });
    await scanTopics(ctx, [topics.dlq], ({ headers }) => {
      const at = `${headers.source_topic}:${headers.source_partition}:${headers.source_offset}`;
      junkIn.set(at, (junkIn.get(at) ?? 0) + 1);
    });
    expect(junkOnTopic).toBe(junkAcked);
    expect(junkIn.size).toBe(junkAcked);
    expect([...junkIn.values()].filter((n) => n > 1)).toEqual([]);
  });

  it('concurrent sends to one partition through one producer (as the stream sends dead letters) lose none and repeat none while its leader is killed', { timeout: 300_000 }, async () => {
    const topic = unique('fo-race');
    const admin = await ctx.admin();
    await createTopicsWithLeaders(admin, [{ topic, numPartitions: 3, replicationFactor: 3 }]);
    const producer = createIdempotentProducer(ctx.kafka, ctx.config);
    await producer.connect();
    const acked = new Set<string>();
    let seq = 0;
    let sending = true;
    // Eight callers at once, one message each, all to partition 0.
    const callers = Array.from({ length: 8 }, async (_, w) => {
      while (sending) {
        const id = `${w}-${seq++}`;
        await producer.send({ topic, acks: -1, messages: [{ key: id, value: id, partition: 0 }] });
        acked.add(id);
        await sleep(5);
      }
    });
    for (let kill = 0; kill < 3; kill++) {
      await sleep(8000);
      const leader = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;
      process.stderr.write(`[failover] SIGKILL of Kafka node ${leader} (leads ${topic}:0) after ${acked.size} acknowledged\n`);
      await stack.cluster.kill(leader);
      await sleep(5000);
      await stack.cluster.restart(leader);
    }
    await sleep(3000);
    sending = false;
    await Promise.all(callers);
    await producer.disconnect();
    const seen = new Map<string, number>();
    await scanTopics(ctx, [topic], ({ value }) => void seen.set(value!.toString(), (seen.get(value!.toString()) ?? 0) + 1));
    expect(acked.size).toBeGreaterThan(200);
    expect([...acked].filter((id) => !seen.has(id))).toEqual([]);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('the movies producer loses no acknowledged item and sends none twice', { timeout: 600_000 }, async () => {
    const file = path.join(dir, 'Movies.txt');
    const { items } = await generateMovies({ items: 60_000, out: file, seed: 77, edgeRate: 0 });
    const pool = createParsePool(2);
    const ingestor = new MovieIngestor(ctx, pool);
    const topic = ctx.config.topics.movies_catalog_enriched;
    const kills = killer([0.4 * items], [topic]);
    try {
      const result = await ingestor.ingest(file, (p) => kills.onAcked(p.produced));
      await kills.done();
      expect(stalls.length).toBe(3);
      const seen = new Map<string, number>();
      await scanTopics(ctx, [topic], ({ key }) => {
        const id = key!.toString();
        seen.set(id, (seen.get(id) ?? 0) + 1);
      });
      expect(result.produced).toBeGreaterThan(0.9 * items);
      expect(seen.size).toBe(result.produced);
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
    } finally {
      await ingestor.close();
      await pool.destroy();
    }
  });
});

// Broker failover against a real three-node KRaft cluster (replication factor 3,
// min.insync.replicas 2): while segpipe's producers run, the active controller (the KRaft
// quorum leader, as the nodes' own quorum-state files name it), leading partitions of the
// topics produced to, is SIGKILLed and restarted. Every message acknowledged to a producer must
// be in Kafka exactly once (the simulator's runs recomputed by verify --runs, the junk's dead
// letters matched by source offset and payload, the catalog by item id), and the warehouse must
// then hold each once. Each test starts from a balanced cluster and keeps its own kills.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { USER_EVENT_NAMES, loadConfig } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import type { MoviesCatalogEnriched } from '../../src/events/types.generated.ts';
import { createIdempotentProducer, createTopicsWithLeaders, topicOffsets } from '../../src/kafka/client.ts';
import { scanTopics } from '../../src/kafka/scan.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { CATALOG_HASHES_KEY, MovieIngestor } from '../../src/movies/ingest.ts';
import { createParsePool } from '../../src/movies/pool.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { checkRuns } from '../../src/simulator/run-check.ts';
import { runSimulation } from '../../src/simulator/run.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES } from '../../queues/names.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { activeControllerLeading, newQuorumLeader, type QuorumState } from '../../src/stack/kafka.ts';
import { CLUSTER_ENV, balancedCluster, startClusterStack, type ClusterStack } from '../helpers/cluster.ts';
import { unique } from '../helpers/env.ts';
import { RoleProcesses } from '../helpers/processes.ts';
import { oracleDiff, ownedQuery, settle, userRowCounts } from '../helpers/stream.ts';

/** One kill of the active controller, as the test saw it. */
interface ControllerKill {
  victim: number;
  /** The quorum epoch it led when chosen. */
  epoch: number;
  /** Partitions of the produced topics it led when chosen. */
  leads: number;
  acked: number;
  /** The victim's own quorum-state file once it was dead: what it was when it died. */
  diedAs: QuorumState | null;
  /** The leader the running nodes elected after it. */
  next: { id: number; epoch: number };
}

describe('a Kafka broker SIGKILLed while segpipe produces', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-failover-'));
  const env = { ...CLUSTER_ENV, DUCKDB_PATH: path.join(dir, 'wh.duckdb'), FLUSH_EVERY_MS: '500', ALLOWED_LATENESS_MS: String(90 * 86_400_000), MOVIES_CHUNK_MB: '1' };
  const procs = new RoleProcesses(dir, env);
  let stack: ClusterStack;
  let ctx: AppContext;
  /** Every test's stalls, for the summary in afterAll. */
  const stallLog: string[] = [];

  /**
   * Kills the active controller once `acked()` reaches each threshold (waiting, if need be, until
   * it leads partitions of `topics`), restarts it 5 s later, and records each kill and each
   * stall: from the kill to the next acknowledgement. Its own state: nothing shared between tests.
   */
  function killer(label: string, thresholds: number[], topics: string[]) {
    const kills: ControllerKill[] = [];
    const stalls: number[] = [];
    let next = 0;
    let killedAt: number | undefined;
    const restarts: Promise<void>[] = [];
    let busy = false;
    let failure: unknown;
    return {
      kills,
      stalls,
      onAcked(acked: number) {
        if (killedAt !== undefined) {
          stalls.push(Math.round((performance.now() - killedAt) / 100) / 10);
          killedAt = undefined;
        }
        if (busy || failure !== undefined || next >= thresholds.length || acked < thresholds[next]!) return;
        busy = true;
        next++;
        void (async () => {
          const chosenAt = performance.now();
          const { id: victim, epoch, leads } = await activeControllerLeading(stack.cluster, await ctx.admin(), topics);
          const waited = Math.round(performance.now() - chosenAt);
          process.stderr.write(`[failover] ${label}: SIGKILL of Kafka node ${victim}, quorum leader in epoch ${epoch}, leading ${leads} partition(s), after ${acked} acknowledged (found in ${waited} ms)\n`);
          await stack.cluster.kill(victim);
          killedAt = performance.now();
          const diedAs = stack.cluster.quorumState(victim);
          restarts.push(sleep(5000).then(() => stack.cluster.restart(victim)));
          const elected = await newQuorumLeader(stack.cluster, victim, epoch);
          process.stderr.write(`[failover] ${label}: node ${elected.id} leads the quorum in epoch ${elected.epoch}, ${Math.round(performance.now() - killedAt)} ms after the kill\n`);
          kills.push({ victim, epoch, leads, acked, diedAs, next: elected });
        })()
          .catch((err: unknown) => void (failure = err))
          .finally(() => void (busy = false));
      },
      /** Every killed node runs again; throws what went wrong in a kill. */
      async done() {
        while (busy) await sleep(100);
        await Promise.all(restarts);
        stallLog.push(`${label}: ${stalls.join(', ') || 'none'}`);
        if (failure !== undefined) throw failure;
      },
    };
  }

  /** Each kill was of the quorum leader, leading partitions, and another node was elected after it. */
  function expectControllerKills(kills: ControllerKill[], n: number) {
    expect(kills).toHaveLength(n);
    for (const k of kills) {
      expect(k.leads, `node ${k.victim} led partitions`).toBeGreaterThan(0);
      expect(k.diedAs, `node ${k.victim} died as the quorum leader of epoch ${k.epoch}`).toEqual({ leaderId: k.victim, leaderEpoch: k.epoch });
      expect(k.next.id).not.toBe(k.victim);
      expect(k.next.epoch).toBeGreaterThan(k.epoch);
    }
  }

  beforeAll(async () => {
    stack = await startClusterStack();
    ctx = new AppContext(loadConfig({ ...process.env, ...env }));
    await ctx.prepare();
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse]);
  }, 300_000);
  // Every node up and every partition led by its preferred replica, whatever ran before.
  beforeEach(async () => {
    if (stack) await balancedCluster(stack.cluster, await ctx.admin());
  }, 180_000);
  afterAll(async () => {
    process.stderr.write(`[failover] stalls per kill (s): ${stallLog.join('; ')}\n`);
    await procs.killAll();
    await ctx?.close();
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('the simulator and the dead-letter producer lose no acknowledged event and send none twice; the warehouse holds each once', { timeout: 600_000 }, async () => {
    const { topics } = ctx.config;
    const userTopics = USER_EVENT_NAMES.map((e) => topics[e]);
    const stream = procs.start('stream', 'stream');
    try {
      // Random bytes on a user topic all along: the raw loader (in this process, which owns the
      // warehouse) sends each to the dead-letter topic, through the brokers' deaths too. Each
      // junk message is told apart by its payload: 64 random bytes, kept once acknowledged.
      const junk = createIdempotentProducer(ctx.kafka, ctx.config);
      await junk.connect();
      const junkAcked = new Set<string>();
      let producing = true;
      const junkLoop = (async () => {
        while (producing) {
          const messages = Array.from({ length: 200 }, () => ({ key: crypto.randomBytes(8), value: crypto.randomBytes(64) }));
          await junk.send({ topic: topics.sign_in, messages });
          for (const m of messages) junkAcked.add(m.value.toString('hex'));
          await sleep(100);
        }
      })();

      const params = { events: 150_000, seed: 9001, start: Date.parse('2026-10-01T00:00:00Z'), userPrefix: unique('fo') };
      const kills = killer('simulator', [0.3 * params.events, 0.65 * params.events], userTopics);
      const result = await runSimulation(ctx, params, (acked) => kills.onAcked(acked));
      producing = false;
      await junkLoop;
      await junk.disconnect();
      await kills.done();
      expect(result.events).toBe(params.events);
      expectControllerKills(kills.kills, 2);
      expect(kills.stalls).toHaveLength(2);

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

      // The junk: each acknowledged message on its topic once, and once in the dead-letter topic
      // with that message's source topic, partition and offset. Dead letters of anything else
      // (late events, other tests' junk) are not counted.
      expect(junkAcked.size).toBeGreaterThan(0);
      const junkAt = new Map<string, string[]>();
      await scanTopics(ctx, [topics.sign_in], ({ topic, partition, offset, value }) => {
        const id = value?.toString('hex');
        if (id !== undefined && junkAcked.has(id)) junkAt.set(id, [...(junkAt.get(id) ?? []), `${topic}:${partition}:${offset}`]);
      });
      const letters = new Map<string, string[]>();
      await scanTopics(ctx, [topics.dlq], ({ value, headers }) => {
        const id = value?.toString('hex');
        if (id !== undefined && junkAcked.has(id)) letters.set(id, [...(letters.get(id) ?? []), `${headers.source_topic}:${headers.source_partition}:${headers.source_offset}`]);
      });
      expect([...junkAcked].filter((id) => !junkAt.has(id)), 'acknowledged junk missing from its topic').toEqual([]);
      expect([...junkAt].filter(([, at]) => at.length > 1), 'junk on its topic twice').toEqual([]);
      expect([...junkAcked].filter((id) => !letters.has(id)), 'junk without a dead letter').toEqual([]);
      expect([...letters].filter(([id, at]) => at.length !== 1 || at[0] !== junkAt.get(id)?.[0]), 'junk dead-lettered twice, or not from where it is').toEqual([]);
      process.stderr.write(`[failover] simulator: ${junkAcked.size} junk messages acknowledged, each once on ${topics.sign_in} and once dead-lettered\n`);
    } finally {
      await procs.kill9(stream);
    }
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

  it('the movies producer loses no acknowledged item and sends none twice; the warehouse holds each once', { timeout: 600_000 }, async () => {
    const name = `${unique('movies')}.txt`;
    const file = path.join(dir, name);
    const { items } = await generateMovies({ items: 60_000, out: file, seed: 77, edgeRate: 0 });
    const ids = [...fs.readFileSync(file, 'utf8').matchAll(/^ITEM (\S+)$/gm)].map((m) => m[1]!);
    expect(ids).toHaveLength(items);
    expect(new Set(ids).size).toBe(items);
    // None of the file's items counts as already produced (no hash stored by an earlier run).
    await ctx.redis.hdel(CATALOG_HASHES_KEY, ...ids);
    const topic = ctx.config.topics.movies_catalog_enriched;
    const admin = await ctx.admin();
    // This test's messages: from each partition's end now.
    const from = new Map([...(await topicOffsets(admin, topic))].map(([p, { high }]) => [`${topic}:${p}`, high]));
    const pool = createParsePool(2, ctx.config.movies.chunkBytes);
    const ingestor = new MovieIngestor(ctx, pool);
    const kills = killer('movies', [0.4 * items], [topic]);
    try {
      const result = await ingestor.ingest(file, (p) => kills.onAcked(p.produced));
      await kills.done();
      expectControllerKills(kills.kills, 1);
      expect(kills.stalls).toHaveLength(1);
      expect(result).toMatchObject({ items, produced: items, unchanged: 0, quarantined: 0 });
      // Acknowledged: an item's hash is stored only once Kafka acknowledged it.
      const stored = await ctx.redis.hmget(CATALOG_HASHES_KEY, ...ids);
      expect(ids.filter((_, i) => stored[i] === null), 'items of the file not acknowledged').toEqual([]);

      // In Kafka, by item id: every item of the file once, nothing else since the test began.
      const seen = new Map<string, number>();
      const wrong: string[] = [];
      await scanTopics(
        ctx,
        [topic],
        async ({ key, value, partition, offset }) => {
          const id = key!.toString();
          seen.set(id, (seen.get(id) ?? 0) + 1);
          const { value: e } = await ctx.serde.decode<MoviesCatalogEnriched>(value, { topic, partition, offset });
          if (e.item_id !== id || e.source_file !== name) wrong.push(`${partition}:${offset} key ${id}: item ${e.item_id} of ${e.source_file}`);
        },
        300_000,
        from,
      );
      const inFile = new Set(ids);
      expect(ids.filter((id) => !seen.has(id)), 'acknowledged items missing from Kafka').toEqual([]);
      expect([...seen].filter(([, n]) => n > 1), 'items in Kafka twice').toEqual([]);
      expect([...seen.keys()].filter((id) => !inFile.has(id)), 'items in Kafka not from the file').toEqual([]);
      expect(wrong).toEqual([]);

      // In the warehouse (raw_movies_catalog_enriched, loaded by this process's raw loader): once
      // flush:raw has loaded up to Kafka's end, every offset is accounted for, and each item of
      // the file is one row.
      await flushNow(ctx, { timeoutMs: 300_000 });
      const accounts = await reconcile(ctx, ['movies_catalog_enriched']);
      expect(accounts.partitions.filter((p) => p.difference !== 0 || p.pending !== 0)).toEqual([]);
      const rows = await ownedQuery(ctx)<{ item_id: string; n: number; d: number }>(
        `SELECT item_id, CAST(count(*) AS INTEGER) AS n, CAST(count(DISTINCT event_id) AS INTEGER) AS d FROM raw_movies_catalog_enriched WHERE source_file = '${name}' GROUP BY item_id`,
      );
      const inWarehouse = new Map(rows.map((r) => [r.item_id, Number(r.n)]));
      expect(ids.filter((id) => inWarehouse.get(id) !== 1), 'items not once in the warehouse').toEqual([]);
      expect(rows.filter((r) => !inFile.has(r.item_id)), 'rows not from the file').toEqual([]);
      expect(inWarehouse.size).toBe(items);
    } finally {
      await ingestor.close();
      await pool.destroy();
    }
  });
});

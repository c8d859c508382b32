// Kafka → warehouse, end to end, on the two paths the roles run (DESIGN.md): the raw loader
// (every user topic → typed append + position in DuckDB, one transaction per range) beside the
// stream (state topics → one Lua step per batch in Redis), next to a bare kafkajs consumer reading
// the same topics; then p50/p99 latency from production to warehouse row under a steady load.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { STATE_EVENT_NAMES, USER_EVENT_NAMES, type Config } from '../src/config.ts';
import { AppContext } from '../src/context.ts';
import { EventProducer } from '../src/events/producer.ts';
import { loadCatalog } from '../src/simulator/catalog.ts';
import { simulate } from '../src/simulator/journeys.ts';
import { startRoleThread } from '../src/roles/role-thread.ts';
import { topicOffsets } from '../src/kafka/client.ts';
import { clearShardState, shardKeys } from '../src/state/scripts.ts';
import { DuckDBWarehouse } from '../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables } from '../src/warehouse/tables.ts';
import { RawLoader } from '../src/loader/raw-loader.ts';
import type { Row } from '../src/warehouse/warehouse.ts';
import { toRow } from '../src/stream/transform.ts';
import { processCpuSeconds, progress, serviceCpuSeconds } from './env.ts';

const STAGE_EVENTS = 200_000;

/**
 * CPU µs per event of each stage of the raw path, on one thread, with no Kafka in between:
 * Avro decode of the wire bytes, validation into a typed row, and the load into DuckDB
 * (new event_ids found in memory, appended straight into the table, position, commit; 50k
 * rows a transaction, as the loader's full ranges).
 */
async function rawStages(ctx: AppContext, dbFile: string): Promise<{ decode: number; row: number; load: number; keyedInsert: number; plainInsert: number; idSet: number }> {
  const { items } = await loadCatalog(ctx.redis);
  const tables = rawTables();
  const events = [...simulate({ seed: 9, events: STAGE_EVENTS, start: Date.UTC(2026, 1, 1) }, items)];
  const wire = events.map((e) => ({ event: e.eventName, topic: e.topic(ctx.config.topics), value: ctx.serde.encode(e.topic(ctx.config.topics), e.toRecord()) }));
  const cpu = () => process.cpuUsage().user + process.cpuUsage().system;
  let t = cpu();
  const decoded: Array<{ event: (typeof wire)[number]['event']; topic: string; record: Record<string, unknown> }> = [];
  for (const w of wire) {
    const origin = { topic: w.topic, partition: 0, offset: '0' };
    decoded.push({ event: w.event, topic: w.topic, record: (ctx.serde.decodeLoaded<Record<string, unknown>>(w.value, origin) ?? (await ctx.serde.decode<Record<string, unknown>>(w.value, origin))).value });
  }
  const decode = (cpu() - t) / STAGE_EVENTS;
  const ingestedAt = Date.now();
  t = cpu();
  const rows = decoded.map((d, i) => ({ event: d.event, row: toRow(d.event, tables.get(d.event)!, d.record, { topic: d.topic, partition: 0, offset: String(i), ingestedAt }) }));
  const row = (cpu() - t) / STAGE_EVENTS;
  const warehouse = await DuckDBWarehouse.open(dbFile);
  await warehouse.ensureSchema([...tables.values(), RAW_OFFSETS]);
  const byTable = new Map<string, Row[]>();
  for (const r of rows) byTable.set(r.event, byTable.get(r.event) ?? []).get(r.event)!.push(r.row);
  // Wall time here: DuckDB works on threads of its own, so this process's CPU time undercounts it.
  const w0 = performance.now();
  for (const [event, tableRows] of byTable) {
    for (let i = 0; i < tableRows.length; i += 50_000) {
      const slice = tableRows.slice(i, i + 50_000);
      await warehouse.loadRaw({ table: tables.get(event as never)!, topic: event, partition: 0, from: i, to: i + slice.length, rows: slice, deadLetters: 0, mark: -1 });
    }
  }
  const load = ((performance.now() - w0) * 1000) / STAGE_EVENTS;

  // Dedup by event_id, two ways, on the largest table's rows: a key index (INSERT OR IGNORE into
  // a table keyed by event_id, the way before RecentIds) against a plain insert with no index,
  // which the loader does now that it keeps each partition's recent ids in memory; the cost of
  // such a Set is measured too.
  const [biggest, biggestRows] = [...byTable].sort((a, b) => b[1].length - a[1].length)[0]!;
  const spec = tables.get(biggest as never)!;
  const n = biggestRows.length;
  await warehouse.ensureSchema([{ ...spec, name: 'keyed', appendOnly: false }]);
  await warehouse.execute(`CREATE TABLE stage_copy AS SELECT * FROM "${spec.name}"`);
  await warehouse.execute(`CREATE TABLE plain AS SELECT * FROM "${spec.name}" LIMIT 0`);
  let w1 = performance.now();
  await warehouse.execute('INSERT INTO plain SELECT * FROM stage_copy');
  const plainInsert = ((performance.now() - w1) * 1000) / n;
  w1 = performance.now();
  await warehouse.execute('INSERT OR IGNORE INTO keyed SELECT * FROM stage_copy QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY kafka_offset) = 1');
  const keyedInsert = ((performance.now() - w1) * 1000) / n;
  const ids = biggestRows.map((r) => r[0] as string);
  t = cpu();
  const seen = new Set<string>();
  for (const id of ids) if (!seen.has(id)) seen.add(id);
  const idSet = (cpu() - t) / n;
  if (seen.size !== n) throw new Error(`${n - seen.size} repeated ids in the simulated rows`);
  await warehouse.close();
  fs.rmSync(dbFile, { force: true });
  fs.rmSync(`${dbFile}.wal`, { force: true });
  return { decode, row, load, keyedInsert, plainInsert, idSet };
}

const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 500_000);
/** Figures of a run at another size than 5 M carry it in their name (`_2m`, `_500k`). */
const SUFFIX = EVENTS === 5_000_000 ? '' : EVENTS % 1_000_000 === 0 ? `_${EVENTS / 1_000_000}m` : `_${Math.round(EVENTS / 1000)}k`;
const LATENCY_SECONDS = 20;
const LATENCY_RATE = 10_000;

async function recreateTopics(ctx: AppContext): Promise<void> {
  const admin = await ctx.admin();
  const topics = Object.values(ctx.config.topics);
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((t) => existing.has(t)) });
  await sleep(2000);
  await ctx.prepare();
}

export async function benchIngest(config: Config): Promise<{ figures: Record<string, number>; notes: string[] }> {
  const ctx = new AppContext(config);
  await recreateTopics(ctx);
  await clearShardState(ctx.redis);
  const { items } = await loadCatalog(ctx.redis);
  const producer = new EventProducer(ctx);

  progress(`producing ${EVENTS} events (untimed)`);
  await producer.send(simulate({ seed: 3, events: EVENTS, start: Date.UTC(2026, 0, 3) }, items));

  // Bare consumer: no decode, no state, no warehouse.
  progress('bare kafkajs consumer');
  const userTopics = USER_EVENT_NAMES.map((e) => ctx.config.topics[e]);
  const bare = ctx.kafka.consumer({ groupId: `bench-bare-${Date.now()}`, maxBytesPerPartition: 1024 * 1024 });
  await bare.connect();
  await bare.subscribe({ topics: userTopics, fromBeginning: true });
  let seen = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    void bare.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= EVENTS) resolve();
      },
    });
  });
  const bareRate = EVENTS / ((performance.now() - t0) / 1000);
  await bare.disconnect();
  progress(`  ${Math.round(bareRate)} events/s`);

  // The two paths as the roles run them, into a fresh DuckDB file.
  const dbFile = path.join(config.localDir, `bench-ingest-${Date.now()}.duckdb`);
  const warehouse = await DuckDBWarehouse.open(dbFile);
  const tables = [...rawTables().values()];
  await warehouse.ensureSchema([...tables, RAW_OFFSETS]);
  const loadedAt = new Map<string, number>(); // event_id → load commit time
  let trackLatency = false;
  const afterCommit = (_t: string, rows: Row[]) => {
    if (!trackLatency) return;
    const now = Date.now();
    for (const r of rows) loadedAt.set(r[0] as string, now);
  };
  const admin = await ctx.admin();
  const stateTopics = STATE_EVENT_NAMES.map((e) => ctx.config.topics[e]);
  /** Offsets of the state topics the stream has not applied yet. */
  const streamBehind = async () => {
    let n = 0;
    for (const topic of stateTopics) {
      for (const [p, { high }] of await topicOffsets(admin, topic)) n += high - (Number((await ctx.redis.hget(shardKeys(p).offsets, topic)) ?? -1) + 1);
    }
    return n;
  };

  progress('raw loader + stream → DuckDB and Redis');
  const loader = new RawLoader(ctx, warehouse, { groupId: `bench-loader-${Date.now()}`, maxRows: 50_000, maxWaitMs: 250, afterCommit });
  // As `segpipe all` runs them: the loader on this thread (the worker role), the stream on its own.
  const streamCtx = new AppContext({ ...config, stream: { ...config.stream, groupId: `bench-stream-${Date.now()}` } });
  const cpu0 = { segpipe: processCpuSeconds(), ...serviceCpuSeconds(config) };
  const t1 = performance.now();
  await Promise.all([loader.start(), startRoleThread(streamCtx, 'stream')]);
  let loaderSeconds = 0;
  let streamSeconds = 0;
  while (loaderSeconds === 0 || streamSeconds === 0) {
    await sleep(100);
    const elapsed = (performance.now() - t1) / 1000;
    if (loaderSeconds === 0 && loader.stats.rows >= EVENTS) loaderSeconds = elapsed;
    if (streamSeconds === 0 && (await streamBehind()) === 0) streamSeconds = elapsed;
  }
  const e2eRate = EVENTS / Math.max(loaderSeconds, streamSeconds);
  // Where the CPU of the run went, per event: this process (every thread), the broker, Redis.
  const cpu1 = { segpipe: processCpuSeconds(), ...serviceCpuSeconds(config) };
  const cpuUs = (k: string) => (((cpu1 as Record<string, number>)[k] ?? 0) - ((cpu0 as Record<string, number>)[k] ?? 0)) * 1e6 / EVENTS;
  const cpuSplit = { segpipe: cpuUs('segpipe'), kafka: cpuUs('kafka'), redis: cpuUs('redis') };
  progress(`  CPU per event: segpipe ${cpuSplit.segpipe.toFixed(1)} µs (loader, stream thread, DuckDB), broker ${cpuSplit.kafka.toFixed(1)} µs, Redis ${cpuSplit.redis.toFixed(1)} µs`);
  progress(`  ${Math.round(e2eRate)} events/s (raw rows in after ${loaderSeconds.toFixed(1)} s, ${loader.stats.loads} transactions; state applied after ${streamSeconds.toFixed(1)} s)`);

  // Latency under a steady load: the loader loads a partition's range when it is full or
  // FLUSH_EVERY_MS old.
  progress(`latency: ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s`);
  await loader.stop();
  const steadyLoader = new RawLoader(ctx, warehouse, { groupId: `bench-loader-steady-${Date.now()}`, afterCommit });
  await steadyLoader.start();
  trackLatency = true;
  const producedAt = new Map<string, number>();
  const steady = [...simulate({ seed: 4, events: LATENCY_RATE * LATENCY_SECONDS, start: Date.now() }, items)];
  const begin = performance.now();
  for (let i = 0; i < steady.length; i += LATENCY_RATE / 10) {
    const slice = steady.slice(i, i + LATENCY_RATE / 10);
    const due = begin + (i / LATENCY_RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const now = Date.now();
    for (const e of slice) producedAt.set(e.eventId, now);
    await producer.send(slice, { batchSize: slice.length });
  }
  while ([...producedAt.keys()].some((id) => !loadedAt.has(id))) await sleep(250);
  const lat = [...producedAt].map(([id, t]) => loadedAt.get(id)! - t).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!;
  progress(`  p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
  await steadyLoader.stop();

  await streamCtx.close();
  await producer.close();
  await warehouse.close();
  fs.rmSync(dbFile, { force: true });
  fs.rmSync(`${dbFile}.wal`, { force: true });
  await clearShardState(ctx.redis); // bench state (guards, windows, sessions) is not kept
  progress(`stages of the raw path, ${STAGE_EVENTS} events on one thread`);
  const stages = await rawStages(ctx, path.join(config.localDir, `bench-stages-${Date.now()}.duckdb`)).catch((err: Error) => {
    progress(`  stages not measured: ${err.message}`);
    return { decode: Number.NaN, row: Number.NaN, load: Number.NaN, keyedInsert: Number.NaN, plainInsert: Number.NaN, idSet: Number.NaN };
  });
  progress(`  decode ${stages.decode.toFixed(1)} µs, row ${stages.row.toFixed(1)} µs, load ${stages.load.toFixed(1)} µs (wall) per event`);
  progress(`  dedup: keyed insert ${stages.keyedInsert.toFixed(2)} µs, plain insert ${stages.plainInsert.toFixed(2)} µs (wall), id Set ${stages.idSet.toFixed(2)} µs (CPU) per row`);
  await ctx.close();
  return {
    figures: {
      [`ingest_end_to_end_events_per_s${SUFFIX}`]: Math.round(e2eRate),
      [`ingest_bare_consumer_events_per_s${SUFFIX}`]: Math.round(bareRate),
      [`ingest_vs_bare_percent${SUFFIX}`]: Math.round((100 * e2eRate) / bareRate),
      [`ingest_raw_loader_events_per_s${SUFFIX}`]: Math.round(EVENTS / loaderSeconds),
      [`ingest_stream_events_per_s${SUFFIX}`]: Math.round(EVENTS / streamSeconds),
      [`ingest_cpu_segpipe_us_per_event${SUFFIX}`]: Number(cpuSplit.segpipe.toFixed(1)),
      [`ingest_cpu_broker_us_per_event${SUFFIX}`]: Number(cpuSplit.kafka.toFixed(1)),
      [`ingest_cpu_redis_us_per_event${SUFFIX}`]: Number(cpuSplit.redis.toFixed(1)),
      ingest_stage_decode_cpu_us_per_event: Number(stages.decode.toFixed(1)),
      ingest_stage_row_cpu_us_per_event: Number(stages.row.toFixed(1)),
      ingest_stage_load_wall_us_per_event: Number(stages.load.toFixed(1)),
      ingest_dedup_key_index_insert_wall_us_per_row: Number(stages.keyedInsert.toFixed(2)),
      ingest_dedup_none_insert_wall_us_per_row: Number(stages.plainInsert.toFixed(2)),
      ingest_dedup_id_set_cpu_us_per_row: Number(stages.idSet.toFixed(2)),
      ingest_latency_p50_ms: pct(50),
      ingest_latency_p99_ms: pct(99),
    },
    notes: [
      `${EVENTS} simulated events already in Kafka (6 user topics × ${config.kafka.partitions} partitions), read from the beginning; end to end = first fetch until every raw row is in DuckDB and the stream has applied every state event (the later of the two), in one process as \`segpipe all\` runs them: the loader on the main thread (the worker role, which owns the warehouse), the stream on a thread of its own.`,
      '`ingest_raw_loader_events_per_s` and `ingest_stream_events_per_s`: the requested events over the time each path took, running side by side on the 2 cores (the stream reads only the 4 state topics, about 35 % of the events).',
      `CPU of the end-to-end run per event (\`ingest_cpu_*\`): this process, every thread (the loader, the stream's thread, DuckDB's threads), the Kafka broker serving both paths' fetches, and Redis running the state steps; 2 cores give ${(2e6 / e2eRate).toFixed(1)} µs of CPU per event at this rate, and 200k events/s would leave 10.`,
      `Stages (\`ingest_stage_*\`): ${STAGE_EVENTS} simulated events on one thread without Kafka: Avro decode (CPU), validation into a typed row (CPU), and the DuckDB load of 50k-row ranges (new event_ids found in memory, appended straight into the unkeyed table, position, commit; wall time, as DuckDB works on its own threads). Dedup (\`ingest_dedup_*\`), on the largest table's rows: the insert into a table keyed by event_id with INSERT OR IGNORE (the way before the loader kept recent ids in memory) against a plain insert into an unkeyed table (the way now), and the CPU of a JS Set of ids (what RecentIds costs per row).`,
      `Latency: ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s, from the moment a batch is handed to the producer to the commit of the load that holds its row; a range loads when it is full (50k rows) or FLUSH_EVERY_MS (${config.stream.flushEveryMs} ms) old, so the target is p99 under ${2 * config.stream.flushEveryMs} ms.`,
    ],
  };
}

// The movie catalog pipeline end to end, through the real roles: the scheduler's watcher picks a
// file up, the worker parses it on the Piscina pool and produces to Kafka, the file moves on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Consumer } from 'kafkajs';
import { AppContext } from '../../src/context.ts';
import type { MoviesCatalogEnriched } from '../../src/events/types.generated.ts';
import { toCatalogEvent } from '../../src/movies/enrich.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { CATALOG_HASHES_KEY } from '../../src/movies/ingest.ts';
import { parseMovies } from '../../src/movies/parse.ts';
import { buildApi } from '../../src/roles/api.ts';
import { startScheduler } from '../../src/roles/scheduler.ts';
import { startWorkers } from '../../src/roles/worker.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';

const TOKEN = 'movies-test-token-0123456789';

describe('movie catalog pipeline', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-movies-'));
  const ctx = new AppContext(testConfig({ DATA_DIR: dataDir, MOVIES_STABLE_MS: '300', PARSE_THREADS: '2', ADMIN_TOKEN: TOKEN }));
  const { incomingDir, processedDir, quarantineDir } = ctx.config.movies;
  const topic = ctx.config.topics.movies_catalog_enriched;
  const received: MoviesCatalogEnriched[] = [];
  let consumer: Consumer;
  let api: FastifyInstance;

  const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 45_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  const processedFiles = () =>
    fs.existsSync(processedDir) ? fs.readdirSync(processedDir).flatMap((d) => fs.readdirSync(path.join(processedDir, d)).map((f) => path.join(d, f))) : [];
  /** Writes a file the way an upload does: to a hidden name, then renamed into place. */
  const drop = (name: string, bytes: Buffer) => {
    const tmp = path.join(incomingDir, `.${name}.uploading`);
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, path.join(incomingDir, name));
  };
  const movesJobs = async () => (await ctx.queues.movies.getJobs(['completed'])).filter((j) => j.name === 'movies:ingest');

  beforeAll(async () => {
    fs.mkdirSync(incomingDir, { recursive: true });
    await ctx.prepare();
    await ctx.redis.del(CATALOG_HASHES_KEY);
    await ctx.queues.movies.obliterate({ force: true });
    // Read everything produced from now on.
    consumer = ctx.kafka.consumer({ groupId: unique('movies-test') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const { value } = await ctx.serde.decode<MoviesCatalogEnriched>(message.value, { topic, partition, offset: message.offset });
        received.push(value);
      },
    });
    await joined;
    await sleep(500); // the first fetch resolves the latest offsets before anything is produced
    await startScheduler(ctx);
    await startWorkers(ctx);
    api = await buildApi(ctx);
  });

  it('keeps only the latest runs of a repeatable job', async () => {
    const scheduler = await ctx.queues.flush.getJobScheduler('flush:metrics');
    expect(scheduler?.template?.opts).toMatchObject({ removeOnComplete: { count: 50 }, removeOnFail: { count: 200 } });
  });

  afterAll(async () => {
    // The scheduler role upserted repeatable jobs into the shared test Redis: remove them.
    for (const q of Object.values(ctx.queues)) for (const s of await q.getJobSchedulers()) if (s.key) await q.removeJobScheduler(s.key);
    await api?.close();
    await consumer?.disconnect();
    await ctx.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('turns a file dropped into incoming/ into catalog events, then moves it to processed/', async () => {
    const file = path.join(dataDir, 'gen.txt');
    await generateMovies({ items: 400, out: file, seed: 11, edgeRate: 0, firstId: 50_000 });
    const bytes = fs.readFileSync(file);
    const expected = parseMovies(bytes).records.map((r) => toCatalogEvent(r, { sourceFile: 'catalog-a.txt', timestamp: 'ignored' }));

    drop('catalog-a.txt', bytes);
    await waitFor('400 catalog events', () => received.length >= 400);
    await waitFor('the file to move', () => processedFiles().length === 1);
    expect(fs.existsSync(path.join(incomingDir, 'catalog-a.txt'))).toBe(false);
    expect(processedFiles()[0]).toMatch(/^\d{4}-\d{2}-\d{2}\/catalog-a\.txt$/);

    const byId = new Map(received.map((e) => [e.item_id, e]));
    expect(byId.size).toBe(400);
    for (const want of expected) {
      const got = byId.get(want.item_id)!;
      expect({ ...got, timestamp: 'ignored' }).toEqual(want);
      expect(Date.parse(got.timestamp)).not.toBeNaN();
    }
    const [job] = await movesJobs();
    expect(job!.returnvalue).toMatchObject({ items: 400, produced: 400, unchanged: 0, quarantined: 0 });
    // And the warehouse's catalog table holds them, loaded by the worker that owns it (found
    // missing on 2026-12-03: since the two paths, nothing loaded the catalog topic).
    const inWarehouse = async () => {
      const r = await warehouseQuery(ctx, 'sql', { sql: `SELECT count(DISTINCT item_id) FROM raw_movies_catalog_enriched WHERE source_file = 'catalog-a.txt' AND title IS NOT NULL`, limit: 1, timeoutMs: 10_000 }, 30_000);
      return Number(r.rows[0]![0]);
    };
    await waitFor('the catalog in the warehouse', async () => (await inWarehouse()) === 400 || (await sleep(500), false), 60_000);
    expect(job!.progress).toMatchObject({ percent: 100, items: 400, produced: 400 });
  }, 120_000);

  it('produces nothing for the same file again, and exactly one event after one price changes', async () => {
    const original = fs.readFileSync(path.join(processedDir, processedFiles()[0]!));
    const before = received.length;
    // Each item's span hash is stored beside its content hash. Values an earlier version stored
    // hold the content hash alone: those items are still found unchanged, and get one.
    const ids = Array.from({ length: 400 }, (_, i) => String(50_000 + i));
    const stored = await ctx.redis.hmget(CATALOG_HASHES_KEY, ...ids);
    expect(stored.every((v) => /^[0-9a-f]{16}\.[0-9a-f]{16}$/.test(v ?? ''))).toBe(true);
    await ctx.redis.hset(CATALOG_HASHES_KEY, Object.fromEntries(ids.slice(0, 200).map((id, i) => [id, stored[i]!.slice(0, 16)])));
    drop('catalog-a.txt', original);
    await waitFor('the second copy to move', () => processedFiles().length === 2);
    await waitFor('two completed ingests', async () => (await movesJobs()).length === 2);
    await sleep(1000);
    expect(received.length).toBe(before);
    const second = (await movesJobs()).find((j) => (j.returnvalue as { produced: number }).produced === 0);
    expect(second!.returnvalue).toMatchObject({ items: 400, produced: 0, unchanged: 400 });
    expect(await ctx.redis.hmget(CATALOG_HASHES_KEY, ...ids)).toEqual(stored);

    const text = original.toString('utf8');
    const priceLine = /^ListPrice=(\d+)USD\$[\d,.]+$/m.exec(text)!;
    const cents = Number(priceLine[1]) + 1;
    const changed = text.replace(priceLine[0], `ListPrice=${cents}USD$${(cents / 100).toFixed(2)}`);
    drop('catalog-b.txt', Buffer.from(changed, 'utf8'));
    await waitFor('one more event', () => received.length === before + 1);
    await waitFor('the changed file to move', () => processedFiles().length === 3);
    await sleep(1000);
    expect(received.length).toBe(before + 1);
    expect(received[received.length - 1]!.list_price_cents).toBe(cents);
  });

  // Found by an attack on 2026-12-03: each run produced the other version of an id given twice.
  it('produces an id given twice in a file once, its last version, and nothing when the file runs again', async () => {
    const file = path.join(dataDir, 'twice.txt');
    fs.writeFileSync(file, ['ITEM 91001', 'Title=first', 'ITEM 91002', 'Title=between', 'ITEM 91001', 'Title=second', ''].join('\n'));
    const run = async () => {
      const res = await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: file } });
      const { jobId } = res.json();
      let got: { state: string; result: Record<string, unknown> | null } = { state: '', result: null };
      await waitFor('the run to complete', async () => {
        got = (await api.inject({ url: `/api/runs/movies/${jobId}`, headers: { authorization: `Bearer ${TOKEN}` } })).json();
        return got.state === 'completed';
      });
      return got.result!;
    };
    const before = received.length;
    expect(await run()).toMatchObject({ items: 3, produced: 2, unchanged: 1 });
    await waitFor('two events', () => received.length === before + 2);
    expect(received.slice(before).map((e) => e.title).sort()).toEqual(['between', 'second']);
    expect(await run()).toMatchObject({ items: 3, produced: 0, unchanged: 3 });
    await sleep(1000);
    expect(received.length).toBe(before + 2);
  });

  it('runs a file with garbage lines through REST: good records produced, every bad line quarantined', async () => {
    const lines = [
      'ITEM 90001', 'Title=Good One', 'ListPrice=1000USD$10.00',
      'garbage without equals',
      'ITEM 90002', 'Title=Good Two', '=no key here',
      'ITEM', 'Title=orphaned',
      'ITEM 90003', 'Title=Good Three', 'ListPrice=Too low to display',
    ];
    const file = path.join(dataDir, 'garbage.txt');
    fs.writeFileSync(file, lines.join('\n'));
    const before = received.length;

    const bad = await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: path.join(dataDir, 'nope.txt') } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/path ".*nope\.txt" does not name a regular file inside the data directory \(DATA_DIR\)/);
    const extra = await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: file, colour: 'red' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().message).toMatch(/additional properties/);

    const res = await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: file } });
    expect(res.statusCode).toBe(202);
    const { jobId } = res.json();
    let run: { state: string; result: Record<string, unknown> | null } = { state: '', result: null };
    await waitFor('the REST run to complete', async () => {
      run = (await api.inject({ url: `/api/runs/movies/${jobId}`, headers: { authorization: `Bearer ${TOKEN}` } })).json();
      return run.state === 'completed';
    });
    expect(run.result).toMatchObject({ items: 3, produced: 3, quarantined: 4, movedTo: null });
    await waitFor('three events', () => received.length === before + 3);
    expect(received.slice(before).map((e) => e.title).sort()).toEqual(['Good One', 'Good Three', 'Good Two']);
    expect(received.find((e) => e.item_id === '90003')).toMatchObject({ list_price: null, list_price_null_reason: 'not_a_price' });
    expect(fs.existsSync(file)).toBe(true); // only files from incoming/ move

    const quarantined = fs
      .readFileSync(run.result!.quarantineFile as string, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(quarantined).toEqual([
      { file: 'garbage.txt', line: 4, reason: 'unrecognized_line', text: 'garbage without equals' },
      { file: 'garbage.txt', line: 7, reason: 'empty_key', text: '=no key here' },
      { file: 'garbage.txt', line: 8, reason: 'item_without_id', text: 'ITEM' },
      { file: 'garbage.txt', line: 9, reason: 'attribute_outside_item', text: 'Title=orphaned' },
    ]);
    const metrics = (await api.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/segpipe_movies_quarantined_lines_total\{reason="empty_key",app="segpipe"\} [1-9]/);

    // The next file of the same name (a daily drop) gets a quarantine file of its own.
    await new Promise((r) => setTimeout(r, 1100));
    fs.writeFileSync(file, ['ITEM 90004', 'Title=Good Four', 'another garbage line'].join('\n'));
    const second = (await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: file } })).json() as { jobId: string };
    let next: typeof run = { state: '', result: null };
    await waitFor('the second run to complete', async () => {
      next = (await api.inject({ url: `/api/runs/movies/${second.jobId}`, headers: { authorization: `Bearer ${TOKEN}` } })).json();
      return next.state === 'completed';
    });
    expect(next.result!.quarantineFile).not.toBe(run.result!.quarantineFile);
    expect(fs.readFileSync(run.result!.quarantineFile as string, 'utf8').trim().split('\n')).toHaveLength(4);
    expect(JSON.parse(fs.readFileSync(next.result!.quarantineFile as string, 'utf8'))).toMatchObject({ file: 'garbage.txt', line: 3, text: 'another garbage line' });
  });

  it('parses the committed sample file with every edge case and quarantines its garbage', async () => {
    // Runs read files inside DATA_DIR only.
    const sample = path.join(dataDir, 'Movies.txt');
    fs.copyFileSync('data/Movies.txt', sample);
    const res = await api.inject({ method: 'POST', url: '/api/runs/movies', headers: { authorization: `Bearer ${TOKEN}` }, payload: { path: sample } });
    const { jobId } = res.json();
    let run: { state: string; result: Record<string, number> | null } = { state: '', result: null };
    await waitFor('the sample run', async () => {
      run = (await api.inject({ url: `/api/runs/movies/${jobId}`, headers: { authorization: `Bearer ${TOKEN}` } })).json();
      if (run.state === 'failed') throw new Error(`sample run failed: ${JSON.stringify(run)}`);
      return run.state === 'completed' && run.result !== null;
    });
    expect(run.result!.items).toBe(306);
    expect(run.result!.quarantined).toBeGreaterThan(5);
    expect(fs.existsSync(sample)).toBe(true);
    // Items are keyed by id, so they arrive from several partitions in no fixed order: wait for each one checked.
    const checked = ['1', '2', '3', '4', '5', '6'];
    await waitFor('the sample events', () => checked.every((id) => received.some((e) => e.item_id === id)));
    const byId = new Map(received.map((e) => [e.item_id, e]));
    expect(byId.get('1')).toMatchObject({ title: 'Spirited Away (千と千尋の神隠し)', list_price_cents: 1999, actors: ['Rumi Hiiragi', 'Miyu Irino', 'Mari Natsuki'] });
    expect(byId.get('2')).toMatchObject({ title: "E=mc²: Einstein's Big Idea", list_price_cents: 129999, release_date: '2005-10-11', running_time_minutes: 112 });
    expect(byId.get('3')).toMatchObject({ title: 'Amélie', list_price: null, list_price_null_reason: 'not_a_price', release_date: '2001-11-13' });
    expect(byId.get('4')).toMatchObject({ list_price: null, list_price_null_reason: 'cents_dollars_mismatch', studio: 'Paramount' });
    expect(byId.get('5')).toMatchObject({ list_price: null, list_price_null_reason: 'missing' });
    expect(byId.get('6')!.attributes.ListPrice).toEqual(['2,499USD$24.99', '2499USD$24.99']);
  });
});

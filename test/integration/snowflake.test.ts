// The Snowflake warehouse through the real snowflake-sdk, over HTTP, against a local
// Snowflake-protocol emulator (fakesnow, started here on port 18090). fakesnow answers result
// sets in Arrow, which the Node driver does not read, so a proxy in front of it rewrites them
// into Snowflake's JSON rowsets (test/helpers/snowflake-json-proxy.ts); the proxy also makes the
// network faults. Rows are built from simulated events by the stream's own toRow(), merged,
// read back through the driver and compared value by value.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventName } from '../../src/config.ts';
import { toCatalogEvent } from '../../src/movies/enrich.ts';
import { parseMovies } from '../../src/movies/parse.ts';
import { SAMPLE_CATALOG, catalogFromFile } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { isPortOpen, readLivePid, stopPid, type RunningProcess } from '../../src/stack/process.ts';
import { startSnowflakeEmulator } from '../../src/stack/snowflake-emulator.ts';
import { toRow } from '../../src/stream/transform.ts';
import { isoUtc } from '../../src/events/iso-time.ts';
import { openWarehouse } from '../../src/warehouse/index.ts';
import { MAX_BINDS } from '../../src/warehouse/snowflake.ts';
import { RAW_OFFSETS, rawTables, type TableSpec } from '../../src/warehouse/tables.ts';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.ts';
import { MOVIE_SALES, REGISTRATION_METRICS, catalogTitles } from '../../src/windows/metrics.ts';
import { SESSION_METRICS } from '../../src/windows/sessions.ts';
import { testConfig } from '../helpers/env.ts';
import { SnowflakeJsonProxy } from '../helpers/snowflake-json-proxy.ts';

const EMULATOR_PORT = 18090;
const RAW = rawTables();
const ALL_TABLES: TableSpec[] = [...RAW.values(), REGISTRATION_METRICS, MOVIE_SALES, SESSION_METRICS];

let nextOffset = 1000;
/** Warehouse rows of events, through the stream's transform, with Kafka lineage. */
function rowsOf(event: EventName, records: object[]): Row[] {
  const table = RAW.get(event)!;
  return records.map((r) => {
    const offset = nextOffset++;
    const ingestedAt = Date.UTC(2026, 10, 25, 12, 0, 0) + offset * 7;
    return toRow(event, table, r as Record<string, unknown>, { topic: `${event}_topic`, partition: offset % 3, offset: String(offset), ingestedAt });
  });
}

/** A row as query() should give it back: JSON parsed for comparison, everything else as is. */
function asObject(table: TableSpec, row: Row): Record<string, unknown> {
  return Object.fromEntries(table.columns.map((c, i) => [c.name, c.type === 'JSON' && row[i] !== null ? JSON.parse(row[i] as string) : c.type === 'TIMESTAMP' && typeof row[i] === 'number' ? isoUtc(row[i] as number) : row[i]]));
}

function keyOf(table: TableSpec, o: Record<string, unknown>): string {
  return table.key.map((k) => String(o[k])).join('\u0000');
}

const SAMPLE_RECORDS = parseMovies(fs.readFileSync(SAMPLE_CATALOG)).records;
const catalogRecord = (i: number) => toCatalogEvent(SAMPLE_RECORDS[i]!, { sourceFile: 'Movies.txt', timestamp: '2026-11-20T08:00:00.250Z' });

const byKey = (table: TableSpec) => (a: Record<string, unknown>, b: Record<string, unknown>) => (keyOf(table, a) < keyOf(table, b) ? -1 : keyOf(table, a) > keyOf(table, b) ? 1 : 0);

describe('Snowflake warehouse through snowflake-sdk against a Snowflake-protocol emulator', () => {
  let emulator: RunningProcess | undefined;
  let proxy: SnowflakeJsonProxy;
  let w: Warehouse;
  const expected = new Map<string, Row[]>();

  const readBack = async (table: TableSpec) => {
    const rows = await w.query(`SELECT * FROM ${table.name}`);
    return rows.map((r) => Object.fromEntries(table.columns.map((c) => [c.name, c.type === 'JSON' && r[c.name] !== null ? JSON.parse(r[c.name] as string) : r[c.name]]))).sort(byKey(table));
  };
  const expectTable = async (table: TableSpec, rows: Row[]) => {
    expect(await readBack(table)).toEqual(rows.map((r) => asObject(table, r)).sort(byKey(table)));
  };
  const count = async (table: string) => (await w.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n;

  beforeAll(async () => {
    const base = testConfig();
    const dir = path.join(base.localDir, `snowflake-emulator-${EMULATOR_PORT}`);
    // An emulator an interrupted run left behind is stopped; its data was in memory anyway.
    const leftover = readLivePid(path.join(dir, 'fakesnow.pid'));
    if (leftover !== undefined) await stopPid(leftover, path.join(dir, 'fakesnow.pid'), 5000);
    if (await isPortOpen(EMULATOR_PORT)) throw new Error(`port ${EMULATOR_PORT} (Snowflake emulator) is taken by another process`);
    fs.rmSync(dir, { recursive: true, force: true });
    emulator = await startSnowflakeEmulator({ host: '127.0.0.1', port: EMULATOR_PORT, dir }, (m) => process.stderr.write(`[snowflake] ${m}\n`));
    proxy = new SnowflakeJsonProxy(new URL(`http://127.0.0.1:${EMULATOR_PORT}`));
    await proxy.listen();
    // The app's own path: WAREHOUSE=snowflake and SNOWFLAKE_* through loadConfig and openWarehouse.
    const config = testConfig({
      WAREHOUSE: 'snowflake',
      SNOWFLAKE_ACCOUNT: 'segpipe_test',
      SNOWFLAKE_USER: 'segpipe',
      SNOWFLAKE_PASSWORD: 'not-checked-by-the-emulator',
      SNOWFLAKE_DATABASE: 'SEGPIPE',
      SNOWFLAKE_SCHEMA: 'RAW',
      SNOWFLAKE_WAREHOUSE: 'TEST_WH',
      SNOWFLAKE_HOST: proxy.url,
    });
    w = await openWarehouse(config);
  }, 300_000);

  afterAll(async () => {
    await w?.close();
    await proxy?.stop();
    if (emulator) await stopPid(emulator.pid, emulator.pidFile, 10_000);
  });

  it('creates every table (raw, metrics, sessions); a second ensureSchema changes nothing', async () => {
    expect(w.kind).toBe('snowflake');
    await w.ensureSchema(ALL_TABLES);
    await w.ensureSchema(ALL_TABLES);
    for (const t of ALL_TABLES) expect(await count(t.name)).toBe(0);
    const cols = await w.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'RAW_CHECKOUT' ORDER BY ordinal_position`,
    );
    expect(cols.map((c) => c.column_name)).toEqual(RAW.get('checkout')!.columns.map((c) => c.name.toUpperCase()));
  });

  it('merges rows of every raw event table and reads back the same values', async () => {
    const events = [...simulate({ seed: 515, events: 400, start: Date.parse('2026-11-21T00:00:00Z'), userPrefix: 'sf' }, catalogFromFile())];
    const byName = new Map<EventName, object[]>();
    for (const e of events) byName.set(e.eventName, [...(byName.get(e.eventName) ?? []), e.toRecord()]);
    const catalog = SAMPLE_RECORDS.map((r) =>
      toCatalogEvent(r, { sourceFile: 'Movies.txt', timestamp: '2026-11-20T08:00:00.250Z' }),
    );
    byName.set('movies_catalog_enriched', catalog);
    expect([...byName.keys()].sort()).toEqual([...RAW.keys()].sort());
    for (const [name, records] of byName) {
      const table = RAW.get(name)!;
      const rows = rowsOf(name, records);
      expect(await w.merge(table, rows)).toBe(rows.length);
      expected.set(table.name, rows);
    }
    for (const table of RAW.values()) await expectTable(table, expected.get(table.name)!);
    // The data exercises what the types need: nulls, JSON arrays and objects, fractional seconds.
    const movies = expected.get('raw_movies_catalog_enriched')!;
    const cols = RAW.get('movies_catalog_enriched')!.columns.map((c) => c.name);
    expect(movies.some((r) => r[cols.indexOf('list_price')] === null)).toBe(true);
    expect(movies.some((r) => typeof r[cols.indexOf('list_price')] === 'number' && !Number.isInteger(r[cols.indexOf('list_price')]))).toBe(true);
    expect(movies.some((r) => (r[cols.indexOf('actors')] as string).startsWith('["'))).toBe(true);
  });

  it('merging the same rows again changes nothing', async () => {
    for (const table of RAW.values()) {
      const rows = expected.get(table.name)!;
      await w.merge(table, rows);
      expect(await count(table.name)).toBe(rows.length);
      await expectTable(table, rows);
    }
  });

  it('a newer version of a row replaces it; within one batch the highest kafka_offset wins', async () => {
    const table = RAW.get('checkout')!;
    const col = (name: string) => table.columns.findIndex((c) => c.name === name);
    const rows = expected.get(table.name)!;
    const [first, second] = rows;
    const bump = (r: Row, offset: number, payment: string): Row => r.map((v, i) => (i === col('kafka_offset') ? offset : i === col('payment_method') ? payment : v));
    const batch = [bump(first!, 900_002, 'gift_card'), bump(first!, 900_001, 'paypal'), bump(second!, 900_003, 'apple_pay')];
    await w.merge(table, batch);
    const now = [batch[0]!, batch[2]!, ...rows.slice(2)];
    expect(await count(table.name)).toBe(rows.length);
    await expectTable(table, now);
    expected.set(table.name, now);
    // The metrics tables have other keys and no version column.
    const reg = ['2026-11-21T00:00:00.000Z', '2026-11-21T01:00:00.000Z', 'hourly', 42, 1, false, '2026-11-21T01:00:05.123Z'];
    await w.merge(REGISTRATION_METRICS, [reg]);
    await w.merge(REGISTRATION_METRICS, [[...reg.slice(0, 3), 43, 2, true, '2026-11-21T02:00:00.000Z']]);
    await expectTable(REGISTRATION_METRICS, [[...reg.slice(0, 3), 43, 2, true, '2026-11-21T02:00:00.000Z']]);
    const session = ['2026-11-21T00:00:00.000Z', '2026-11-21T01:00:00.000Z', 12, 3_600_000, 300.5, null, 1, false, '2026-11-21T01:00:01.000Z', 2];
    await w.merge(SESSION_METRICS, [session]);
    await expectTable(SESSION_METRICS, [session]);
  });

  it('loads a raw range and its position in one transaction: new event ids once, a replay refused, a failed commit leaves nothing', { timeout: 240_000 }, async () => {
    await w.ensureSchema([RAW_OFFSETS]);
    const table = RAW.get('sign_in')!;
    const before = await count(table.name);
    const records = [...simulate({ seed: 616, events: 600, start: Date.parse('2026-11-22T00:00:00Z'), userPrefix: 'sfl' }, catalogFromFile())].filter((e) => e.eventName === 'sign_in').map((e) => e.toRecord());
    const rows = rowsOf('sign_in', records);
    // Two rows repeated within the range, and one already in the table from the merges above.
    const range = [...rows, rows[0]!, rows[1]!, expected.get(table.name)![0]!];
    const load = { table, topic: 'sign_in_topic', partition: 4, from: 0, to: range.length + 2, rows: range, deadLetters: 2, mark: Date.parse('2026-11-22T05:00:00Z') };
    expect(await w.loadRaw!(load)).toEqual({ applied: true, inserted: rows.length, duplicates: 3 });
    expect(await count(table.name)).toBe(before + rows.length);
    expect(await w.loadRaw!(load)).toEqual({ applied: false, position: range.length + 2, mark: Date.parse('2026-11-22T05:00:00Z') });
    expect(await count(table.name)).toBe(before + rows.length);
    const failing = { ...load, from: range.length + 2, to: range.length + 3, rows: rowsOf('sign_in', [{ ...records[0]!, event_id: 'sfl-new-one' }]), deadLetters: 0, beforeCommit: async () => { throw new Error('killed before the commit'); } };
    await expect(w.loadRaw!(failing)).rejects.toThrow('killed before the commit');
    expect(await count(table.name)).toBe(before + rows.length);
    expect((await w.rawPositions!()).get('sign_in_topic:4')).toEqual({ nextOffset: range.length + 2, rows: rows.length, duplicates: 3, deadLetters: 2, mark: Date.parse('2026-11-22T05:00:00Z') });
    expect(await w.loadRaw!({ ...failing, beforeCommit: undefined })).toEqual({ applied: true, inserted: 1, duplicates: 0 });
    expect((await w.rawPositions!()).get('sign_in_topic:4')!.nextOffset).toBe(range.length + 3);
    expected.set(table.name, [...expected.get(table.name)!, ...rows, ...failing.rows]);
  });

  it('splits a batch bigger than one INSERT slice (MAX_BINDS / columns) and merges it whole', async () => {
    const table = RAW.get('movies_catalog_enriched')!;
    const perInsert = Math.floor(MAX_BINDS / table.columns.length);
    const records = Array.from({ length: perInsert + 25 }, (_, i) => {
      const e = toCatalogEvent(SAMPLE_RECORDS[i % SAMPLE_RECORDS.length]!, { sourceFile: 'Movies.txt', timestamp: '2026-11-22T00:00:00.000Z' });
      return { ...e, event_id: `bulk:${i}`, item_id: `bulk-${i}` };
    });
    const rows = rowsOf('movies_catalog_enriched', records);
    const seen = proxy.queries.length;
    await w.merge(table, rows);
    const inserts = proxy.queries.slice(seen).filter((q) => q.sqlText.startsWith('INSERT INTO "STAGE_'));
    expect(inserts.map((q) => q.bindRows)).toEqual([perInsert, 25]);
    const all = [...expected.get(table.name)!, ...rows];
    expect(await count(table.name)).toBe(all.length);
    await expectTable(table, all);
    expected.set(table.name, all);
  }, 120_000);

  it('survives a lost answer (the emulator ran the INSERT, the client never heard) without duplicates', async () => {
    const table = RAW.get('item_view')!;
    const events = [...simulate({ seed: 516, events: 300, start: Date.parse('2026-11-23T00:00:00Z'), userPrefix: 'sf-lost' }, catalogFromFile())];
    const rows = rowsOf('item_view', events.filter((e) => e.eventName === 'item_view').map((e) => e.toRecord()));
    proxy.loseAnswers(1, (q) => q.sqlText.startsWith('INSERT INTO "STAGE_'));
    const seen = proxy.queries.length;
    await w.merge(table, rows);
    expect(proxy.lost).toBe(1);
    // The INSERT went twice (so the stage held every row twice); the MERGE kept one of each.
    expect(proxy.queries.slice(seen).filter((q) => q.sqlText.startsWith('INSERT INTO "STAGE_'))).toHaveLength(2);
    const all = [...expected.get(table.name)!, ...rows];
    expect(await count(table.name)).toBe(all.length);
    await expectTable(table, all);
    expected.set(table.name, all);
  });

  it('survives the port being closed mid-merge', async () => {
    const table = RAW.get('sign_in')!;
    const events = [...simulate({ seed: 517, events: 300, start: Date.parse('2026-11-24T00:00:00Z'), userPrefix: 'sf-down' }, catalogFromFile())];
    const rows = rowsOf('sign_in', events.filter((e) => e.eventName === 'sign_in').map((e) => e.toRecord()));
    // Closed as the merge starts: its first statements meet refused connections until the port is back.
    const started = Date.now();
    const outage = proxy.outage(1500);
    await w.merge(table, rows);
    await outage;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const all = [...expected.get(table.name)!, ...rows];
    expect(await count(table.name)).toBe(all.length);
    await expectTable(table, all);
  });

  it('answers the metrics flush\'s catalog-title lookup', async () => {
    const movies = expected.get('raw_movies_catalog_enriched')!;
    const cols = RAW.get('movies_catalog_enriched')!.columns.map((c) => c.name);
    const ids = movies.map((r) => r[cols.indexOf('item_id')]);
    const titled = movies.filter((r) => r[cols.indexOf('title')] !== null && ids.indexOf(r[cols.indexOf('item_id')]) === ids.lastIndexOf(r[cols.indexOf('item_id')])).slice(0, 5);
    expect(titled).toHaveLength(5);
    // One more item seen twice: the later event's title wins.
    const twice = [
      { ...catalogRecord(0), event_id: 'twice:1', item_id: 'twice', title: 'Later Title', timestamp: '2026-11-21T00:00:00.000Z' },
      { ...catalogRecord(0), event_id: 'twice:0', item_id: 'twice', title: 'Earlier Title', timestamp: '2026-11-20T00:00:00.000Z' },
    ];
    await w.merge(RAW.get('movies_catalog_enriched')!, rowsOf('movies_catalog_enriched', twice));
    const titles = await catalogTitles(w, [...titled.map((r) => r[cols.indexOf('item_id')] as string), 'twice', 'no-such-item']);
    expect(Object.fromEntries(titles)).toEqual({ ...Object.fromEntries(titled.map((r) => [r[cols.indexOf('item_id')], r[cols.indexOf('title')]])), twice: 'Later Title' });
  });
});

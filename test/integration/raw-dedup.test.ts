// The raw tables' uniqueness by event_id without a key index: re-sent rows are recognised in
// memory within the dedup horizon, against the table beyond it, after a reopen, and not from a
// load that rolled back. Real DuckDB files; no Kafka needed (loadRaw is the warehouse's step).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables, type TableSpec } from '../../src/warehouse/tables.ts';
import type { Row } from '../../src/warehouse/warehouse.ts';

const H = 3_600_000;
const table = rawTables().get('item_view')!;
const T0 = Date.UTC(2026, 5, 1, 12);

/** An item_view row in column order, at `ms` of event time, at `offset` of partition 0. */
function row(id: string, ms: number, offset: number): Row {
  const values: Record<string, string | number> = {
    event_id: id,
    event_name: 'item_view',
    event_time: new Date(ms).toISOString(),
    user_id: `u-${id}`,
    item_id: 'B00001',
    kafka_topic: 't',
    kafka_partition: 0,
    kafka_offset: offset,
    ingested_at: new Date(T0).toISOString(),
  };
  return table.columns.map((c) => values[c.name] ?? null);
}

describe('raw tables unique by event_id without a key index', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-dedup-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const open = async (file: string, tables: TableSpec[] = [table, RAW_OFFSETS]) => {
    const w = await DuckDBWarehouse.open(file, { dedupHorizonMs: H });
    await w.ensureSchema(tables);
    return w;
  };
  const ids = async (w: DuckDBWarehouse) => w.query<{ n: number; distinct_ids: number }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_ids FROM ${table.name}`);

  /** Loads `rows` as the next range of partition 0 and returns what the load made of them. */
  const loader = (w: () => DuckDBWarehouse) => {
    let next = 0;
    return async (rows: Row[], beforeCommit?: () => Promise<void>) => {
      const from = next;
      const result = await w().loadRaw({ table, topic: 't', partition: 0, from, to: from + rows.length, rows, deadLetters: 0, mark: -1, beforeCommit });
      if (result.applied) next += rows.length;
      return result;
    };
  };

  it('creates the raw event tables with no primary key (the catalog keeps its key: it is merged)', async () => {
    const w = await DuckDBWarehouse.open(path.join(dir, 'schema.duckdb'));
    await w.ensureSchema([...rawTables().values(), RAW_OFFSETS]);
    const keyed = await w.query<{ table_name: string }>(`SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name`);
    expect(keyed.map((r) => r.table_name)).toEqual(['raw_movies_catalog_enriched', 'segpipe_raw_offsets']);
    await w.close();
  });

  it('counts a re-sent event as a duplicate: in one range, in a later one, one hour and more behind, after a reopen; a rolled-back load leaves no trace', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'dedup.duckdb');
    let w = await open(file);
    const load = loader(() => w);
    // 1000 events over 50 minutes, and 3 of them again in the same range.
    const first = Array.from({ length: 1000 }, (_, i) => row(`e${i}`, T0 + i * 3000, i));
    expect(await load([...first, row('e1', T0 + 3000, 1000), row('e2', T0 + 6000, 1001), row('e999', T0 + 999 * 3000, 1002)])).toEqual({ applied: true, inserted: 1000, duplicates: 3 });
    // Three hours later: new events, re-sends of recent ones, and re-sends from before the
    // horizon (a producer's late retry), which only the table can tell.
    const later = T0 + 3 * H;
    const fresh = Array.from({ length: 100 }, (_, i) => row(`f${i}`, later + i * 1000, 0));
    expect(await load([...fresh, row('f5', later + 5000, 0), row('e10', T0 + 30_000, 0), row('e20', T0 + 60_000, 0), row('old-new', T0 + 1000, 0)])).toEqual({ applied: true, inserted: 101, duplicates: 3 });
    expect(await ids(w)).toEqual([{ n: 1101, distinct_ids: 1101 }]);

    // A load that fails before its commit: nothing of it stays, in the table or in memory.
    const failing = [row('g1', later + 200_000, 0), row('g2', later + 201_000, 0)];
    await expect(load(failing, async () => { throw new Error('injected failure before the commit'); })).rejects.toThrow('injected');
    expect(await load(failing)).toEqual({ applied: true, inserted: 2, duplicates: 0 });

    // Reopened (a restart): the recent ids come back from the table.
    await w.close();
    w = await open(file);
    expect(await load([row('f1', later + 1000, 0), row('g2', later + 201_000, 0), row('e30', T0 + 90_000, 0), row('h1', later + 300_000, 0)])).toEqual({ applied: true, inserted: 1, duplicates: 3 });
    expect(await ids(w)).toEqual([{ n: 1104, distinct_ids: 1104 }]);
    const positions = await w.rawPositions();
    expect(positions.get('t:0')).toMatchObject({ rows: 1104, duplicates: 9 });
    await w.close();
  });

  it('a retry of a range running beside the failing load of it neither loses nor repeats an event', { timeout: 60_000 }, async () => {
    const w = await open(path.join(dir, 'concurrent.duckdb'));
    const load = (rows: Row[], from: number, beforeCommit?: () => Promise<void>) => w.loadRaw({ table, topic: 't', partition: 0, from, to: from + rows.length, rows, deadLetters: 0, mark: -1, beforeCommit });
    expect(await load([row('first', T0 + 5 * H, 0)], 0)).toMatchObject({ applied: true, inserted: 1 });
    // A new event and 20k late ones (checked against the table, which takes a while).
    const range = [row('x', T0 + 5 * H + 1, 1), ...Array.from({ length: 20_000 }, (_, i) => row(`late${i}`, T0 + i, 2 + i))];
    const failing = load(range, 1, async () => {
      await sleep(20);
      throw new Error('injected failure before the commit');
    });
    await sleep(5);
    const retry = load(range, 1);
    await expect(failing).rejects.toThrow('injected');
    expect(await retry).toEqual({ applied: true, inserted: 20_001, duplicates: 0 });
    expect(await w.query(`SELECT count(*) AS n FROM ${table.name} WHERE event_id = 'x'`)).toEqual([{ n: 1 }]);
    expect(await ids(w)).toEqual([{ n: 20_002, distinct_ids: 20_002 }]);
    await w.close();
  });

  it('a raw table an earlier version created with a key index is still loaded through it', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'legacy.duckdb');
    let w = await open(file, [{ ...table, appendOnly: false }, RAW_OFFSETS]);
    await w.close();
    w = await open(file);
    const load = loader(() => w);
    expect(await load([row('a', T0, 0), row('b', T0 + 1, 1)])).toEqual({ applied: true, inserted: 2, duplicates: 0 });
    expect(await load([row('a', T0, 2), row('c', T0 + 2, 3)])).toEqual({ applied: true, inserted: 1, duplicates: 1 });
    expect(await ids(w)).toEqual([{ n: 3, distinct_ids: 3 }]);
    await w.close();
  });
});

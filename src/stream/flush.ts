// Outbox → warehouse. Entries are read per table across the shards, MERGEd on the table's key,
// and only then deleted from the outbox. A crash between the two re-merges the same rows next
// time: the merge is keyed, so that is a no-op (DESIGN.md, rule 4).
import type { Redis } from 'ioredis';
import { shardKeys } from '../state/scripts.ts';
import type { TableSpec } from '../warehouse/tables.ts';
import type { Row, Warehouse } from '../warehouse/warehouse.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';

export const FLUSH_STATS_KEY = 'segpipe:flush:stats';

export interface FlushOptions {
  shards: number;
  /** Rows per merge. */
  batch?: number;
  /** Runs after each merge, before the outbox is trimmed (fault tests, latency measurement); rows as JSON arrays. */
  afterMerge?: (table: string, rows: string[]) => Promise<void> | void;
}

export async function flushOutboxes(redis: Redis, warehouse: Warehouse, tables: TableSpec[], opts: FlushOptions): Promise<Record<string, number>> {
  const batch = opts.batch ?? 10_000;
  const merged: Record<string, number> = {};
  for (const table of tables) {
    merged[table.name] = 0;
    const streams = Array.from({ length: opts.shards }, (_, p) => shardKeys(p).outbox(table.name));
    for (;;) {
      const rows: string[] = [];
      const taken: Array<[string, string[]]> = [];
      for (const key of streams) {
        if (rows.length >= batch) break;
        const entries = await redis.xrange(key, '-', '+', 'COUNT', batch - rows.length);
        if (entries.length === 0) continue;
        for (const [, fields] of entries) rows.push(fields[fields.indexOf('r') + 1]!);
        taken.push([key, entries.map(([id]) => id)]);
      }
      if (rows.length === 0) break;
      if (warehouse.mergeJson) await warehouse.mergeJson(table, rows);
      else await warehouse.merge(table, rows.map((r) => JSON.parse(r) as Row));
      await opts.afterMerge?.(table.name, rows);
      const tx = redis.multi();
      for (const [key, ids] of taken) tx.xdel(key, ...ids);
      tx.hset(FLUSH_STATS_KEY, `${table.name}:last_flush`, new Date().toISOString());
      tx.hincrby(FLUSH_STATS_KEY, `${table.name}:rows`, rows.length);
      await tx.exec();
      await bumpShared(redis, SHARED_COUNTERS.warehouseRows, { table: table.name }, rows.length);
      merged[table.name] = (merged[table.name] ?? 0) + rows.length;
    }
  }
  return merged;
}

/** Rows waiting in the outboxes, per table. */
export async function outboxDepths(redis: Redis, tables: TableSpec[], shards: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const lens = await Promise.all(Array.from({ length: shards }, (_, p) => redis.xlen(shardKeys(p).outbox(t.name))));
    out[t.name] = lens.reduce((a, b) => a + b, 0);
  }
  return out;
}

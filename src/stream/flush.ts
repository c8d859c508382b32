// Outbox → warehouse. Entries are read per table across the shards, MERGEd on the table's key,
// and only then trimmed from the outbox. A crash between the two re-merges the same rows next
// time: the merge is keyed, so that is a no-op (DESIGN.md, rule 4).
import type { Redis } from 'ioredis';
import { shardKeys } from '../state/scripts.ts';
import type { TableSpec } from '../warehouse/tables.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';

export const FLUSH_STATS_KEY = 'segpipe:flush:stats';

export interface FlushOptions {
  shards: number;
  /** Rows per merge, at most (read evenly across the shards). */
  batch?: number;
  /** Runs after each merge, before the outbox is trimmed (fault tests, latency measurement); rows as JSON arrays. */
  afterMerge?: (table: string, rows: string[]) => Promise<void> | void;
  /** A table's loop starts no new batch after this long; default 30 s. */
  maxMs?: number;
}

export async function flushOutboxes(redis: Redis, warehouse: Warehouse, tables: TableSpec[], opts: FlushOptions): Promise<Record<string, number>> {
  const merged: Record<string, number> = Object.fromEntries(tables.map((t) => [t.name, 0]));
  // Tables are independent: a warehouse that merges into several at once (bounding that itself)
  // gets every table's loop at once, so a busy table never waits behind another one's backlog.
  const flush = async (table: TableSpec) => {
    merged[table.name] = await flushTable(redis, warehouse, table, opts);
  };
  if ((warehouse.mergeConcurrency ?? 1) > 1) {
    // Every loop ends before the job does, also when one fails: a loop left running would merge
    // beside the next job's loop on the same table.
    const failed = (await Promise.allSettled(tables.map(flush))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } else for (const table of tables) await flush(table);
  return merged;
}

interface OutboxRead {
  rows: string[];
  /** Per stream read from: the last entry id read. */
  lastIds: Map<string, string>;
}

async function flushTable(redis: Redis, warehouse: Warehouse, table: TableSpec, opts: FlushOptions): Promise<number> {
  const streams = Array.from({ length: opts.shards }, (_, p) => shardKeys(p).outbox(table.name));
  const perShard = Math.max(1, Math.ceil((opts.batch ?? 20_000) / opts.shards));
  // One round trip reads every shard (the stream's Lua steps queue in front of each call).
  // Reads continue after the ids already read, so the next batch is fetched while this one merges.
  const read = async (after: Map<string, string>): Promise<OutboxRead> => {
    const pipe = redis.pipeline();
    for (const key of streams) pipe.xrange(key, after.has(key) ? `(${after.get(key)}` : '-', '+', 'COUNT', perShard);
    const replies = (await pipe.exec()) ?? [];
    const rows: string[] = [];
    const lastIds = new Map(after);
    replies.forEach(([err, entries], i) => {
      if (err) throw err;
      const list = entries as Array<[string, string[]]>;
      if (list.length === 0) return;
      for (const [, fields] of list) rows.push(fields[fields.indexOf('r') + 1]!);
      lastIds.set(streams[i]!, list[list.length - 1]![0]);
    });
    return { rows, lastIds };
  };

  // Under a load the flush never catches up with, a run still ends and lets flush:metrics
  // through; the next scheduled run goes on from the outbox.
  const deadline = Date.now() + (opts.maxMs ?? 30_000);
  let total = 0;
  let batch = await read(new Map());
  while (batch.rows.length > 0) {
    const next = Date.now() < deadline ? read(batch.lastIds) : Promise.resolve({ rows: [], lastIds: batch.lastIds });
    next.catch(() => undefined); // awaited below; a failed merge must not leave it unhandled
    const { rows } = batch;
    await warehouse.mergeJson(table, rows);
    await opts.afterMerge?.(table.name, rows);
    // Entries are read in id order from the start, so what was merged is exactly everything up
    // to the last id read: XTRIM MINID drops it without listing the ids.
    const tx = redis.multi();
    for (const [key, lastId] of batch.lastIds) tx.xtrim(key, 'MINID', nextStreamId(lastId));
    tx.hset(FLUSH_STATS_KEY, `${table.name}:last_flush`, new Date().toISOString());
    tx.hincrby(FLUSH_STATS_KEY, `${table.name}:rows`, rows.length);
    bumpShared(tx, SHARED_COUNTERS.warehouseRows, { table: table.name }, rows.length);
    await tx.exec();
    total += rows.length;
    batch = await next;
  }
  return total;
}

/** The smallest stream id after `id` (`<ms>-<seq>`): XTRIM MINID with it drops `id` and all before. */
export function nextStreamId(id: string): string {
  const dash = id.indexOf('-');
  return `${id.slice(0, dash)}-${BigInt(id.slice(dash + 1)) + 1n}`;
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

// Lua scripts under src/state/lua/, named `<command>-<number of keys>.lua` as in BullMQ's
// commands/, registered on an ioredis client as custom commands (EVALSHA with EVAL fallback).
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';

const LUA_DIR = path.join(import.meta.dirname, 'lua');

export interface StateCommands {
  applyBatch(...keysThenArgs: Array<string | number>): Promise<[number, number, number]>;
}

const registered = new WeakSet<Redis>();

export function withStateCommands(redis: Redis): Redis & StateCommands {
  if (!registered.has(redis)) {
    for (const file of fs.readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'))) {
      const m = /^(\w+)-(\d+)\.lua$/.exec(file);
      if (!m) throw new Error(`${file}: Lua scripts are named <command>-<numberOfKeys>.lua`);
      redis.defineCommand(m[1]!, { numberOfKeys: Number(m[2]), lua: fs.readFileSync(path.join(LUA_DIR, file), 'utf8') });
    }
    registered.add(redis);
  }
  return redis as Redis & StateCommands;
}

/** Shard p holds partition p of every topic, so there are as many shards as the widest topic. */
export const shardCount = (config: Config): number => Math.max(config.kafka.partitions, config.kafka.catalogPartitions);

/** State keys of a shard share a hash tag, so a script touches one Redis Cluster slot. */
export const shardKeys = (partition: number) => ({
  offsets: `{p${partition}}:offsets`,
  dead: `{p${partition}}:dead`,
  registrations: `{p${partition}}:reg`,
  sales: `{p${partition}}:sales`,
  maxTime: `{p${partition}}:maxtime`,
  late: `{p${partition}}:late`,
  signIns: `{p${partition}}:sess:in`,
  signOuts: `{p${partition}}:sess:out`,
  /** Sessions paired so far: open sessions (user → sign-in time) and the pairing boundary. */
  openSessions: `{p${partition}}:sess:open`,
  sessionTotals: `{p${partition}}:sess:acc`,
  outbox: (table: string) => `{p${partition}}:outbox:${table}`,
});

export interface BatchApply {
  topic: string;
  lastOffset: string;
  /** Max event time among applied rows, or -1. */
  maxEventTime: number;
  deadOffsets: string[];
  late: Array<{ offset: string; windowKey: string }>;
  rows: Array<{ offset: string; row: string; op: string }>;
}

/** Runs applyBatch for one batch of `partition` whose rows go to `table`. */
export function applyBatch(redis: Redis, partition: number, table: string, b: BatchApply): Promise<[number, number, number]> {
  const k = shardKeys(partition);
  const args: Array<string | number> = [k.offsets, k.outbox(table), k.dead, k.registrations, k.sales, k.maxTime, k.late, k.signIns, k.signOuts];
  args.push(b.topic, b.lastOffset, b.maxEventTime, b.deadOffsets.length, ...b.deadOffsets, b.late.length);
  for (const l of b.late) args.push(l.offset, l.windowKey);
  for (const r of b.rows) args.push(r.offset, r.row, r.op);
  return withStateCommands(redis).applyBatch(...args);
}

/** Deletes every shard's stream state (offset guards, outboxes, window sets, sessions); clearMetricsState forgets finalised windows. */
export async function clearShardState(redis: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '{p*}:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

// Lua scripts under src/state/lua/, named `<command>-<number of keys>.lua` as in BullMQ's
// commands/, registered on an ioredis client as custom commands (EVALSHA with EVAL fallback).
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';

const LUA_DIR = path.join(import.meta.dirname, 'lua');

export interface StateCommands {
  applyBatch(...keysThenArgs: Array<string | number>): Promise<[number, number, number, number]>;
  occupiedBuckets(key: string, from: number, to: number, width: number, limit: number): Promise<number[]>;
  commitPairing(...keysThenArgs: Array<string | number>): Promise<number>;
  finalizeShard(registrations: string, finalThrough: string, finalCounts: string, ...typeSizeAdvanceEnd: Array<string | number>): Promise<string>;
  raiseHash(key: string, ...fieldValuePairs: Array<string | number>): Promise<number>;
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
  registrations: `{p${partition}}:reg`,
  sales: `{p${partition}}:sales`,
  maxTime: `{p${partition}}:maxtime`,
  late: `{p${partition}}:late`,
  signIns: `{p${partition}}:sess:in`,
  signOuts: `{p${partition}}:sess:out`,
  /** Sessions paired so far: open sessions (user → sign-in time) and the pairing boundary. */
  openSessions: `{p${partition}}:sess:open`,
  sessionTotals: `{p${partition}}:sess:acc`,
  /** How far flush:metrics made each window type final here (formatFinalThrough); registrations judge lateness by it. */
  finalThrough: `{p${partition}}:final`,
  /** `<window_type>:<start>` → the window's count in this shard when it became final (finalizeShard-3.lua), until FINAL_THROUGH passes it. */
  finalCounts: `{p${partition}}:finalcounts`,
  /** Registrations applied while some of their windows were final: `<event_id>\t<final-through>` scored by offset, until flush:metrics loads them. */
  lateLog: `{p${partition}}:latelog`,
  /** Event ids of a topic applied within the dedup horizon. */
  seen: (topic: string) => `{p${partition}}:seen:${topic}`,
});

export interface BatchApply {
  topic: string;
  /** The stored offset the batch was decided from (null: none yet); a moved one applies nothing. */
  readFrom: number | null;
  lastOffset: string;
  /** Max event time among applied events, or -1. */
  maxEventTime: number;
  dedupHorizonMs: number;
  /** For sign-ins and sign-outs: the pairing boundary ("done") the batch was decided from, as read (null: none yet); a moved one applies nothing. */
  pairedFrom?: string | null;
  /** For registrations: the shard's final-through text the batch was decided from, as read (null: none yet); a moved one applies nothing. */
  finalFrom?: string | null;
  late: Array<{ offset: string; windowKey: string }>;
  events: Array<{ offset: string; eventId: string; time: number; op: string }>;
}

export interface BatchApplied {
  applied: number;
  duplicates: number;
  /** Events beyond the dedup horizon (the caller dead-letters the same ones). */
  refused: number;
  /** The stored offset was not `readFrom`, the pairing boundary not `pairedFrom` or the final-through not `finalFrom`: nothing applied, read again. */
  moved: boolean;
}

/** Runs applyBatch-11.lua for one batch of one topic-partition. */
export async function applyBatch(redis: Redis, partition: number, b: BatchApply): Promise<BatchApplied> {
  const k = shardKeys(partition);
  const args: Array<string | number> = [k.offsets, k.maxTime, k.late, k.registrations, k.sales, k.signIns, k.signOuts, k.seen(b.topic), k.sessionTotals, k.finalThrough, k.lateLog];
  const guard = (v: string | null | undefined) => (v === undefined ? '*' : (v ?? ''));
  args.push(b.topic, b.readFrom === null ? '' : b.readFrom, b.lastOffset, b.maxEventTime, b.dedupHorizonMs, guard(b.pairedFrom), guard(b.finalFrom), b.late.length);
  for (const l of b.late) args.push(l.offset, l.windowKey);
  for (const e of b.events) args.push(e.offset, e.eventId, e.time, e.op);
  const [applied, duplicates, refused, moved] = await withStateCommands(redis).applyBatch(...args);
  return { applied, duplicates, refused, moved: moved === 1 };
}

/** Deletes every shard's stream state (offset guards, applied ids, window sets, sessions); clearMetricsState forgets finalised windows. */
export async function clearShardState(redis: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '{p*}:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

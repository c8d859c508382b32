// Lua scripts under src/state/lua/, named `<command>-<number of keys>.lua` as in BullMQ's
// commands/, registered on an ioredis client as custom commands (EVALSHA with EVAL fallback).
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';

const LUA_DIR = path.join(import.meta.dirname, 'lua');

export interface StateCommands {
  applyBatch(offsetsKey: string, outboxKey: string, deadKey: string, ...args: Array<string | number>): Promise<[number, number, number]>;
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

/** State keys of a shard share a hash tag, so a script touches one Redis Cluster slot. */
export const shardKeys = (partition: number) => ({
  offsets: `{p${partition}}:offsets`,
  dead: `{p${partition}}:dead`,
  outbox: (table: string) => `{p${partition}}:outbox:${table}`,
});

import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { FLUSH_STATS_KEY } from '../../src/stream/flush.ts';

/** Removes stream state (offset guards, outboxes, dead-letter counts): a fresh start for a test. */
export async function resetStreamState(redis: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '{p*}:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.del(FLUSH_STATS_KEY);
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

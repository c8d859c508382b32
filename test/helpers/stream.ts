import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { AppContext } from '../../src/context.ts';
import { clearShardState } from '../../src/state/scripts.ts';
import { clearMetricsState } from '../../src/windows/metrics.ts';
import { lateDeadLetters } from '../../src/kafka/dead-letters.ts';
import { LOAD_STATS_KEY } from '../../src/loader/raw-loader.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { flushNow } from '../../queues/flush.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { ownedWarehouse } from '../../workers/warehouse-owner.ts';
import { unique } from './env.ts';

/** Removes stream state, window finalisation and load statistics: a fresh start for a test. */
export async function resetStreamState(redis: Redis): Promise<void> {
  await clearShardState(redis);
  await clearMetricsState(redis);
  await redis.del(LOAD_STATS_KEY);
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Waits until the loader has loaded everything Kafka holds and the stream has applied it. */
export async function settle(ctx: AppContext, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    'the loader and the stream to catch up with Kafka',
    async () => {
      await flushNow(ctx);
      const r = await reconcile(ctx);
      return r.partitions.every((p) => p.pending === 0 && (p.streamLag ?? 0) === 0);
    },
    timeoutMs,
  );
}

/** The oracle's diff, leaving out what the stream dead-lettered as late (as `verify --metrics` does). */
export async function oracleDiff(ctx: AppContext, timeoutMs = 120_000) {
  return warehouseQuery(ctx, 'oracleDiff', { excluded: await lateDeadLetters(ctx), sessionTimeoutMs: ctx.config.stream.sessionTimeoutMs }, timeoutMs);
}

/** Topic names and a loader group of their own for a test file, as env: its data is in event-time order. */
export function ownTopicsEnv(prefix: string): Record<string, string> {
  return {
    ...Object.fromEntries(
      ['CONSUMER_REGISTRATION', 'SIGN_IN', 'SIGN_OUT', 'ITEM_VIEW', 'ADDED_TO_CART', 'CHECKOUT', 'MOVIES_CATALOG_ENRICHED', 'DLQ'].map((t) => [`TOPIC_${t}`, unique(`${prefix}-${t.toLowerCase()}`)]),
    ),
    LOADER_GROUP_ID: unique(`${prefix}-loader`),
  };
}

/** Per user event type, rows (n) and distinct event ids (d) of the users named `<prefix>-…`. */
export function userRowCounts(ctx: AppContext, prefix: string): Promise<Record<string, { n: number; d: number }>> {
  return warehouseQuery(ctx, 'userEventCounts', { prefix }, 60_000);
}

/** Ad-hoc SQL of a test on the warehouse this process owns (its workers serve the warehouse queue). */
export function ownedQuery(ctx: AppContext) {
  return async <T = Record<string, unknown>>(sql: string): Promise<T[]> => {
    const w = await ownedWarehouse(ctx);
    if (!w) throw new Error('this test process does not own the warehouse');
    return w.query<T>(sql);
  };
}

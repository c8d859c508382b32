import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { AppContext } from '../../src/context.ts';
import { clearShardState } from '../../src/state/scripts.ts';
import { clearMetricsState } from '../../src/windows/metrics.ts';
import { FLUSH_STATS_KEY } from '../../src/stream/flush.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { flushNow } from '../../queues/flush.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { ownedWarehouse } from '../../workers/warehouse-owner.ts';
import { unique } from './env.ts';

/** Removes stream state, window finalisation and flush statistics: a fresh start for a test. */
export async function resetStreamState(redis: Redis): Promise<void> {
  await clearShardState(redis);
  await clearMetricsState(redis);
  await redis.del(FLUSH_STATS_KEY);
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Waits until the stream has consumed everything and the outboxes are flushed. */
export async function settle(ctx: AppContext, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    'the stream to catch up and the outboxes to drain',
    async () => {
      await flushNow(ctx);
      const r = await reconcile(ctx);
      return r.partitions.every((p) => p.lag === 0 && p.pending === 0);
    },
    timeoutMs,
  );
}

/** Topic names of their own for a test file, as env: its data is in event-time order. */
export function ownTopicsEnv(prefix: string): Record<string, string> {
  return Object.fromEntries(
    ['CONSUMER_REGISTRATION', 'SIGN_IN', 'SIGN_OUT', 'ITEM_VIEW', 'ADDED_TO_CART', 'CHECKOUT', 'MOVIES_CATALOG_ENRICHED', 'DLQ'].map((t) => [`TOPIC_${t}`, unique(`${prefix}-${t.toLowerCase()}`)]),
  );
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

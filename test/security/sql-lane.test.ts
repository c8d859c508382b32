// Ad-hoc SQL (`segpipe sql`) has a lane of its own: one DuckDB connection, a short queue behind
// it, and warehouse job slots to spare, so two long ad-hoc SELECTs no longer make the
// dashboard's named queries wait (GET /api/metrics/sales/top took 18.7 s behind them). Past the
// queue, an ad-hoc query is refused at once, saying to try again. The instance runs under a
// DuckDB memory_limit (DUCKDB_MEMORY_LIMIT) that no statement can change.
import { describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { WAREHOUSE_QUERY } from '../../queues/warehouse.ts';
import { jobResult } from '../../queues/wait.ts';
import { ADHOC_LIMITS } from '../../src/warehouse/adhoc.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { warehouseOwner } from '../helpers/warehouse-owner.ts';

const REDIS_URL = testRedisDb(14);
/** Runs until its timeout stops it. */
const SLOW = 'SELECT count(*) FROM range(100000000000) a';

describe('the ad-hoc SQL lane', () => {
  const owner = warehouseOwner('sql-lane', { REDIS_URL, DUCKDB_MEMORY_LIMIT: '512MB' }, [
    ['1067', 'Heat', 1299, 'USD', Date.UTC(2026, 0, 1)],
    ['1068', 'Ran', 899, 'USD', Date.UTC(2026, 0, 1)],
  ]);

  const job = (data: unknown) => {
    const queue = owner.ctx.queues[QUEUES.warehouse];
    return queue.add(WAREHOUSE_QUERY, data).then((added) => jobResult<unknown>(queue, owner.ctx.queueEvents(QUEUES.warehouse), added as Job, 60_000));
  };

  it('named queries answer at once while two long ad-hoc SELECTs run', { timeout: 60_000 }, async () => {
    const adhoc = [1, 2].map(() => job({ query: 'sql', params: { sql: SLOW, timeoutMs: 6000 } }).catch((err: Error) => err.message));
    // Let both reach the worker.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const top = (await job({ query: 'topSales', params: { limit: 5 } })) as Array<{ movie_id: string }>;
      expect(performance.now() - t).toBeLessThan(1500);
      expect(top.map((r) => r.movie_id)).toEqual(['1067', '1068']);
    }
    for (const outcome of await Promise.all(adhoc)) expect(outcome).toMatch(/timeout/);
  });

  it(`queues ad-hoc SELECTs behind each other, and refuses past ${ADHOC_LIMITS.maxWaiting} waiting in one line`, { timeout: 60_000 }, async () => {
    const outcomes = await Promise.all(
      Array.from({ length: ADHOC_LIMITS.maxWaiting + 2 }, () => owner.w.adhocSelect(SLOW, { limit: 1, timeoutMs: 1000 }).then(() => 'ok', (err: Error) => err.message)),
    );
    expect(outcomes.filter((o) => /timeout/.test(o))).toHaveLength(ADHOC_LIMITS.maxWaiting + 1);
    const busy = outcomes.filter((o) => !/timeout/.test(o));
    expect(busy).toHaveLength(1);
    expect(busy[0]).toMatch(/^segpipe sql is busy: .*try again/);
    expect(busy[0]).not.toContain('\n');
  });

  it('reads results chunk by chunk under the byte cap, on an instance whose memory_limit no statement can raise', { timeout: 60_000 }, async () => {
    const big = await owner.w.adhocSelect(`SELECT repeat(chr(65), 100000) AS a FROM range(5000)`, { limit: 5000, timeoutMs: 30_000 });
    expect(big.truncated).toBe(true);
    expect(JSON.stringify(big.rows).length).toBeLessThanOrEqual(ADHOC_LIMITS.maxResultBytes);
    const limit = await owner.w.adhocSelect(`SELECT current_setting('memory_limit') AS m`, { limit: 1, timeoutMs: 5000 });
    expect(String(limit.rows[0]![0])).toMatch(/^(488\.2 MiB|512\.0 MB|0\.5 GiB)$/);
    await expect(owner.w.execute(`SET memory_limit = '100GB'`)).rejects.toThrow(/lock/i);
  });
});

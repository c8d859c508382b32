// Read queries against the warehouse. DuckDB allows one writing process, so other roles (the
// admin server, `segpipe verify`, tests) send SQL to the process that owns the warehouse. Queries
// have a queue of their own, served concurrently beside the flush: a long flush run under load
// does not hold the dashboard or verify behind it.
import type { AppContext } from '../src/context.ts';
import { QUEUES } from './names.ts';
import { jobResult } from './wait.ts';

export const WAREHOUSE_QUERY = 'warehouse:query';

export interface WarehouseQueryData {
  sql: string;
}

/** Runs SQL where the warehouse lives and waits for the rows. */
export async function warehouseQuery<T = Record<string, unknown>>(ctx: AppContext, sql: string, timeoutMs = 30_000): Promise<T[]> {
  const queue = ctx.queues[QUEUES.warehouse];
  const job = await queue.add(WAREHOUSE_QUERY, { sql } satisfies WarehouseQueryData, { removeOnComplete: { age: 60 }, removeOnFail: { count: 100 } });
  return jobResult<T[]>(queue, ctx.queueEvents(QUEUES.warehouse), job, timeoutMs);
}

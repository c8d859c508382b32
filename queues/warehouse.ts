// Read queries against the warehouse. DuckDB allows one writing process, so other roles (the
// admin server, `segpipe verify`, tests) ask the process that owns the warehouse. A job names one
// of the warehouse's named queries (src/warehouse/queries.ts) with its parameters, never SQL.
// Queries have a queue of their own, served concurrently beside the flush: a long flush run under
// load does not hold the dashboard or verify behind it.
import type { AppContext } from '../src/context.ts';
import type { QueryName, QueryParams, QueryResult } from '../src/warehouse/queries.ts';
import { QUEUES } from './names.ts';
import { jobResult } from './wait.ts';

export const WAREHOUSE_QUERY = 'warehouse:query';

export interface WarehouseQueryData<N extends QueryName = QueryName> {
  query: N;
  params: QueryParams<N>;
}

/** Runs a named query where the warehouse lives and waits for its result. */
export async function warehouseQuery<N extends QueryName>(ctx: AppContext, query: N, params: QueryParams<N>, timeoutMs = 30_000): Promise<QueryResult<N>> {
  const queue = ctx.queues[QUEUES.warehouse];
  const data: WarehouseQueryData<N> = { query, params };
  const job = await queue.add(WAREHOUSE_QUERY, data, { removeOnComplete: { age: 60 }, removeOnFail: { count: 100 } });
  return jobResult<QueryResult<N>>(queue, ctx.queueEvents(QUEUES.warehouse), job, timeoutMs);
}

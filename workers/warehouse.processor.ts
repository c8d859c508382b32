// BullMQ processor for read queries, in the process that owns the warehouse (see
// warehouse-owner.ts). Concurrent with the flush, on connections of their own. A job's data is
// checked here, where it runs: whoever wrote the job (Bull Board, anyone with Redis access), only
// a named query with valid parameters runs.
import { UnrecoverableError, type Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import { QUEUES } from '../queues/names.ts';
import { WAREHOUSE_QUERY } from '../queues/warehouse.ts';
import { ADHOC_LIMITS } from '../src/warehouse/adhoc.ts';
import { QueryRefusedError, runNamedQuery } from '../src/warehouse/queries.ts';
import type { QueueProcessor } from './types.ts';
import { ownedWarehouse } from './warehouse-owner.ts';

export async function createWarehouseProcessor(ctx: AppContext) {
  const w = await ownedWarehouse(ctx);
  if (!w) return null;
  return async (job: Job): Promise<unknown> => {
    if (job.name !== WAREHOUSE_QUERY) throw new UnrecoverableError(`unknown job ${job.name} on the warehouse queue`);
    const data = (job.data ?? {}) as { query?: unknown; params?: unknown };
    try {
      return await runNamedQuery(w, data.query, data.params);
    } catch (err) {
      if (err instanceof QueryRefusedError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}

// Two named queries at once (the readers' connections), plus room for the ad-hoc lane's running
// and waiting queries (ADHOC_LIMITS.maxWaiting): ad-hoc jobs that hold slots while they wait
// never leave the dashboard's queries without one. A further ad-hoc job is refused at once.
export const warehouseProcessor: QueueProcessor = { queue: QUEUES.warehouse, concurrency: 2 + 1 + ADHOC_LIMITS.maxWaiting, create: createWarehouseProcessor };

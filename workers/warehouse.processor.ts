// BullMQ processor for read queries, in the process that owns the warehouse (see
// warehouse-owner.ts). Concurrent with the flush, on connections of their own.
import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import { QUEUES } from '../queues/names.ts';
import { WAREHOUSE_QUERY, type WarehouseQueryData } from '../queues/warehouse.ts';
import type { QueueProcessor } from './types.ts';
import { ownedWarehouse } from './warehouse-owner.ts';

export async function createWarehouseProcessor(ctx: AppContext) {
  const w = await ownedWarehouse(ctx);
  if (!w) return null;
  return async (job: Job): Promise<unknown> => {
    if (job.name === WAREHOUSE_QUERY) return w.query((job.data as WarehouseQueryData).sql);
    throw new Error(`unknown job ${job.name} on the warehouse queue`);
  };
}

export const warehouseProcessor: QueueProcessor = { queue: QUEUES.warehouse, concurrency: 2, create: createWarehouseProcessor };

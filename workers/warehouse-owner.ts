// The warehouse of this worker process, opened once and shared by the flush and query
// processors. With DuckDB only one process can open the file: the others get null and leave
// both queues to the owner.
import type { AppContext } from '../src/context.ts';
import { childLog } from '../src/log.ts';
import { RAW_OFFSETS, rawTables } from '../src/warehouse/tables.ts';
import { openWarehouse } from '../src/warehouse/index.ts';
import { WarehouseLockedError, type Warehouse } from '../src/warehouse/warehouse.ts';
import { METRICS_TABLES } from '../src/windows/metrics.ts';

const log = childLog('warehouse');
const owned = new WeakMap<AppContext, Promise<Warehouse | null>>();

export function ownedWarehouse(ctx: AppContext): Promise<Warehouse | null> {
  let w = owned.get(ctx);
  if (!w) {
    w = open(ctx);
    owned.set(ctx, w);
  }
  return w;
}

async function open(ctx: AppContext): Promise<Warehouse | null> {
  let w: Warehouse;
  try {
    w = await openWarehouse(ctx.config);
  } catch (err) {
    if (err instanceof WarehouseLockedError) {
      log.warn(err.message + '; this worker leaves the flush and warehouse queues to that process');
      return null;
    }
    throw err;
  }
  ctx.onClose(() => w.close());
  await w.ensureSchema([...rawTables().values(), ...METRICS_TABLES, RAW_OFFSETS]);
  return w;
}

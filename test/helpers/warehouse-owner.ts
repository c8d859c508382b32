// A test's own warehouse owner: a DuckDB file in a temporary directory, its warehouse queue
// served by this process (as the worker that owns the warehouse serves it), movie_sales seeded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Worker } from 'bullmq';
import { QUEUES } from '../../queues/names.ts';
import { AppContext } from '../../src/context.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import type { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import type { Row } from '../../src/warehouse/warehouse.ts';
import { MOVIE_SALES } from '../../src/windows/metrics.ts';
import { ownedWarehouse } from '../../workers/warehouse-owner.ts';
import { testConfig } from './env.ts';

export interface WarehouseOwner {
  dir: string;
  /** The settings given, with DUCKDB_PATH in `dir`. */
  env: Record<string, string>;
  /** Set before the file's tests run. */
  ctx: AppContext;
  w: DuckDBWarehouse;
}

/** Registers the suite's beforeAll/afterAll; its Redis db is flushed before and after. */
export function warehouseOwner(name: string, env: Record<string, string>, sales: Row[]): WarehouseOwner {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `segpipe-${name}-`));
  const owner = { dir, env: { ...env, DUCKDB_PATH: path.join(dir, 'wh.duckdb') } } as unknown as WarehouseOwner;
  let worker: Worker | undefined;
  beforeAll(async () => {
    owner.ctx = new AppContext(testConfig(owner.env));
    await owner.ctx.prepare();
    await owner.ctx.redis.flushdb();
    worker = (await serveQueues(owner.ctx, [QUEUES.warehouse])).get(QUEUES.warehouse)!;
    owner.w = (await ownedWarehouse(owner.ctx)) as DuckDBWarehouse;
    await owner.w.merge(MOVIE_SALES, sales);
  });
  afterAll(async () => {
    await worker?.close();
    await owner.ctx?.redis.flushdb();
    await owner.ctx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return owner;
}

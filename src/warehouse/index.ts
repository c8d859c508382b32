import type { Config } from '../config.ts';
import { DuckDBWarehouse } from './duckdb.ts';
import type { Warehouse } from './warehouse.ts';

export async function openWarehouse(config: Config): Promise<Warehouse> {
  const w = config.warehouse;
  if (w.kind === 'duckdb') return DuckDBWarehouse.open(w.path, { dedupHorizonMs: config.stream.dedupHorizonMs, memoryLimit: w.memoryLimit });
  const { SnowflakeWarehouse } = await import('./snowflake.ts');
  return SnowflakeWarehouse.connect(w);
}

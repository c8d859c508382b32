// A raw loader in a process of its own, for the kill test: `node --import tsx
// test/helpers/loader-process.ts [holdMarker]`, configured by the environment. With a marker
// file, the first load writes the pid there inside its transaction and holds until killed.
import fs from 'node:fs';
import { loadConfig } from '../../src/config.ts';
import { AppContext } from '../../src/context.ts';
import { RawLoader } from '../../src/loader/raw-loader.ts';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb.ts';
import { RAW_OFFSETS, rawTables } from '../../src/warehouse/tables.ts';

const marker = process.argv[2];
const ctx = new AppContext(loadConfig(process.env));
const w = await DuckDBWarehouse.open(ctx.config.warehouse.kind === 'duckdb' ? ctx.config.warehouse.path : '');
await w.ensureSchema([...rawTables().values(), RAW_OFFSETS]);
await ctx.serde.registerAll(ctx.topicOf, ctx.config.registry.compatibility);
const hold = marker
  ? async () => {
      fs.writeFileSync(marker, String(process.pid));
      await new Promise(() => undefined);
    }
  : undefined;
const loader = new RawLoader(ctx, w, { groupId: process.env.LOADER_GROUP_ID ?? 'segpipe-loader', beforeCommit: hold });
await loader.start();
process.stdout.write('loader started\n');

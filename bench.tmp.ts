import { planChunks } from './src/movies/chunks.ts';
import { processChunk } from './src/movies/chunk-task.ts';
import fs from 'node:fs';
const size = fs.statSync('/tmp/m100k.txt').size;
for (const mb of [1, 4, 8]) {
const ranges = await planChunks('/tmp/m100k.txt', mb << 20);
const t1 = performance.now();
let items = 0;
for (const rg of ranges) { const res = processChunk({ file: '/tmp/m100k.txt', start: rg.start, end: rg.end, schemaId: 1, timestamp: new Date().toISOString() }); items += res.itemIds.length; }
const s = (performance.now() - t1) / 1000;
console.log(mb, 'MB chunks', ranges.length, 'items', items, 'MB/s', (size / 1e6 / s).toFixed(1));
}

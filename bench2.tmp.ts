import { planChunks } from './src/movies/chunks.ts';
import { readRange } from './src/movies/chunk-task.ts';
import { parseMovies } from './src/movies/parse.ts';
import fs from 'node:fs';
const size = fs.statSync('/tmp/m100k.txt').size;
const ranges = await planChunks('/tmp/m100k.txt', 4 << 20);
for (let k = 0; k < 3; k++) {
const t1 = performance.now();
let items = 0;
for (const rg of ranges) { const res = parseMovies(readRange('/tmp/m100k.txt', rg.start, rg.end)); items += res.records.length; }
const s = (performance.now() - t1) / 1000;
console.log('parse only MB/s', (size / 1e6 / s).toFixed(1));
}

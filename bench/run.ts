// npm run bench [-- <name>...]: runs the benchmarks, writes BENCHMARKS.md and bench/results.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchConfig, benchStack, progress } from './env.ts';
import { benchMovies } from './movies.ts';
import { benchProducer } from './producer.ts';
import { benchIngest } from './ingest.ts';
import { benchWindowing } from './windowing.ts';
import { benchFailover } from './failover.ts';
import type { Config } from '../src/config.ts';

type Bench = (config: Config) => Promise<{ figures: Record<string, number>; notes: string[] }>;
const BENCHES: Record<string, Bench> = { movies: benchMovies, producer: benchProducer, ingest: benchIngest, windowing: benchWindowing, failover: benchFailover };

const RESULTS = path.join(import.meta.dirname, 'results.json');
const REPORT = path.join(import.meta.dirname, '..', 'BENCHMARKS.md');

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(BENCHES);
const unknown = names.filter((n) => !BENCHES[n]);
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}

const stack = await benchStack();
const config = benchConfig();
const results: Record<string, number> = fs.existsSync(RESULTS) ? JSON.parse(fs.readFileSync(RESULTS, 'utf8')) : {};
const sections: Record<string, string> = {};
try {
  for (const name of names) {
    progress(`== ${name}`);
    const { figures, notes } = await BENCHES[name]!(config);
    Object.assign(results, figures);
    sections[name] = [
      `## ${name}`,
      '',
      `Run ${new Date().toISOString()}.`,
      '',
      '| figure | value |',
      '|---|---|',
      ...Object.entries(figures).map(([k, v]) => `| \`${k}\` | ${v} |`),
      '',
      // A note may carry a table: its rows and the blank line before it stay as they are.
      ...notes.map((n) => (n === '' || n.startsWith('|') ? n : `- ${n}`)),
      '',
    ].join('\n');
  }
} finally {
  await stack.stop();
}

fs.writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
// Keep sections of benchmarks not run this time.
const previous = fs.existsSync(REPORT) ? fs.readFileSync(REPORT, 'utf8') : '';
for (const m of previous.matchAll(/^## (\w+)\n[\s\S]*?(?=^## |(?![\s\S]))/gm)) sections[m[1]!] ??= m[0].trimEnd() + '\n';
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
fs.writeFileSync(
  REPORT,
  [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\`. Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}. Last run ${new Date().toISOString().slice(0, 10)}.`,
    'Figures are also in `bench/results.json`.',
    '',
    ...Object.keys(sections).sort().map((k) => sections[k]!),
  ].join('\n'),
);
progress(`wrote ${REPORT} and ${RESULTS}`);

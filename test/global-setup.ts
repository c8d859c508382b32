import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { startStack, type Stack } from '../src/stack/index.ts';
import { readLivePid } from '../src/stack/process.ts';
import { applyTestEnv } from './helpers/env.ts';

let stack: Stack | undefined;

export async function setup(): Promise<void> {
  applyTestEnv();
  const config = loadConfig(process.env);
  // Fresh data for every run; a stack that already answers is reused as it is.
  for (const dir of ['kafka-', 'redis-', 'schema-registry-']) {
    if (!fs.existsSync(config.localDir)) break;
    for (const d of fs.readdirSync(config.localDir).filter((x) => x.startsWith(dir))) {
      const pids = fs.readdirSync(path.join(config.localDir, d)).filter((f) => f.endsWith('.pid'));
      if (!pids.some((f) => readLivePid(path.join(config.localDir, d, f)) !== undefined)) {
        fs.rmSync(path.join(config.localDir, d), { recursive: true, force: true });
      }
    }
  }
  const started = Date.now();
  stack = await startStack(config, { redisAppendonly: false, onProgress: (m) => process.stderr.write(`[stack] ${m}\n`) });
  process.stderr.write(`[stack] ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}

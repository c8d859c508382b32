// Benchmarks run against their own stack (ports 29092/28081/26379, data in .local/bench),
// so a developer's stack and the test stack are left alone.
import { loadConfig, type Config } from '../src/config.ts';
import { startStack, type Stack } from '../src/stack/index.ts';

export const BENCH_ENV: Record<string, string> = {
  LOCAL_DIR: '.local/bench',
  KAFKA_BROKERS: '127.0.0.1:29092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:28081',
  REDIS_URL: 'redis://127.0.0.1:26379',
  REDIS_APPENDONLY: 'false',
  LOG_LEVEL: 'warn',
};

export function benchConfig(overrides: Record<string, string> = {}): Config {
  for (const [k, v] of Object.entries(BENCH_ENV)) process.env[k] ??= v;
  return loadConfig({ ...process.env, ...overrides });
}

export async function benchStack(): Promise<Stack> {
  return startStack(benchConfig(), { redisAppendonly: false, onProgress: (m) => process.stderr.write(`[stack] ${m}\n`) });
}

/** Samples the process RSS until stopped; returns the peak in MB. */
export function rssSampler(intervalMs = 100): () => number {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, intervalMs);
  return () => {
    clearInterval(t);
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 1e6);
  };
}

export const progress = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

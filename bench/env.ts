// Benchmarks run against their own stack (ports 29092/28081/26379, data in .local/bench),
// so a developer's stack and the test stack are left alone.
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * CPU seconds used so far by each service of the bench stack (Kafka, Redis, the registry), read
 * from /proc through their pid files: the share of a run's CPU that is not this process's.
 */
export function serviceCpuSeconds(config: Config): Record<string, number> {
  const out: Record<string, number> = {};
  const tick = 100; // USER_HZ on Linux
  for (const dir of fs.existsSync(config.localDir) ? fs.readdirSync(config.localDir) : []) {
    const service = dir.replace(/-\d+$/, '');
    for (const f of fs.statSync(path.join(config.localDir, dir)).isDirectory() ? fs.readdirSync(path.join(config.localDir, dir)).filter((x) => x.endsWith('.pid')) : []) {
      const pid = Number(fs.readFileSync(path.join(config.localDir, dir, f), 'utf8').trim());
      try {
        // Fields after the command (which may hold spaces) start at the last ')'; utime and stime are fields 14 and 15.
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out[service] = (out[service] ?? 0) + (Number(fields[11]) + Number(fields[12])) / tick;
      } catch {
        // not running
      }
    }
  }
  return out;
}

/** CPU seconds of this process, every thread (the loader, the stream thread, DuckDB's). */
export const processCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// Test services live on their own ports and under .local/test, apart from a developer's stack.
// Any of KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL set in the environment wins.
export const TEST_ENV: Record<string, string> = {
  LOCAL_DIR: '.local/test',
  KAFKA_BROKERS: '127.0.0.1:19092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18081',
  REDIS_URL: 'redis://127.0.0.1:16379',
  REDIS_APPENDONLY: 'false',
  KAFKA_PARTITIONS: '3',
  KAFKA_CATALOG_PARTITIONS: '2',
  LOG_LEVEL: 'warn',
  SIMULATOR_BURST_EVENTS: '0',
  MOVIES_SEED_SAMPLE: 'false',
  // Test files share topics and simulate different days; only the windowing tests, which set
  // their own, are about lateness.
  ALLOWED_LATENESS_MS: String(90 * 86_400_000),
  DEDUP_HORIZON_MS: String(90 * 86_400_000),
};

export function applyTestEnv(): void {
  for (const [k, v] of Object.entries(TEST_ENV)) process.env[k] ??= v;
}

import { loadConfig, type Config } from '../../src/config.ts';

/** Config for a test: the global-setup services plus per-test overrides. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  applyTestEnv();
  return loadConfig({ ...process.env, ...overrides });
}

/** A name unique to this test run, for topics, groups and subjects. */
export const unique = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

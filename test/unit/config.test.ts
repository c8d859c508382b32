import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../src/config.ts';

describe('config', () => {
  it('has working defaults for the embedded stack', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(c.registry.url).toBe('http://127.0.0.1:8081');
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.warehouse.kind).toBe('duckdb');
    expect(c.topics.checkout).toBe('checkout_to_cart');
    expect(c.topics.dlq).toBe('segpipe.dlq');
  });

  it('reads overrides, including topic names and partitions', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', TOPIC_SIGN_IN: 'logins', KAFKA_PARTITIONS: '12', REDIS_APPENDONLY: 'false' });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.topics.sign_in).toBe('logins');
    expect(c.kafka.partitions).toBe(12);
    expect(c.redis.appendonly).toBe(false);
  });

  it('reports every problem at once, naming each variable and its rule, never its value', () => {
    let error: unknown;
    try {
      loadConfig({
        KAFKA_BROKERS: 'no-port',
        SCHEMA_REGISTRY_URL: 'ftp://x',
        REDIS_URL: 'not a url',
        KAFKA_PARTITIONS: '0',
        WAREHOUSE: 'snowflake',
        ADMIN_TOKEN: 'short',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const key of ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'REDIS_URL', 'KAFKA_PARTITIONS', 'ADMIN_TOKEN', 'SNOWFLAKE_ACCOUNT', 'SNOWFLAKE_USER', 'SNOWFLAKE_DATABASE', 'SNOWFLAKE_WAREHOUSE', 'SNOWFLAKE_PASSWORD']) {
      expect(problems).toContain(key);
    }
    expect(problems).toContain('KAFKA_BROKERS: must be host:port');
    // A rejected value may be a secret: none is echoed.
    expect(problems).not.toContain('no-port');
    expect(problems).not.toContain('short');
    expect((error as ConfigError).message).toMatch(/^Invalid configuration \(10 problems\)/);
  });

  it('asks for the private key, not the password, with key-pair auth', () => {
    expect(() =>
      loadConfig({ WAREHOUSE: 'snowflake', SNOWFLAKE_AUTH: 'keypair', SNOWFLAKE_ACCOUNT: 'a', SNOWFLAKE_USER: 'u', SNOWFLAKE_DATABASE: 'd', SNOWFLAKE_WAREHOUSE: 'w' }),
    ).toThrow(/SNOWFLAKE_PRIVATE_KEY_PATH: is required/);
  });

  it('documents every setting in the README configuration table', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const missing = CONFIG_KEYS.filter((k) => !readme.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });
});

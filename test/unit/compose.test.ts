// Docker cannot run here, so the compose file is checked as data: every service, port and
// env wiring must agree with the config the app reads and the ports the services listen on.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { ROLES } from '../../src/roles/index.ts';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
}

const compose = parse(fs.readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const s = compose.services;
/** Compose's ${VAR:-default} and ${VAR:?message} as a shell would expand them with VAR unset. */
const expand = (v: string | number, env: Record<string, string>) =>
  String(v).replace(/\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, def?: string) => env[name] ?? def ?? '');

describe('docker-compose.yml', () => {
  it('has the infrastructure and every app role', () => {
    expect(Object.keys(s).sort()).toEqual(['api', 'kafka', 'redis', 'scheduler', 'schema-registry', 'stream', 'worker']);
    for (const role of ['api', 'scheduler', 'worker', 'stream']) {
      expect(ROLES).toContain(role);
      expect(s[role]!.build).toBe('.');
      expect(s[role]!.command).toEqual([role]);
      expect(Object.keys(s[role]!.depends_on ?? {}).sort()).toEqual(['kafka', 'redis', 'schema-registry']);
    }
    expect(s.worker!.deploy?.replicas).toBe(2);
    expect(s.stream!.deploy?.replicas).toBe(2);
    expect(fs.existsSync(new URL('../../Dockerfile', import.meta.url))).toBe(true);
  });

  it('runs Kafka in KRaft mode with an internal listener the app uses', () => {
    const env = s.kafka!.environment!;
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toContain('INTERNAL://kafka:19092');
    expect(s.kafka!.ports).toContain('127.0.0.1:9092:9092');
    expect(s['schema-registry']!.environment!.SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS).toBe('PLAINTEXT://kafka:19092');
  });

  it('keeps Redis durable (appendonly yes) and behind a password the roles use', () => {
    const command = s.redis!.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--requirepass "$$REDIS_PASSWORD"');
    expect(s.redis!.environment!.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    expect(s.redis!.healthcheck!.test.join(' ')).toContain('REDISCLI_AUTH');
    // No service publishes a port beyond the host's loopback.
    for (const svc of Object.values(s)) for (const p of svc.ports ?? []) if (!p.startsWith('3000:')) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it('wires every role to the services through env the config accepts', () => {
    const shell = { ADMIN_TOKEN: 'compose-token-0123456789', REDIS_PASSWORD: 'c0ffee' };
    for (const role of ['api', 'scheduler', 'worker', 'stream']) {
      const env = Object.fromEntries(Object.entries(s[role]!.environment!).map(([k, v]) => [k, expand(v, shell)]));
      const config = loadConfig(env);
      expect(config.kafka.brokers).toEqual(['kafka:19092']);
      const [kafkaHost, kafkaPort] = config.kafka.brokers[0]!.split(':');
      expect(s[kafkaHost!]).toBeDefined();
      expect(String(s.kafka!.environment!.KAFKA_LISTENERS)).toContain(`:${kafkaPort}`);
      const registry = new URL(config.registry.url);
      expect(s[registry.hostname]!.ports).toContain(`127.0.0.1:${registry.port}:${registry.port}`);
      const redis = new URL(config.redis.url);
      expect(s[redis.hostname]!.ports).toContain(`127.0.0.1:${redis.port}:${redis.port}`);
      expect(redis.password).toBe(shell.REDIS_PASSWORD);
      expect(config.api.adminToken).toBe(shell.ADMIN_TOKEN);
    }
    const api = loadConfig(Object.fromEntries(Object.entries(s.api!.environment!).map(([k, v]) => [k, expand(v, { ADMIN_TOKEN: 'x'.repeat(16), REDIS_PASSWORD: 'c0ffee' })])));
    expect(api.api.host).toBe('0.0.0.0');
    expect(s.api!.ports).toContain(`${api.api.port}:${api.api.port}`);
  });

  it('declares every named volume it mounts', () => {
    const used = Object.values(s).flatMap((svc) => ((svc as { volumes?: string[] }).volumes ?? []).map((v) => v.split(':')[0]!));
    for (const v of used) expect(compose.volumes).toHaveProperty(v);
  });
});

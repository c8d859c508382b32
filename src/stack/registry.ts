// Schema Registry for the local stack. No Confluent-compatible registry installs from this
// machine's registries (Karapace is not on PyPI; Apicurio's Maven artifacts are incomplete),
// so the embedded fallback in src/registry-server/ runs as its own process. Point
// SCHEMA_REGISTRY_URL at Confluent, Karapace or Apicurio to use one of those instead.
import path from 'node:path';
import { SchemaRegistryClient } from '../registry/client.ts';
import { SchemaRegistryError } from '../registry/errors.ts';
import { spawnService, waitUntilReady, type RunningProcess } from './process.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'segpipe.mjs');

export interface RegistryStartOptions {
  host: string;
  port: number;
  dir: string;
  kafkaBrokers: string[];
}

export async function startRegistry(opts: RegistryStartOptions, onProgress: (msg: string) => void): Promise<RunningProcess> {
  onProgress(`starting the embedded Schema Registry on ${opts.host}:${opts.port}`);
  const proc = spawnService({
    service: 'Schema Registry',
    port: opts.port,
    command: process.execPath,
    args: [BIN, 'registry-server', '--host', opts.host, '--port', String(opts.port), '--data-dir', path.join(opts.dir, 'data')],
    logFile: path.join(opts.dir, 'registry.log'),
    pidFile: path.join(opts.dir, 'registry.pid'),
    env: { NODE_ENV: 'production' },
  });
  await waitUntilReady(proc, () => registryReady(`http://${opts.host}:${opts.port}`), 30_000);
  return proc;
}

/**
 * True when a Confluent-compatible registry answers: GET /subjects is a JSON array. Through the
 * client, which sends a URL's user:password as Basic auth: fetch throws on a URL that carries
 * them (and its error quotes the URL, password included).
 */
export async function registryReady(url: string): Promise<boolean> {
  try {
    return Array.isArray(await new SchemaRegistryClient(url, 1000).subjects());
  } catch (err) {
    // An answer that is not a list (401 for a wrong password, 404 from another server) is not a registry that is ready.
    if (err instanceof SchemaRegistryError && err.status > 0) return false;
    throw err;
  }
}

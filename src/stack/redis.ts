// The machine's redis-server on its own port; AOF on for the local stack, off for tests.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { StackError, spawnService, waitUntilReady, type RunningProcess } from './process.ts';

export interface RedisStartOptions {
  host: string;
  port: number;
  dir: string;
  appendonly: boolean;
  /** requirepass, from REDIS_URL's password; written to a mode-600 config file, never onto the command line. */
  password?: string;
}

function redisBinary(port: number): string {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return 'redis-server';
  } catch {
    throw new StackError(
      'Redis',
      port,
      undefined,
      'redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL to an existing Redis.',
    );
  }
}

export async function startRedis(opts: RedisStartOptions, onProgress: (msg: string) => void): Promise<RunningProcess> {
  const bin = redisBinary(opts.port);
  const dataDir = path.join(opts.dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  onProgress(`starting redis-server on ${opts.host}:${opts.port} (appendonly ${opts.appendonly ? 'yes' : 'no'}${opts.password ? ', password required' : ''})`);
  const conf = path.join(opts.dir, 'redis.conf');
  fs.rmSync(conf, { force: true }); // created afresh with mode 600, never rewritten under looser bits
  fs.writeFileSync(conf, opts.password ? `requirepass "${opts.password.replace(/["\\]/g, (c) => `\\${c}`)}"\n` : '', { mode: 0o600 });
  const proc = spawnService({
    service: 'Redis',
    port: opts.port,
    command: bin,
    args: [
      conf,
      '--port', String(opts.port),
      '--bind', opts.host,
      '--dir', dataDir,
      '--appendonly', opts.appendonly ? 'yes' : 'no',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--protected-mode', 'no',
      // BullMQ requires that Redis never evicts its keys.
      '--maxmemory-policy', 'noeviction',
    ],
    logFile: path.join(opts.dir, 'redis.log'),
    pidFile: path.join(opts.dir, 'redis.pid'),
  });
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  await waitUntilReady(proc, () => redisReady(`redis://${auth}${opts.host}:${opts.port}`), 20_000);
  return proc;
}

export async function redisReady(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

// A start that fails part way stops what it had started: `npm start` with the Kafka port taken by
// something else used to leave the redis-server it had just started running with no parent.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startStack } from '../../src/stack/index.ts';
import { isPortOpen, readLivePid } from '../../src/stack/process.ts';

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('a failed stack start', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-stack-fail-'));
  // Something that is not Kafka: it hangs up on whoever connects.
  const squatter = net.createServer((socket) => socket.on('error', () => undefined).destroy());
  afterAll(async () => {
    await new Promise((resolve) => squatter.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops the Redis it started when the Kafka port is taken by something that is not Kafka', { timeout: 60_000 }, async () => {
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const kafkaPort = (squatter.address() as net.AddressInfo).port;
    const [redisPort, registryPort] = [await freePort(), await freePort()];
    const config = loadConfig({
      ...process.env,
      LOCAL_DIR: dir,
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    });
    await expect(startStack(config, { redisAppendonly: false })).rejects.toThrow(/taken by something that is not Kafka/);
    expect(await isPortOpen(redisPort)).toBe(false);
    const pidFile = path.join(dir, `redis-${redisPort}`, 'redis.pid');
    expect(readLivePid(pidFile)).toBeUndefined();
  });
});

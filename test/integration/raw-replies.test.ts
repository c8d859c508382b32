// The raw-reply connection the range check uses (src/state/raw-replies.ts), against a real
// redis-server of its own that requires a password: the bytes of each reply exactly as Redis
// writes them, AUTH and SELECT from the URL, error replies, and a Redis killed and restarted.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopPid, type RunningProcess } from '../../src/stack/process.ts';
import { startRedis } from '../../src/stack/redis.ts';
import { RawReplies, RedisReplyError, bulkPayload, encodeCommand } from '../../src/state/raw-replies.ts';

const PORT = 16_583;
const PASSWORD = 'raw p@ss/word';
const URL = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${PORT}/3`;
/** A raw connection to where ioredis connects for `url`. */
const rawFor = (url: string, timeoutMs?: number) => {
  const c = new Redis(url, { lazyConnect: true });
  const raw = RawReplies.like(c, timeoutMs);
  c.disconnect();
  return raw;
};

describe('raw Redis replies', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-raw-replies-'));
  let redis: RunningProcess;
  let client: Redis;
  const start = async () => (redis = await startRedis({ host: '127.0.0.1', port: PORT, dir, appendonly: false, password: PASSWORD }, () => undefined));

  beforeAll(async () => {
    await start();
    client = new Redis(URL);
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    if (redis) await stopPid(redis.pid, redis.pidFile);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('returns the bytes of each reply as Redis writes them, in the database the URL names', async () => {
    const values = Array.from({ length: 20_000 }, (_, i) => `v${i}-${'x'.repeat(i % 50)}`);
    await client.hset('h', Object.fromEntries(values.map((v, i) => [`f${i}`, v])));
    const raw = rawFor(URL);
    const fields = values.map((_, i) => `f${i}`);
    // Large enough to arrive in many socket reads.
    const [got, missing, str] = await raw.send([encodeCommand(['HMGET', 'h', ...fields]), encodeCommand(['HMGET', 'h', 'nope', 'f1']), encodeCommand(['HGET', 'h', 'f2'])]);
    const expected = `*${values.length}\r\n${values.map((v) => `$${v.length}\r\n${v}\r\n`).join('')}`;
    expect(got!.toString('latin1')).toBe(expected);
    expect(missing!.toString('latin1')).toBe(`*2\r\n$-1\r\n$${values[1]!.length}\r\n${values[1]}\r\n`);
    expect(bulkPayload(str!)!.toString()).toBe(values[2]);
    const [nil] = await raw.send([encodeCommand(['HGET', 'h', 'nope'])]);
    expect(bulkPayload(nil!)).toBeNull();
    // The URL's database, not 0.
    const [size0] = await raw.send([encodeCommand(['DBSIZE'])]);
    expect(size0!.toString()).toBe(':1\r\n');
    raw.close();
  });

  it('rejects an error reply and keeps the connection for the next command', async () => {
    const raw = rawFor(URL);
    await client.set('s', 'a string');
    await expect(raw.send([encodeCommand(['HMGET', 's', 'f'])])).rejects.toThrow(RedisReplyError);
    const [ok] = await raw.send([encodeCommand(['GET', 's'])]);
    expect(bulkPayload(ok!)!.toString()).toBe('a string');
    raw.close();
  });

  // Found in review on 2026-12-04: ioredis reads `?db=` and `?password=` too, and a raw
  // connection that did not looked up another database's catalog.
  it('reads the database and password from the URL as ioredis does, query parameters included', async () => {
    const raw = rawFor(`redis://127.0.0.1:${PORT}?db=3&password=${encodeURIComponent(PASSWORD)}`);
    const [size] = await raw.send([encodeCommand(['DBSIZE'])]);
    expect(size!.toString()).toBe(`:${await client.dbsize()}\r\n`);
    expect(await client.dbsize()).toBeGreaterThan(0);
    raw.close();
  });

  // Found in review on 2026-12-04: a keyPrefix in the URL was not applied, so a prefixed
  // deployment read another deployment's range records and catalog.
  it('names keys with the URL\'s keyPrefix, as ioredis does', async () => {
    const prefixed = new Redis(`${URL}?keyPrefix=pre:`);
    await prefixed.hset('ph', 'f', 'prefixed');
    await client.hset('ph', 'f', 'unprefixed');
    const raw = rawFor(`${URL}?keyPrefix=pre:`);
    expect(raw.key('ph')).toBe('pre:ph');
    const [got] = await raw.send([encodeCommand(['HGET', raw.key('ph'), 'f'])]);
    expect(bulkPayload(got!)!.toString()).toBe('prefixed');
    raw.close();
    prefixed.disconnect();
  });

  it('times out a connection that never completes, and a close while connecting fails the command', async () => {
    // Accepts TCP, never answers: a TLS handshake (rediss) never finishes.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const raw = new RawReplies({ host: '127.0.0.1', port, tls: true }, 500);
    const started = Date.now();
    await expect(raw.send([encodeCommand(['PING'])])).rejects.toThrow(/did not answer within 500 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const closing = new RawReplies({ host: '127.0.0.1', port, tls: true }, 60_000);
    const waiting = closing.send([encodeCommand(['PING'])]);
    await new Promise((r) => setTimeout(r, 100));
    closing.close();
    await expect(waiting).rejects.toThrow(/closed/);
    silent.close();
  });

  it('refuses a wrong password, and tries again at the next command', async () => {
    const raw = rawFor(`redis://:other@127.0.0.1:${PORT}/3`);
    await expect(raw.send([encodeCommand(['PING'])])).rejects.toThrow(/WRONGPASS|invalid password/);
    await client.config('SET', 'requirepass', 'other');
    try {
      const [pong] = await raw.send([encodeCommand(['PING'])]);
      expect(pong!.toString()).toBe('+PONG\r\n');
    } finally {
      const admin = new Redis(`redis://:other@127.0.0.1:${PORT}/3`);
      await admin.config('SET', 'requirepass', PASSWORD);
      admin.disconnect();
    }
    raw.close();
  });

  it('fails the command, without throwing, when the server does not speak RESP', async () => {
    const server = net.createServer((s) => s.on('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const raw = new RawReplies({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await expect(raw.send([encodeCommand(['PING'])])).rejects.toThrow(/RESP/);
    raw.close();
    server.close();
  });

  it('fails what waits when Redis dies, and connects again once it is back', { timeout: 120_000 }, async () => {
    const raw = rawFor(URL, 5_000);
    await raw.send([encodeCommand(['PING'])]);
    // Blocks Redis (a script that spins) so the command below is waiting when the process dies.
    const waiting = raw.send([encodeCommand(['EVAL', 'local t = redis.call("TIME") while true do local n = redis.call("TIME") if tonumber(n[1]) - tonumber(t[1]) > 30 then break end end return 1', '0'])]);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(redis.pid, 'SIGKILL');
    await expect(waiting).rejects.toThrow();
    await redis.exited;
    await start();
    const fresh = new Redis(URL);
    await fresh.set('back', 'yes');
    fresh.disconnect();
    const [back] = await raw.send([encodeCommand(['GET', 'back'])]);
    expect(bulkPayload(back!)!.toString()).toBe('yes');
    raw.close();
    client.disconnect();
    client = new Redis(URL);
  });
});

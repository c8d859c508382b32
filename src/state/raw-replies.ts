// A Redis connection that hands back each reply's bytes unparsed, for the one job where parsing
// is the cost: checking that thousands of catalog values are the ones a range record names
// (movies/range-skip.ts) by the SHA-1 of an HMGET reply. Through ioredis every value becomes a
// JS string first, about 1 µs each, several times what Redis spends finding it; inside a Lua
// script, converting arguments and reply costs twice Redis's own work. Speaks RESP2, to the
// server (or socket), user, password, database, TLS, address family and key prefix an ioredis
// client resolved from the same URL; one node (a cluster client would route by slot).
import net from 'node:net';
import tls from 'node:tls';
import type { Redis } from 'ioredis';

const CR = 0x0d;

/** `*<n>\r\n` then each argument as a bulk string: a command as Redis reads it. */
export function encodeCommand(args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A number written in ASCII from `pos` up to the CR that ends its line; [value, CR position] or null when the line is incomplete. */
function lineNumber(b: Buffer, pos: number): [number, number] | null {
  let n = 0;
  let neg = false;
  let i = pos;
  if (b[i] === 0x2d) {
    neg = true;
    i++;
  }
  for (; i < b.length && b[i] !== CR; i++) n = n * 10 + (b[i]! - 0x30);
  return i + 1 < b.length ? [neg ? -n : n, i] : null;
}

/** Where the reply starting at `pos` ends, or -1 when it has not fully arrived. */
export function replyEnd(b: Buffer, pos: number): number {
  if (pos >= b.length) return -1;
  const type = b[pos];
  if (type === 0x2b || type === 0x2d || type === 0x3a) {
    const cr = b.indexOf(CR, pos);
    return cr >= 0 && cr + 1 < b.length ? cr + 2 : -1;
  }
  const head = lineNumber(b, pos + 1);
  if (!head) return -1;
  const [n, cr] = head;
  let p = cr + 2;
  if (type === 0x24) {
    if (n < 0) return p;
    return p + n + 2 <= b.length ? p + n + 2 : -1;
  }
  if (type === 0x2a) {
    for (let i = 0; i < n; i++) {
      p = replyEnd(b, p);
      if (p < 0) return -1;
    }
    return p;
  }
  throw new Error(`unexpected RESP type byte 0x${(type ?? 0).toString(16)} from Redis`);
}

/** The payload of a bulk-string reply, or null for a nil one. */
export function bulkPayload(reply: Buffer): Buffer | null {
  if (reply[0] !== 0x24) throw new Error(`expected a bulk string from Redis, got ${reply.subarray(0, 40).toString('latin1')}`);
  const [n, cr] = lineNumber(reply, 1)!;
  return n < 0 ? null : reply.subarray(cr + 2, cr + 2 + n);
}

export class RedisReplyError extends Error {}

export interface RawConnectionOptions {
  host?: string;
  port?: number;
  /** A Unix socket, instead of host and port. */
  path?: string | null;
  family?: number;
  username?: string | null;
  password?: string | null;
  db?: number;
  tls?: boolean | tls.ConnectionOptions;
  /** Put before every key, as ioredis does with its keyPrefix: callers name keys through key(). */
  keyPrefix?: string;
}

export class RawReplies {
  private socket?: net.Socket;
  private connected?: Promise<void>;
  private pending: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];

  constructor(
    private readonly options: RawConnectionOptions,
    private readonly timeoutMs = 10_000,
  ) {}

  /** A raw connection to where `client` connects, as ioredis read its URL (`/3`, `?db=3`, `?password=`). */
  static like(client: Redis, timeoutMs?: number): RawReplies {
    const o = client.options;
    return new RawReplies({ host: o.host, port: o.port, path: o.path, family: o.family, username: o.username, password: o.password, db: o.db, tls: o.tls, keyPrefix: o.keyPrefix }, timeoutMs);
  }

  /** A key as the ioredis client it mirrors would send it. */
  key(name: string): string {
    return `${this.options.keyPrefix ?? ''}${name}`;
  }

  /** Sends the encoded commands at once and returns their replies' bytes, in order; an error reply rejects. */
  async send(commands: Buffer[]): Promise<Buffer[]> {
    await this.connect();
    return this.write(commands);
  }

  close(): void {
    if (this.socket) this.fail(this.socket, new Error('connection closed'));
  }

  private write(commands: Buffer[]): Promise<Buffer[]> {
    const socket = this.socket!;
    const replies = commands.map(() => new Promise<Buffer>((resolve, reject) => this.waiting.push({ resolve, reject })));
    // Only a command waiting times out; an idle connection stays open.
    socket.setTimeout(this.timeoutMs);
    socket.write(commands.length === 1 ? commands[0]! : Buffer.concat(commands));
    return Promise.all(replies);
  }

  private connect(): Promise<void> {
    if (this.connected) return this.connected;
    const o = this.options;
    const host = o.host || '127.0.0.1';
    const port = o.port || 6379;
    const where = o.path ?? `${host}:${port}`;
    const address = o.path ? { path: o.path } : { host, port, ...(o.family ? { family: o.family } : {}) };
    // No SNI for an IP address (as ioredis: Node warns and servers ignore it).
    const socket = o.tls ? tls.connect({ ...address, ...(net.isIP(host) ? {} : { servername: host }), ...(typeof o.tls === 'object' ? o.tls : {}) }) : net.connect(address);
    this.socket = socket;
    socket.setNoDelay(true);
    // Connecting (TCP, TLS, AUTH) times out too; then only a command waiting does.
    socket.setTimeout(this.timeoutMs);
    socket.on('timeout', () => socket.destroy(new Error(`Redis at ${where} did not answer within ${this.timeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err) => this.fail(socket, err));
    socket.on('close', () => this.fail(socket, new Error(`connection to Redis at ${where} closed`)));
    const setup: Buffer[] = [];
    if (o.password) setup.push(encodeCommand(o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password]));
    if (o.db) setup.push(encodeCommand(['SELECT', String(o.db)]));
    const ready = new Promise<void>((resolve, reject) => {
      socket.once(o.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
      // close() while connecting destroys the socket without an error.
      socket.once('close', () => reject(new Error(`connection to Redis at ${where} closed`)));
    });
    // A refused AUTH or SELECT drops the connection: the next send tries again.
    this.connected = ready
      .then(async () => {
        if (setup.length) await this.write(setup);
        if (this.waiting.length === 0) socket.setTimeout(0);
      })
      .catch((err: Error) => {
        this.fail(socket, err);
        throw err;
      });
    this.connected.catch(() => undefined);
    return this.connected;
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (this.waiting.length > 0) {
      let end: number;
      try {
        end = replyEnd(this.pending, pos);
      } catch (err) {
        // Not RESP, or out of step: nothing more on this connection can be trusted.
        this.fail(socket, err as Error);
        return;
      }
      if (end < 0) break;
      const reply = this.pending.subarray(pos, end);
      pos = end;
      const w = this.waiting.shift()!;
      if (reply[0] === 0x2d) w.reject(new RedisReplyError(reply.toString('utf8', 1, reply.length - 2)));
      else w.resolve(reply);
    }
    this.pending = pos === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(pos);
    if (this.waiting.length === 0) this.socket?.setTimeout(0);
  }

  /** Fails every command waiting on `socket` and forgets it: the next send connects again. */
  private fail(socket: net.Socket, err: Error): void {
    if (this.socket !== socket) return;
    for (const w of this.waiting.splice(0)) w.reject(err);
    socket.destroy();
    this.socket = undefined;
    this.connected = undefined;
    this.pending = Buffer.alloc(0);
  }
}

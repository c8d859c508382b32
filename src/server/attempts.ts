// Wrong admin tokens per client address per minute, counted in Redis (shared by every api
// process), for /login and the Bearer header alike. Each attempt takes a slot before its token is
// compared (one atomic INCR), and a right token gives its slot back: so concurrent guesses cannot
// all slip in under the count, and past the limit every token is refused until the minute is
// over. Refused cross-origin posts to /login never reach here, so another site cannot lock anyone out.
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';

const WINDOW_MS = 60_000;
const KEY = (client: string) => `segpipe:auth-failures:${client}`;
// KEYS[1] counter; ARGV[1] window ms. Returns { count after this attempt, ms left in the window }.
const TAKE = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }`;

/** IPv6 clients are counted per /64 (one host usually holds a whole /64). */
export function clientKey(ip: string): string {
  if (!ip.includes(':') || ip.startsWith('::ffff:')) return ip.replace(/^::ffff:/, '');
  const [head] = ip.split('::');
  const groups = head!.split(':').filter(Boolean);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

export class FailedAttempts {
  constructor(
    private readonly redis: Redis,
    readonly perMinute: number,
  ) {}

  /** Takes a slot for one token check: 0 if it may go ahead, else ms until the window ends. */
  async take(ip: string): Promise<number> {
    const [count, ttl] = (await this.redis.eval(TAKE, 1, KEY(clientKey(ip)), WINDOW_MS)) as [number, number];
    return count > this.perMinute ? Math.max(ttl, 1) : 0;
  }

  /** A right token: its slot was not a failure. */
  async giveBack(ip: string): Promise<void> {
    await this.redis.decr(KEY(clientKey(ip)));
  }
}

/** The 429 answer while a client is over the limit. */
export function tooManyFailures(reply: FastifyReply, waitMs: number) {
  const s = Math.ceil(waitMs / 1000);
  return reply.code(429).header('retry-after', s).send({ statusCode: 429, error: 'Too Many Requests', message: `Too many wrong admin tokens from this address; try again in ${s} s.` });
}

// Wrong admin tokens per client address per minute, counted in Redis (shared by every api
// process), for /login and the Bearer header alike: past the limit every token is refused
// until the minute is over, so guessing gains nothing. Only wrong tokens count, so a page that
// posts to /login from another site (refused before the token is read) cannot lock anyone out.
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';

const WINDOW_MS = 60_000;
const KEY = (client: string) => `segpipe:auth-failures:${client}`;

export class FailedAttempts {
  constructor(
    private readonly redis: Redis,
    readonly perMinute: number,
  ) {}

  /** Milliseconds until this client may try again, or 0. */
  async retryAfterMs(client: string): Promise<number> {
    const [count, ttl] = await this.redis.multi().get(KEY(client)).pttl(KEY(client)).exec().then((r) => r!.map(([, v]) => v) as [string | null, number]);
    return Number(count ?? 0) >= this.perMinute ? Math.max(ttl, 1) : 0;
  }

  async record(client: string): Promise<void> {
    await this.redis.multi().set(KEY(client), 0, 'PX', WINDOW_MS, 'NX').incr(KEY(client)).exec();
  }
}

/** The 429 answer while a client is over the limit. */
export function tooManyFailures(reply: FastifyReply, waitMs: number) {
  const s = Math.ceil(waitMs / 1000);
  return reply.code(429).header('retry-after', s).send({ statusCode: 429, error: 'Too Many Requests', message: `Too many wrong admin tokens from this address; try again in ${s} s.` });
}

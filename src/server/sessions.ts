// Browser sessions of the admin plane: a random id in an httpOnly cookie (never the admin token),
// kept in Redis with an expiry so every api process shares them and /logout ends one for good.
// Redis holds only a hash of the id: reading Redis does not give a usable cookie.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Session {
  /** The session's CSRF token, sent back by the browser in X-XSRF-TOKEN or a `_csrf` form field. */
  csrf: string;
  /** Which admin token signed it in (a hash): a new ADMIN_TOKEN ends every session of the old one. */
  tokenId: string;
}

const KEY = (id: string) => `segpipe:session:${crypto.createHash('sha256').update(id).digest('hex')}`;
const random = () => crypto.randomBytes(32).toString('base64url');

export class SessionStore {
  private readonly tokenId: string;

  constructor(
    private readonly redis: Redis,
    readonly ttlMs: number,
    adminToken: string,
  ) {
    this.tokenId = crypto.createHash('sha256').update(`segpipe-session:${adminToken}`).digest('hex');
  }

  async create(): Promise<{ id: string } & Session> {
    const id = random();
    const session: Session = { csrf: random(), tokenId: this.tokenId };
    await this.redis.set(KEY(id), JSON.stringify(session), 'PX', this.ttlMs);
    return { id, ...session };
  }

  async get(id: string | undefined): Promise<Session | null> {
    if (!id || id.length > 100) return null;
    const raw = await this.redis.get(KEY(id));
    if (raw === null) return null;
    const session = JSON.parse(raw) as Session;
    return session.tokenId === this.tokenId ? session : null;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && id.length <= 100) await this.redis.del(KEY(id));
  }
}

/** Constant-time equality of two secrets of any length. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

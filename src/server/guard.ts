// The admin-plane guard: an onRequest hook that each protected scope (/api, /admin, /dashboard)
// adds to its own encapsulated context. It runs only for routes the router matched in that scope,
// after the router decoded and normalised the path, so no spelling of a URL (percent-encoded,
// absolute-form, HEAD) reaches a protected handler without passing it.
//
// Who passes: a request with "Authorization: Bearer <admin token>" (scripts; browsers cannot send
// that header cross-origin without a CORS preflight this server never allows), or a browser with
// a live session cookie. A session's state changes need both the page's own Origin and the
// session's CSRF token (X-XSRF-TOKEN header, which Bull Board's axios sends from the XSRF-TOKEN
// cookie, or a `_csrf` form field).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tooManyFailures, type FailedAttempts } from './attempts.ts';
import { sameSecret, type Session, type SessionStore } from './sessions.ts';

export const SESSION_COOKIE = 'segpipe_session';
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const CSRF_HEADER = 'x-xsrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface GuardOptions {
  token: string;
  sessions: SessionStore;
  failures: FailedAttempts;
  /** Route patterns (as registered, e.g. `/admin/queues/api/queues/:queueName/add`) refused to everyone. */
  refused?: ReadonlySet<string>;
}

/** The token of an `Authorization: Bearer` header; undefined for no header or another scheme (a proxy's Basic auth). */
function bearer(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(.*)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]!.trim() : undefined;
}

/** The request's Origin (or Referer's origin) is this server's own, as the browser reached it. */
export function sameOrigin(req: FastifyRequest): boolean {
  // req.host and req.protocol: what the browser reached, also behind a proxy when TRUST_PROXY is set.
  const host = req.host;
  const from = req.headers.origin ?? req.headers.referer;
  if (!host || !from || from === 'null') return false;
  try {
    const u = new URL(from);
    return u.protocol === `${req.protocol}:` && !u.username && !u.password && u.host === host;
  } catch {
    return false;
  }
}

/** Every session cookie the request carries: a cookie planted by another port of this host (same site) must not shadow the real one. */
function sessionIds(req: FastifyRequest): string[] {
  const ids: string[] = [];
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) ids.push(part.slice(i + 1).trim());
  }
  return ids.slice(0, 4);
}

export async function findSession(sessions: SessionStore, req: FastifyRequest): Promise<{ id: string; session: Session } | null> {
  for (const id of sessionIds(req)) {
    const session = await sessions.get(id);
    if (session) return { id, session };
  }
  return null;
}

/**
 * Why a browser session may not change state with this request, or null when it may: the request
 * must come from a page of this server and carry the session's CSRF token (`given`).
 */
export function stateChangeRefusal(req: FastifyRequest, session: Session, given: string | undefined): 'origin' | 'csrf' | null {
  if (!sameOrigin(req)) return 'origin';
  return sameSecret(given, session.csrf) ? null : 'csrf';
}

/** The CSRF token a request sends in its header. */
export const csrfHeader = (req: FastifyRequest): string | undefined => [req.headers[CSRF_HEADER]].flat()[0];

const deny = (reply: FastifyReply, code: 401 | 403, message: string) => {
  if (code === 401) reply.header('www-authenticate', 'Bearer realm="segpipe"');
  return reply.code(code).send({ statusCode: code, error: code === 401 ? 'Unauthorized' : 'Forbidden', message });
};

/** A relative path on this server, or the fallback: never another origin. */
export function safeNext(next: string | undefined, fallback: string): string {
  if (typeof next !== 'string' || !/^\/(?![/\\])[\x21-\x7e]*$/.test(next) || next.includes('\\')) return fallback;
  const base = 'http://segpipe.invalid';
  const url = new URL(next, base);
  // Dot segments can turn `/.//evil` into `//evil`, which a browser reads as another host.
  if (url.origin !== base || url.pathname.startsWith('//')) return fallback;
  return url.pathname + url.search;
}

export function adminGuard(opts: GuardOptions) {
  return async function guard(req: FastifyRequest, reply: FastifyReply) {
    const route = req.routeOptions.url;
    if (route !== undefined && opts.refused?.has(route)) {
      return deny(reply, 403, 'This action is disabled: it would put caller-supplied data into a job. Use the REST API (/api/runs) to start runs.');
    }
    reply.header('cache-control', 'no-store');
    const given = bearer(req);
    if (given !== undefined) {
      const wait = await opts.failures.take(req.ip);
      if (wait > 0) return tooManyFailures(reply, wait);
      if (sameSecret(given, opts.token)) return void (await opts.failures.giveBack(req.ip));
      return deny(reply, 401, 'That admin token is not valid.');
    }
    const session = (await findSession(opts.sessions, req))?.session;
    if (!session) {
      if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
        return reply.redirect(`/login?next=${encodeURIComponent(safeNext(req.url, '/dashboard'))}`);
      }
      return deny(reply, 401, 'Send the admin token as "Authorization: Bearer <token>" or sign in at /login.');
    }
    const refusal = SAFE_METHODS.has(req.method) ? null : stateChangeRefusal(req, session, csrfHeader(req));
    if (refusal === 'origin') return deny(reply, 403, 'Cross-origin request refused: a signed-in browser may change state only from pages of this server.');
    if (refusal === 'csrf') return deny(reply, 403, `Missing or wrong CSRF token: send the ${CSRF_COOKIE} cookie's value in the X-XSRF-TOKEN header.`);
  };
}

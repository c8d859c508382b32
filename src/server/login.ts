// /login and /logout: the only routes that take form posts. Signing in exchanges the admin token
// for a random session id with an expiry; the token itself never goes into a cookie.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { tooManyFailures, type FailedAttempts } from './attempts.ts';
import { CSRF_COOKIE, SESSION_COOKIE, csrfHeader, findSession, safeNext, sameOrigin, stateChangeRefusal } from './guard.ts';
import { sameSecret, type SessionStore } from './sessions.ts';

export interface LoginOptions {
  token: string;
  sessions: SessionStore;
  /** Wrong tokens per client address per minute, shared with the Bearer check. */
  failures: FailedAttempts;
}

const DEFAULT_NEXT = '/dashboard';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const loginPage = (next: string, failed: boolean) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>segpipe — sign in</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input{font:inherit;width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}button{font:inherit;padding:.5rem 1rem}
.err{color:#b00020}</style></head>
<body><h1>segpipe admin</h1>
${failed ? '<p class="err">That token is not valid.</p>' : ''}
<form method="post" action="/login">
<label for="token">Admin token (printed by <code>npm start</code> in a terminal, or in .local/admin-token, or ADMIN_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<button type="submit">Sign in</button>
</form>
<p>After signing in: <a href="/dashboard">dashboard</a> · <a href="/admin/queues">Bull Board</a></p>
</body></html>`;

function clearCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  reply.clearCookie(CSRF_COOKIE, { path: '/' });
}

export async function loginRoutes(app: FastifyInstance, opts: LoginOptions): Promise<void> {
  // Encapsulated: form bodies are parsed here and nowhere else.
  await app.register(formbody, { bodyLimit: 4096 });

  app.get('/login', { schema: { querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 2048 } } } } }, async (req, reply) => {
    const { next } = req.query as { next?: string };
    return reply.type('text/html; charset=utf-8').send(loginPage(safeNext(next, DEFAULT_NEXT), false));
  });

  app.post(
    '/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 1024 }, next: { type: 'string', maxLength: 2048 } },
        },
      },
    },
    async (req: FastifyRequest, reply: FastifyReply) => {
      // A form another site posts would sign the browser in to the attacker's choice of session.
      if ((req.headers.origin || req.headers.referer) && !sameOrigin(req)) {
        return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'Cross-origin sign-in refused.' });
      }
      const { token, next } = req.body as { token: string; next?: string };
      const target = safeNext(next, DEFAULT_NEXT);
      const wait = await opts.failures.take(req.ip);
      if (wait > 0) return tooManyFailures(reply, wait);
      if (!sameSecret(token, opts.token)) return reply.code(401).type('text/html; charset=utf-8').send(loginPage(target, true));
      await opts.failures.giveBack(req.ip);
      const session = await opts.sessions.create();
      const maxAge = Math.floor(opts.sessions.ttlMs / 1000);
      const secure = req.protocol === 'https';
      reply.setCookie(SESSION_COOKIE, session.id, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge });
      // Readable by the page's scripts (Bull Board's axios copies it into X-XSRF-TOKEN).
      reply.setCookie(CSRF_COOKIE, session.csrf, { path: '/', httpOnly: false, sameSite: 'strict', secure, maxAge });
      return reply.redirect(target, 303);
    },
  );

  app.get('/logout', async (req, reply) => {
    const session = (await findSession(opts.sessions, req))?.session;
    if (!session) return reply.redirect('/login', 303);
    return reply.type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>segpipe — sign out</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style></head>
<body><h1>segpipe admin</h1><form method="post" action="/logout"><input type="hidden" name="_csrf" value="${escapeHtml(session.csrf)}">
<button type="submit">Sign out</button></form></body></html>`);
  });

  // A state change like any other: same origin and the session's CSRF token, as a form field here.
  app.post(
    '/logout',
    { schema: { body: { type: 'object', properties: { _csrf: { type: 'string', maxLength: 256 } } } } },
    async (req: FastifyRequest, reply: FastifyReply) => {
      const found = await findSession(opts.sessions, req);
      const session = found?.session;
      const given = (req.body as { _csrf?: string } | undefined)?._csrf ?? csrfHeader(req);
      if (session && stateChangeRefusal(req, session, given)) {
        return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'Sign out from a page of this server (same origin, with its CSRF token).' });
      }
      await opts.sessions.destroy(found?.id);
      clearCookies(reply);
      return reply.redirect('/login', 303);
    },
  );
}

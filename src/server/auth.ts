// Admin-token guard for /admin and /api (and the dashboard): a bearer header for scripts,
// a cookie set by /login for browsers (Bull Board cannot send headers).
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';

export const TOKEN_COOKIE = 'segpipe_token';
const PROTECTED = /^\/(admin|api|dashboard)(\/|$|\?)/;

function sameToken(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

function presentedToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  return req.cookies[TOKEN_COOKIE];
}

const wantsHtml = (req: FastifyRequest) => req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');

const loginPage = (next: string, failed: boolean) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>segpipe — sign in</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input{font:inherit;width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}button{font:inherit;padding:.5rem 1rem}
.err{color:#b00020}</style></head>
<body><h1>segpipe admin</h1>
${failed ? '<p class="err">That token is not valid.</p>' : ''}
<form method="post" action="/login">
<label for="token">Admin token (printed by <code>npm start</code>, or ADMIN_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="${next.replace(/[^\w/\-?=&.]/g, '')}">
<button type="submit">Sign in</button>
</form></body></html>`;

export const authPlugin = fp(async (app: FastifyInstance, opts: { token: string }) => {
  await app.register(cookie);
  await app.register(formbody);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!PROTECTED.test(req.url)) return;
    if (sameToken(presentedToken(req), opts.token)) return;
    if (wantsHtml(req)) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`);
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="segpipe"')
      .send({ statusCode: 401, error: 'Unauthorized', message: 'Send the admin token as "Authorization: Bearer <token>" or sign in at /login.' });
  });

  app.get('/login', { schema: { querystring: { type: 'object', properties: { next: { type: 'string' } } } } }, async (req, reply) => {
    const { next } = req.query as { next?: string };
    return reply.type('text/html').send(loginPage(next ?? '/admin/queues', false));
  });

  app.post(
    '/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1 }, next: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const { token, next } = req.body as { token: string; next?: string };
      const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '/admin/queues';
      if (!sameToken(token, opts.token)) return reply.code(401).type('text/html').send(loginPage(target, true));
      reply.setCookie(TOKEN_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict' });
      return reply.redirect(target, 303);
    },
  );
});

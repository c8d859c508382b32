// The admin plane as an attacker sees it: every protected route, in every spelling of its URL,
// without the token; then browser sessions, CSRF, redirects and the sign-in rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../queues/names.ts';
import { cookieHeader, setCookies, startAdminServer, testRedisDb, type AdminServer } from '../helpers/admin-server.ts';

const TOKEN = 'security-test-admin-token-0123456789';
const ATTEMPTS = 20;
const REDIS_URL = testRedisDb(7);
const PROTECTED = /^\/(api|admin|dashboard)(\/|$)/;

/** A concrete path for a route pattern. */
const concrete = (url: string) =>
  url
    .replace(/:queueName|:queue/g, QUEUES.flush)
    .replace(/:queueStatus/g, 'failed')
    .replace(/:[A-Za-z]+/g, '1')
    .replace(/\*/g, 'index.js');

/** The spellings of one path that a router may take for it. */
function spellings(path: string): string[] {
  const [first, ...rest] = path.slice(1);
  const pct = `/%${first!.charCodeAt(0).toString(16)}${rest.join('')}`;
  return [
    path,
    pct,
    `http://x${path}`,
    `http://127.0.0.1${pct}`,
    `/${path}`,
    `/.${path}`,
    `/a/..${path}`,
    path.toUpperCase(),
    `${path}?x=1`,
    `${path}/`,
    `/${path.slice(1).replace(/\//g, '%2F')}`,
    path.replace(/\//g, '//'),
  ];
}

describe('admin plane without the token', () => {
  let s: AdminServer;
  const before = new Map<string, unknown>();
  const snapshot = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(s.ctx.queues).map(async ([name, q]) => [name, { paused: await q.isPaused(), counts: await q.getJobCounts(), schedulers: await q.getJobSchedulersCount() }]),
      ),
    );

  beforeAll(async () => {
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, LOGIN_ATTEMPTS_PER_MIN: String(ATTEMPTS) }, { freshDb: true });
    before.set('state', await snapshot());
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses every protected route in every spelling and method, and nothing changes', async () => {
    const routes = s.app.routeTable.filter((r) => PROTECTED.test(r.url));
    expect(routes.length).toBeGreaterThan(40);
    const leaks: string[] = [];
    for (const r of routes) {
      const path = concrete(r.url);
      const methods = r.method === 'GET' ? ['GET', 'HEAD', 'OPTIONS'] : [r.method, 'OPTIONS'];
      for (const method of methods) {
        for (const p of spellings(path)) {
          const body = method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? undefined : '{"events":1,"data":{"sql":"SELECT 1"}}';
          const res = await s.request(method, p, { headers: body ? { 'content-type': 'application/json' } : {}, body }).catch((err: Error) => ({ status: err.message as string | number }));
          // 401/403 where the router matched a protected route; 404 where it matched nothing; 400 for
          // a request line the HTTP parser refuses.
          if (![400, 401, 403, 404].includes(res.status as number)) leaks.push(`${method} ${p} → ${res.status}`);
        }
      }
    }
    expect(leaks).toEqual([]);
    expect(await snapshot()).toEqual(before.get('state'));
  });

  it('refuses the probes of the report with 401 exactly (the router matched them to a protected route)', async () => {
    const probes: Array<[string, string, string?]> = [
      ['GET', '/%61pi/status'],
      ['GET', 'http://x/api/status'],
      ['GET', '/%61dmin/queues/api/queues'],
      ['GET', '/%64ashboard'],
      ['POST', '/%61pi/runs/simulator', '{"events":2}'],
      ['PUT', `/%61dmin/queues/api/queues/${QUEUES.flush}/pause`],
      ['PUT', `/%61dmin/queues/api/queues/${QUEUES.movies}/empty`],
    ];
    for (const [method, path, body] of probes) {
      const res = await s.request(method, path, { headers: body ? { 'content-type': 'application/json' } : {}, body });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(await s.ctx.queues.flush.isPaused()).toBe(false);
    expect(await snapshot()).toEqual(before.get('state'));
  });

  it('sends a browser without a session to /login, keeping only a same-origin path as next', async () => {
    const res = await s.request('GET', '/dashboard', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?next=%2Fdashboard');
    const abs = await s.request('GET', 'http://evil.example/dashboard', { headers: { accept: 'text/html' } });
    expect(abs.headers.location).toBe('/login?next=%2Fdashboard');
  });
});

describe('browser sessions', () => {
  let s: AdminServer;
  let origin: string;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  const login = async (next = '/dashboard', headers: Record<string, string> = {}) =>
    s.request('POST', '/login', { headers: { ...form, origin, ...headers }, body: `token=${encodeURIComponent(TOKEN)}&next=${encodeURIComponent(next)}` });

  beforeAll(async () => {
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, LOGIN_ATTEMPTS_PER_MIN: String(ATTEMPTS), SESSION_TTL_HOURS: '2' }, { freshDb: true });
    origin = `http://127.0.0.1:${s.port}`;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('signs in to a random session id with an expiry, never the token; CSRF and Origin guard every state change', async () => {
    const res = await login();
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    const cookies = setCookies(res);
    const sid = cookies.segpipe_session!;
    expect(sid).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(JSON.stringify(res.headers)).not.toContain(TOKEN);
    const sessionCookie = [res.headers['set-cookie']!].flat().find((c) => c.startsWith('segpipe_session='))!;
    expect(sessionCookie).toMatch(/HttpOnly/i);
    expect(sessionCookie).toMatch(/SameSite=Strict/i);
    expect(sessionCookie).toMatch(/Max-Age=7200/);
    const csrf = cookies['XSRF-TOKEN']!;
    const cookie = cookieHeader(cookies);

    expect((await s.request('GET', '/api/status', { headers: { cookie } })).status).toBe(200);
    expect((await s.request('GET', '/dashboard', { headers: { cookie } })).status).toBe(200);
    expect((await s.request('GET', '/admin/queues/api/queues', { headers: { cookie } })).status).toBe(200);

    const json = { 'content-type': 'application/json', cookie };
    const run = '{"events":2}';
    // Another site's form, with the browser's cookie: refused before anything is parsed.
    for (const headers of [
      { ...form, cookie, origin: 'http://evil.example' },
      { ...form, cookie, origin: 'http://127.0.0.1:1' },
      { ...form, cookie },
      { ...json, origin: 'http://evil.example', 'x-xsrf-token': csrf },
      { ...json, origin: 'null', 'x-xsrf-token': csrf },
      { ...json, origin },
      { ...json, origin, 'x-xsrf-token': 'wrong' },
    ]) {
      const r = await s.request('POST', '/api/runs/simulator', { headers, body: headers['content-type'] === form['content-type'] ? 'events=2' : run });
      expect(r.status, JSON.stringify(headers)).toBe(403);
    }
    for (const headers of [{ cookie, origin: 'http://evil.example', 'x-xsrf-token': csrf }, { cookie, origin }] as Array<Record<string, string>>) {
      const r = await s.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/pause`, { headers });
      expect(r.status).toBe(403);
    }
    expect(await s.ctx.queues.flush.isPaused()).toBe(false);
    expect((await s.ctx.queues.simulator.getJobCounts()).waiting).toBe(0);

    // The page's own requests, as Bull Board's axios sends them.
    const paused = await s.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/pause`, { headers: { cookie, origin, 'x-xsrf-token': csrf } });
    expect(paused.status).toBe(200);
    expect(await s.ctx.queues.flush.isPaused()).toBe(true);
    await s.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/resume`, { headers: { cookie, origin, 'x-xsrf-token': csrf } });
    expect(await s.ctx.queues.flush.isPaused()).toBe(false);

    // Form bodies are parsed on /login and /logout only.
    const formOnApi = await s.request('POST', '/api/runs/simulator', { headers: { authorization: `Bearer ${TOKEN}`, ...form }, body: 'events=2' });
    expect(formOnApi.status).toBe(415);

    // Sign out ends the session on the server: the old cookie is worthless afterwards.
    const outForeign = await s.request('POST', '/logout', { headers: { ...form, cookie, origin: 'http://evil.example' }, body: `_csrf=${csrf}` });
    expect(outForeign.status).toBe(403);
    const out = await s.request('POST', '/logout', { headers: { ...form, cookie, origin }, body: `_csrf=${csrf}` });
    expect(out.status).toBe(303);
    expect((await s.request('GET', '/api/status', { headers: { cookie } })).status).toBe(401);
  });

  it('redirects after sign-in only to a path of this server', async () => {
    for (const next of ['/\\evil.example', '//evil.example', 'http://evil.example/', '/\t/evil.example', 'javascript:alert(1)', '\\\\evil.example', '/.//evil.example', '/..//evil.example', '/%2e//evil.example', '/a/..//evil.example', '/x/./..//evil.example/p?q']) {
      const res = await login(next);
      expect(res.status, next).toBe(303);
      expect(res.headers.location, next).toBe('/dashboard');
    }
    const page = await s.request('GET', `/login?next=${encodeURIComponent('"><script>alert(1)</script>')}`);
    expect(page.body).not.toContain('<script>alert(1)');
    expect((await s.request('GET', `/login?next=${encodeURIComponent('/.//evil.example')}`)).body).not.toContain('//evil.example');
    const bounced = await s.request('GET', '/admin/queues/static/../../..//evil.example/x', { headers: { accept: 'text/html' } });
    expect(bounced.headers.location ?? '').not.toContain('%2F%2Fevil');
    const ok = await login('/admin/queues?x=1');
    expect(ok.headers.location).toBe('/admin/queues?x=1');
    const foreign = await login('/dashboard', { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
  });

  it('limits wrong tokens per client, at /login and as Bearer alike; refused cross-origin posts do not count', async () => {
    await s.ctx.redis.flushdb();
    // Another site's posts are refused before the token is read: they cannot lock the admin out.
    for (let i = 0; i < ATTEMPTS + 2; i++) {
      const r = await s.request('POST', '/login', { headers: { ...form, origin: 'http://evil.example' }, body: 'token=x' });
      expect(r.status).toBe(403);
    }
    expect((await login()).status).toBe(303);
    const statuses: number[] = [];
    for (let i = 0; i < ATTEMPTS / 2; i++) {
      statuses.push((await s.request('POST', '/login', { headers: { ...form, origin }, body: 'token=guess-number-' + i })).status);
      statuses.push((await s.request('GET', '/api/status', { headers: { authorization: `Bearer guess-${i}` } })).status);
    }
    expect(statuses).toEqual(Array(ATTEMPTS).fill(401));
    const after = [
      (await s.request('POST', '/login', { headers: { ...form, origin }, body: 'token=one-more' })).status,
      (await s.request('GET', '/api/status', { headers: { authorization: 'Bearer one-more' } })).status,
    ];
    expect(after).toEqual([429, 429]);
    // Even the right token, until the minute is over: guessing past the limit learns nothing.
    expect((await login()).status).toBe(429);
    const bearer = await s.request('GET', '/api/status', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(429);
    expect(Number(bearer.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('forbids framing, keeps signed-in answers out of caches, and ignores a planted session cookie', async () => {
    await s.ctx.redis.flushdb();
    const cookies = setCookies(await login());
    for (const path of ['/login', '/admin/queues', '/dashboard', '/api/status']) {
      const res = await s.request('GET', path, { headers: { cookie: cookieHeader(cookies) } });
      expect(res.status, path).toBe(200);
      expect(res.headers['x-frame-options'], path).toBe('DENY');
      expect(res.headers['content-security-policy'], path).toContain("frame-ancestors 'none'");
      if (path !== '/login') expect(res.headers['cache-control'], path).toBe('no-store');
    }
    // A page on another port of this host can set a cookie of the same name ahead of the real one.
    const shadowed = await s.request('GET', '/api/status', { headers: { cookie: `segpipe_session=planted; segpipe_session=${cookies.segpipe_session}` } });
    expect(shadowed.status).toBe(200);
  });

  it('a new admin token ends every session signed in with the old one', { timeout: 60_000 }, async () => {
    const cookies = setCookies(await login());
    const cookie = cookieHeader(cookies);
    expect((await s.request('GET', '/api/status', { headers: { cookie } })).status).toBe(200);
    const rotated = await startAdminServer({ ADMIN_TOKEN: 'the-rotated-admin-token-9876543210', REDIS_URL });
    try {
      expect((await rotated.request('GET', '/api/status', { headers: { cookie } })).status).toBe(401);
      const put = await rotated.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/pause`, { headers: { cookie, origin: `http://127.0.0.1:${rotated.port}`, 'x-xsrf-token': cookies['XSRF-TOKEN']! } });
      expect(put.status).toBe(401);
      expect(await rotated.ctx.queues.flush.isPaused()).toBe(false);
    } finally {
      await rotated.close();
    }
  });

});

describe('the wrong-token limit and proxies', () => {
  let s: AdminServer;
  beforeAll(async () => {
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL, LOGIN_ATTEMPTS_PER_MIN: '5', TRUST_PROXY: '127.0.0.1' }, { freshDb: true });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('concurrent guesses all take a slot before their token is compared', async () => {
    const headers = { authorization: 'Bearer guess', 'x-forwarded-for': '203.0.113.7' };
    const statuses = await Promise.all(Array.from({ length: 40 }, () => s.request('GET', '/api/status', { headers }).then((r) => r.status)));
    expect(statuses.filter((x) => x === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(35);
    // Another client behind the same trusted proxy is counted on its own; IPv6 per /64.
    expect((await s.request('GET', '/api/status', { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '203.0.113.8' } })).status).toBe(200);
    for (let i = 0; i < 6; i++) await s.request('GET', '/api/status', { headers: { authorization: 'Bearer g', 'x-forwarded-for': `2001:db8:1:2::${i + 1}` } });
    expect((await s.request('GET', '/api/status', { headers: { authorization: 'Bearer g', 'x-forwarded-for': '2001:db8:1:2:ffff::9' } })).status).toBe(429);
  });

  it("behind the trusted TLS proxy: Secure cookies, the proxy's host in the Origin check, a proxy's Basic auth header does not hide the session", async () => {
    const viaProxy = { 'x-forwarded-for': '198.51.100.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'admin.example.org', 'content-type': 'application/x-www-form-urlencoded' };
    const login = await s.request('POST', '/login', { headers: { ...viaProxy, origin: 'https://admin.example.org' }, body: `token=${TOKEN}` });
    expect(login.status).toBe(303);
    expect([login.headers['set-cookie']!].flat().every((c) => /;\s*Secure/i.test(c))).toBe(true);
    const cookies = setCookies(login);
    const cookie = cookieHeader(cookies);
    // The origin the browser saw is the proxy's, over https; plain http or the backend's own host is another origin.
    const pause = (origin: string) =>
      s.request('PUT', `/admin/queues/api/queues/${QUEUES.flush}/pause`, { headers: { ...viaProxy, 'content-type': 'application/json', cookie, origin, 'x-xsrf-token': cookies['XSRF-TOKEN']!, authorization: 'Basic cHJveHk6dXNlcg==' }, body: '{}' });
    expect((await pause('http://admin.example.org')).status).toBe(403);
    expect((await pause(`http://127.0.0.1:${s.port}`)).status).toBe(403);
    expect((await pause('https://admin.example.org')).status).toBe(200);
    expect(await s.ctx.queues.flush.isPaused()).toBe(true);
    await s.ctx.queues.flush.resume();
  });
});

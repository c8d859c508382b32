// The browser side of sessions, in headless Chromium: Bull Board's own actions work with the
// CSRF token it sends by itself, and a page of another origin on this host (same site: every
// port of 127.0.0.1 is) cannot make the signed-in browser change anything.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { QUEUES } from '../../queues/names.ts';
import { startAdminServer, testRedisDb, type AdminServer } from '../helpers/admin-server.ts';
import { waitFor } from '../helpers/stream.ts';

const TOKEN = 'browser-security-token-0123456789';
const REDIS_URL = testRedisDb(11);

describe('a signed-in browser', () => {
  let s: AdminServer;
  let browser: Browser;
  let evil: http.Server;
  let base: string;
  let evilBase: string;

  beforeAll(async () => {
    s = await startAdminServer({ ADMIN_TOKEN: TOKEN, REDIS_URL }, { freshDb: true });
    base = `http://127.0.0.1:${s.port}`;
    // Another origin on the same host: pages that try to make the browser act on segpipe.
    evil = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html');
      if (req.url === '/frame') {
        res.end(`<iframe id=board src="${base}/admin/queues/queue/${QUEUES.flush}" width=1200 height=800></iframe>`);
      } else if (req.url === '/form') {
        res.end(`<form id=f method=post action="${base}/api/runs/simulator" enctype="text/plain"><input name='{"events":3,"x":"' value='"}'></form><script>f.submit()</script>`);
      } else if (req.url === '/urlencoded') {
        res.end(`<form id=f method=post action="${base}/api/runs/simulator"><input name=events value=3></form><script>f.submit()</script>`);
      } else {
        res.end(`<script>
          window.done = Promise.all([
            fetch('${base}/admin/queues/api/queues/${QUEUES.flush}/pause', { method: 'PUT', credentials: 'include', mode: 'no-cors' }).catch(() => 0),
            fetch('${base}/api/runs/simulator', { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"events":3}' }).catch(() => 0),
          ]).then(() => 'sent');
        </script>`);
      }
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    evilBase = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    evil?.close();
    await s?.close();
  });

  it("pauses a queue through Bull Board's own UI, and another origin's pages change nothing", { timeout: 120_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Nothing the pages ask for leaves this server: Bull Board's page links Google Fonts, which
    // the page's content security policy blocks in the browser, before any network request.
    const offsite: string[] = [];
    const blocked: string[] = [];
    page.on('requestfinished', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) offsite.push(r.url());
    });
    page.on('requestfailed', (r) => {
      if (/csp/i.test(r.failure()?.errorText ?? '')) blocked.push(new URL(r.url()).host);
    });
    await page.goto(`${base}/admin/queues`);
    expect(page.url()).toContain('/login');
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin/queues`);
    await page.waitForLoadState('networkidle');
    expect(offsite).toEqual([]);
    expect(blocked).toContain('fonts.googleapis.com');

    for (const path of ['/form', '/urlencoded', '/fetch']) {
      const other = await context.newPage();
      await other.goto(`${evilBase}${path}`);
      if (path === '/fetch') await other.evaluate(() => (globalThis as unknown as { done: Promise<string> }).done);
      else await other.waitForLoadState('load');
      await other.close();
    }
    // Framed by another origin, the board does not render at all (nothing to click through).
    const framing = await context.newPage();
    await framing.goto(`${evilBase}/frame`);
    await framing.waitForTimeout(2000);
    const frame = framing.frames().find((f) => f !== framing.mainFrame());
    expect(await frame?.locator('button[aria-haspopup=menu]').count().catch(() => 0) ?? 0).toBe(0);
    await framing.close();

    expect(await s.ctx.queues.flush.isPaused()).toBe(false);
    expect(await s.ctx.queues.simulator.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).toEqual({ waiting: 0, active: 0, delayed: 0, prioritized: 0 });

    // The board's own request carries the CSRF token (its HTTP client reads the XSRF-TOKEN cookie).
    await page.goto(`${base}/admin/queues/queue/${QUEUES.flush}`);
    // The queue's actions menu: the last menu button of the page, once the queue's header is drawn.
    await waitFor('the queue page', async () => (await page.locator('button[aria-haspopup=menu]').count()) >= 2, 30_000);
    await page.locator('button[aria-haspopup=menu]').last().click();
    await page.locator('[role=menuitem]', { hasText: 'Pause' }).first().click();
    await page.locator('button', { hasText: 'Confirm' }).click();
    await waitFor('the board to pause the queue', () => s.ctx.queues.flush.isPaused(), 15_000);
    await s.ctx.queues.flush.resume();

    // Sign out from the board's link: the session is gone, the board asks for the token again.
    await page.goto(`${base}/logout`);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/login`);
    await page.goto(`${base}/admin/queues`);
    expect(page.url()).toContain('/login');
  });
});

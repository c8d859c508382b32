// The dashboard in headless Chromium after a short real run: a live burst (the simulator on a
// worker) → Kafka → the stream (Redis state) and the raw loader → flush:metrics → DuckDB → the
// API → the page. Every panel must show data (non-empty chart datasets with values, filled
// tables, the clock and the simulator mode), and each is saved as a screenshot under
// <LOCAL_DIR>/screenshots/ (not committed). SEGPIPE_UPDATE_DOCS_SCREENSHOT=1 also writes the
// whole page to docs/dashboard.png, the README's picture. A Redis database of its own (4).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES } from '../../queues/names.ts';
import { SIMULATE_BURST, type SimulateResult } from '../../queues/simulator.ts';
import { jobResult } from '../../queues/wait.ts';
import { AppContext } from '../../src/context.ts';
import { buildApi } from '../../src/roles/api.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { testRedisDb } from '../helpers/admin-server.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { ownTopicsEnv, settle } from '../helpers/stream.ts';

const TOKEN = 'dashboard-live-token-0123456789';
type Dash = { segpipeDashboard: { refreshes: number; modes?: string[] } };

describe('the dashboard after a short live run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-dash-'));
  const env = {
    ...ownTopicsEnv('dash'),
    ADMIN_TOKEN: TOKEN,
    REDIS_URL: testRedisDb(4),
    DUCKDB_PATH: path.join(dir, 'wh.duckdb'),
    STREAM_GROUP_ID: unique('dash-stream'),
    SIMULATOR_BURST_MODE: 'live',
    SIMULATOR_BURST_EVENTS: '1000',
    SIMULATOR_BURST_EVERY_S: '30',
    // A few minutes of live data: windows and sessions become final one minute behind the newest event.
    ALLOWED_LATENESS_MS: '60000',
    DEDUP_HORIZON_MS: '3600000',
  };
  const ctx = new AppContext(testConfig(env));
  const stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID });
  const shots = path.join(ctx.config.localDir, 'screenshots');
  let browser: Browser;

  beforeAll(async () => {
    await ctx.prepare();
    await ctx.redis.flushdb();
    await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse, QUEUES.simulator]);
    await stream.start();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stream.stop();
    await ctx.redis.flushdb();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows data in every panel, says the data is live, and saves a screenshot of each', { timeout: 300_000 }, async () => {
    const queue = ctx.queues[QUEUES.simulator];
    const job = await queue.add(SIMULATE_BURST, { events: 1000 });
    const burst = await jobResult<SimulateResult>(queue, ctx.queueEvents(QUEUES.simulator), job as Job, 120_000);
    expect(burst.mode).toBe('live');
    expect(burst.events).toBeGreaterThan(500);
    await settle(ctx);
    await flushNow(ctx, { name: FLUSH_METRICS });

    const app = await buildApi(ctx);
    try {
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
      await page.goto(`${address}/dashboard`);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForURL(`${address}/dashboard`);
      await page.selectOption('#range', '12');
      await page.waitForFunction(() => (globalThis as unknown as Dash).segpipeDashboard.refreshes >= 2, undefined, { timeout: 60_000 });

      // Every chart has a dataset with points, every one a number (the open hour's active sessions
      // too: sessions open now, not a gap), and (but for active sessions, which may all have ended)
      // a value above zero: not an empty or all-zero "no data" chart.
      type ChartData = { labels: number; data: Array<number | null> };
      const charts: Record<string, ChartData> = await page.evaluate(() => {
        type Canvas = { id: string };
        const g = globalThis as unknown as {
          Chart: { getChart(c: Canvas): { data: { labels: unknown[]; datasets: Array<{ data: Array<number | null> }> } } };
          document: { querySelectorAll(s: string): Iterable<Canvas> };
        };
        return Object.fromEntries([...g.document.querySelectorAll('canvas')].map((c) => [c.id, { labels: g.Chart.getChart(c).data.labels.length, data: g.Chart.getChart(c).data.datasets[0]!.data }]));
      });
      expect(Object.keys(charts).sort()).toEqual(['active', 'duration', 'sales', 'sliding', 'tumbling']);
      for (const [id, c] of Object.entries(charts)) {
        expect(c.data.length, id).toBeGreaterThan(0);
        expect(c.labels, id).toBe(c.data.length);
        expect(c.data.every((v) => typeof v === 'number' && Number.isFinite(v)), id).toBe(true);
        if (id !== 'active') expect(Math.max(...c.data.map(Number)), id).toBeGreaterThan(0);
      }
      expect(charts.sales!.data).toHaveLength(10);

      // The health strip: every part up, every topic and raw table with numbers, every queue.
      const cells = (table: string) => page.$$eval(`#${table} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      const health = await cells('health');
      expect(health.length).toBeGreaterThanOrEqual(3);
      for (const [part, state] of health) expect(state, part).toBe('up');
      const topics = await cells('topics');
      expect(topics.length).toBeGreaterThanOrEqual(6);
      for (const [topic, messages] of topics.filter(([t]) => !t!.includes('catalog') && !t!.includes('dlq'))) expect(Number(messages), topic).toBeGreaterThan(0);
      const tables = await cells('tables');
      expect(tables.length).toBeGreaterThanOrEqual(6);
      for (const [table, rows, last] of tables.filter(([t]) => !t!.includes('catalog'))) {
        expect(Number(rows), table).toBeGreaterThan(0);
        expect(last, table).toMatch(/^20\d\d-\d\d-\d\d \d\d:\d\d:\d\d$/);
      }
      expect((await cells('queues')).length).toBeGreaterThanOrEqual(3);

      // Today's data, and the page says so from the run log: live, not a fast-forward simulation.
      expect(await page.locator('#clock').textContent()).toMatch(/^event time up to 20\d\d-\d\d-\d\d \d\d:\d\d UTC: live$/);
      expect(await page.evaluate(() => (globalThis as unknown as Dash).segpipeDashboard.modes)).toEqual(['live']);
      expect(await page.locator('#mode').textContent()).toMatch(/^simulator: live \(wall-clock time\), 1 run in the range shown$/);

      fs.mkdirSync(shots, { recursive: true });
      const panels: Array<[string, string]> = [
        ['pipeline', '#pipeline'],
        ['clock', '#clock'],
        ['mode', '#mode'],
        ...Object.keys(charts).map((id): [string, string] => [id, `figure:has(#${id})`]),
      ];
      for (const [name, selector] of panels) {
        const file = path.join(shots, `${name}.png`);
        await page.locator(selector).screenshot({ path: file });
        expect(fs.statSync(file).size, name).toBeGreaterThan(1000);
      }
      const whole = path.join(shots, 'dashboard.png');
      await page.screenshot({ path: whole, fullPage: true });
      if (process.env.SEGPIPE_UPDATE_DOCS_SCREENSHOT === '1') fs.copyFileSync(whole, 'docs/dashboard.png');
    } finally {
      await app.close();
    }
  });
});

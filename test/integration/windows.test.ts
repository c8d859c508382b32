// Windowed metrics against the oracle: 48 simulated hours through the stream, registrations in
// hourly tumbling and 1 h / 15 min sliding windows, sales per movie; out-of-order and late events.
import fs from 'node:fs';
import YAML from 'yaml';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, IHeaders } from 'kafkajs';
import { AppContext } from '../../src/context.ts';
import { ConsumerRegistration, SignIn, SignOut } from '../../src/events/model.ts';
import { EventProducer } from '../../src/events/producer.ts';
import { loadCatalog } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { StreamConsumer } from '../../src/stream/consumer.ts';
import { reconcile } from '../../src/stream/reconcile.ts';
import { warehouseQuery } from '../../queues/warehouse.ts';
import { HOUR, MINUTE } from '../../src/windows/window.ts';
import { FLUSH_METRICS, flushNow } from '../../queues/flush.ts';
import { QUEUES } from '../../queues/names.ts';
import { serveQueues } from '../../src/roles/worker.ts';
import { chromium } from 'playwright-core';
import { buildApi } from '../../src/roles/api.ts';
import { testConfig, unique } from '../helpers/env.ts';
import { oracleDiff, ownTopicsEnv, resetStreamState, settle as settleStream, waitFor, ownedQuery } from '../helpers/stream.ts';

const LATENESS = 10 * MINUTE;
const START = Date.parse('2026-10-01T00:00:00.000Z');

describe('windowed metrics equal the oracle', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-windows-'));
  // Fresh topics for this file: lateness is judged on event-time order within partitions.
  const TOKEN = 'dashboard-token-0123456789';
  const env = { ...ownTopicsEnv('w'), ADMIN_TOKEN: TOKEN, DUCKDB_PATH: path.join(dir, 'wh.duckdb'), STREAM_GROUP_ID: unique('windows'), ALLOWED_LATENESS_MS: String(LATENESS) };
  const ctx = new AppContext(testConfig(env));
  const stream = new StreamConsumer(ctx, { groupId: env.STREAM_GROUP_ID });
  const query = ownedQuery(ctx);
  const deadLetters: Array<Record<string, string>> = [];
  let dlq: Consumer;
  let worker: Worker;
  const producer = new EventProducer(ctx);

  const settle = () => settleStream(ctx, 120_000);
  const metricsNow = () => flushNow(ctx, { name: FLUSH_METRICS });

  beforeAll(async () => {
    await ctx.prepare();
    await resetStreamState(ctx.redis);
    for (const k of await ctx.redis.keys('segpipe:metrics:*')) await ctx.redis.del(k);
    await ctx.queues.flush.obliterate({ force: true });
    worker = (await serveQueues(ctx, [QUEUES.flush, QUEUES.warehouse])).get(QUEUES.flush)!;
    dlq = ctx.kafka.consumer({ groupId: unique('w-dlq-reader') });
    await dlq.connect();
    await dlq.subscribe({ topic: ctx.config.topics.dlq, fromBeginning: true });
    await dlq.run({ eachMessage: async ({ message }) => void deadLetters.push(Object.fromEntries(Object.entries(message.headers as IHeaders).map(([k, v]) => [k, String(v)]))) });
    await stream.start();
  });
  afterAll(async () => {
    await stream.stop();
    await dlq?.disconnect();
    await producer.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a seeded simulation of 48 hours: every final window and every sales total equals the oracle', { timeout: 300_000 }, async () => {
    const { items } = await loadCatalog(ctx.redis);
    const events = [...simulate({ seed: 48, events: 60_000, users: 1000, start: START, arrivalWindowMs: 48 * HOUR, userPrefix: 'w48' }, items)];
    expect(events[events.length - 1]!.time - START).toBeGreaterThan(40 * HOUR);
    await producer.send(events);
    await settle();
    await metricsNow();
    const { diffs, finalWindows, salesItems } = await oracleDiff(ctx);
    expect(diffs).toEqual([]);
    expect(deadLetters).toEqual([]); // produced in event-time order: nothing is late
    expect(finalWindows).toBeGreaterThan(40 + 4 * 40); // tumbling and sliding, most of 48 h
    expect(salesItems).toBeGreaterThan(10);
    const [open] = await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM user_registration_metrics WHERE NOT is_final`);
    expect(open!.n).toBeGreaterThan(0); // the newest windows stay open until the watermark passes
    const [sale] = await query<{ title: string | null }>(`SELECT title FROM movie_sales ORDER BY total_sales DESC LIMIT 1`);
    expect(sale).toBeDefined();
    const [sessions] = await query<{ n: number; avg: number; active: number }>(
      `SELECT CAST(count(*) AS INTEGER) AS n, avg(avg_duration_s) AS avg, CAST(max(active_sessions_at_end) AS INTEGER) AS active FROM session_metrics WHERE is_final`,
    );
    expect(sessions!.n).toBeGreaterThan(30); // hourly session windows, compared with the oracle above
    expect(sessions!.avg).toBeGreaterThan(60); // sessions last minutes, not milliseconds
    expect(sessions!.active).toBeGreaterThan(0);
  });

  it('out of order within the allowed lateness counts the same; beyond it, late_events counts them, the raw tables keep them, and the oracle still equals the stream (sign-ins and sign-outs behind the paired sessions go to the DLQ)', { timeout: 180_000 }, async () => {
    const [{ wm }] = (await query<{ wm: string }>(`SELECT strftime(max(window_end), '%Y-%m-%dT%H:%M:%S.000Z') AS wm FROM user_registration_metrics WHERE is_final`)) as [{ wm: string }];
    const lastFinalEnd = Date.parse(wm);
    const marks = await Promise.all([0, 1, 2].map((p) => ctx.redis.hget(`{p${p}}:maxtime`, ctx.config.topics.consumer_registration)));
    const newest = Math.max(...marks.map(Number));
    expect(newest).toBeGreaterThan(0);
    const id = (n: string) => `${unique('late')}-${n}`;
    // Inside the lateness: behind the newest event, in windows still open. Beyond: in a final window.
    const within = [1, 2, 3].map((i) => new ConsumerRegistration(id(`in${i}`), newest - LATENESS + 60_000 * i, `w-inlate-${i}`, 30, 'a@example.com', 'en'));
    const late = [1, 2].map((i) => new ConsumerRegistration(id(`late${i}`), lastFinalEnd - 2 * HOUR - i * 1000, `w-toolate-${i}`, 30, 'b@example.com', 'en'));
    // Sessions: a sign-in and sign-out behind where the shard's sessions are paired already.
    const pairedLate = [new SignIn(id('in'), START + 2 * HOUR, 'w-late-session'), new SignOut(id('out'), START + 2 * HOUR + 60_000, 'w-late-session')];
    // One user registered twice, the later time first, on either side of a 15-minute boundary:
    // the user counts once, at the earlier time, as in the oracle.
    const boundary = Math.ceil(newest / (15 * MINUTE)) * 15 * MINUTE;
    const twice = [new ConsumerRegistration(id('twice-b'), boundary + 5 * MINUTE, 'w-twice', 30, 'c@example.com', 'en'), new ConsumerRegistration(id('twice-a'), boundary - 4 * MINUTE, 'w-twice', 30, 'c@example.com', 'en')];
    await producer.send([...within, ...late, ...pairedLate, ...twice]);
    // Registrations three hours on, from enough users to reach every partition, carry the
    // watermark past all of the above, so the oracle compares those windows final.
    await producer.send(Array.from({ length: 30 }, (_, i) => new ConsumerRegistration(id(`advance${i}`), boundary + 3 * HOUR, `w-advance-${i}`, 30, 'd@example.com', 'en')));
    await settle();
    await metricsNow();
    // Late registrations are data: counted in late_events, not dead letters (lateness is per window).
    await waitFor('two late dead letters', () => deadLetters.filter((d) => d.reason === 'late').length === 2);
    const lateTopics = deadLetters.filter((d) => d.reason === 'late').map((d) => d.source_topic).sort();
    expect(lateTopics).toEqual([ctx.config.topics.sign_in, ctx.config.topics.sign_out].sort());
    const logged = await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM late_registrations WHERE event_id IN ('${late.map((e) => e.eventId).join("', '")}')`);
    expect(logged[0]!.n).toBe(2);
    const { diffs } = await oracleDiff(ctx);
    expect(diffs).toEqual([]);
    // The raw tables hold every valid event, the late ones too: only the state leaves them out,
    // so an oracle that counted them would differ.
    const rows = await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM raw_consumer_registration WHERE user_id LIKE 'w-inlate-%' OR user_id LIKE 'w-toolate-%'`);
    expect(rows[0]!.n).toBe(5);
    const [lateSessions] = await query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM raw_sign_in WHERE user_id = 'w-late-session'`);
    expect(lateSessions!.n).toBe(1);
    expect((await warehouseQuery(ctx, 'oracleDiff', {}, 120_000)).diffs.length).toBeGreaterThan(0);
    const [lateSum] = await query<{ n: number }>(`SELECT CAST(sum(late_events) AS INTEGER) AS n FROM user_registration_metrics WHERE window_type = 'tumbling_1h'`);
    expect(lateSum!.n).toBe(2);
    const lateRows = await query<{ is_final: boolean }>(`SELECT is_final FROM user_registration_metrics WHERE late_events > 0`);
    expect(lateRows.every((r) => r.is_final)).toBe(true);
    expect((await reconcile(ctx)).ok).toBe(true);
  });

  it('serves the metrics as JSON (400 on bad parameters) and a dashboard that renders them in headless Chromium', { timeout: 120_000 }, async () => {
    const app = await buildApi(ctx);
    const auth = { authorization: `Bearer ${TOKEN}` };
    try {
      expect((await app.inject({ url: '/api/metrics/sessions' })).statusCode).toBe(401);
      const bad = await app.inject({ url: '/api/metrics/registrations?type=weekly', headers: auth });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/type/);
      expect((await app.inject({ url: '/api/metrics/sales/top?limit=0', headers: auth })).statusCode).toBe(400);
      const top = (await app.inject({ url: '/api/metrics/sales/top', headers: auth })).json();
      expect(top.movies).toHaveLength(10);
      expect(top.movies[0].total_sales_cents).toBeGreaterThan(0);
      const reg = (await app.inject({ url: '/api/metrics/registrations?type=sliding_1h_15m&limit=20', headers: auth })).json();
      expect(reg.windows).toHaveLength(20);

      // /metrics has what an alert needs: lag per group and topic, jobs per queue and state, job
      // runs and seconds, state events applied, and every dead-letter reason, at 0 until one comes.
      const prom = (await app.inject({ url: '/metrics' })).body;
      const topic = ctx.config.topics.consumer_registration;
      expect(prom).toMatch(new RegExp(`segpipe_consumer_lag_messages\\{group="loader",topic="${topic}",app="segpipe"\\} \\d+`));
      expect(prom).toMatch(new RegExp(`segpipe_consumer_lag_messages\\{group="stream",topic="${topic}",app="segpipe"\\} \\d+`));
      expect(prom).toMatch(/segpipe_queue_jobs\{queue="flush",state="failed",app="segpipe"\} \d+/);
      expect(prom).toMatch(/segpipe_job_runs_total\{queue="flush",name="flush:metrics",status="completed",app="segpipe"\} [1-9]/);
      expect(prom).toMatch(/segpipe_job_seconds_total\{queue="flush",name="flush:metrics",app="segpipe"\} [0-9.e-]+/);
      expect(prom).toMatch(new RegExp(`segpipe_stream_events_applied_total\\{topic="${topic}",app="segpipe"\\} [1-9]`));
      for (const reason of ["future_timestamp", "too_large", "invalid_value"]) expect(prom).toMatch(new RegExp(`segpipe_dead_letters_total\\{reason="${reason}",app="segpipe"\\} \\d+`));
      // The shipped alert rules and Grafana dashboard parse, and every metric they name is exported.
      const rules = YAML.parse(fs.readFileSync('ops/prometheus/segpipe-alerts.yml', 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }> }> };
      const alerts = rules.groups.flatMap((g) => g.rules);
      expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining(['SegpipeLagGrowing', 'SegpipeStreamStalled', 'SegpipeDeadLetters', 'SegpipeFlushFailing']));
      for (const a of alerts) expect(a.labels.severity && a.annotations.summary, a.alert).toBeTruthy();
      const grafana = JSON.parse(fs.readFileSync('ops/grafana/segpipe-dashboard.json', 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
      const exprs = [...alerts.map((a) => a.expr), ...grafana.panels.flatMap((p) => p.targets.map((t) => t.expr))];
      const named = new Set(exprs.flatMap((e) => e.match(/\bsegpipe_[a-z0-9_]+/g) ?? []));
      expect(named.size).toBeGreaterThan(5);
      for (const name of named) expect(prom, name).toContain(`# TYPE ${name} `);

      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
        await page.goto(`${address}/dashboard`);
        expect(page.url()).toContain('/login'); // the token is asked for first
        await page.fill('#token', TOKEN);
        await page.click('button[type=submit]');
        await page.waitForURL(`${address}/dashboard`);
        await page.waitForFunction(() => (globalThis as unknown as { segpipeDashboard: { refreshes: number } }).segpipeDashboard.refreshes >= 1, undefined, { timeout: 30_000 });
        const points = await page.evaluate(() => (globalThis as unknown as { segpipeDashboard: { points: Record<string, number> } }).segpipeDashboard.points);
        expect(points).toMatchObject({ tumbling: expect.any(Number), sliding: expect.any(Number), active: expect.any(Number), duration: expect.any(Number), sales: 10 });
        for (const n of Object.values(points)) expect(n).toBeGreaterThan(0);
        expect(await page.locator('canvas').count()).toBe(5);
        // The pipeline's health beside the data: every part, every topic's lag, rows per table, jobs per queue.
        expect(await page.locator('#health tbody tr').count()).toBeGreaterThanOrEqual(3);
        expect(await page.locator('#topics tbody tr').count()).toBeGreaterThanOrEqual(6);
        expect(await page.locator('#tables tbody tr').count()).toBeGreaterThanOrEqual(6);
        expect(await page.locator('#queues tbody tr').count()).toBeGreaterThanOrEqual(3);
        // These windows are in October 2026, weeks behind now: the page says the event time is not live.
        // The range picker: 12 hours shows 12 tumbling windows, 48 sliding ones.
        const before = await page.evaluate(() => (globalThis as unknown as { segpipeDashboard: { refreshes: number } }).segpipeDashboard.refreshes);
        await page.selectOption('#range', '12');
        await page.waitForFunction((n) => (globalThis as unknown as { segpipeDashboard: { refreshes: number } }).segpipeDashboard.refreshes > n, before, { timeout: 30_000 });
        expect(await page.evaluate(() => (globalThis as unknown as { segpipeDashboard: { points: Record<string, number> } }).segpipeDashboard.points)).toMatchObject({ tumbling: 12, sliding: 48 });
        await page.selectOption('#range', '72');
        expect(await page.locator('#clock').textContent()).toMatch(/^event time up to 20\d\d-\d\d-\d\d \d\d:\d\d UTC: [0-9.]+ days behind now/);
        fs.mkdirSync('test-artifacts', { recursive: true });
        await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });
        expect(fs.statSync('test-artifacts/dashboard.png').size).toBeGreaterThan(20_000);
      } finally {
        await browser.close();
      }
    } finally {
      await app.close();
    }
  });
});

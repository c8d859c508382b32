// The dashboard: one static page and its script, plus Chart.js from node_modules. No build step.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

const DIR = path.join(import.meta.dirname, '..', 'dashboard');
// The UMD build sits next to the package's CommonJS entry (it is not in the exports map).
const CHART_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  // Read once at start: the files ship with the package and do not change while it runs.
  const send = (file: string, type: string) => {
    const body = fs.readFileSync(file);
    return async (_req: unknown, reply: { type(t: string): { send(b: Buffer): unknown } }) => reply.type(type).send(body);
  };
  // Mounted at /dashboard (inside the guarded scope).
  app.get('/', send(path.join(DIR, 'index.html'), 'text/html; charset=utf-8'));
  app.get('/dashboard.js', send(path.join(DIR, 'dashboard.js'), 'text/javascript; charset=utf-8'));
  app.get('/chart.umd.js', send(CHART_JS, 'text/javascript; charset=utf-8'));
}

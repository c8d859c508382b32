// /health: each dependency up or down with its latency; 503 when any is down, so a load
// balancer or `curl -f` can act on it.
import type { FastifyInstance } from 'fastify';

export type Probe = () => Promise<unknown>;

const PROBE_TIMEOUT_MS = 2000;

async function runProbe(probe: Probe): Promise<{ status: 'up' | 'down'; latency_ms: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: 'down', latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function healthRoutes(app: FastifyInstance, opts: { probes: Record<string, Probe> }): Promise<void> {
  const entry = { type: 'object', properties: { status: { type: 'string' }, latency_ms: { type: 'number' }, error: { type: 'string' } } };
  app.get(
    '/health',
    {
      schema: {
        response: {
          '2xx': { type: 'object', properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: entry } } },
          503: { type: 'object', properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: entry } } },
        },
      },
    },
    async (_req, reply) => {
      const names = Object.keys(opts.probes);
      const results = await Promise.all(names.map((n) => runProbe(opts.probes[n]!)));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
      const up = results.every((r) => r.status === 'up');
      return reply.code(up ? 200 : 503).send({ status: up ? 'up' : 'down', checks });
    },
  );
}

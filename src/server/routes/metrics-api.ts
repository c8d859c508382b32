// /api/metrics/*: the warehouse metrics as JSON, read through the process that owns the
// warehouse (named warehouse:query jobs). They feed the dashboard and anyone else who wants them.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { warehouseQuery } from '../../../queues/warehouse.ts';
import { REGISTRATION_WINDOWS } from '../../windows/window.ts';
import { recentRuns } from '../../simulator/run-log.ts';
import { shardCount, shardKeys } from '../../state/scripts.ts';

const limit = (max: number, def: number) => ({ type: 'integer', minimum: 1, maximum: max, default: def });

export const metricsApiRoutes = (ctx: AppContext) =>
  async function metricsApi(app: FastifyInstance): Promise<void> {
    app.get(
      '/metrics/registrations',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: {
              type: { type: 'string', enum: REGISTRATION_WINDOWS.map((w) => w.type) },
              limit: limit(2000, 200),
              to: { type: 'string', format: 'date-time', description: 'the windows ending by this time; default the newest window' },
            },
          },
        },
      },
      async (req) => {
        const { type, limit: n, to } = req.query as { type: string; limit: number; to?: string };
        const toMs = to === undefined ? undefined : Date.parse(to);
        if (toMs !== undefined && !(toMs >= 0 && toMs < 253_402_300_800_000)) throw Object.assign(new Error('to must be a time from 1970 to 9999'), { statusCode: 400 });
        // Every window of the range, the empty ones filled with 0 (they are stored sparse).
        return { type, windows: await warehouseQuery(ctx, 'registrationWindows', { type, limit: n, ...(toMs === undefined ? {} : { to: toMs }) }) };
      },
    );

    app.get(
      '/metrics/sessions',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(2000, 200) } } } },
      async (req) => ({ windows: await warehouseQuery(ctx, 'sessionWindows', { limit: (req.query as { limit: number }).limit }), open_now: await openSessionsNow(ctx) }),
    );

    // Which clock the shown events follow: the newest simulator runs, each with its mode and
    // event-time span, so the dashboard labels what it shows live or fast-forward from the data.
    app.get(
      '/metrics/simulator',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(1000, 200) } } } },
      async (req) => ({
        runs: (await recentRuns(ctx.redis, (req.query as { limit: number }).limit)).map((r) => ({
          mode: r.mode ?? 'fast-forward',
          user_prefix: r.userPrefix,
          events: r.events,
          first_event_at: typeof r.firstTime === 'number' ? new Date(r.firstTime).toISOString() : null,
          last_event_at: typeof r.lastTime === 'number' ? new Date(r.lastTime).toISOString() : null,
          finished_at: new Date(r.finishedAt).toISOString(),
        })),
      }),
    );

    app.get(
      '/metrics/sales/top',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(100, 10) } } } },
      async (req) => ({ movies: await warehouseQuery(ctx, 'topSales', { limit: (req.query as { limit: number }).limit }) }),
    );
  };

/**
 * Sessions open where the shards' pairing has reached (the slowest shard's boundary), from Redis:
 * an hour's active_sessions_at_end is known only once the hour is over, so a live dashboard's
 * current hour shows these instead of nothing.
 */
async function openSessionsNow(ctx: AppContext): Promise<{ count: number; at: string | null }> {
  // One read per shard: each is its own Redis Cluster slot.
  const shards = Array.from({ length: shardCount(ctx.config) }, (_, p) => shardKeys(p));
  const [counts, done] = await Promise.all([Promise.all(shards.map((k) => ctx.redis.hlen(k.openSessions))), Promise.all(shards.map((k) => ctx.redis.hget(k.sessionTotals, 'done')))]);
  const boundaries = done.filter((d): d is string => d !== null).map(Number).filter(Number.isFinite);
  return { count: counts.reduce((a, b) => a + b, 0), at: boundaries.length ? new Date(Math.min(...boundaries)).toISOString() : null };
}

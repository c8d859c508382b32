// /api/metrics/*: the warehouse metrics as JSON, read through the process that owns the
// warehouse (named warehouse:query jobs). They feed the dashboard and anyone else who wants them.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { warehouseQuery } from '../../../queues/warehouse.ts';
import { REGISTRATION_WINDOWS } from '../../windows/window.ts';

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
      async (req) => ({ windows: await warehouseQuery(ctx, 'sessionWindows', { limit: (req.query as { limit: number }).limit }) }),
    );

    app.get(
      '/metrics/sales/top',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(100, 10) } } } },
      async (req) => ({ movies: await warehouseQuery(ctx, 'topSales', { limit: (req.query as { limit: number }).limit }) }),
    );
  };

// /api/metrics/*: the warehouse metrics as JSON, read through the process that owns the
// warehouse (warehouse:query). They feed the dashboard and anyone else who wants them. Plain SQL
// that DuckDB and Snowflake both run; each warehouse's query() gives timestamps as ISO 8601 UTC.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { warehouseQuery } from '../../../queues/warehouse.ts';
import { REGISTRATION_WINDOWS } from '../../windows/window.ts';

const limit = (max: number, def: number) => ({ type: 'integer', minimum: 1, maximum: max, default: def });

export const metricsApiRoutes = (ctx: AppContext) =>
  async function metricsApi(app: FastifyInstance): Promise<void> {
    const query = <T>(sql: string) => warehouseQuery<T>(ctx, sql);

    app.get(
      '/metrics/registrations',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: { type: { type: 'string', enum: REGISTRATION_WINDOWS.map((w) => w.type) }, limit: limit(2000, 200) },
          },
        },
      },
      async (req) => {
        const { type, limit: n } = req.query as { type: string; limit: number };
        const rows = await query(
          `SELECT window_start, window_end, registration_count, late_events, is_final
           FROM user_registration_metrics WHERE window_type = '${type}' ORDER BY window_start DESC LIMIT ${n}`,
        );
        return { type, windows: rows.reverse() };
      },
    );

    app.get(
      '/metrics/sessions',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(2000, 200) } } } },
      async (req) => {
        const { limit: n } = req.query as { limit: number };
        const rows = await query(
          `SELECT window_start, sessions_closed, avg_duration_s, active_sessions_at_end, orphan_sign_outs, is_final
           FROM session_metrics ORDER BY window_start DESC LIMIT ${n}`,
        );
        return { windows: rows.reverse() };
      },
    );

    app.get(
      '/metrics/sales/top',
      { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: limit(100, 10) } } } },
      async (req) => {
        const { limit: n } = req.query as { limit: number };
        const rows = await query(`SELECT movie_id, title, total_sales AS total_sales_cents, currency FROM movie_sales ORDER BY total_sales DESC, movie_id LIMIT ${n}`);
        return { movies: rows };
      },
    );
  };

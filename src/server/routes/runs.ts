// /api/runs: trigger pipeline runs and read their state. Runs are BullMQ jobs, so Bull Board
// shows the same jobs with their progress.
import type { FastifyInstance } from 'fastify';
import { MAX_SEED } from '../../config.ts';
import { DataPathError, pinDataFile } from '../../movies/data-path.ts';
import { FileChangedError } from '../../movies/pinned-file.ts';
import type { AppContext } from '../../context.ts';
import { enqueueIngest, enqueueScan } from '../../../queues/movies.ts';
import { QUEUES, type QueueName } from '../../../queues/names.ts';
import { enqueueRun, runParamsProblems } from '../../../queues/simulator.ts';
import { CANCELLABLE_QUEUES, cancelJob } from '../../../queues/cancel.ts';

/** Job states a listing reads, and the queues whose jobs are runs a user starts (flush and query jobs are the pipeline's own). */
const RUN_STATES = ['active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed'] as const;
type RunState = (typeof RUN_STATES)[number];
const RUN_QUEUES: QueueName[] = [QUEUES.simulator, QUEUES.movies];

const badRequest = (message: string) => Object.assign(new Error(message), { statusCode: 400 });

const jobReply = {
  type: 'object',
  properties: { jobId: { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' } },
};

export const runsRoutes = (ctx: AppContext) =>
  async function runs(app: FastifyInstance): Promise<void> {
    app.post(
      '/runs/movies',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            properties: { path: { type: 'string', minLength: 1, maxLength: 4096, description: 'A Movies.txt file inside DATA_DIR (relative to it, or absolute); without it, DATA_DIR/incoming/ is scanned' } },
          },
          response: { 202: jobReply },
        },
      },
      async (req, reply) => {
        const body = (req.body ?? {}) as { path?: string };
        if (body.path === undefined) {
          const job = await enqueueScan(ctx.queues.movies, 'api');
          return reply.code(202).send({ jobId: job.id, queue: QUEUES.movies, name: job.name });
        }
        let pinned: ReturnType<typeof pinDataFile>;
        try {
          pinned = pinDataFile(ctx.config.movies.dataDir, body.path);
        } catch (err) {
          if (err instanceof DataPathError) throw badRequest(err.message);
          throw err;
        }
        let jobId: string;
        try {
          ({ jobId } = await enqueueIngest(ctx.queues.movies, pinned.path, pinned.identity));
        } catch (err) {
          if (err instanceof FileChangedError) throw badRequest(`path ${JSON.stringify(body.path)}: ${err.message}`);
          throw err;
        }
        return reply.code(202).send({ jobId, queue: QUEUES.movies, name: 'movies:ingest' });
      },
    );

    app.post(
      '/runs/simulator',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['events'],
            properties: {
              events: { type: 'integer', minimum: 1, maximum: ctx.config.simulator.maxEvents, description: 'events to produce (at most SIMULATOR_MAX_EVENTS)' },
              seed: { type: 'integer', minimum: 0, maximum: MAX_SEED },
              users: { type: 'integer', minimum: 1, maximum: 10_000_000 },
              speed: { type: 'number', exclusiveMinimum: 0, description: 'simulated seconds per real second; absent = as fast as possible' },
              rate: { type: 'number', minimum: ctx.config.simulator.minRate, description: 'at most this many events per second (at least SIMULATOR_MIN_RATE; events / rate at most SIMULATOR_MAX_RUN_S)' },
              start: { type: 'string', format: 'date-time', description: 'simulated start; default now, or where the last run ended if that is later' },
              userPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,40}$', description: 'user ids are <userPrefix>-<n>; default r<jobId>, unique per run. Same seed, start, parameters and prefix = the same events' },
            },
          },
          response: { 202: jobReply },
        },
      },
      async (req, reply) => {
        const b = req.body as { events: number; seed?: number; users?: number; speed?: number; rate?: number; start?: string; userPrefix?: string };
        const params = {
          events: b.events,
          seed: b.seed ?? ctx.config.simulator.seed,
          users: b.users,
          speed: b.speed,
          rate: b.rate,
          start: b.start === undefined ? undefined : Date.parse(b.start),
          userPrefix: b.userPrefix,
        };
        const problems = runParamsProblems(params, ctx.config.simulator);
        if (problems.length > 0) throw badRequest(problems.join('; '));
        const job = await enqueueRun(ctx.queues.simulator, params);
        return reply.code(202).send({ jobId: job.id, queue: QUEUES.simulator, name: job.name });
      },
    );

    // Newest first, each with its state: what Bull Board shows, for a script or an operator.
    const listQuery = {
      type: 'object',
      additionalProperties: false,
      properties: {
        state: { type: 'string', enum: [...RUN_STATES], description: 'only jobs in this state' },
        limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      },
    };
    const list = async (queues: QueueName[], q: { state?: RunState; limit: number }) => {
      const states = q.state ? [q.state] : RUN_STATES;
      const found: Array<Record<string, unknown> & { timestamp: number }> = [];
      for (const queue of queues) {
        for (const state of states) {
          for (const job of await ctx.queues[queue].getJobs([state], 0, q.limit - 1, false)) {
            if (!job) continue;
            found.push({ queue, id: job.id, name: job.name, state, progress: job.progress, attemptsMade: job.attemptsMade, failedReason: job.failedReason ?? null, timestamp: job.timestamp, finishedOn: job.finishedOn ?? null });
          }
        }
      }
      return { runs: found.sort((a, b) => b.timestamp - a.timestamp).slice(0, q.limit) };
    };
    app.get('/runs', { schema: { querystring: listQuery } }, async (req) => list(RUN_QUEUES, req.query as { state?: RunState; limit: number }));
    app.get(
      '/runs/:queue',
      { schema: { params: { type: 'object', required: ['queue'], properties: { queue: { type: 'string', enum: Object.values(QUEUES) } } }, querystring: listQuery } },
      async (req) => list([(req.params as { queue: QueueName }).queue], req.query as { state?: RunState; limit: number }),
    );

    app.get(
      '/runs/:queue/:id',
      {
        schema: {
          params: {
            type: 'object',
            required: ['queue', 'id'],
            properties: { queue: { type: 'string', enum: Object.values(QUEUES) }, id: { type: 'string', minLength: 1 } },
          },
        },
      },
      async (req, reply) => {
        const { queue, id } = req.params as { queue: QueueName; id: string };
        // State first, then the job: read the other way round, a job finishing in between
        // would show as completed without its result.
        const state = await ctx.queues[queue].getJobState(id);
        const job = await ctx.queues[queue].getJob(id);
        if (!job) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no job ${id} on queue ${queue}` });
        return {
          id: job.id,
          name: job.name,
          state,
          progress: job.progress,
          attemptsMade: job.attemptsMade,
          result: job.returnvalue ?? null,
          failedReason: job.failedReason ?? null,
          data: job.data,
          timestamp: job.timestamp,
          finishedOn: job.finishedOn ?? null,
        };
      },
    );

    app.delete(
      '/runs/:queue/:id',
      {
        schema: {
          params: {
            type: 'object',
            required: ['queue', 'id'],
            properties: { queue: { type: 'string', enum: CANCELLABLE_QUEUES }, id: { type: 'string', minLength: 1, maxLength: 200 } },
          },
        },
      },
      async (req, reply) => {
        const { queue, id } = req.params as { queue: QueueName; id: string };
        const outcome = await cancelJob(ctx.redis, ctx.queues[queue], id, `DELETE /api/runs/${queue}/${id} at ${new Date().toISOString()}`);
        if (outcome.state === 'unknown') return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no job ${id} on queue ${queue}` });
        if (outcome.state === 'finished') {
          return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `job ${id} on queue ${queue} has already ${outcome.finalState === 'completed' ? 'completed' : 'failed'}` });
        }
        // Removed: it never ran. Cancelling: its worker stops it within seconds; GET shows it failed, cancelled.
        return reply.code(outcome.state === 'removed' ? 200 : 202).send({ id, queue, state: outcome.state });
      },
    );
  };

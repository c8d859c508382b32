// BullMQ processor for the simulator queue. A burst continues the simulated world: its seed and
// user prefix come from a burst counter in Redis, and it starts on the world clock (where the
// last run's events ended, never behind the wall clock), so bursts never repeat users or ids.
import { UnrecoverableError, type Job } from 'bullmq';
import { MAX_SEED } from '../src/config.ts';
import type { AppContext } from '../src/context.ts';
import { runSimulation, worldClock } from '../src/simulator/run.ts';
import { SIMULATE_BURST, SIMULATE_RUN, runParamsProblems, type SimulateBurstData, type SimulateResult, type SimulateRunData } from '../queues/simulator.ts';
import type { RunResult } from '../src/simulator/run.ts';
import { QUEUES } from '../queues/names.ts';
import { reportProgress } from './progress.ts';
import type { QueueProcessor } from './types.ts';

const BURST_COUNTER = 'segpipe:simulator:bursts';

export function createSimulatorProcessor(ctx: AppContext) {

  const limits = ctx.config.simulator;
  const control = (signal: AbortSignal) => ({ signal, maxDurationMs: limits.maxRunSeconds * 1000 });
  /** A run that stopped early fails, saying why; the events it sent stay in Kafka. */
  const finished = (result: RunResult, requested: number, signal: AbortSignal) => {
    if (result.stopped === 'cancelled') throw new UnrecoverableError(`cancelled (${String(signal.reason)}) after ${result.events} of ${requested} events`);
    if (result.stopped === 'max_duration') {
      throw new UnrecoverableError(`stopped after ${result.events} of ${requested} events at the longest a run may last (SIMULATOR_MAX_RUN_S=${limits.maxRunSeconds} s)`);
    }
    return result;
  };

  return async (job: Job, signal: AbortSignal): Promise<SimulateResult> => {
    const progress = (total: number) => (sent: number) => reportProgress(job, { sent, total, percent: Math.round((100 * sent) / total) });
    if (job.name === SIMULATE_BURST) {
      const { events } = job.data as SimulateBurstData;
      const problems = runParamsProblems({ events, seed: 0 }, limits);
      if (problems.length > 0) throw new UnrecoverableError(`refused: ${problems.join('; ')}`);
      const burst = await ctx.redis.incr(BURST_COUNTER);
      const start = await worldClock(ctx);
      const seed = (ctx.config.simulator.seed + burst * 7919) % (MAX_SEED + 1);
      const result = await runSimulation(ctx, { events, seed, start, userPrefix: `b${burst}` }, progress(events), control(signal));
      return { ...finished(result, events, signal), seed, start: new Date(start).toISOString() };
    }
    if (job.name === SIMULATE_RUN) {
      const params = job.data as SimulateRunData;
      const problems = runParamsProblems(params, limits);
      if (problems.length > 0) throw new UnrecoverableError(`refused: ${problems.join('; ')}`);
      const start = params.start ?? (await worldClock(ctx));
      const result = await runSimulation(ctx, { ...params, start, userPrefix: params.userPrefix ?? `r${job.id}` }, progress(params.events), control(signal));
      return { ...finished(result, params.events, signal), seed: params.seed, start: new Date(start).toISOString() };
    }
    throw new UnrecoverableError(`unknown job ${job.name} on the simulator queue`);
  };
}

// Two runs at once would only compete for the same lane threads and connections.
export const simulatorProcessor: QueueProcessor = { queue: QUEUES.simulator, concurrency: 1, create: createSimulatorProcessor };

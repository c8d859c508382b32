// BullMQ processor for the simulator queue. A burst continues the simulated world: its seed and
// user prefix come from a burst counter in Redis, and it starts on the world clock (where the
// last run's events ended, never behind the wall clock), so bursts never repeat users or ids.
import type { Job } from 'bullmq';
import { MAX_SEED } from '../src/config.ts';
import type { AppContext } from '../src/context.ts';
import { EventProducer } from '../src/events/producer.ts';
import { runSimulation, worldClock } from '../src/simulator/run.ts';
import { SIMULATE_BURST, SIMULATE_RUN, type SimulateBurstData, type SimulateResult, type SimulateRunData } from '../queues/simulator.ts';
import { QUEUES } from '../queues/names.ts';
import { reportProgress } from './progress.ts';
import type { QueueProcessor } from './types.ts';

const BURST_COUNTER = 'segpipe:simulator:bursts';

export function createSimulatorProcessor(ctx: AppContext) {
  const producer = new EventProducer(ctx);
  ctx.onClose(() => producer.close());

  return async (job: Job): Promise<SimulateResult> => {
    const progress = (total: number) => (sent: number) => reportProgress(job, { sent, total, percent: Math.round((100 * sent) / total) });
    if (job.name === SIMULATE_BURST) {
      const { events } = job.data as SimulateBurstData;
      const burst = await ctx.redis.incr(BURST_COUNTER);
      const start = await worldClock(ctx);
      const seed = (ctx.config.simulator.seed + burst * 7919) % (MAX_SEED + 1);
      const result = await runSimulation(ctx, producer, { events, seed, start, userPrefix: `b${burst}` }, progress(events));
      return { ...result, seed, start: new Date(start).toISOString() };
    }
    if (job.name === SIMULATE_RUN) {
      const params = job.data as SimulateRunData;
      const start = params.start ?? (await worldClock(ctx));
      const result = await runSimulation(ctx, producer, { ...params, start, userPrefix: params.userPrefix ?? `r${job.id}` }, progress(params.events));
      return { ...result, seed: params.seed, start: new Date(start).toISOString() };
    }
    throw new Error(`unknown job ${job.name} on the simulator queue`);
  };
}

// Two bursts at once would only compete for the same producer connection.
export const simulatorProcessor: QueueProcessor = { queue: QUEUES.simulator, concurrency: 1, create: createSimulatorProcessor };

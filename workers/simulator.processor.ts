// BullMQ processor for the simulator queue. A burst continues the simulated world: its seed and
// user prefix come from a burst counter in Redis, and its clock starts where the last burst's
// events ended (never behind the wall clock), so bursts never repeat users or event ids.
import type { Job } from 'bullmq';
import { MAX_SEED } from '../src/config.ts';
import type { AppContext } from '../src/context.ts';
import { EventProducer } from '../src/events/producer.ts';
import { runSimulation } from '../src/simulator/run.ts';
import { SIMULATE_BURST, SIMULATE_RUN, type SimulateBurstData, type SimulateResult, type SimulateRunData } from '../queues/simulator.ts';
import { QUEUES } from '../queues/names.ts';
import { reportProgress } from './progress.ts';
import type { QueueProcessor } from './types.ts';

const BURST_COUNTER = 'segpipe:simulator:bursts';
const BURST_CLOCK = 'segpipe:simulator:clock';

export function createSimulatorProcessor(ctx: AppContext) {
  const producer = new EventProducer(ctx);
  ctx.onClose(() => producer.close());

  return async (job: Job): Promise<SimulateResult> => {
    const progress = (total: number) => (sent: number) => reportProgress(job, { sent, total, percent: Math.round((100 * sent) / total) });
    if (job.name === SIMULATE_BURST) {
      const { events } = job.data as SimulateBurstData;
      const burst = await ctx.redis.incr(BURST_COUNTER);
      const clock = Number((await ctx.redis.get(BURST_CLOCK)) ?? 0);
      const start = Math.max(clock, Date.now() - 60_000);
      const seed = (ctx.config.simulator.seed + burst * 7919) % (MAX_SEED + 1);
      const result = await runSimulation(ctx, producer, { events, seed, start, userPrefix: `b${burst}` }, progress(events));
      if (result.lastEventAt) await ctx.redis.set(BURST_CLOCK, String(Date.parse(result.lastEventAt) + 1));
      return { ...result, seed, start: new Date(start).toISOString() };
    }
    if (job.name === SIMULATE_RUN) {
      const params = job.data as SimulateRunData;
      const start = params.start ?? Date.now();
      const result = await runSimulation(ctx, producer, { ...params, start, userPrefix: params.userPrefix ?? `r${job.id}` }, progress(params.events));
      return { ...result, seed: params.seed, start: new Date(start).toISOString() };
    }
    throw new Error(`unknown job ${job.name} on the simulator queue`);
  };
}

// Two bursts at once would only compete for the same producer connection.
export const simulatorProcessor: QueueProcessor = { queue: QUEUES.simulator, concurrency: 1, create: createSimulatorProcessor };

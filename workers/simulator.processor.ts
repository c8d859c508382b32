// BullMQ processor for the simulator queue. A live burst (the default, SIMULATOR_BURST_MODE=live)
// produces the live world from the last burst to now (src/simulator/live.ts). A fast-forward burst continues the simulated world: its seed and
// user prefix come from a burst counter in Redis, and it starts on the world clock (where the
// last run's events ended, never behind the wall clock), so bursts never repeat users or ids.
// What a job's first attempt chose (burst number, start) is kept in the job, so a retry (its
// worker killed, a send failed) runs the same events and resumes from its checkpoint.
import { UnrecoverableError, type Job } from 'bullmq';
import { MAX_SEED } from '../src/config.ts';
import type { AppContext } from '../src/context.ts';
import { runSimulation, worldClock, type RunParams, type RunResult } from '../src/simulator/run.ts';
import { SIMULATE_BURST, SIMULATE_RUN, runParamsProblems, type FirstAttempt, type SimulateBurstData, type SimulateResult, type SimulateRunData } from '../queues/simulator.ts';
import { QUEUES } from '../queues/names.ts';
import { claimLiveSpan, liveClaimProblem, type LiveClaim } from '../src/simulator/live-state.ts';
import { reportProgress } from './progress.ts';
import type { QueueProcessor } from './types.ts';

const BURST_COUNTER = 'segpipe:simulator:bursts';

export function createSimulatorProcessor(ctx: AppContext) {
  const limits = ctx.config.simulator;

  /** A job's parameters are checked again here: a job can be written straight into Redis. */
  const refuseUnless = (problems: string[]) => {
    if (problems.length > 0) throw new UnrecoverableError(`refused: ${problems.join('; ')}`);
  };

  return async (job: Job, signal: AbortSignal): Promise<SimulateResult> => {
    /** A run that stopped early fails, saying why; the events it sent stay in Kafka. */
    const run = async (params: RunParams): Promise<RunResult> => {
      // A live burst's count follows from its span: the world's rate gives the expected total.
      const total = params.live ? Math.max(1, Math.round((params.live.world.rate * (params.live.span.to - params.live.span.from)) / 1000)) : params.events;
      const result = await runSimulation(ctx, params, (sent) => reportProgress(job, { sent, total, percent: Math.min(params.live ? 99 : 100, Math.round((100 * sent) / total)) }), {
        signal,
        resumeKey: `${job.queueName}:${job.id}`,
      });
      // The last progress report may have been skipped or still be on its way: a finished run says 100 %.
      if (!result.stopped) await job.updateProgress({ sent: result.events, total: params.live ? result.events : params.events, percent: 100 }).catch(() => undefined);
      const done = params.live ? `after ${result.events} events` : `after ${result.events} of ${params.events} events`;
      if (result.stopped === 'cancelled') throw new UnrecoverableError(`cancelled (${String(signal.reason)}) ${done}`);
      if (result.stopped === 'max_duration') throw new UnrecoverableError(`stopped ${done} at the longest a run may last (SIMULATOR_MAX_RUN_S=${limits.maxRunSeconds} s)`);
      return result;
    };
    /** The first attempt's choices, kept in the job before anything is sent. */
    const firstAttempt = async (choose: () => Promise<FirstAttempt>): Promise<FirstAttempt> => {
      const kept = (job.data as { firstAttempt?: FirstAttempt }).firstAttempt;
      if (kept && Number.isSafeInteger(kept.start) && Number.isSafeInteger(kept.burst ?? 0)) return kept;
      const chosen = await choose();
      await job.updateData({ ...job.data, firstAttempt: chosen });
      return chosen;
    };
    if (job.name === SIMULATE_BURST) {
      const { events } = job.data as SimulateBurstData;
      refuseUnless(runParamsProblems({ events, seed: 0 }, limits));
      if (limits.burstMode === 'live') return liveBurst(job, run);
      const { burst = 0, start } = await firstAttempt(async () => ({ burst: await ctx.redis.incr(BURST_COUNTER), start: await worldClock(ctx) }));
      const seed = (ctx.config.simulator.seed + burst * 7919) % (MAX_SEED + 1);
      return { ...(await run({ events, seed, start, userPrefix: `b${burst}` })), seed, start: new Date(start).toISOString(), mode: 'fast-forward' };
    }
    if (job.name === SIMULATE_RUN) {
      const { firstAttempt: _, ...params } = job.data as SimulateRunData & { firstAttempt?: FirstAttempt };
      refuseUnless(runParamsProblems(params, limits));
      const { start } = await firstAttempt(async () => ({ start: params.start ?? (await worldClock(ctx)) }));
      return { ...(await run({ ...params, start, userPrefix: params.userPrefix ?? `r${job.id}` })), seed: params.seed, start: new Date(start).toISOString(), mode: 'fast-forward' };
    }
    throw new UnrecoverableError(`unknown job ${job.name} on the simulator queue`);
  };

  /**
   * A live burst: the live world from where the last burst ended to now. The span is claimed
   * once and kept in the job (checked again on a retry: the data may be forged), so a retry
   * produces the same events and resumes from its checkpoint.
   */
  async function liveBurst(job: Job, run: (params: RunParams) => Promise<RunResult>): Promise<SimulateResult> {
    const kept = (job.data as { live?: LiveClaim }).live;
    let claim: LiveClaim | null;
    if (kept !== undefined) {
      refuseUnless([liveClaimProblem(kept, limits)].filter((p): p is string => p !== null));
      claim = kept;
    } else {
      claim = await claimLiveSpan(ctx);
      if (claim) await job.updateData({ ...job.data, live: claim });
    }
    const iso = (t: number) => new Date(t).toISOString();
    if (!claim) return { events: 0, durationMs: 0, eventsPerSecond: 0, firstEventAt: null, lastEventAt: null, catalogItems: 0, catalogSource: '', resumed: 0, stopped: null, seed: limits.seed, start: iso(Date.now()), mode: 'live' };
    const result = await run({ events: limits.maxEvents, seed: claim.world.seed, live: claim });
    return { ...result, seed: claim.world.seed, start: iso(claim.span.from), mode: 'live', world: claim.world.prefix, until: iso(claim.span.to) };
  }
}

// Two runs at once would only compete for the same lane threads and connections.
// A short lock: a killed worker's run is retried (and resumes) within seconds, not half a minute.
export const simulatorProcessor: QueueProcessor = { queue: QUEUES.simulator, concurrency: 1, lockMs: 15_000, create: createSimulatorProcessor };

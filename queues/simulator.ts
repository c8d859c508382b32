// Simulator jobs: `simulate:burst` (repeatable every N seconds: by default the live world from
// the last burst to now; with SIMULATOR_BURST_MODE=fast-forward, M events of a simulated day) and `simulate:run` (one run with explicit parameters, from REST).
import type { Queue } from 'bullmq';
import { MAX_SEED, type Config } from '../src/config.ts';
import type { RunParams, RunResult } from '../src/simulator/run.ts';
import { speedProblem } from '../src/simulator/pace-check.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';

export const SIMULATE_BURST = 'simulate:burst';
export const SIMULATE_RUN = 'simulate:run';

export interface SimulateBurstData {
  events: number;
}
export type SimulateRunData = RunParams;
/** What a job's first attempt chose, kept in its data so a retry runs the same events. */
export interface FirstAttempt {
  start: number;
  burst?: number;
}
/** `mode` says which clock the events follow: the wall clock (a live burst: `world`, up to `until`) or a simulated one. */
export type SimulateResult = RunResult & { seed: number; start: string; mode: 'live' | 'fast-forward'; world?: string; until?: string };

export const simulatorSchedules = (config: Config): Schedule[] =>
  config.simulator.burstEvents > 0
    ? [{ id: SIMULATE_BURST, queue: QUEUES.simulator, repeat: { every: config.simulator.burstEverySeconds * 1000 }, data: { events: config.simulator.burstEvents } }]
    : [];

export function enqueueRun(queue: Queue, params: SimulateRunData) {
  // A failed attempt (a send that failed, a worker that died) is retried; it resumes from its checkpoint.
  return queue.add(SIMULATE_RUN, params, { attempts: 3, backoff: { type: 'exponential', delay: 5_000 }, removeOnComplete: { count: 500 }, removeOnFail: { count: 500 } });
}

const START_MIN = Date.UTC(2000, 0, 1);

/**
 * Why a run may not start at `start`, or null. Event time far from now would become the stream's
 * watermark and the world clock; more than MAX_EVENT_TIME_SKEW_MS ahead, its events are dead
 * letters (future_timestamp).
 */
export function startProblem(start: unknown, limits: Config['simulator']): string | null {
  if (typeof start === 'number' && Number.isFinite(start) && start >= START_MIN && start <= Date.now() + limits.maxStartAheadMs) return null;
  const ahead = limits.maxStartAheadMs % 86_400_000 === 0 ? `${limits.maxStartAheadMs / 86_400_000} day(s)` : `${limits.maxStartAheadMs} ms`;
  return `start must be a time from ${new Date(START_MIN).toISOString().slice(0, 10)} to ${ahead} from now (MAX_EVENT_TIME_SKEW_MS: later events are refused as future_timestamp)`;
}

/**
 * What is wrong with a run's parameters under this deployment's bounds; empty when nothing is.
 * REST answers 400 with these; the processor refuses a job with any (a job can be written
 * straight into Redis or edited, so the processor checks again).
 */
export function runParamsProblems(p: Partial<Record<keyof SimulateRunData, unknown>>, limits: Config['simulator']): string[] {
  const problems: string[] = [];
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!isInt(p.events) || p.events < 1 || p.events > limits.maxEvents) problems.push(`events must be an integer from 1 to ${limits.maxEvents} (SIMULATOR_MAX_EVENTS)`);
  if (!isInt(p.seed) || p.seed < 0 || p.seed > MAX_SEED) problems.push(`seed must be an integer from 0 to ${MAX_SEED}`);
  if (p.users !== undefined && (!isInt(p.users) || p.users < 1 || p.users > 10_000_000)) problems.push('users must be an integer from 1 to 10000000');
  if (p.speed !== undefined && (!isNum(p.speed) || p.speed <= 0)) problems.push('speed must be a number above 0');
  else if (p.speed !== undefined && problems.length === 0) {
    // Only with valid events, seed and users: the check generates the run's journey times.
    const slow = speedProblem({ seed: p.seed as number, events: p.events as number, users: p.users as number | undefined }, p.speed, limits.maxRunSeconds);
    if (slow) problems.push(slow);
  }
  if (p.rate !== undefined) {
    if (!isNum(p.rate) || p.rate < limits.minRate) problems.push(`rate must be at least ${limits.minRate} events/s (SIMULATOR_MIN_RATE)`);
    else if (isInt(p.events) && p.events / p.rate > limits.maxRunSeconds) {
      problems.push(`${p.events} events at ${p.rate} events/s take ${Math.ceil(p.events / p.rate)} s, longer than a run may last (SIMULATOR_MAX_RUN_S=${limits.maxRunSeconds})`);
    }
  }
  const late = p.start === undefined ? null : startProblem(p.start, limits);
  if (late) problems.push(late);
  // A live burst's span is claimed and checked by the burst job; a run carrying one would produce
  // (and pace) the live world past those checks.
  if (p.live !== undefined) problems.push('a run names no live claim: live bursts are simulate:burst jobs');
  if (p.userPrefix !== undefined && (typeof p.userPrefix !== 'string' || !/^[A-Za-z0-9_.-]{1,40}$/.test(p.userPrefix))) problems.push('userPrefix must be 1 to 40 of A-Z a-z 0-9 _ . -');
  return problems;
}

// Simulator jobs: `simulate:burst` (repeatable; M events every N seconds, continuing one simulated
// world burst after burst) and `simulate:run` (one run with explicit parameters, from REST).
import type { Queue } from 'bullmq';
import type { Config } from '../src/config.ts';
import type { RunParams, RunResult } from '../src/simulator/run.ts';
import { QUEUES } from './names.ts';
import type { Schedule } from './schedules.ts';

export const SIMULATE_BURST = 'simulate:burst';
export const SIMULATE_RUN = 'simulate:run';

export interface SimulateBurstData {
  events: number;
}
export type SimulateRunData = RunParams;
export type SimulateResult = RunResult & { seed: number; start: string };

export const simulatorSchedules = (config: Config): Schedule[] =>
  config.simulator.burstEvents > 0
    ? [{ id: SIMULATE_BURST, queue: QUEUES.simulator, repeat: { every: config.simulator.burstEverySeconds * 1000 }, data: { events: config.simulator.burstEvents } }]
    : [];

export function enqueueRun(queue: Queue, params: SimulateRunData) {
  return queue.add(SIMULATE_RUN, params, { removeOnComplete: { count: 500 }, removeOnFail: { count: 500 } });
}

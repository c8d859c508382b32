// Repeatable jobs (BullMQ job schedulers): the time-driven part of the "DAG".
// The scheduler role upserts every schedule listed here at start and removes schedulers
// that are no longer listed, so config changes take effect on restart.
import type { Config } from '../src/config.ts';
import type { QueueName } from './names.ts';
import { moviesSchedules } from './movies.ts';
import { simulatorSchedules } from './simulator.ts';
import { flushSchedules } from './flush.ts';

export interface Schedule {
  /** Scheduler id, also the job name, e.g. `movies:scan`. */
  id: string;
  queue: QueueName;
  repeat: { pattern: string } | { every: number };
  data?: Record<string, unknown>;
}

export type ScheduleSource = (config: Config) => Schedule[];

export const scheduleSources: ScheduleSource[] = [moviesSchedules, simulatorSchedules, flushSchedules];

export const schedulesFor = (config: Config): Schedule[] => scheduleSources.flatMap((source) => source(config));

// Repeatable jobs (BullMQ job schedulers): the time-driven part of the "DAG".
// Each feature adds its schedule here; the scheduler role upserts them all at start and
// removes schedulers that are no longer listed, so config changes take effect on restart.
import type { Config } from '../src/config.ts';
import type { QueueName } from './names.ts';

export interface Schedule {
  /** Scheduler id, also the job name, e.g. `movies:scan`. */
  id: string;
  queue: QueueName;
  repeat: { pattern: string } | { every: number };
  data?: Record<string, unknown>;
}

export type ScheduleSource = (config: Config) => Schedule[];

export const scheduleSources: ScheduleSource[] = [];

export const schedulesFor = (config: Config): Schedule[] => scheduleSources.flatMap((source) => source(config));

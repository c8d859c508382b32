// The queues segpipe runs, and the jobs each carries. This file (with schedules.ts) is the "DAG":
// what runs, on which queue, how often.
export const QUEUES = {
  movies: 'movies',
  simulator: 'simulator',
  flush: 'flush',
  warehouse: 'warehouse',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** BullMQ key prefix; one Redis can host several segpipe installs with distinct prefixes. */
export const QUEUE_PREFIX = 'segpipe';

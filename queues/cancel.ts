// Cancelling a run from any process: the request marks the job (so a worker that picks it up
// later refuses it) and publishes it on a Redis channel every worker process listens to; the
// worker running it aborts its processor's AbortSignal (BullMQ's cancelJob), the processor stops
// at the signal, and the job fails as cancelled. Waiting jobs are simply removed.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES, type QueueName } from './names.ts';

/** Queues of runs: their processors stop at the signal. Flush and warehouse jobs are the pipeline's own, short, and restarted by their schedules. */
export const CANCELLABLE_QUEUES: readonly QueueName[] = [QUEUES.simulator, QUEUES.movies];

export const CANCEL_CHANNEL = 'segpipe:cancel';
const MARK_TTL_S = 7 * 86_400;
/** Per job instance: ids restart after an obliterate, so the creation time is part of the key. */
export const cancelMark = (queue: string, id: string, createdAt: number) => `segpipe:cancelled:${queue}:${id}:${createdAt}`;

export interface CancelMessage {
  queue: QueueName;
  id: string;
  reason: string;
}

export type CancelOutcome = { state: 'removed' } | { state: 'cancelling' } | { state: 'finished'; finalState: string } | { state: 'unknown' };

export async function cancelJob(redis: Redis, queue: Queue, id: string, reason: string): Promise<CancelOutcome> {
  const job = await queue.getJob(id);
  if (!job) return { state: 'unknown' };
  const state = await job.getState();
  if (state === 'completed' || state === 'failed') return { state: 'finished', finalState: state };
  await redis.set(cancelMark(queue.name, id, job.timestamp), reason, 'EX', MARK_TTL_S);
  if (state !== 'active') {
    // Not locked by a worker yet: removing it is the whole cancellation. If a worker took it
    // meanwhile, remove refuses and the mark and the message below stop it instead.
    const removed = await job.remove().then(
      () => true,
      () => false,
    );
    if (removed) return { state: 'removed' };
  }
  await redis.publish(CANCEL_CHANNEL, JSON.stringify({ queue: queue.name as QueueName, id, reason } satisfies CancelMessage));
  return { state: 'cancelling' };
}

/** The reason a job was cancelled, or null. */
export async function cancelledReason(redis: Redis, queue: string, job: { id?: string; timestamp: number }): Promise<string | null> {
  return job.id === undefined ? null : redis.get(cancelMark(queue, job.id, job.timestamp));
}

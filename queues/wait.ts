// Waiting for a job's result from another process.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job, Queue, QueueEvents } from 'bullmq';

const POLL_MS = 250;

/**
 * The job's return value once it completes; rejects with its failure or after `timeoutMs`.
 * BullMQ's `waitUntilFinished` alone can miss a fast job: a fresh QueueEvents sends CLIENT
 * SETNAME before its first XREAD from `$`, and a completion published in that gap is never
 * seen (this timed out a CI run). A slow poll of the job's state closes the gap.
 */
export async function jobResult<T>(queue: Queue, events: QueueEvents, job: Job, timeoutMs: number): Promise<T> {
  const id = job.id!;
  let settled = false;
  const viaEvents = job.waitUntilFinished(events, timeoutMs) as Promise<T>;
  const viaPoll = (async (): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    while (!settled && Date.now() < deadline) {
      await sleep(POLL_MS);
      const state = await queue.getJobState(id);
      if (state !== 'completed' && state !== 'failed') continue;
      const done = await queue.getJob(id);
      if (!done) continue; // removed between the two reads: the event (or the deadline) decides
      if (state === 'failed') throw new Error(done.failedReason || `job ${job.name} ${id} failed`);
      return done.returnvalue as T;
    }
    return new Promise<T>(() => undefined); // the events' timeout reports the deadline
  })();
  try {
    return await Promise.race([viaEvents, viaPoll]);
  } catch (err) {
    const msg = (err as Error).message;
    if (/timed out before finishing/.test(msg))
      throw new Error(`${job.name} job ${id} on queue ${queue.name} did not finish within ${timeoutMs} ms; is a segpipe worker (npm start, or segpipe worker) running against this Redis?`);
    throw err;
  } finally {
    settled = true;
    viaEvents.catch(() => undefined);
    viaPoll.catch(() => undefined);
  }
}

// Waiting for a job's result across processes: the poll must find completions the QueueEvents
// stream never delivers (BullMQ's own wait can miss one that lands before its first XREAD).
import { Queue, QueueEvents, Worker } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { bullConnection } from '../../src/context.ts';
import { QUEUE_PREFIX } from '../../queues/names.ts';
import { jobResult } from '../../queues/wait.ts';
import { testConfig, unique } from '../helpers/env.ts';

describe('jobResult', () => {
  const url = testConfig().redis.url;
  const name = unique('wait');
  const opts = { connection: bullConnection(url), prefix: QUEUE_PREFIX };
  const queue = new Queue(name, opts);
  // Never started: no completion event reaches it, as when the event falls in BullMQ's gap.
  const deaf = new QueueEvents(name, { ...opts, autorun: false });
  const worker = new Worker(
    name,
    async (job) => {
      await sleep(300); // finishes after the waiter's own state check
      if (job.data.fail) throw new Error('boom: the job failed');
      return { answer: job.data.n * 2 };
    },
    opts,
  );

  afterAll(async () => {
    await worker.close();
    await queue.obliterate({ force: true });
    await Promise.all([queue.close(), deaf.close()]);
  });

  it('returns the value of a job whose completion event never arrives', async () => {
    const job = await queue.add('double', { n: 21 });
    const started = Date.now();
    await expect(jobResult(queue, deaf, job, 10_000)).resolves.toEqual({ answer: 42 });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects with the failure of a failed job', async () => {
    const job = await queue.add('double', { n: 1, fail: true });
    await expect(jobResult(queue, deaf, job, 10_000)).rejects.toThrow('boom: the job failed');
  });

  it('says what to check when no worker answers in time', async () => {
    const idle = new Queue(unique('nobody'), opts);
    const job = await idle.add('lonely', {});
    await expect(jobResult(idle, deaf, job, 1_000)).rejects.toThrow(/did not finish within 1000 ms; is a segpipe worker/);
    await idle.obliterate({ force: true });
    await idle.close();
  });
});

// BullMQ processor for the flush queue, in the process that owns the warehouse (see
// warehouse-owner.ts), which also runs the raw loader: raw rows go from Kafka to the warehouse
// there continuously, and `flush:raw` waits until they are loaded up to where Kafka was when it
// began. One flush job at a time: metric finalisations never overlap.
import fs from 'node:fs';
import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import { topicOffsets } from '../src/kafka/client.ts';
import { RawLoader, loadedThrough } from '../src/loader/raw-loader.ts';
import { childLog } from '../src/log.ts';
import { shardCount } from '../src/state/scripts.ts';
import { FLUSH_METRICS, FLUSH_RAW } from '../queues/flush.ts';
import { flushMetrics } from '../src/windows/metrics.ts';
import { QUEUES } from '../queues/names.ts';
import type { QueueProcessor } from './types.ts';
import { ownedWarehouse } from './warehouse-owner.ts';

const log = childLog('flush');

/**
 * Fault injection for the kill test: with SEGPIPE_FAULT_HOLD_IN_LOAD=<file>, the first raw load
 * writes this process's pid to <file> inside its transaction, after the rows and the new
 * position and before the commit, and holds there, so the test can SIGKILL the worker exactly
 * there. Never set outside that test.
 */
function holdInLoad(): (() => Promise<void>) | undefined {
  const file = process.env.SEGPIPE_FAULT_HOLD_IN_LOAD;
  if (!file) return undefined;
  return async () => {
    fs.writeFileSync(file, String(process.pid));
    log.warn({ file }, 'fault injection: holding inside a load transaction until killed');
    await new Promise(() => undefined);
  };
}

/** How long one flush:raw waits for the loader to reach Kafka's end. */
const FLUSH_RAW_MAX_MS = 30_000;

export async function createFlushProcessor(ctx: AppContext) {
  const w = await ownedWarehouse(ctx);
  if (!w) return null;
  const loader = new RawLoader(ctx, w, { groupId: ctx.config.stream.loaderGroupId, beforeCommit: holdInLoad() });
  await loader.start();
  ctx.onClose(() => loader.stop());

  return async (job: Job): Promise<unknown> => {
    if (job.name === FLUSH_RAW) return loadedThrough(ctx, w, loader, FLUSH_RAW_MAX_MS);
    if (job.name === FLUSH_METRICS) {
      const { topics } = ctx.config;
      return flushMetrics(ctx.redis, w, {
        shards: shardCount(ctx.config),
        registrationTopic: topics.consumer_registration,
        sessionTopics: { signIn: topics.sign_in, signOut: topics.sign_out },
        latenessMs: ctx.config.stream.latenessMs,
        sessionTimeoutMs: ctx.config.stream.sessionTimeoutMs,
        partitionOffsets: async (topic) => topicOffsets(await ctx.admin(), topic),
      });
    }
    throw new Error(`unknown job ${job.name} on the flush queue`);
  };
}

// One flush job at a time across all workers: with Snowflake every worker serves this queue, and
// two flush:metrics runs pairing the same sessions would count them twice. The job of a killed
// worker holds that slot until its lock expires, so the lock is short (renewed every 5 s).
export const flushProcessor: QueueProcessor = { queue: QUEUES.flush, concurrency: 1, globalConcurrency: 1, lockMs: 10_000, create: createFlushProcessor };

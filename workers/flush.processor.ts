// BullMQ processor for the flush queue, in the one process that owns the warehouse (see
// warehouse-owner.ts). One job at a time: raw merges and metric finalisation never overlap.
import fs from 'node:fs';
import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.ts';
import { topicOffsets } from '../src/kafka/client.ts';
import { childLog } from '../src/log.ts';
import { flushOutboxes } from '../src/stream/flush.ts';
import { shardCount } from '../src/state/scripts.ts';
import { rawTables } from '../src/warehouse/tables.ts';
import { FLUSH_METRICS, FLUSH_RAW } from '../queues/flush.ts';
import { flushMetrics } from '../src/windows/metrics.ts';
import { QUEUES } from '../queues/names.ts';
import type { QueueProcessor } from './types.ts';
import { ownedWarehouse } from './warehouse-owner.ts';

const log = childLog('flush');

/**
 * Fault injection for the kill test: with SEGPIPE_FAULT_HOLD_AFTER_MERGE=<file>, the first raw
 * merge writes this process's pid to <file> and then holds before its trim, so the test can
 * SIGKILL the worker exactly between MERGE and trim. Never set outside that test.
 */
function holdAfterMerge(): (() => Promise<void>) | undefined {
  const file = process.env.SEGPIPE_FAULT_HOLD_AFTER_MERGE;
  if (!file) return undefined;
  return async () => {
    fs.writeFileSync(file, String(process.pid));
    log.warn({ file }, 'fault injection: holding between MERGE and trim until killed');
    await new Promise(() => undefined);
  };
}

export async function createFlushProcessor(ctx: AppContext) {
  const w = await ownedWarehouse(ctx);
  if (!w) return null;
  const tables = [...rawTables().values()];
  const hold = holdAfterMerge();

  return async (job: Job): Promise<unknown> => {
    if (job.name === FLUSH_RAW) return flushOutboxes(ctx.redis, w, tables, { shards: shardCount(ctx.config), afterMerge: hold });
    if (job.name === FLUSH_METRICS) {
      const { topics } = ctx.config;
      return flushMetrics(ctx.redis, w, {
        shards: shardCount(ctx.config),
        registrationTopic: topics.consumer_registration,
        sessionTopics: { signIn: topics.sign_in, signOut: topics.sign_out },
        latenessMs: ctx.config.stream.latenessMs,
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

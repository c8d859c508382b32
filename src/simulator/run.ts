// A simulation run. Journeys are generated, encoded and partitioned on a worker thread
// (src/simulator/generate-task.ts); this thread only sends the packed batches, one request on
// the wire at a time (per-key order), and hands a credit back after each acknowledgement.
// Pacing (speed = simulated seconds per real second; rate = events/s cap) happens on the
// generator thread.
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { AppContext } from '../context.ts';
import type { EventProducer } from '../events/producer.ts';
import { createTaskPool } from '../threads.ts';
import { EVENT_NAMES } from '../config.ts';
import { loadCatalog } from './catalog.ts';
import type { FromGenerator, GenerateSummary, GenerateTask, ToGenerator } from './generate-task.ts';

export interface RunParams {
  events: number;
  seed: number;
  users?: number;
  /** Simulated start, epoch ms; default now. */
  start?: number;
  /** Simulated seconds per real second; 0 or absent = as fast as possible. */
  speed?: number;
  /** Upper bound on events per second; absent = none. */
  rate?: number;
  userPrefix?: string;
}

export interface RunResult {
  events: number;
  durationMs: number;
  eventsPerSecond: number;
  firstEventAt: string | null;
  lastEventAt: string | null;
  catalogItems: number;
  catalogSource: string;
}

const BATCH = 5000;
/** Encoded batches allowed ahead of the acknowledged ones. */
const CREDITS = 4;

const pools = new WeakMap<AppContext, Piscina<GenerateTask, GenerateSummary>>();

/** One generator thread per context, started on first use and kept for the next burst. */
function generatorPool(ctx: AppContext): Piscina<GenerateTask, GenerateSummary> {
  let pool = pools.get(ctx);
  if (!pool) {
    const created = createTaskPool<GenerateTask, GenerateSummary>('simulator-generate.task.ts', { minThreads: 0, maxThreads: 1, idleTimeout: 10 * 60_000 });
    pools.set(ctx, (pool = created));
    ctx.onClose(() => created.destroy());
  }
  return pool;
}

export async function runSimulation(ctx: AppContext, producer: EventProducer, params: RunParams, onProgress: (sent: number) => void = () => undefined): Promise<RunResult> {
  const { items, source } = await loadCatalog(ctx.redis);
  const start = params.start ?? Date.now();
  const topics = ctx.config.topics;
  const topicOrder = EVENT_NAMES.map((n) => topics[n]);
  const { port1, port2 } = new MessageChannel();
  const wallStart = performance.now();
  let sent = 0;

  const produced = new Promise<GenerateSummary>((resolve, reject) => {
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    port1.on('message', (msg: FromGenerator) => {
      if (msg.kind === 'done') {
        chain.then(() => resolve(msg.summary), reject);
        return;
      }
      chain = chain.then(async () => {
        if (failed) return;
        try {
          await producer.sendPacked(msg.batch, topicOrder);
        } catch (err) {
          failed = true;
          port1.postMessage('stop' satisfies ToGenerator);
          reject(err);
          return;
        }
        sent += msg.batch.count;
        onProgress(sent);
        port1.postMessage('credit' satisfies ToGenerator);
      });
    });
  });

  const task: GenerateTask = {
    params: { seed: params.seed, events: params.events, users: params.users, start, userPrefix: params.userPrefix },
    speed: params.speed,
    rate: params.rate,
    catalog: items,
    writers: ctx.serde.writer.schemas(),
    topics,
    topicOrder,
    partitions: ctx.config.kafka.partitions,
    batchSize: BATCH,
    credits: CREDITS,
    port: port2 as unknown as GenerateTask['port'],
  };
  let summary: GenerateSummary;
  try {
    [summary] = await Promise.all([produced, generatorPool(ctx).run(task, { transferList: [port2 as never] })]);
  } finally {
    port1.close();
  }
  const durationMs = performance.now() - wallStart;
  return {
    events: sent,
    durationMs: Math.round(durationMs),
    eventsPerSecond: Math.round(sent / (durationMs / 1000)),
    firstEventAt: summary.firstTime === null ? null : new Date(summary.firstTime).toISOString(),
    lastEventAt: summary.lastTime === null ? null : new Date(summary.lastTime).toISOString(),
    catalogItems: items.length,
    catalogSource: source,
  };
}

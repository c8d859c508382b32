// The generator side of a simulation run, on its own thread: journeys → event objects → Avro
// (through the base type, as the in-process producer does) → partition → packed batches posted
// to the producing lanes. Lane k sends the partitions p with p % lanes = k, each on its own
// connection and one request at a time, so per-key order holds while lanes send in parallel.
// Batches go out only against credits a lane returns after each acknowledged send, so at most
// `credits` batches per lane are ever in memory. Pacing to the wall clock (speed, rate) happens
// here too: batches are cut short before waiting, so paced events reach Kafka close to their time.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { AvroWriter, type WriterSchema } from '../registry/serde.ts';
import type { CatalogItem } from './catalog.ts';
import { simulate, type SimulationParams } from './journeys.ts';
import { liveEvents } from './live.ts';
import type { LiveClaim } from './live-state.ts';
import { partitionerFor } from '../kafka/partitioner.ts';
import { BatchPacker, transferables, type PackedBatch } from './packed.ts';

export interface GenerateTask {
  params: SimulationParams;
  /** A live burst: the live world's span instead of a fast-forward simulation from params. */
  live?: LiveClaim;
  /** Simulated seconds per real second; 0 = as fast as possible. */
  speed?: number;
  /** Events per second cap. */
  rate?: number;
  catalog: CatalogItem[];
  writers: WriterSchema[];
  topics: Config['topics'];
  /** Topic list both threads index batches by. */
  topicOrder: string[];
  partitions: number;
  batchSize: number;
  credits: number;
  /** Wall-clock budget of the run, ms: generation stops there (SIMULATOR_MAX_RUN_S). */
  maxDurationMs: number;
  /** One port per producing lane. */
  ports: MessagePort[];
  /** From the thread that started the run: 'cancel'. */
  control: MessagePort;
  /** Events of this run already in Kafka (an earlier attempt's), per topic index and partition: generated, not sent. */
  skip?: Array<{ topic: number; partition: number; events: number }>;
}

export interface GenerateSummary {
  events: number;
  /** Of them, events skipped as already in Kafka. */
  skipped: number;
  firstTime: number | null;
  lastTime: number | null;
  /** Why generation ended early, if it did. */
  stopped: 'cancelled' | 'max_duration' | 'lane_failed' | null;
}

/** Generator → lane: a batch to send (with its latest event time); done (after the last batch); or failed, when the generator threw. */
export type FromGenerator = { kind: 'batch'; batch: PackedBatch; lastTime: number } | { kind: 'done' } | { kind: 'failed'; error: string };
/** Lane → generator: one credit per acknowledged batch, or stop after a failure; control port → generator: cancel. */
export type ToGenerator = 'credit' | 'stop' | 'cancel';

export async function generate(task: GenerateTask): Promise<GenerateSummary> {
  const { ports } = task;
  const writer = new AvroWriter(task.writers);
  const topicIndex = new Map(task.topicOrder.map((t, i) => [t, i]));
  const partitionOf = partitionerFor(task.partitions);
  const partitionOfKey = new Map<string, number>();
  let stopped = false;
  // Aborts a pacing wait at once when the run stops.
  const waits = new AbortController();
  const summary: GenerateSummary = { events: 0, skipped: 0, firstTime: null, lastTime: null, stopped: null };
  const tp = (topic: number, partition: number) => topic * 65_536 + partition;
  const skipLeft = new Map((task.skip ?? []).map((s) => [tp(s.topic, s.partition), s.events]));
  const stop = (why: NonNullable<GenerateSummary['stopped']>) => {
    if (!stopped) summary.stopped = why;
    stopped = true;
    waits.abort();
  };
  task.control.on('message', (m: ToGenerator) => {
    if (m === 'cancel') stop('cancelled');
    for (const l of lanes) l.wake?.();
  });
  const lanes = ports.map((port) => {
    const lane = { port, credits: task.credits, wake: undefined as (() => void) | undefined, packer: new BatchPacker(Math.ceil(task.batchSize / ports.length)), lastTime: 0 };
    port.on('message', (m: ToGenerator) => {
      if (m === 'stop') stop('lane_failed');
      else lane.credits++;
      for (const l of lanes) l.wake?.();
    });
    return lane;
  });
  const post = async (lane: (typeof lanes)[number]) => {
    if (lane.packer.size === 0) return;
    while (lane.credits === 0 && !stopped) await new Promise<void>((resolve) => (lane.wake = resolve));
    if (stopped) return;
    lane.credits--;
    const batch = lane.packer.take();
    lane.port.postMessage({ kind: 'batch', batch, lastTime: lane.lastTime } satisfies FromGenerator, transferables(batch));
  };
  const postAll = async () => {
    for (const lane of lanes) await post(lane);
  };

  const wallStart = performance.now();
  const deadline = wallStart + task.maxDurationMs;
  // Pacing counts from the first event this attempt sends (a resumed run does not wait out what
  // an earlier attempt sent).
  let paceFrom = task.skip?.length ? undefined : { time: task.params.start, events: 0 };
  try {
    const events = task.live ? liveEvents(task.live.world, task.live.span, task.catalog) : simulate(task.params, task.catalog);
    for (const event of events) {
      if (stopped) break;
      if ((summary.events & 1023) === 0 && performance.now() > deadline) {
        stop('max_duration');
        break;
      }
      summary.firstTime ??= event.time;
      summary.lastTime = event.time;
      summary.events++;
      const topic = event.topic(task.topics);
      const key = event.key();
      // All user topics have the same partition count, so a key's partition is the same on each.
      let partition = partitionOfKey.get(key);
      if (partition === undefined) partitionOfKey.set(key, (partition = partitionOf(topic, key)));
      const t = topicIndex.get(topic)!;
      if (skipLeft.size > 0) {
        const left = skipLeft.get(tp(t, partition));
        if (left !== undefined) {
          if (left > 1) skipLeft.set(tp(t, partition), left - 1);
          else skipLeft.delete(tp(t, partition));
          summary.skipped++;
          continue;
        }
      }
      if (task.speed || task.rate) {
        paceFrom ??= { time: event.time, events: summary.events - 1 };
        const dueBySpeed = task.speed ? (event.time - paceFrom.time) / task.speed : 0;
        const dueByRate = task.rate ? (1000 * (summary.events - 1 - paceFrom.events)) / task.rate : 0;
        const wait = Math.max(dueBySpeed, dueByRate) - (performance.now() - wallStart);
        if (wait > 1) {
          await postAll();
          const untilDeadline = deadline - performance.now();
          // setTimeout's limit is 2^31 - 1 ms; the deadline comes first in any case.
          await sleep(Math.max(0, Math.min(wait, untilDeadline + 1, 2 ** 31 - 1)), undefined, { signal: waits.signal }).catch(() => undefined);
          if (stopped) break;
          if (performance.now() > deadline) {
            stop('max_duration');
            break;
          }
        }
      }
      const record = event.toRecord();
      const lane = lanes[partition % lanes.length]!;
      lane.packer.add(t, partition, key, (buf, pos) => writer.encodeInto(topic, record, buf, pos));
      lane.lastTime = Math.max(lane.lastTime, event.time);
      if (lane.packer.full) await post(lane);
    }
    await postAll();
    // Also after a stop: the lanes that did not fail finish what they hold and return.
    for (const { port } of lanes) port.postMessage({ kind: 'done' } satisfies FromGenerator);
    return summary;
  } catch (err) {
    // The lanes must not wait for batches that will never come (a lane thread waiting forever
    // would hold up every later run).
    for (const { port } of lanes) port.postMessage({ kind: 'failed', error: (err as Error).message } satisfies FromGenerator);
    throw err;
  } finally {
    for (const { port } of lanes) port.close();
    task.control.close();
  }
}

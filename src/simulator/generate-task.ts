// The generator side of a simulation run, on its own thread: journeys → event objects → Avro
// (through the base type, as the in-process producer does) → partition → packed batches posted
// to the producing thread. Batches go out only against credits the producer returns after each
// acknowledged send, so at most `credits` batches are ever in memory. Pacing to the wall clock
// (speed, rate) happens here too: a batch is cut short before waiting, so paced events reach
// Kafka close to their time.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessagePort } from 'node:worker_threads';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import type { Config } from '../config.ts';
import { AvroWriter, type WriterSchema } from '../registry/serde.ts';
import type { CatalogItem } from './catalog.ts';
import { simulate, type SimulationParams } from './journeys.ts';
import { BatchPacker, transferables, type PackedBatch } from './packed.ts';

export interface GenerateTask {
  params: SimulationParams;
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
  port: MessagePort;
}

export interface GenerateSummary {
  events: number;
  firstTime: number | null;
  lastTime: number | null;
}

export type FromGenerator = { kind: 'batch'; batch: PackedBatch } | { kind: 'done'; summary: GenerateSummary };
/** Producer → generator: one credit per acknowledged batch, or stop after a failure. */
export type ToGenerator = 'credit' | 'stop';

export async function generate(task: GenerateTask): Promise<GenerateSummary> {
  const { port } = task;
  const writer = new AvroWriter(task.writers);
  const topicIndex = new Map(task.topicOrder.map((t, i) => [t, i]));
  // kafkajs's own default partitioner, so keys land where the in-process producer puts them.
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: task.partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));

  let credits = task.credits;
  let stopped = false;
  let wake: (() => void) | undefined;
  port.on('message', (m: ToGenerator) => {
    if (m === 'stop') stopped = true;
    else credits++;
    wake?.();
  });

  const packer = new BatchPacker(task.batchSize);
  const post = async () => {
    if (packer.size === 0) return;
    while (credits === 0 && !stopped) await new Promise<void>((resolve) => (wake = resolve));
    if (stopped) return;
    credits--;
    const batch = packer.take();
    port.postMessage({ kind: 'batch', batch } satisfies FromGenerator, transferables(batch));
  };

  const summary: GenerateSummary = { events: 0, firstTime: null, lastTime: null };
  const wallStart = performance.now();
  const start = task.params.start;
  try {
    for (const event of simulate(task.params, task.catalog)) {
      if (stopped) break;
      summary.firstTime ??= event.time;
      summary.lastTime = event.time;
      summary.events++;
      if (task.speed || task.rate) {
        const dueBySpeed = task.speed ? (event.time - start) / task.speed : 0;
        const dueByRate = task.rate ? (1000 * (summary.events - 1)) / task.rate : 0;
        const wait = Math.max(dueBySpeed, dueByRate) - (performance.now() - wallStart);
        if (wait > 1) {
          await post();
          await sleep(wait);
        }
      }
      const topic = event.topic(task.topics);
      const key = event.key();
      const partition = partitioner({ topic, partitionMetadata, message: { key, value: null } });
      const record = event.toRecord();
      packer.add(topicIndex.get(topic)!, partition, key, (buf, pos) => writer.encodeInto(topic, record, buf, pos));
      if (packer.full) await post();
    }
    await post();
    if (!stopped) port.postMessage({ kind: 'done', summary } satisfies FromGenerator);
    return summary;
  } finally {
    port.close();
  }
}

// Piscina task for the producer benchmark: a raw kafkajs producer on its own thread sending
// pre-built batches one after another; returns the milliseconds from first send to last ack.
import type { Config } from '../src/config.ts';
import { createIdempotentProducer, createKafka } from '../src/kafka/client.ts';
import { sendPacked, type PackedBatch } from '../src/simulator/packed.ts';

export default async function rawLane(task: { config: Config; topicOrder: string[]; batches: PackedBatch[] }): Promise<number> {
  const producer = createIdempotentProducer(createKafka(task.config, 'bench-raw-lane'), task.config);
  await producer.connect();
  const t0 = performance.now();
  for (const batch of task.batches) await sendPacked(producer, batch, task.topicOrder);
  const ms = performance.now() - t0;
  await producer.disconnect();
  return ms;
}

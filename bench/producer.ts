// Producer throughput: simulated events through the real path (journeys → Avro with registry ids
// → idempotent producer, acks=all) side by side with a raw kafkajs producer sending pre-built
// buffers of the same sizes, keys and topics, in the same batches, in the same run.
import { Partitioners, type Message, type TopicMessages } from 'kafkajs';
import type { Config } from '../src/config.ts';
import { AppContext } from '../src/context.ts';
import { EventProducer } from '../src/events/producer.ts';
import { createIdempotentProducer } from '../src/kafka/client.ts';
import { loadCatalog } from '../src/simulator/catalog.ts';
import { simulate } from '../src/simulator/journeys.ts';
import { runSimulation } from '../src/simulator/run.ts';
import { progress } from './env.ts';

const EVENTS = Number(process.env.BENCH_PRODUCER_EVENTS ?? 1_000_000);
const BATCH = 5000;

export async function benchProducer(config: Config): Promise<{ figures: Record<string, number>; notes: string[] }> {
  const ctx = new AppContext(config);
  await ctx.prepare();
  const producer = new EventProducer(ctx);
  // Warm up connections, metadata and the JIT.
  await runSimulation(ctx, producer, { events: 20_000, seed: 1, start: Date.UTC(2026, 0, 1) });

  progress(`Avro + registry: ${EVENTS} simulated events`);
  const avro = await runSimulation(ctx, producer, { events: EVENTS, seed: 2, start: Date.UTC(2026, 0, 2) });
  progress(`  ${avro.eventsPerSecond} events/s`);

  // The same messages, pre-built: what a producer with no model, no encoding would send.
  const { items } = await loadCatalog(ctx.redis);
  // Partitions are computed up front too (kafkajs's default partitioner), as the Avro path's
  // generator thread does, so the raw side pays for nothing but the send.
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: config.kafka.partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const prebuilt: Array<{ topic: string; message: Message }> = [];
  for (const e of simulate({ seed: 2, events: EVENTS, start: Date.UTC(2026, 0, 2) }, items)) {
    const m = producer.toMessage(e);
    const key = Buffer.from(m.message.key as string);
    const partition = partitioner({ topic: m.topic, partitionMetadata, message: { key, value: null } });
    prebuilt.push({ topic: m.topic, message: { key, value: Buffer.alloc((m.message.value as Buffer).length, 7), partition } });
  }
  const raw = createIdempotentProducer(ctx.kafka);
  await raw.connect();
  // The raw side gets the better of its two strategies: one request at a time, or several
  // concurrent sendBatch calls (which kafkajs queues per broker).
  const rawRates: Record<number, number> = {};
  for (const inFlight of [1, 3]) {
    progress(`raw kafkajs, ${inFlight} sendBatch in flight: the same sizes, keys, topics and partitions`);
    const t0 = performance.now();
    const outstanding: Array<Promise<unknown>> = [];
    for (let i = 0; i < prebuilt.length; i += BATCH) {
      const byTopic = new Map<string, Message[]>();
      for (const { topic, message } of prebuilt.slice(i, i + BATCH)) {
        let list = byTopic.get(topic);
        if (!list) byTopic.set(topic, (list = []));
        list.push(message);
      }
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      outstanding.push(raw.sendBatch({ topicMessages, acks: -1 }));
      while (outstanding.length >= inFlight) await outstanding.shift();
    }
    await Promise.all(outstanding);
    rawRates[inFlight] = Math.round(prebuilt.length / ((performance.now() - t0) / 1000));
    progress(`  ${rawRates[inFlight]} events/s`);
  }
  const rawRate = Math.max(...Object.values(rawRates));
  await raw.disconnect();
  await producer.close();
  await ctx.close();
  const avgBytes = prebuilt.reduce((s, p) => s + (p.message.value as Buffer).length, 0) / prebuilt.length;
  return {
    figures: {
      producer_events_per_s: avro.eventsPerSecond,
      producer_raw_kafkajs_events_per_s: rawRate,
      producer_vs_raw_percent: Math.round((100 * avro.eventsPerSecond) / rawRate),
    },
    notes: [
      `${EVENTS} events (6 user topics, ${config.kafka.partitions} partitions each), average value ${avgBytes.toFixed(0)} bytes, batches of ${BATCH}, idempotent producer with acks=all for both.`,
      `Avro path: journeys are generated, Avro-encoded and partitioned on a worker thread and posted as packed batches (up to 4 ahead); the main thread runs only kafkajs, one request on the wire at a time (per-key order). The figure includes generating the journeys (simulated clock, faker pools), building the event objects and encoding them.`,
      `Raw: buffers, keys and partitions built before the clock starts; the better of 1 in flight (${rawRates[1]} events/s) and 3 concurrent sendBatch calls (${rawRates[3]} events/s).`,
      'Targets (issue #4): at least 100,000 events/s and at least 70 % of the raw producer.',
    ],
  };
}

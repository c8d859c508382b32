import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { AppContext } from '../../src/context.ts';
import { subjectFor } from '../../src/registry/serde.ts';
import { testConfig, unique } from '../helpers/env.ts';

const SCHEMA = JSON.stringify({
  type: 'record',
  name: 'RoundTrip',
  namespace: 'segpipe.test',
  fields: [
    { name: 'event_id', type: 'string' },
    { name: 'count', type: 'long' },
    { name: 'price', type: 'double' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'attrs', type: { type: 'map', values: { type: 'array', items: 'string' } } },
  ],
});

describe('Avro through Kafka and the Schema Registry', () => {
  const ctx = new AppContext(testConfig());
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    await ctx.prepare();
  });
  afterAll(async () => {
    await consumer?.disconnect();
    await ctx.close();
  });

  it('registers every schemas/*.avsc under <topic>-value', async () => {
    const subjects = await ctx.registry.subjects();
    for (const topic of Object.values(ctx.config.topics).filter((t) => t !== ctx.config.topics.dlq)) {
      expect(subjects).toContain(subjectFor(topic));
    }
  });

  it('round-trips a record: register, produce, consume in a group, decode, compare', async () => {
    const topic = unique('roundtrip');
    const admin = await ctx.admin();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const id = await ctx.serde.register(topic, SCHEMA);
    expect(id).toBeGreaterThan(0);

    const record = {
      event_id: 'e-1',
      count: 9007199254740,
      price: 8.99,
      tags: ['a', 'b', 'ü'],
      note: 'Ünïcödé ✓',
      attrs: { Actor: ['X', 'Y'], Studio: ['Z'] },
    };
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: ctx.serde.encode(topic, record) }] });
    await producer.disconnect();

    consumer = ctx.kafka.consumer({ groupId: unique('g') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got = await new Promise<{ message: KafkaMessage; partition: number }>((resolve) => {
      void consumer!.run({ eachMessage: async ({ message, partition }) => resolve({ message, partition }) });
    });
    const decoded = await ctx.serde.decode<typeof record>(got.message.value, { topic, partition: got.partition, offset: got.message.offset });
    expect(decoded.schemaId).toBe(id);
    for (const [field, value] of Object.entries(record)) expect(decoded.value[field as keyof typeof record]).toEqual(value);
    expect(got.message.value![0]).toBe(0);
    expect(got.message.value!.readInt32BE(1)).toBe(id);
  });

  it('decodes data written with an older schema through the newer reader schema', async () => {
    const topic = unique('evolve');
    const v1 = { type: 'record', name: 'Evolve', fields: [{ name: 'a', type: 'string' }] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int', default: 7 }] };
    await ctx.serde.register(topic, JSON.stringify(v1));
    const old = ctx.serde.encode(topic, { a: 'x' });
    await ctx.serde.register(topic, JSON.stringify(v2));
    const decoded = await ctx.serde.decode(old, { topic, partition: 0, offset: '0' });
    expect(decoded.value).toEqual({ a: 'x', b: 7 });
  });
});

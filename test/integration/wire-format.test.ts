import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { AppContext } from '../../src/context.ts';
import {
  InvalidBodyError,
  MessageDecodeError,
  TruncatedMessageError,
  UnknownSchemaIdError,
  WrongMagicByteError,
} from '../../src/registry/errors.ts';
import { testConfig, unique } from '../helpers/env.ts';

const SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Wire',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'n', type: 'long' },
  ],
});

describe('bad wire format gives named errors that carry topic, partition and offset', () => {
  const ctx = new AppContext(testConfig());
  const topic = unique('wire');
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    await (await ctx.admin()).createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await ctx.serde.register(topic, SCHEMA);
  });
  afterAll(async () => {
    await consumer?.disconnect();
    await ctx.close();
  });

  it('sorts a mixed batch read from Kafka into decoded records and each named error', async () => {
    const good = ctx.serde.encode(topic, { id: 'ok', n: 42 });
    const unknownId = Buffer.from(good);
    unknownId.writeInt32BE(2_000_000_000, 1);
    const messages = [
      good, // offset 0
      Buffer.concat([Buffer.from([1]), good.subarray(1)]), // wrong magic byte
      Buffer.from('plain text, not Avro'), // garbage (also a wrong magic byte)
      unknownId, // unknown schema id
      good.subarray(0, good.length - 2), // truncated body
      Buffer.from([0, 0]), // truncated header
      Buffer.concat([good, Buffer.from([1, 2, 3])]), // trailing bytes
      good, // a good message after all of them still decodes
    ];
    const producer = ctx.kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: messages.map((value) => ({ value })) });
    await producer.disconnect();

    consumer = ctx.kafka.consumer({ groupId: unique('wire-g') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: Array<{ message: KafkaMessage; partition: number }> = [];
    await new Promise<void>((resolve) => {
      void consumer!.run({
        eachMessage: async ({ message, partition }) => {
          received.push({ message, partition });
          if (received.length === messages.length) resolve();
        },
      });
    });

    const outcomes = await Promise.all(
      received.map(({ message, partition }) =>
        ctx.serde.decode(message.value, { topic, partition, offset: message.offset }).then(
          (d) => d.value,
          (e: unknown) => e,
        ),
      ),
    );
    expect(outcomes[0]).toEqual({ id: 'ok', n: 42 });
    const expected = [WrongMagicByteError, WrongMagicByteError, UnknownSchemaIdError, TruncatedMessageError, TruncatedMessageError, InvalidBodyError];
    expected.forEach((cls, i) => {
      const err = outcomes[i + 1];
      expect(err).toBeInstanceOf(cls);
      expect(err).toBeInstanceOf(MessageDecodeError);
      const e = err as MessageDecodeError;
      expect(e.name).toBe(cls.name);
      expect(e.topic).toBe(topic);
      expect(e.partition).toBe(0);
      expect(e.offset).toBe(String(i + 1));
      expect(e.message).toContain(`offset ${i + 1}`);
    });
    expect((outcomes[3] as UnknownSchemaIdError).schemaId).toBe(2_000_000_000);
    expect(outcomes[7]).toEqual({ id: 'ok', n: 42 });
  });

  it('reports a null (tombstone) value as a wrong magic byte', async () => {
    await expect(ctx.serde.decode(null, { topic, partition: 1, offset: '9' })).rejects.toBeInstanceOf(WrongMagicByteError);
  });
});

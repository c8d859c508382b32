// segpipe's partitioner must put every key where kafkajs's default partitioner (murmur2, as the
// Java clients) puts it: consumers, the verify command and the run checks recompute partitions.
import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionerFor } from '../../src/kafka/partitioner.ts';

const kafkajsPartition = (partitions: number, key: string | Buffer) => {
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
};

describe('partitionerFor', () => {
  it('places string and byte keys as kafkajs does, ASCII or not, any length', () => {
    const key = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), key, (partitions, k) => {
        expect(partitionerFor(partitions)('t', k)).toBe(kafkajsPartition(partitions, k));
      }),
      { numRuns: 5000 },
    );
  });

  it('hashes as Kafka does on known keys', () => {
    // Values from Kafka's own Utils.murmur2 test (clients/src/test/.../UtilsTest.java).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from([97, 98, 99]))).toBe(479470107);
  });
});

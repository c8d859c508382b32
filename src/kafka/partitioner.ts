// Where a key lands: kafkajs's default partitioner (murmur2, as Java clients), computed before a
// send, off the sending thread, and for recomputing where events must be.
import { Partitioners, type PartitionMetadata } from 'kafkajs';

const M = 0x5bd1e995;

/**
 * Kafka's murmur2 (Utils.murmur2) in 32-bit integer arithmetic. kafkajs's own emulates it with
 * 64-bit Long objects, several per 4 bytes: 4.5 % of the thread that produces the catalog.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2]! << 16;
    // falls through
    case 2:
      h ^= data[whole + 1]! << 8;
    // falls through
    case 1:
      h ^= data[whole]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** A string key's UTF-8 bytes, without a new buffer when it is ASCII (segpipe's keys are). */
const scratch = new Uint8Array(256);
function keyBytes(key: string): Uint8Array {
  if (key.length > scratch.length) return Buffer.from(key, 'utf8');
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return Buffer.from(key, 'utf8');
    scratch[i] = c;
  }
  return scratch.subarray(0, key.length);
}

/**
 * kafkajs's default partitioner over `partitions` partitions, so keys land where kafkajs would
 * put them, computed before the send (off the sending thread). A keyless message goes round
 * robin, as kafkajs sends it.
 */
export function partitionerFor(partitions: number): (topic: string, key: string | Buffer | null) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  return (topic, key) => {
    if (key === null || key === undefined) return partitioner({ topic, partitionMetadata, message: { key, value: null } });
    return (murmur2(typeof key === 'string' ? keyBytes(key) : key) & 0x7fffffff) % partitions;
  };
}

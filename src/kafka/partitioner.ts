// Where a key lands: kafkajs's default partitioner (murmur2, as Java clients), computed before a
// send, off the sending thread, and for recomputing where events must be.
import { Partitioners, type PartitionMetadata } from 'kafkajs';

/**
 * kafkajs's own default partitioner over `partitions` partitions, so keys land where kafkajs
 * would put them, computed before the send (off the sending thread).
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
  return (topic, key) => partitioner({ topic, partitionMetadata, message: { key, value: null } });
}

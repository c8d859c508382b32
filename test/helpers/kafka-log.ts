// Reads the broker's own log segments (the test stack's Kafka keeps them under LOCAL_DIR) to see
// how batches were stored: what a client cannot observe through the protocol.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../src/config.ts';

/** The test stack's data directory of one partition; absent when the broker is not the stack's. */
export function partitionDir(config: Config, topic: string, partition: number): string {
  const port = config.kafka.brokers[0]!.split(':').pop();
  return path.join(config.localDir, `kafka-${port}`, 'data', `${topic}-${partition}`);
}

/** Compression codec of the newest record batch (v2 attributes & 7: 0 none, 1 gzip, 2 snappy). */
export function lastBatchCodec(dir: string): number | null {
  const segments = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  const log = fs.readFileSync(path.join(dir, segments[segments.length - 1]!));
  let codec: number | null = null;
  // Batch: baseOffset int64, batchLength int32 (bytes after it), leader epoch int32, magic int8,
  // crc uint32, attributes int16.
  for (let pos = 0; pos + 23 <= log.length; pos += 12 + log.readInt32BE(pos + 8)) codec = log.readInt16BE(pos + 21) & 7;
  return codec;
}

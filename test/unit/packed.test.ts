import { describe, expect, it } from 'vitest';
import { BatchPacker, unpack } from '../../src/simulator/packed.ts';
import { rng } from '../../src/random.ts';

describe('packed batches', () => {
  it('round-trips keys, values, topics and partitions, growing past the first buffer', () => {
    const r = rng(5);
    const topics = ['a', 'b', 'c'];
    const packer = new BatchPacker(500);
    const sent: Array<{ topic: string; key: string; value: Buffer; partition: number }> = [];
    while (!packer.full) {
      const t = r.int(0, 2);
      // Values up to 2 KB, so the 160-byte-per-message first guess overflows many times.
      const value = Buffer.from(Array.from({ length: r.int(0, 2048) }, () => r.int(0, 255)));
      const key = `user-${r.int(1, 99)}-ü`;
      const partition = r.int(0, 11);
      sent.push({ topic: topics[t]!, key, value, partition });
      packer.add(t, partition, key, (buf, pos) => (buf.length - pos < value.length ? -1 : pos + value.copy(buf, pos)));
    }
    const batch = packer.take();
    expect(batch.count).toBe(500);
    expect(packer.size).toBe(0);
    const got = unpack(batch, topics).flatMap((tm) => tm.messages.map((m) => ({ topic: tm.topic, key: (m.key as Buffer).toString(), value: Buffer.from(m.value as Buffer), partition: m.partition })));
    const byTopic = (xs: typeof sent) => topics.flatMap((t) => xs.filter((x) => x.topic === t));
    expect(got).toEqual(byTopic(sent));
  });
});

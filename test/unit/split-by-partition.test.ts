import { describe, expect, it } from 'vitest';
import { splitByPartition } from '../../src/kafka/client.ts';
import { partitionerFor } from '../../src/kafka/partitioner.ts';

describe('splitByPartition (one leader per kafkajs request)', () => {
  it('gives each request one topic-partition, keeps the order within it, and places unpartitioned messages as the default partitioner would', () => {
    const partitionOf = partitionerFor(3);
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i % 7}`);
    const split = splitByPartition(
      [
        { topic: 'a', messages: keys.map((key, i) => ({ key, value: String(i) })) },
        { topic: 'b', messages: [{ key: 'x', value: '0', partition: 2 }, { key: 'y', value: '1', partition: 2 }, { key: 'z', value: '2', partition: 0 }] },
      ],
      (topic, key) => partitionOf(topic, key ?? null),
    );
    for (const tm of split) expect(new Set(tm.messages.map((m) => m.partition)).size).toBe(1);
    expect(new Set(split.map((tm) => `${tm.topic}:${tm.messages[0]!.partition}`)).size).toBe(split.length);
    for (const tm of split.filter((t) => t.topic === 'a')) {
      const values = tm.messages.map((m) => Number(m.value));
      expect(values).toEqual([...values].sort((x, y) => x - y));
      for (const m of tm.messages) expect(m.partition).toBe(partitionOf('a', m.key!));
    }
    expect(split.reduce((n, tm) => n + tm.messages.length, 0)).toBe(63);
    expect(split.find((tm) => tm.topic === 'b' && tm.messages[0]!.partition === 2)!.messages.map((m) => m.value)).toEqual(['0', '1']);
  });
});

// A topic's offsets are read right after it is created (a loader's first positions, reconcile),
// when a broker may list a partition's leader before that leader answers for it.
import { afterAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { createTopicsWithLeaders, topicOffsets } from '../../src/kafka/client.ts';
import { testConfig, unique } from '../helpers/env.ts';

describe('topicOffsets', () => {
  const ctx = new AppContext(testConfig());
  afterAll(() => ctx.close());

  it('reads every partition of topics read the moment they have leaders', { timeout: 300_000 }, async () => {
    const admin = await ctx.admin();
    for (let i = 0; i < 8; i++) {
      const topic = unique('fresh');
      await createTopicsWithLeaders(admin, [{ topic, numPartitions: 16, replicationFactor: 1 }]);
      const offsets = await topicOffsets(admin, topic);
      expect([...offsets.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, p) => p));
      for (const o of offsets.values()) expect(o).toEqual({ low: 0, high: 0 });
    }
  });
});

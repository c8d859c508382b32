import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SerialByKey } from '../../src/kafka/serial.ts';

describe('SerialByKey (one unresolved send per partition)', () => {
  it('runs tasks of one key one at a time in call order, other keys alongside, and goes on after a failure', async () => {
    const serial = new SerialByKey();
    const running = new Map<string, number>();
    let overlapSameKey = 0;
    let maxAtOnce = 0;
    const order: string[] = [];
    const task = (key: string, i: number, fail = false) => async () => {
      running.set(key, (running.get(key) ?? 0) + 1);
      if (running.get(key)! > 1) overlapSameKey++;
      maxAtOnce = Math.max(maxAtOnce, [...running.values()].reduce((a, b) => a + b, 0));
      await sleep(5 + ((i * 7) % 11));
      running.set(key, running.get(key)! - 1);
      order.push(`${key}${i}`);
      if (fail) throw new Error(`task ${key}${i} failed`);
      return i;
    };
    const calls = [];
    for (let i = 0; i < 8; i++) for (const key of ['a', 'b', 'c']) calls.push(serial.run(key, task(key, i, key === 'b' && i === 3)));
    const results = await Promise.allSettled(calls);
    expect(overlapSameKey).toBe(0);
    expect(maxAtOnce).toBe(3);
    for (const key of ['a', 'b', 'c']) expect(order.filter((o) => o.startsWith(key))).toEqual(Array.from({ length: 8 }, (_, i) => `${key}${i}`));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    await sleep(0);
    expect(serial.busy).toBe(0);
  });
});

// The Movies producer's window of sends in flight (issue #15): hashes are stored only after
// their batch is acknowledged and in the order the batches were sent, whatever order the
// acknowledgements come in; the window never holds more than its credits; a failure fails it.
import { describe, expect, it } from 'vitest';
import { SendWindow } from '../../src/movies/ingest.ts';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};

describe('SendWindow', () => {
  it('runs follow-ups after their send and in send order, with at most `credits` in flight', async () => {
    const w = new SendWindow(3);
    const sends = [deferred(), deferred(), deferred()];
    const order: number[] = [];
    await w.add(sends[0]!.promise, async () => void order.push(0));
    await w.add(sends[1]!.promise, async () => void order.push(1));
    let third = false;
    const adding = w.add(sends[2]!.promise, async () => void order.push(2)).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false); // three in flight: add waits for the oldest
    sends[2]!.resolve();
    sends[1]!.resolve();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]); // acknowledged out of order: nothing stored before batch 0
    sends[0]!.resolve();
    await adding;
    await w.drain();
    expect(order).toEqual([0, 1, 2]);
  });

  it('gives a send\'s credit back at its acknowledgement, while earlier follow-ups still run', async () => {
    const w = new SendWindow(2);
    const slowStore = deferred();
    await w.add(Promise.resolve(), () => slowStore.promise);
    await w.add(Promise.resolve(), async () => undefined);
    let third = false;
    const adding = w.add(Promise.resolve(), async () => undefined).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(true); // both sends acknowledged: the producer goes on while the store is slow
    let drained = false;
    const draining = w.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false); // but the drain waits for every follow-up
    slowStore.resolve();
    await Promise.all([adding, draining]);
  });

  it('fails the drain with the first failure, and stores nothing after it', async () => {
    const w = new SendWindow(4);
    const order: number[] = [];
    const a = deferred();
    await w.add(a.promise, async () => void order.push(0));
    await w.add(Promise.resolve(), async () => void order.push(1));
    a.reject(new Error('broker gone'));
    await expect(w.drain()).rejects.toThrow('broker gone');
    expect(order).toEqual([]);
  });
});

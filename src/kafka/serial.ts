// One task at a time per key, in call order (the raw loader and the warehouse's raw loads use it per partition too). kafkajs's idempotent producer gives a request its
// partition's sequence numbers when it builds it and hands them back when the request fails; a
// second request for the partition built in between takes the same numbers, and the broker
// then acknowledges it as a repeat of the first without writing it (or writes the first's retry
// twice). So each partition keeps one send unresolved at a time, whoever the callers are.
export class SerialByKey {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    // Forget a key once its queue is empty, so the map holds only busy partitions.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Keys with a task queued or running. */
  get busy(): number {
    return this.tails.size;
  }
}

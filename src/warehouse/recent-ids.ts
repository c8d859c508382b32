// The raw tables' dedup without a key index (DESIGN.md: raw rows are unique by event_id within
// the dedup horizon). One partition's ids of recent event time, in buckets one horizon wide,
// keyed by event time: the buckets of the partition's newest event and the one before are kept,
// so every id within the horizon behind the newest is known. A re-sent event carries its
// original timestamp (and its key, so its partition), so a row whose event time is older than
// what is kept cannot be decided here and is checked against the table instead (`covers`).
// Pure: the warehouse fills it from its table at first use and after each commit.

export class RecentIds {
  private readonly width: number;
  private readonly buckets = new Map<number, Set<string>>();
  private newest = Number.NEGATIVE_INFINITY;

  constructor(horizonMs: number) {
    this.width = Math.max(1, horizonMs);
  }

  /** Event time from which on every id added is still here (−∞ while nothing was added). */
  get floor(): number {
    return this.newest === Number.NEGATIVE_INFINITY ? this.newest : (Math.floor(this.newest / this.width) - 1) * this.width;
  }

  /** True when a re-send of an event at `eventTime` would be found here. */
  covers(eventTime: number): boolean {
    return eventTime >= this.floor;
  }

  has(id: string): boolean {
    for (const ids of this.buckets.values()) if (ids.has(id)) return true;
    return false;
  }

  add(id: string, eventTime: number): void {
    if (eventTime > this.newest) {
      this.newest = eventTime;
      const keep = Math.floor(this.floor / this.width);
      for (const b of this.buckets.keys()) if (b < keep) this.buckets.delete(b);
    }
    if (!this.covers(eventTime)) return;
    const b = Math.floor(eventTime / this.width);
    let ids = this.buckets.get(b);
    if (!ids) this.buckets.set(b, (ids = new Set()));
    ids.add(id);
  }

  get size(): number {
    let n = 0;
    for (const ids of this.buckets.values()) n += ids.size;
    return n;
  }
}

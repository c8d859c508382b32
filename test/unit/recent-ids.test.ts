import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../src/warehouse/recent-ids.ts';

const H = 3_600_000;

describe('RecentIds', () => {
  it('knows every id within the horizon behind the newest event time, and says which times it cannot decide', () => {
    const r = new RecentIds(H);
    expect(r.covers(0)).toBe(true); // empty: nothing to miss
    const t0 = Date.UTC(2026, 0, 1, 10, 30);
    r.add('a', t0);
    r.add('b', t0 + 10 * 60_000);
    expect(r.has('a') && r.has('b')).toBe(true);
    expect(r.has('c')).toBe(false);
    // The newest moves to 11:59: a (10:30) is kept, in the bucket before the newest's.
    r.add('c', t0 + 89 * 60_000); // 11:59
    expect(r.has('a')).toBe(true);
    expect(r.floor).toBe(Date.UTC(2026, 0, 1, 10));
    // 12:00 starts a new bucket: 10:xx is dropped, and is no longer covered.
    r.add('d', Date.UTC(2026, 0, 1, 12));
    expect(r.has('a')).toBe(false);
    expect(r.has('c')).toBe(true);
    expect(r.covers(t0)).toBe(false);
    expect(r.covers(Date.UTC(2026, 0, 1, 11))).toBe(true);
    // Always at least one horizon behind the newest.
    for (let m = 0; m < 600; m += 7) {
      const newest = Date.UTC(2026, 0, 2) + m * 60_000;
      r.add(`n${m}`, newest);
      expect(r.covers(newest - H)).toBe(true);
      expect(r.has(`n${m}`)).toBe(true);
    }
  });

  it('does not keep an id older than what it covers (the caller checks those against the table)', () => {
    const r = new RecentIds(H);
    r.add('new', Date.UTC(2026, 0, 1, 12));
    r.add('old', Date.UTC(2026, 0, 1, 8));
    expect(r.has('old')).toBe(false);
    expect(r.size).toBe(1);
  });

  it('fills the same from a table read in any order', () => {
    const times = Array.from({ length: 500 }, (_, i) => Date.UTC(2026, 0, 1) + ((i * 7919) % 500) * 30_000);
    const inOrder = new RecentIds(H);
    const shuffled = new RecentIds(H);
    times.forEach((t, i) => shuffled.add(`id${i}`, t));
    [...times.entries()].sort((a, b) => a[1] - b[1]).forEach(([i, t]) => inOrder.add(`id${i}`, t));
    expect(shuffled.size).toBe(inOrder.size);
    expect(shuffled.floor).toBe(inOrder.floor);
    for (let i = 0; i < times.length; i++) expect(shuffled.has(`id${i}`)).toBe(inOrder.has(`id${i}`));
  });
});

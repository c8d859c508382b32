import { describe, expect, it } from 'vitest';
import { isoUtc } from '../../src/events/iso-time.ts';
import { rng } from '../../src/random.ts';

describe('isoUtc', () => {
  it('equals Date#toISOString for random instants, in and out of order, across days and years', () => {
    const r = rng(11);
    const mismatches: string[] = [];
    let t = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 200_000; i++) {
      // Mostly small forward steps (one cached day), sometimes jumps anywhere in 0000–9999.
      t = r.next() < 0.001 ? Math.floor(r.next() * 253_402_300_799_999) : t + Math.floor(r.next() * 60_000);
      if (isoUtc(t) !== new Date(t).toISOString()) mismatches.push(`${t}: ${isoUtc(t)}`);
    }
    for (const edge of [0, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), 253_402_300_799_999, 253_402_300_800_000, -1, 1.5]) {
      if (isoUtc(edge) !== new Date(edge).toISOString()) mismatches.push(`${edge}: ${isoUtc(edge)}`);
    }
    expect(mismatches).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { isoUtc } from '../../src/events/iso-time.ts';
import { rng } from '../../src/random.ts';
import { parseEventTime } from '../../src/stream/transform.ts';

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

describe('parseEventTime', () => {
  it('reads the canonical form exactly as Date.parse does, and still takes other ISO 8601 forms', () => {
    const r = rng(12);
    const mismatches: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const t = Math.floor(r.next() * 253_402_300_799_999);
      const text = new Date(t).toISOString();
      if (parseEventTime(text) !== t) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    for (const text of ['2024-02-29T12:00:00.000Z', '2026-02-30T00:00:00.000Z', '0099-01-01T00:00:00.000Z', '2026-01-01T10:15:00+02:00', '2026-01-01T10:15:00Z', ' 2026-01-01T10:15:00.000Z ']) {
      expect(parseEventTime(text), text).toEqual(Date.parse(text.trim()));
    }
    for (const bad of ['2026-13-01T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '2026-01-01', 'yesterday', 12]) {
      expect(Number.isNaN(parseEventTime(bad)), String(bad)).toBe(Number.isNaN(typeof bad === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(bad) ? Date.parse(bad) : Number.NaN));
    }
  });
});

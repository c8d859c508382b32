import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE, finalWindowKeys, hopping, tumbling, windowsFor } from '../../src/windows/window.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (w: { start: number; end: number }) => [new Date(w.start).toISOString().slice(11, 16), new Date(w.end).toISOString().slice(11, 16)];

describe('windows', () => {
  it('names its windows', () => {
    expect(tumbling(HOUR).type).toBe('tumbling_1h');
    expect(hopping(HOUR, 15 * MINUTE).type).toBe('sliding_1h_15m');
  });

  it('puts an event in exactly one tumbling window, half-open at the end', () => {
    expect(windowsFor(tumbling(HOUR), at('2026-11-25T10:59:59.999Z')).map(iso)).toEqual([['10:00', '11:00']]);
    expect(windowsFor(tumbling(HOUR), at('2026-11-25T11:00:00.000Z')).map(iso)).toEqual([['11:00', '12:00']]);
  });

  it('puts an event at exactly 10:15:00.000 in the sliding windows that start at 10:15, not those that end there', () => {
    const ws = windowsFor(hopping(HOUR, 15 * MINUTE), at('2026-11-25T10:15:00.000Z')).map(iso);
    expect(ws).toEqual([
      ['09:30', '10:30'],
      ['09:45', '10:45'],
      ['10:00', '11:00'],
      ['10:15', '11:15'],
    ]);
    expect(ws).not.toContainEqual(['09:15', '10:15']);
    expect(windowsFor(hopping(HOUR, 15 * MINUTE), at('2026-11-25T10:14:59.999Z')).map(iso)[0]).toEqual(['09:15', '10:15']);
  });

  it('calls an event late once a window holding it is final', () => {
    const specs = [tumbling(HOUR), hopping(HOUR, 15 * MINUTE)];
    const t = at('2026-11-25T10:20:00Z'); // earliest window holding it: [09:30, 10:30)
    expect(finalWindowKeys(specs, t, at('2026-11-25T10:29:59.999Z'))).toEqual([]);
    expect(finalWindowKeys(specs, t, at('2026-11-25T10:30:00Z'))).toEqual([`sliding_1h_15m:${at('2026-11-25T09:30:00Z')}`]);
  });

  it('rejects windows that do not tile', () => {
    expect(() => hopping(HOUR, 7 * MINUTE)).toThrow(/multiple/);
    expect(() => hopping(15 * MINUTE, HOUR)).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { nextStreamId } from '../../src/stream/flush.ts';

describe('nextStreamId', () => {
  it('is the smallest id after the given one, so XTRIM MINID keeps nothing at or before it', () => {
    expect(nextStreamId('1764115200000-0')).toBe('1764115200000-1');
    expect(nextStreamId('1764115200000-41')).toBe('1764115200000-42');
    // Sequence numbers are 64-bit: no float rounding near the top.
    expect(nextStreamId('5-9007199254740993')).toBe('5-9007199254740994');
  });
});

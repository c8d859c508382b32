// The event-time sanity rule both ingestion paths apply (futureTimestampError).
import { describe, expect, it } from 'vitest';
import { futureTimestampError } from '../../src/stream/transform.ts';

const DAY = 86_400_000;
const sent = Date.parse('2026-12-03T12:00:00Z');

describe('future_timestamp', () => {
  it('refuses an event more than the skew ahead of its record time on a partition with no events yet', () => {
    expect(futureTimestampError(Date.parse('9999-12-31T23:59:59.999Z'), sent, -1, DAY)?.reason).toBe('future_timestamp');
    expect(futureTimestampError(sent + DAY + 1, sent, -1, DAY)?.reason).toBe('future_timestamp');
    expect(futureTimestampError(sent + DAY, sent, -1, DAY)).toBeNull();
  });

  it('takes an event close behind its partition newest event time, even days ahead of the wall clock (a fast-forward run)', () => {
    const mark = sent + 5 * DAY;
    expect(futureTimestampError(mark + DAY - 1, sent, mark, DAY)).toBeNull();
    expect(futureTimestampError(mark + DAY + 1, sent, mark, DAY)?.message).toContain("partition's newest event time");
  });

  it('takes a replay of old data far behind both, and a gap of months inside it', () => {
    const mark = Date.parse('2019-01-01T00:00:00Z');
    expect(futureTimestampError(mark + 300 * DAY, sent, mark, DAY)).toBeNull();
  });

  it('judges by the partition alone when the record carries no time, and lets anything pass when neither is known', () => {
    expect(futureTimestampError(sent + 2 * DAY, -1, sent, DAY)?.reason).toBe('future_timestamp');
    expect(futureTimestampError(sent + 2 * DAY, Number.NaN, -1, DAY)).toBeNull();
  });
});

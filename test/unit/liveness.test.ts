import { describe, expect, it } from 'vitest';
import { REPORT_STALE_MS, STALL_MS, judgeRole, type MemberReport } from '../../src/kafka/liveness.ts';

const NOW = Date.UTC(2026, 11, 3, 12);
const member = (over: Partial<MemberReport> = {}): MemberReport => ({ groupId: 'g', state: 'running', at: NOW - 1000, progressAt: NOW - 1000, restarts: 0, assigned: { t: [0, 1] }, ...over });
const noLag = async () => 0;

describe('judgeRole', () => {
  it('is down with a next step when no member reports, or only stale ones do', async () => {
    expect(await judgeRole('stream', {}, NOW, noLag)).toEqual({ up: false, reason: expect.stringMatching(/no stream member .*start the stream role/) });
    expect(await judgeRole('loader', { a: member({ at: NOW - REPORT_STALE_MS - 1 }) }, NOW, noLag)).toEqual({ up: false, reason: expect.stringMatching(/no loader member .*start the worker role/) });
  });

  it('is down, with the error, while a member restarts after a crash', async () => {
    const v = await judgeRole('stream', { a: member(), b: member({ state: 'restarting', restarts: 2, lastError: 'MaxRetriesPerRequestError: Reached the max retries per request limit' }) }, NOW, noLag);
    expect(v).toEqual({ up: false, reason: expect.stringContaining('member b crashed and is restarting (2 restart(s)): MaxRetriesPerRequestError') });
  });

  it('is down when a member with lag finished no batch for STALL_MS; a quiet member without lag is up', async () => {
    const quiet = { a: member({ progressAt: NOW - STALL_MS - 5000 }) };
    expect(await judgeRole('stream', quiet, NOW, noLag)).toEqual({ up: true });
    expect(await judgeRole('stream', quiet, NOW, async () => 42)).toEqual({ up: false, reason: expect.stringContaining('finished no batch for 65 s with 42 message(s) behind') });
    // Lag is asked only of a quiet member.
    let asked = 0;
    expect(await judgeRole('stream', { a: member() }, NOW, async () => ++asked)).toEqual({ up: true });
    expect(asked).toBe(0);
  });
});

// The session guards inside the atomic steps (issue #13): the stream's state step refuses session
// events judged against a pairing boundary that moved since, and a pairing run commits only if
// no session event arrived behind its new boundary while it computed (else such an event was
// left for a later run and paired out of order, into an hour already written final).
// Real Redis, a database of its own (11); the Lua steps as the stream and flush:metrics call them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { applyBatch, shardKeys, type BatchApply } from '../../src/state/scripts.ts';
import { pairShard } from '../../src/windows/sessions.ts';
import { MINUTE } from '../../src/windows/window.ts';
import { testConfig } from '../helpers/env.ts';
import { testRedisDb } from '../helpers/admin-server.ts';

const T0 = Date.UTC(2026, 6, 1, 10);
const IN = 'sg_sign_in';
const OUT = 'sg_sign_out';
const k = shardKeys(0);

describe('session guards inside the Lua steps', () => {
  const ctx = new AppContext(testConfig({ REDIS_URL: testRedisDb(11) }));
  const redis = ctx.redis;
  const offsets: Record<string, number> = { [IN]: -1, [OUT]: -1 };
  /** One session event as the stream applies it, decided from `pairedFrom`. */
  const record = (topic: string, user: string, t: number, pairedFrom: string | null, mark = t) => {
    const offset = offsets[topic]! + 1;
    const b: BatchApply = {
      topic,
      readFrom: offsets[topic]! < 0 ? null : offsets[topic]!,
      lastOffset: String(offset),
      maxEventTime: mark,
      dedupHorizonMs: 86_400_000,
      pairedFrom,
      late: [],
      events: [{ offset: String(offset), eventId: `${topic}-${offset}`, time: t, op: `${topic === IN ? 'I' : 'O'} ${user} ${t}` }],
    };
    return applyBatch(redis, 0, b).then((r) => {
      if (!r.moved) offsets[topic] = offset;
      return r;
    });
  };
  const totals = async () => redis.hgetall(k.sessionTotals);

  beforeAll(async () => {
    await redis.flushdb();
  });
  afterAll(async () => {
    await redis.flushdb();
    await ctx.close();
  });

  it('a pairing run that a late sign-out overtook commits nothing; the next one pairs it in order', async () => {
    expect(await record(IN, 'u1', T0 + 10 * MINUTE, null)).toMatchObject({ applied: 1, moved: false });
    expect(await record(IN, 'u2', T0 + 20 * MINUTE, null, T0 + 180 * MINUTE)).toMatchObject({ applied: 1 });
    expect(await record(OUT, 'u1', T0 + 40 * MINUTE, null, T0 + 180 * MINUTE)).toMatchObject({ applied: 1 });
    // Both topics' marks are at 13:00: the boundary is 12:50 (10 min lateness).
    const overtaken = await pairShard(redis, 0, { signIn: IN, signOut: OUT }, { latenessMs: 10 * MINUTE, beforeCommit: async () => {
      // u2's sign-out at 10:30 arrives while the run computes: behind 12:50, ahead of no boundary yet.
      expect(await record(OUT, 'u2', T0 + 30 * MINUTE, null, T0 + 180 * MINUTE)).toMatchObject({ applied: 1, moved: false });
    } });
    expect(overtaken).toBeNull();
    expect(await totals()).toEqual({});
    expect(await redis.zcard(k.signIns)).toBe(2);

    const boundary = await pairShard(redis, 0, { signIn: IN, signOut: OUT }, { latenessMs: 10 * MINUTE });
    expect(boundary).toBe(T0 + 170 * MINUTE);
    const t = await totals();
    // Both sessions closed in the 10:00 hour: 30 min and 10 min.
    expect({ count: t[`${T0}:count`], sum: t[`${T0}:sum`], done: t.done }).toEqual({ count: '2', sum: String(40 * MINUTE), done: String(T0 + 170 * MINUTE) });
  });

  it('a session event judged against a pairing boundary that moved since is not recorded; decided again it is', async () => {
    const stale = String(T0 + 170 * MINUTE);
    await redis.hset(k.sessionTotals, 'done', String(T0 + 200 * MINUTE)); // a pairing run committed meanwhile
    const before = await redis.zcard(k.signIns);
    expect(await record(IN, 'u3', T0 + 190 * MINUTE, stale)).toMatchObject({ applied: 0, moved: true });
    expect(await redis.zcard(k.signIns)).toBe(before);
    // The consumer reads again: now the event is behind the boundary (a late dead letter); one after it applies.
    expect(await record(IN, 'u3', T0 + 210 * MINUTE, String(T0 + 200 * MINUTE))).toMatchObject({ applied: 1, moved: false });
  });
});

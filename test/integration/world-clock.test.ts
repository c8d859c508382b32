// Where a run without a start begins (issue #12, finding 4): a run whose last world-clock update
// was lost (Redis unreachable at that moment) left the clock behind events the stream had
// already applied, and the next run's events landed behind the watermark as late. The clock now
// never starts a run behind the stream's event-time marks, and one far-future mark does not
// move the world. A Redis database of its own (12).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppContext } from '../../src/context.ts';
import { worldClock } from '../../src/simulator/run.ts';
import { shardKeys } from '../../src/state/scripts.ts';
import { testConfig } from '../helpers/env.ts';
import { testRedisDb } from '../helpers/admin-server.ts';

const DAY = 86_400_000;

describe('the simulated world clock', () => {
  const ctx = new AppContext(testConfig({ REDIS_URL: testRedisDb(12) }));
  beforeAll(async () => {
    await ctx.redis.flushdb();
  });
  afterAll(async () => {
    await ctx.redis.flushdb();
    await ctx.close();
  });

  it('starts the next run after every event the stream applied, not behind them, and ignores a mark far past the clock', async () => {
    const now = Date.now();
    expect(await worldClock(ctx)).toBeGreaterThanOrEqual(now);
    await ctx.redis.set('segpipe:simulator:clock', String(now + DAY));
    expect(await worldClock(ctx)).toBe(now + DAY);
    // The stream applied a run's events up to 3 days ahead; that run's clock update was lost.
    await ctx.redis.hset(shardKeys(2).maxTime, ctx.config.topics.sign_in, String(now + 3 * DAY));
    expect(await worldClock(ctx)).toBe(now + 3 * DAY + 1);
    // One registration stamped 9999-12-31 is a bad timestamp, not where the world is.
    await ctx.redis.hset(shardKeys(4).maxTime, ctx.config.topics.consumer_registration, String(Date.parse('9999-12-31T23:59:59.999Z')));
    expect(await worldClock(ctx)).toBe(now + 3 * DAY + 1);
  });
});

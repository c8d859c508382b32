// Where the live world stands, in Redis: which world (its prefix, seed, genesis, rate) and the
// time up to which bursts have produced it. A burst claims the next span atomically (two
// workers never produce the same span) and keeps the claim in its job, so a retry produces the
// same events. Every claim is also logged, so verify --runs recognises the events of a burst that
// never completed (failed, or still running) instead of calling them unexpected.
import type { AppContext } from '../context.ts';
import { LIVE_TIMING, SLICE_MS, liveGenesis, nextLiveSpan, type LiveSpan, type LiveWorld } from './live.ts';

const LIVE_KEY = 'segpipe:simulator:live';
const WORLD_COUNTER = 'segpipe:simulator:live-worlds';
const CLAIMS_KEY = 'segpipe:simulator:live-claims';
const KEEP_CLAIMS = 10_000;

export interface LiveClaim {
  world: LiveWorld;
  span: LiveSpan;
}

// Moves the world to ARGV's only if it is still where the claim was decided from.
const CLAIM = `
if (redis.call('HGET', KEYS[1], 'prefix') or '') ~= ARGV[1] or (redis.call('HGET', KEYS[1], 'to') or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'prefix', ARGV[3], 'seed', ARGV[4], 'genesis', ARGV[5], 'rate', ARGV[6], 'to', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[8])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[9]) - 1)
return 1`;

/** The world's rate from the burst settings: SIMULATOR_BURST_EVENTS every SIMULATOR_BURST_EVERY_S on average. */
export const liveRate = (sim: AppContext['config']['simulator']): number => sim.burstEvents / sim.burstEverySeconds;

/**
 * The span the next live burst produces, claimed: from where the world stands to now. A new
 * world begins (prefix w<n>) on the first burst, or when the seed or rate was changed (the
 * world's journeys follow from both). Null when there is nothing to produce yet.
 */
export async function claimLiveSpan(ctx: AppContext, now = Date.now()): Promise<LiveClaim | null> {
  const sim = ctx.config.simulator;
  for (let attempt = 0; attempt < 10; attempt++) {
    const stored = await ctx.redis.hgetall(LIVE_KEY);
    const same = stored.prefix && Number(stored.seed) === sim.seed && Number(stored.rate) === liveRate(sim);
    const world: LiveWorld = same
      ? { prefix: stored.prefix!, seed: Number(stored.seed), genesis: Number(stored.genesis), rate: Number(stored.rate) }
      : { prefix: `w${await ctx.redis.incr(WORLD_COUNTER)}`, seed: sim.seed, genesis: liveGenesis(now), rate: liveRate(sim) };
    const span = nextLiveSpan(same ? Number(stored.to) : null, world.genesis, now);
    if (!span) return null;
    const claim: LiveClaim = { world, span };
    const args = [stored.prefix ?? '', stored.to ?? '', world.prefix, world.seed, world.genesis, world.rate, span.to, JSON.stringify(claim), KEEP_CLAIMS];
    if ((await ctx.redis.eval(CLAIM, 2, LIVE_KEY, CLAIMS_KEY, ...args.map(String))) === 1) return claim;
  }
  throw new Error('could not claim the next live span: other bursts kept claiming it first');
}

/** Every live burst claimed (completed or not), oldest first. */
export async function liveClaims(ctx: AppContext): Promise<LiveClaim[]> {
  return (await ctx.redis.zrange(CLAIMS_KEY, '0', '-1')).map((m) => JSON.parse(m) as LiveClaim);
}

/**
 * Why a claim kept in a job's data cannot be the one this deployment made, or null: a job can be
 * written straight into Redis, and a forged span must not produce events past now or hours of them.
 */
export function liveClaimProblem(c: unknown, sim: AppContext['config']['simulator'], now = Date.now()): string | null {
  const x = c as Partial<LiveClaim> | null;
  const w = x?.world;
  const s = x?.span;
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
  if (!w || !s || typeof w.prefix !== 'string' || !/^w\d{1,12}$/.test(w.prefix) || !int(w.seed) || !int(w.genesis) || w.genesis % SLICE_MS !== 0) return 'the live claim names no world';
  if (w.seed !== sim.seed || w.rate !== liveRate(sim)) return 'the live claim is for another seed or rate';
  if (!int(s.from) || !int(s.to) || s.from < w.genesis || s.to <= s.from || s.to > now) return 'the live claim has a span that is not before now';
  if (s.to - s.from > Math.max(LIVE_TIMING.maxCatchUpMs, LIVE_TIMING.firstSpanMs + SLICE_MS)) return 'the live claim spans more than a burst may';
  return null;
}

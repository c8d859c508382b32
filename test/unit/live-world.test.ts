// The live world's pure logic: which span a burst covers (never past now), and the world's
// events as a function of time: the same wherever bursts cut it, at about its rate, with users
// who stay from one burst to the next.
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsumerRegistration, SignIn, Checkout } from '../../src/events/model.ts';
import { readSchemaFiles } from '../../src/registry/serde.ts';
import { catalogFromFile } from '../../src/simulator/catalog.ts';
import { LIVE_TIMING, MAX_JOURNEY_MS, SLICE_MS, liveEvents, liveGenesis, nextLiveSpan, type LiveWorld } from '../../src/simulator/live.ts';

const catalog = catalogFromFile();
const NOW = Date.UTC(2026, 11, 4, 12, 0, 17, 345);
const world: LiveWorld = { prefix: 'w1', seed: 42, genesis: liveGenesis(NOW - 3_600_000), rate: 2000 / 30 };
const ids = (es: { eventId: string }[]) => es.map((e) => e.eventId);

describe('live bursts: the span each covers', () => {
  it("a new world's first burst covers the few minutes before now, from a slice start", () => {
    const genesis = liveGenesis(NOW);
    expect(genesis % SLICE_MS).toBe(0);
    expect(NOW - genesis).toBeGreaterThanOrEqual(LIVE_TIMING.firstSpanMs);
    expect(NOW - genesis).toBeLessThan(LIVE_TIMING.firstSpanMs + SLICE_MS);
    expect(nextLiveSpan(null, genesis, NOW)).toEqual({ from: genesis, to: NOW });
  });

  it('a burst goes on where the last ended, up to now, and never past now', () => {
    expect(nextLiveSpan(NOW - 30_000, world.genesis, NOW)).toEqual({ from: NOW - 30_000, to: NOW });
    // Nothing to do when the last burst reached now (or a clock stepped back).
    expect(nextLiveSpan(NOW, world.genesis, NOW)).toBeNull();
    expect(nextLiveSpan(NOW + 5_000, world.genesis, NOW)).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: -86_400_000, max: 86_400_000 }), fc.integer({ min: 0, max: 86_400_000 }), (lastAgo, now) => {
        const span = nextLiveSpan(NOW - lastAgo, world.genesis, NOW + now);
        if (span) {
          expect(span.to).toBeLessThanOrEqual(NOW + now);
          expect(span.from).toBeGreaterThanOrEqual(NOW - lastAgo);
          expect(span.to - span.from).toBeLessThanOrEqual(LIVE_TIMING.maxCatchUpMs);
        }
      }),
    );
  });

  it('after a long stop, the world goes on from a few minutes before now', () => {
    expect(nextLiveSpan(NOW - 86_400_000, world.genesis, NOW)).toEqual({ from: NOW - LIVE_TIMING.maxCatchUpMs, to: NOW });
  });
});

describe('the live world', () => {
  const span = { from: NOW - 30_000, to: NOW };
  const burst = liveEvents(world, span, catalog);

  it('holds the events of the span only, in time order, each valid for its schema, at about the world rate', () => {
    const types = new Map(readSchemaFiles().map((f) => [f.name, avro.Type.forSchema(JSON.parse(f.text))]));
    expect(burst.length).toBeGreaterThan(0.6 * 2000);
    expect(burst.length).toBeLessThan(1.4 * 2000);
    for (let i = 0; i < burst.length; i++) {
      const e = burst[i]!;
      expect(e.time).toBeGreaterThanOrEqual(span.from);
      expect(e.time).toBeLessThan(span.to);
      if (i > 0) expect(e.time).toBeGreaterThanOrEqual(burst[i - 1]!.time);
      expect(types.get(e.eventName)!.isValid(e.toRecord()), e.eventName).toBe(true);
    }
    expect(new Set(ids(burst)).size).toBe(burst.length);
  });

  it('is the same events byte for byte for the same world and span', () => {
    expect(liveEvents(world, span, catalog).map((e) => JSON.stringify(e.toRecord()))).toEqual(burst.map((e) => JSON.stringify(e.toRecord())));
    expect(ids(liveEvents({ ...world, prefix: 'w2' }, span, catalog)).some((id) => ids(burst).includes(id))).toBe(false);
  });

  it('gives the same events wherever bursts cut the timeline', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 120_000 }), { minLength: 1, maxLength: 4 }), (cuts) => {
        const bounds = [span.from - 120_000];
        for (const c of cuts) bounds.push(bounds.at(-1)! + c);
        const whole = liveEvents(world, { from: bounds[0]!, to: bounds.at(-1)! }, catalog);
        const parts = bounds.slice(1).flatMap((to, i) => liveEvents(world, { from: bounds[i]!, to }, catalog));
        expect(ids(parts)).toEqual(ids(whole));
      }),
      { numRuns: 8 },
    );
  });

  it('keeps its users between bursts: the next burst has sign-ins and checkouts of users who registered before it', { timeout: 30_000 }, () => {
    const first = liveEvents(world, { from: NOW - 5 * 60_000, to: NOW }, catalog);
    const next = liveEvents(world, { from: NOW, to: NOW + 30_000 }, catalog);
    const registered = new Set(first.filter((e) => e instanceof ConsumerRegistration).map((e) => e.userId));
    expect(registered.size).toBeGreaterThan(50);
    const back = next.filter((e) => (e instanceof SignIn || e instanceof Checkout) && registered.has(e.userId));
    expect(back.length).toBeGreaterThan(0);
    // And every user's journey carried on: a session begun in one burst ends in the next.
    const signedIn = new Set(first.filter((e) => e instanceof SignIn).map((e) => e.userId));
    expect(next.some((e) => e.eventName === 'sign_out' && signedIn.has(e.userId))).toBe(true);
    // No user acts before registering: a returning user registered in an earlier slice.
    const window = liveEvents(world, { from: NOW - 15 * 60_000, to: NOW + 30_000 }, catalog);
    const registeredAt = new Map<string, number>();
    for (const e of window) if (e instanceof ConsumerRegistration) registeredAt.set(e.userId, e.time);
    for (const e of window) if (registeredAt.has(e.userId)) expect(e.time).toBeGreaterThanOrEqual(registeredAt.get(e.userId)!);
    // Users come back long after registering: a user's number gives the slice they registered in.
    const registeredSlice = (userId: string) => world.genesis / SLICE_MS + Math.floor(Number(userId.split('-')[1]) / 100_000);
    const returning = next.filter((e) => e instanceof SignIn && (registeredSlice(e.userId) + 1) * SLICE_MS + MAX_JOURNEY_MS < e.time);
    expect(returning.length).toBeGreaterThan(10);
  });

  it('has nothing before its genesis', () => {
    expect(liveEvents(world, { from: world.genesis - 3_600_000, to: world.genesis }, catalog)).toEqual([]);
  });

  it('makes a burst in well under a second', () => {
    const t0 = performance.now();
    liveEvents(world, { from: NOW + 60_000, to: NOW + 90_000 }, catalog);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

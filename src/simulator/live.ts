// The live world: the simulator's default for `npm start`'s bursts. One continuous world at
// wall-clock time: each burst produces what the world did between the previous burst and now,
// so events carry times around now, and its users stay: people registered earlier come back and
// sign in, and a session (with its cart) that was going on at one burst goes on in the next.
//
// The world is a pure function of time, so no population has to be stored between bursts and
// any burst can be recomputed from its interval alone (verify --runs): time is cut into
// one-minute slices, and each slice's journeys (who arrives when, new or returning, and what they
// do) come from a generator seeded with the world and the slice. A journey is one session
// (a new user's starts with the registration) and lasts at most MAX_JOURNEY_MS, so the events
// in [from, to) are those of the journeys of the slices from `from - MAX_JOURNEY_MS` to `to`.
// Splitting a span into bursts anywhere gives the same events as one burst over it.
import { Faker, en } from '@faker-js/faker';
import { idRng, stateRng, type Rng } from '../random.ts';
import { AddedToCart, Checkout, ConsumerRegistration, ItemView, SignIn, SignOut } from '../events/model.ts';
import type { CatalogItem } from './catalog.ts';
import type { SimEvent } from './journeys.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const SLICE_MS = MINUTE;
/** A journey's events after this long are never produced, so a burst looks back this far only. */
export const MAX_JOURNEY_MS = 45 * MINUTE;

export interface LiveWorld {
  /** User ids are `<prefix>-<n>`; event ids come from the prefix and seed too. */
  prefix: string;
  seed: number;
  /** Start of the world's first slice (epoch ms, a multiple of SLICE_MS): nothing happens before it. */
  genesis: number;
  /** Events per second the world averages once it runs (SIMULATOR_BURST_EVENTS / SIMULATOR_BURST_EVERY_S). */
  rate: number;
}

/** What one live burst covers: the world's events with from <= time < to. */
export interface LiveSpan {
  from: number;
  to: number;
}

export const LIVE_TIMING = {
  /** A new world's first burst covers this much time before now, so a fresh dashboard has data at once. */
  firstSpanMs: 5 * MINUTE,
  /** After a stop longer than this, the world goes on from now minus this; the time between is skipped. */
  maxCatchUpMs: 5 * MINUTE,
};

/**
 * The span the next burst covers: from where the last one ended (or, for a new world, from its
 * genesis), to now; never a time after now. Null when there is nothing to produce yet.
 */
export function nextLiveSpan(lastTo: number | null, genesis: number, now: number, timing = LIVE_TIMING): LiveSpan | null {
  const from = lastTo === null ? genesis : Math.max(lastTo, genesis, now - timing.maxCatchUpMs);
  const to = Math.floor(now);
  return to > from ? { from, to } : null;
}

/** A new world's genesis for a first burst at `now`: the slice start at or before now - firstSpanMs. */
export const liveGenesis = (now: number, timing = LIVE_TIMING): number => Math.floor((now - timing.firstSpanMs) / SLICE_MS) * SLICE_MS;

/** Journey shape, as the fast-forward simulator's (journeys.ts); probabilities per session. */
const JOURNEY = {
  newUserShare: 0.1,
  firstSignInMeanMs: 5 * MINUTE,
  viewsMean: 4,
  viewGapMeanMs: 45 * SECOND,
  addToCartAfterView: 0.3,
  addGapMeanMs: 20 * SECOND,
  checkoutRate: 0.62,
  checkoutGapMeanMs: 90 * SECOND,
  signOutGapMeanMs: 2 * MINUTE,
  /** A returning user registered this long ago on average (exponential; clamped to the world's age). */
  returnAfterMeanMs: 6 * HOUR,
  neverSignsOutShare: 0.03,
  /** Events of an average journey, to turn the world's rate into journeys per second. */
  eventsPerJourney: 9.1,
};
/** Users numbered per slice: n = slice × USERS_PER_SLICE + i. */
const USERS_PER_SLICE = 100_000;

const LANGUAGES = [['en', 52], ['es', 14], ['fr', 8], ['de', 7], ['pt', 6], ['ja', 5], ['hi', 4], ['it', 4]] as const;
const PAYMENT_METHODS = [['credit_card', 55], ['paypal', 20], ['debit_card', 14], ['apple_pay', 7], ['gift_card', 4]] as const;
const QUANTITIES = [[1, 80], [2, 15], [3, 5]] as const;

interface Arrival {
  at: number;
  /** New user (registers first) or returning. */
  isNew: boolean;
  /** Index among the slice's new users, or -1. */
  newIndex: number;
  /** Two uniform draws that pick a returning user. */
  pick0: number;
  pick1: number;
  /** The journey's own generator state, drawn from the slice's (one hash per slice, not per journey). */
  state: [number, number, number, number];
}

/** Name pools, per seed: faker fills them once. */
const pools = new Map<number, { first: string[]; last: string[]; domains: string[] }>();
function namePools(seed: number) {
  let p = pools.get(seed);
  if (!p) {
    const faker = new Faker({ locale: [en] });
    faker.seed(seed);
    p = {
      first: Array.from({ length: 400 }, () => faker.person.firstName().toLowerCase().replace(/[^a-z]/g, '')),
      last: Array.from({ length: 400 }, () => faker.person.lastName().toLowerCase().replace(/[^a-z]/g, '')),
      domains: Array.from({ length: 40 }, () => faker.internet.domainName()),
    };
    pools.set(seed, p);
  }
  return p;
}

const worldKey = (w: LiveWorld) => `${w.seed}:${w.prefix}:${w.rate}:${w.genesis}`;
const word = (r: Rng) => (r.next() * 4294967296) >>> 0;

/**
 * The arrivals of slice `s` (a Poisson process at the world's journey rate), in time order. The
 * slices a burst looks back over are the ones the previous burst used: kept, a few dozen.
 */
const recentSlices = new Map<string, Arrival[]>();
const RECENT_SLICES = 3 * (MAX_JOURNEY_MS / SLICE_MS);
function arrivals(world: LiveWorld, s: number): Arrival[] {
  if (s * SLICE_MS < world.genesis) return [];
  const key = `${worldKey(world)}:${s}`;
  const kept = recentSlices.get(key);
  if (kept) return kept;
  const r = idRng(`${world.seed}:${world.prefix}:slice:${s}`);
  const meanGap = (JOURNEY.eventsPerJourney * SECOND) / world.rate;
  const out: Arrival[] = [];
  let newUsers = 0;
  for (let at = s * SLICE_MS + r.exp(meanGap); at < (s + 1) * SLICE_MS; at += r.exp(meanGap)) {
    const isNew = r.next() < JOURNEY.newUserShare && newUsers < USERS_PER_SLICE;
    out.push({ at: Math.floor(at), isNew, newIndex: isNew ? newUsers++ : -1, pick0: r.next(), pick1: r.next(), state: [word(r), word(r), word(r), word(r)] });
  }
  recentSlices.set(key, out);
  if (recentSlices.size > RECENT_SLICES) recentSlices.delete(recentSlices.keys().next().value!);
  return out;
}

/** New users per slice, for returning picks (a number per slice, so many are kept). */
const newUserCounts = new Map<string, number>();
function newUsersOf(world: LiveWorld, s: number): number {
  const key = `${worldKey(world)}:${s}`;
  let n = newUserCounts.get(key);
  if (n === undefined) {
    n = 0;
    for (const a of arrivals(world, s)) if (a.isNew) n++;
    newUserCounts.set(key, n);
    if (newUserCounts.size > 200_000) newUserCounts.delete(newUserCounts.keys().next().value!);
  }
  return n;
}

/** The user of a returning arrival in slice `s`: one registered in an earlier slice, or null (nobody yet). */
function returningUser(world: LiveWorld, s: number, a: Arrival): number | null {
  const first = world.genesis / SLICE_MS;
  if (s <= first) return null;
  let back = 1 + Math.floor((-Math.log(1 - a.pick0) * JOURNEY.returnAfterMeanMs) / SLICE_MS);
  // A world younger than the draw: someone from any of its earlier slices.
  if (s - back < first) back = 1 + Math.floor(a.pick0 * (s - first));
  const from = s - back;
  const n = newUsersOf(world, from);
  if (n === 0) return null;
  return (from - first) * USERS_PER_SLICE + Math.min(n - 1, Math.floor(a.pick1 * n));
}

const pickItem = (r: Rng, catalog: readonly CatalogItem[]) => catalog[Math.min(catalog.length - 1, Math.floor(catalog.length * r.next() ** 1.8))]!;
/** An event's id: drawn for every event, built only for one inside the span, so a journey draws alike wherever a burst cuts it. */
function eventId(r: Rng, built: boolean): string {
  if (built) return r.uuid();
  r.next(), r.next(), r.next(), r.next();
  return '';
}
const gap = (r: Rng, meanMs: number) => Math.max(1, Math.round(r.exp(meanMs)));

/** One journey's events with from <= time < to, appended to `out` in time order. */
function journey(world: LiveWorld, a: Arrival, user: number, catalog: readonly CatalogItem[], from: number, to: number, out: SimEvent[]): void {
  const r: Rng = stateRng(a.state);
  const userId = `${world.prefix}-${user}`;
  const end = Math.min(a.at + MAX_JOURNEY_MS, to);
  let t = a.at;
  if (a.isNew) {
    const p = namePools(world.seed);
    const id = eventId(r, t >= from);
    const z = Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
    const age = Math.max(16, Math.min(85, Math.round(34 + 12 * z)));
    const email = `${r.pick(p.first)}.${r.pick(p.last)}${r.int(1, 999)}@${r.pick(p.domains)}`;
    const language = r.weighted(LANGUAGES);
    if (t >= from) out.push(new ConsumerRegistration(id, t, userId, age, email, language));
    t += gap(r, JOURNEY.firstSignInMeanMs);
  }
  if (t >= end) return;
  const signIn = eventId(r, t >= from);
  if (t >= from) out.push(new SignIn(signIn, t, userId));
  const neverSignsOut = r.next() < JOURNEY.neverSignsOutShare;
  let views = 1 + Math.floor(r.exp(JOURNEY.viewsMean));
  let cartId: string | undefined;
  const cart: Array<{ item: CatalogItem; quantity: number }> = [];
  while (views-- > 0) {
    t += gap(r, JOURNEY.viewGapMeanMs);
    if (t >= end) return;
    const item = pickItem(r, catalog);
    const viewId = eventId(r, t >= from);
    if (t >= from) out.push(new ItemView(viewId, t, userId, item.itemId));
    if (r.next() < JOURNEY.addToCartAfterView) {
      t += gap(r, JOURNEY.addGapMeanMs);
      if (t >= end) return;
      cartId ??= r.uuid();
      const quantity = r.weighted(QUANTITIES);
      cart.push({ item, quantity });
      const addId = eventId(r, t >= from);
      if (t >= from) out.push(new AddedToCart(addId, t, userId, item.itemId, cartId, quantity));
    }
  }
  if (cart.length > 0 && r.next() < JOURNEY.checkoutRate) {
    const payment = r.weighted(PAYMENT_METHODS);
    t += gap(r, JOURNEY.checkoutGapMeanMs);
    for (const line of cart) {
      if (t >= end) return;
      const checkoutId = eventId(r, t >= from);
      if (t >= from) out.push(new Checkout(checkoutId, t, userId, line.item.itemId, cartId!, payment, line.quantity, line.item.priceCents, line.item.currency));
      t += gap(r, 5 * SECOND);
    }
  }
  if (neverSignsOut) return;
  t += gap(r, JOURNEY.signOutGapMeanMs);
  if (t >= end) return;
  const signOut = eventId(r, t >= from);
  if (t >= from) out.push(new SignOut(signOut, t, userId));
}

/** The world's events with from <= time < to, in time order (ties by slice, arrival, step). */
export function liveEvents(world: LiveWorld, span: LiveSpan, catalog: readonly CatalogItem[]): SimEvent[] {
  if (catalog.length === 0) throw new Error('the catalog has no priced items: ingest a Movies.txt first');
  const first = Math.max(world.genesis, span.from - MAX_JOURNEY_MS);
  const out: SimEvent[] = [];
  for (let s = Math.floor(first / SLICE_MS); s * SLICE_MS < span.to; s++) {
    for (const a of arrivals(world, s)) {
      if (a.at + MAX_JOURNEY_MS <= span.from || a.at >= span.to) continue;
      const user = a.isNew ? (s - world.genesis / SLICE_MS) * USERS_PER_SLICE + a.newIndex : returningUser(world, s, a);
      if (user === null) continue; // nobody registered yet to come back
      journey(world, a, user, catalog, span.from, span.to, out);
    }
  }
  // Stable: equal times keep slice, arrival and step order.
  return out.sort((x, y) => x.time - y.time);
}

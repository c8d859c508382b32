// User journeys on a simulated clock. Each user registers once, then runs sessions:
// sign_in → item views → add_to_cart → checkout (or abandonment) → sign_out. Users are small
// state machines; a min-heap on (next action time, sequence) steps whichever is due next, so
// one user's events are in time order and different users' events interleave. Everything is
// drawn from seeded generators: the same seed, start, catalog and parameters give the same
// events, byte for byte.
import { Faker, en } from '@faker-js/faker';
import { idRng, rng, type Rng } from '../random.ts';
import { AddedToCart, Checkout, ConsumerRegistration, ItemView, SignIn, SignOut, type UserEvent } from '../events/model.ts';
import type { EventName } from '../config.ts';
import type { CatalogItem } from './catalog.ts';

export interface SimulationParams {
  seed: number;
  /** Stop after this many events. */
  events: number;
  /** Users arriving during the arrival window; default events / 25. */
  users?: number;
  /** Simulated start (epoch ms, UTC). */
  start: number;
  /** Users arrive over this much simulated time; default 24 h. */
  arrivalWindowMs?: number;
  /** Prefix of user ids, so separate runs (bursts) have separate users. */
  userPrefix?: string;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const LANGUAGES = [['en', 52], ['es', 14], ['fr', 8], ['de', 7], ['pt', 6], ['ja', 5], ['hi', 4], ['it', 4]] as const;
const PAYMENT_METHODS = [['credit_card', 55], ['paypal', 20], ['debit_card', 14], ['apple_pay', 7], ['gift_card', 4]] as const;
const QUANTITIES = [[1, 80], [2, 15], [3, 5]] as const;

/** Journey shape; probabilities per session unless noted. */
const JOURNEY = {
  firstSignInMeanMs: 5 * MINUTE,
  viewsMean: 4,
  viewGapMeanMs: 45 * SECOND,
  addToCartAfterView: 0.3,
  addGapMeanMs: 20 * SECOND,
  checkoutRate: 0.62, // otherwise the cart is abandoned
  checkoutGapMeanMs: 90 * SECOND,
  signOutGapMeanMs: 2 * MINUTE,
  sessionGapMeanMs: 5 * HOUR,
  neverSignsOutShare: 0.03, // per user: their last session stays open
};

type Phase = 'register' | 'sign_in' | 'view' | 'add' | 'checkout' | 'sign_out' | 'done';

interface User {
  id: string;
  phase: Phase;
  at: number;
  seq: number;
  viewsLeft: number;
  lastViewed?: CatalogItem;
  cartId?: string;
  cart: Array<{ item: CatalogItem; quantity: number }>;
  checkoutIndex: number;
  paymentMethod?: string;
  neverSignsOut: boolean;
  sessions: number;
}

/** Min-heap of users by (at, seq): deterministic order for equal times. */
class DueHeap {
  private readonly a: User[] = [];
  get size() {
    return this.a.length;
  }
  peek(): User | undefined {
    return this.a[0];
  }
  private less(i: number, j: number) {
    const x = this.a[i]!;
    const y = this.a[j]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
  push(u: User) {
    const a = this.a;
    a.push(u);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): User | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

export type SimEvent = UserEvent<Exclude<EventName, 'movies_catalog_enriched'>>;

/** Users are named `<prefix>-<n>`; this prefix when a run names none. */
export const defaultUserPrefix = (seed: number): string => `u${seed.toString(36)}`;

export function* simulate(params: SimulationParams, catalog: readonly CatalogItem[]): Generator<SimEvent> {
  if (catalog.length === 0) throw new Error('the catalog has no priced items: ingest a Movies.txt first');
  const prefix = params.userPrefix ?? defaultUserPrefix(params.seed);
  const r: Rng = rng(params.seed);
  // Event and cart ids depend on the user prefix too: runs with one seed but other users never
  // share ids. 128 bits of generator state keep different runs' id streams apart.
  const ids: Rng = idRng(`${params.seed}:${prefix}`);
  const faker = new Faker({ locale: [en] });
  faker.seed(params.seed);
  const firstNames = Array.from({ length: 400 }, () => faker.person.firstName().toLowerCase().replace(/[^a-z]/g, ''));
  const lastNames = Array.from({ length: 400 }, () => faker.person.lastName().toLowerCase().replace(/[^a-z]/g, ''));
  const domains = Array.from({ length: 40 }, () => faker.internet.domainName());

  const totalUsers = Math.max(1, params.users ?? Math.ceil(params.events / 25));
  const arrivalGap = (params.arrivalWindowMs ?? 24 * HOUR) / totalUsers;
  const heap = new DueHeap();
  let seq = 0;
  let arrived = 0;
  let nextArrival = params.start;
  let emitted = 0;

  // Popular titles get most views: a skewed pick over the (sorted) catalog.
  const pickItem = () => catalog[Math.min(catalog.length - 1, Math.floor(catalog.length * r.next() ** 1.8))]!;
  const age = () => {
    const z = Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
    return Math.max(16, Math.min(85, Math.round(34 + 12 * z)));
  };
  const schedule = (u: User, phase: Phase, afterMs: number) => {
    u.phase = phase;
    u.at += Math.max(1, Math.round(afterMs));
    u.seq = seq++;
    heap.push(u);
  };

  while (emitted < params.events) {
    // Admit the next arrival when it is due before whatever else is waiting.
    if (arrived < totalUsers && (heap.size === 0 || nextArrival <= heap.peek()!.at)) {
      arrived++;
      const user: User = { id: `${prefix}-${arrived}`, phase: 'register', at: Math.round(nextArrival), seq: seq++, viewsLeft: 0, cart: [], checkoutIndex: 0, neverSignsOut: r.next() < JOURNEY.neverSignsOutShare, sessions: 0 };
      heap.push(user);
      nextArrival += r.exp(arrivalGap);
      continue;
    }
    const u = heap.pop();
    if (!u) return; // everyone is done before the event budget
    const id = ids.uuid();
    switch (u.phase) {
      case 'register': {
        const email = `${r.pick(firstNames)}.${r.pick(lastNames)}${r.int(1, 999)}@${r.pick(domains)}`;
        yield new ConsumerRegistration(id, u.at, u.id, age(), email, r.weighted(LANGUAGES));
        schedule(u, 'sign_in', r.exp(JOURNEY.firstSignInMeanMs));
        break;
      }
      case 'sign_in':
        yield new SignIn(id, u.at, u.id);
        u.sessions++;
        u.viewsLeft = 1 + Math.floor(r.exp(JOURNEY.viewsMean));
        u.cart = [];
        u.cartId = undefined;
        u.checkoutIndex = 0;
        u.paymentMethod = undefined;
        schedule(u, 'view', r.exp(JOURNEY.viewGapMeanMs));
        break;
      case 'view': {
        const item = pickItem();
        yield new ItemView(id, u.at, u.id, item.itemId);
        u.viewsLeft--;
        u.lastViewed = item;
        if (r.next() < JOURNEY.addToCartAfterView) schedule(u, 'add', r.exp(JOURNEY.addGapMeanMs));
        else afterBrowsing(u);
        break;
      }
      case 'add': {
        const item = u.lastViewed!;
        u.cartId ??= ids.uuid();
        const quantity = r.weighted(QUANTITIES);
        u.cart.push({ item, quantity });
        yield new AddedToCart(id, u.at, u.id, item.itemId, u.cartId, quantity);
        afterBrowsing(u);
        break;
      }
      case 'checkout': {
        const line = u.cart[u.checkoutIndex++]!;
        u.paymentMethod ??= r.weighted(PAYMENT_METHODS);
        yield new Checkout(id, u.at, u.id, line.item.itemId, u.cartId!, u.paymentMethod, line.quantity, line.item.priceCents, line.item.currency);
        if (u.checkoutIndex < u.cart.length) schedule(u, 'checkout', r.exp(5 * SECOND));
        else endSession(u);
        break;
      }
      case 'sign_out':
        yield new SignOut(id, u.at, u.id);
        schedule(u, 'sign_in', r.exp(JOURNEY.sessionGapMeanMs));
        break;
    }
    emitted++;
  }

  function afterBrowsing(u: User) {
    if (u.viewsLeft > 0) return schedule(u, 'view', r.exp(JOURNEY.viewGapMeanMs));
    if (u.cart.length > 0 && r.next() < JOURNEY.checkoutRate) return schedule(u, 'checkout', r.exp(JOURNEY.checkoutGapMeanMs));
    endSession(u);
  }
  function endSession(u: User) {
    // A user who never signs out leaves the session open and does not come back.
    if (u.neverSignsOut && u.sessions >= 1) {
      u.phase = 'done';
      return;
    }
    schedule(u, 'sign_out', r.exp(JOURNEY.signOutGapMeanMs));
  }
}

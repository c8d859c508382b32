import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { readSchemaFiles } from '../../src/registry/serde.ts';
import { AddedToCart, Checkout, ConsumerRegistration, ItemView, SignIn, SignOut, maskEmail } from '../../src/events/model.ts';
import { catalogFromFile } from '../../src/simulator/catalog.ts';
import { simulate, type SimEvent } from '../../src/simulator/journeys.ts';
import { xoshiro128ss } from '../../src/random.ts';

const catalog = catalogFromFile();
const START = Date.UTC(2026, 10, 25, 0, 0, 0);
const types = new Map(readSchemaFiles().map((f) => [f.name, avro.Type.forSchema(JSON.parse(f.text))]));
const encode = (e: SimEvent) => types.get(e.eventName)!.toBuffer(e.toRecord());

describe('simulator journeys', () => {
  const events = [...simulate({ seed: 42, events: 100_000, start: START }, catalog)];

  it('produces the requested number of events, every one valid for its schema', () => {
    expect(events).toHaveLength(100_000);
    for (const e of events) expect(types.get(e.eventName)!.isValid(e.toRecord())).toBe(true);
    const kinds = new Set(events.map((e) => e.eventName));
    expect([...kinds].sort()).toEqual(['added_to_cart', 'checkout', 'consumer_registration', 'item_view', 'sign_in', 'sign_out']);
  });

  it('keeps the journey invariants over 100k events', () => {
    // Violations are collected and compared once: an expect() per event would dominate the run.
    const violations: string[] = [];
    const fail = (e: SimEvent, why: string) => violations.length < 20 && violations.push(`${e.eventName} ${e.eventId} of ${e.userId}: ${why}`);
    const registered = new Set<string>();
    const openSession = new Set<string>();
    const carts = new Map<string, Set<string>>(); // cart → items added
    const prices = new Map(catalog.map((i) => [i.itemId, i.priceCents]));
    const lastTime = new Map<string, number>();
    let previous = 0;
    for (const e of events) {
      if (e.time < previous) fail(e, 'out of global event-time order');
      previous = e.time;
      if (e.time <= (lastTime.get(e.userId) ?? -1)) fail(e, 'not after the user\'s previous event');
      lastTime.set(e.userId, e.time);
      if (e instanceof ConsumerRegistration) {
        if (registered.has(e.userId)) fail(e, 'registered twice');
        registered.add(e.userId);
        continue;
      }
      if (!registered.has(e.userId)) fail(e, 'before the registration');
      if (e instanceof SignIn) {
        if (openSession.has(e.userId)) fail(e, 'sign_in while a session is open');
        openSession.add(e.userId);
      } else if (e instanceof SignOut) {
        if (!openSession.has(e.userId)) fail(e, 'sign_out without an open sign_in');
        openSession.delete(e.userId);
      } else if (!openSession.has(e.userId)) fail(e, 'outside a session');
      if ((e instanceof ItemView || e instanceof AddedToCart || e instanceof Checkout) && !prices.has(e.itemId)) fail(e, `item ${e.itemId} is not in the catalog`);
      if (e instanceof AddedToCart) {
        const cart = carts.get(e.cartId) ?? new Set<string>();
        cart.add(`${e.userId}|${e.itemId}`);
        carts.set(e.cartId, cart);
      }
      if (e instanceof Checkout) {
        if (!carts.get(e.cartId)?.has(`${e.userId}|${e.itemId}`)) fail(e, `no add_to_cart of ${e.itemId} by the same user in cart ${e.cartId} before`);
        if (e.toRecord().purchase_amount !== prices.get(e.itemId)! * e.quantity) fail(e, 'purchase_amount is not price × quantity');
      }
    }
    expect(violations).toEqual([]);
    // Realism: a few users never sign out. Their session is still open long before the end, when
    // the event budget cannot be what cut it short (the generator gives them about 3 %).
    const end = events[events.length - 1]!.time;
    const abandoned = [...openSession].filter((u) => lastTime.get(u)! < end - 6 * 3_600_000).length;
    expect(abandoned / registered.size).toBeGreaterThan(0.01);
    expect(abandoned / registered.size).toBeLessThan(0.06);
    // Carts are sometimes abandoned, mostly not.
    const checkouts = events.filter((e) => e instanceof Checkout).length;
    const adds = events.filter((e) => e instanceof AddedToCart).length;
    expect(checkouts / adds).toBeGreaterThan(0.3);
    expect(checkouts / adds).toBeLessThan(0.9);
  });

  it('spreads realistic attributes: ages, weighted languages, many users', () => {
    const regs = events.filter((e): e is ConsumerRegistration => e instanceof ConsumerRegistration);
    expect(regs.length).toBeGreaterThan(1000);
    const ages = regs.map((r) => r.age);
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...ages)).toBeLessThanOrEqual(85);
    const mean = ages.reduce((a, b) => a + b, 0) / ages.length;
    expect(mean).toBeGreaterThan(30);
    expect(mean).toBeLessThan(40);
    const en = regs.filter((r) => r.preferredLanguage === 'en').length / regs.length;
    expect(en).toBeGreaterThan(0.4);
    expect(en).toBeLessThan(0.65);
  });

  it('masks e-mails to the first character and the domain', () => {
    expect(maskEmail('jane.doe@example.com')).toBe('j***@example.com');
    const leaks = events
      .filter((e): e is ConsumerRegistration => e instanceof ConsumerRegistration)
      .map((e) => JSON.stringify(e.toRecord()))
      .filter((json) => !/"masked_email":"[a-z]\*\*\*@[^@*"]+"/.test(json) || /[a-z]{2,}\.[a-z]+\d*@/.test(json));
    expect(leaks).toEqual([]);
  });

  it('is deterministic: one seed gives identical bytes, another seed differs', () => {
    // One user prefix for both seeds: the difference must come from the seed itself.
    const bytes = (seed: number) => Buffer.concat([...simulate({ seed, events: 5000, start: START, userPrefix: 'same' }, catalog)].map(encode));
    const a = bytes(7);
    expect(bytes(7).equals(a)).toBe(true);
    expect(bytes(8).equals(a)).toBe(false);
  });

  it('gives different runs disjoint event and cart ids', () => {
    // Bursts 139 and 747 as the burst job seeds them; with 32-bit id state they shared 1,485 ids.
    const ids = (burst: number) => {
      const out = new Set<string>();
      for (const e of simulate({ seed: (42 + burst * 7919) % 2 ** 31, events: 2000, start: START, userPrefix: `b${burst}` }, catalog)) {
        out.add(e.eventId);
        const cart = (e.toRecord() as { cart_id?: string }).cart_id;
        if (cart) out.add(`cart:${cart}`);
      }
      return out;
    };
    const a = ids(139);
    expect([...ids(747)].filter((id) => a.has(id))).toEqual([]);
  });

  it('draws ids from xoshiro128** (the reference sequence from state 1, 2, 3, 4)', () => {
    const word = xoshiro128ss([1, 2, 3, 4]);
    expect(Array.from({ length: 10 }, word)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('derives the purchase amount; it cannot be passed in', () => {
    const c = new Checkout('id', START, 'u', 'i', 'c', 'paypal', 3, 1999, 'USD');
    expect(c.toRecord().purchase_amount).toBe(5997);
    expect(() => new Checkout('id', START, 'u', 'i', 'c', 'paypal', 1, 19.99, 'USD')).toThrow(/whole cents/);
  });
});

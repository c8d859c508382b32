// The value rules in the schemas (each field's `rule`): a value that breaks one makes the event
// an `invalid_value` dead letter naming the field and the rule; the simulator never breaks one.
import { describe, expect, it } from 'vitest';
import type { EventName } from '../../src/config.ts';
import { catalogFromFile } from '../../src/simulator/catalog.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { InvalidEventError, toRow } from '../../src/stream/transform.ts';
import { rawTables } from '../../src/warehouse/tables.ts';

const TABLES = rawTables();
const lineage = { topic: 't', partition: 0, offset: '0', ingestedAt: Date.UTC(2026, 11, 3) };
const base = { event_id: 'e1', timestamp: '2026-12-03T10:00:00.000Z', user_id: 'u1' };
const events: Record<string, Record<string, unknown>> = {
  consumer_registration: { ...base, event_name: 'consumer_registration', age: 34, masked_email: 'a***@example.com', preferred_language: 'en' },
  added_to_cart: { ...base, event_name: 'added_to_cart', item_id: 'B0001', cart_id: 'c1', quantity: 2 },
  checkout: { ...base, event_name: 'checkout', item_id: 'B0001', cart_id: 'c1', payment_method: 'credit_card', quantity: 2, purchase_amount: 1998, currency: 'USD' },
  item_view: { ...base, event_name: 'item_view', item_id: 'B0001' },
};
const row = (event: string, over: Record<string, unknown>) => toRow(event as EventName, TABLES.get(event as EventName)!, { ...events[event], ...over }, lineage);
const reasonOf = (fn: () => unknown): { reason: string; message: string } | null => {
  try {
    fn();
    return null;
  } catch (err) {
    if (!(err instanceof InvalidEventError)) throw err;
    return { reason: err.reason, message: err.message };
  }
};

describe('value rules from the schemas', () => {
  it('keeps valid events', () => {
    for (const event of Object.keys(events)) expect(reasonOf(() => row(event, {})), event).toBeNull();
  });

  it.each([
    ['age -5', 'consumer_registration', { age: -5 }, /age -5 is below its minimum 13/],
    ['age 400', 'consumer_registration', { age: 400 }, /age 400 is above its maximum 120/],
    ['a language that is no code', 'consumer_registration', { preferred_language: 'english please' }, /preferred_language .* does not match/],
    ['a 900 KB masked e-mail', 'consumer_registration', { masked_email: 'x'.repeat(900_000) }, /masked_email "x{39}… \(900000 characters\) is longer than 320 characters/],
    ['quantity 0', 'added_to_cart', { quantity: 0 }, /quantity 0 is below its minimum 1/],
    ['a negative amount', 'checkout', { purchase_amount: -100_000 }, /purchase_amount -100000 is below its minimum 0/],
    ['an amount of 9e14 cents', 'checkout', { quantity: 1, purchase_amount: 9e14 }, /purchase_amount 900000000000000 is above its maximum/],
    ['a lower-case currency', 'checkout', { currency: 'usd' }, /currency "usd" does not match/],
    ['SQL as payment method', 'checkout', { payment_method: "'; DROP TABLE raw_checkout; --" }, /payment_method .* does not match/],
    // Strings without a rule of their own are at most 1024 characters.
    ['a 1025-character item id', 'item_view', { item_id: 'B'.repeat(1025) }, /item_id .* is longer than 1024 characters/],
  ])('%s is an invalid_value dead letter', (_label, event, over, message) => {
    expect(reasonOf(() => row(event, over))).toEqual({ reason: 'invalid_value', message: expect.stringMatching(message) });
  });

  it('the simulator never breaks a rule (100k events)', { timeout: 120_000 }, () => {
    const tables = TABLES;
    let n = 0;
    for (const e of simulate({ seed: 77, events: 100_000, start: Date.UTC(2026, 5, 1) }, catalogFromFile())) {
      const why = reasonOf(() => toRow(e.eventName, tables.get(e.eventName)!, e.toRecord() as unknown as Record<string, unknown>, lineage));
      expect(why, `${e.eventName} ${JSON.stringify(e.toRecord())}`).toBeNull();
      n++;
    }
    expect(n).toBe(100_000);
  });
});

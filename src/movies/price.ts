// Prices in Movies.txt are concatenations: `899USD$8.99` = cents, currency, formatted price.
// The two amounts are cross-checked; anything that is not a price becomes null with a reason,
// never 0, so "unknown" and "free" stay different things downstream.

export type PriceNullReason = 'missing' | 'not_a_price' | 'cents_dollars_mismatch';

export type Price =
  | { ok: true; cents: number; dollars: number; currency: string }
  | { ok: false; reason: PriceNullReason; raw: string | undefined };

const CONCAT = /^(\d+)\s*([A-Za-z]{3})\s*(.*)$/;
const AMOUNT = /\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g;

/** The amount in a formatted price: the number after the last `$`, else the last number. */
function formattedAmount(formatted: string): number | undefined {
  const dollar = formatted.lastIndexOf('$');
  const tail = dollar >= 0 ? formatted.slice(dollar + 1) : formatted;
  const matches = tail.match(AMOUNT);
  const pick = dollar >= 0 ? matches?.[0] : matches?.[matches.length - 1];
  if (pick === undefined) return undefined;
  const n = Number(pick.replace(/,/g, ''));
  return Number.isFinite(n) ? n : undefined;
}

/** The largest cents avsc writes as a long without precision loss (2^53 - 2): more is not a price. */
export const MAX_CENTS = 2 ** 53 - 2;
const centsOk = (cents: number) => Number.isSafeInteger(cents) && cents <= MAX_CENTS;

export function parsePrice(raw: string | undefined): Price {
  const value = raw?.trim();
  if (!value) return { ok: false, reason: 'missing', raw };
  const m = CONCAT.exec(value);
  if (!m) {
    // A bare formatted price such as `$1,299.00` is still a price.
    const dollars = value.includes('$') ? formattedAmount(value) : undefined;
    if (dollars === undefined || !centsOk(Math.round(dollars * 100))) return { ok: false, reason: 'not_a_price', raw };
    return { ok: true, cents: Math.round(dollars * 100), dollars, currency: 'USD' };
  }
  const cents = Number(m[1]);
  const currency = m[2]!.toUpperCase();
  const formatted = m[3]!.trim();
  if (!centsOk(cents)) return { ok: false, reason: 'not_a_price', raw };
  if (formatted === '') return { ok: true, cents, dollars: cents / 100, currency };
  const dollars = formattedAmount(formatted);
  if (dollars === undefined) return { ok: false, reason: 'not_a_price', raw };
  if (Math.round(dollars * 100) !== cents) return { ok: false, reason: 'cents_dollars_mismatch', raw };
  return { ok: true, cents, dollars, currency };
}

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

/**
 * The shape nearly every price in a dump has, `129999USD$1,299.99` or `899USD$8.99`, read
 * without regular expressions; undefined for anything else, which the general rules decide.
 * For this shape they give the same: cents, `USD`, and dollars = cents / 100 (the formatted
 * amount parses to the same double when it says the same cents).
 */
function commonPrice(v: string): Price | undefined {
  let i = 0;
  let cents = 0;
  for (let c; i < v.length && i < 15 && (c = v.charCodeAt(i) - 48) >= 0 && c <= 9; i++) cents = cents * 10 + c;
  if (i === 0 || v.charCodeAt(i) !== 85 || v.charCodeAt(i + 1) !== 83 || v.charCodeAt(i + 2) !== 68 || v.charCodeAt(i + 3) !== 36) return undefined; // USD$
  i += 4;
  const from = i;
  let whole = 0;
  let group = 0;
  let grouped = false;
  for (let c; i < v.length; i++) {
    c = v.charCodeAt(i);
    if (c === 44) {
      // A comma only after 1–3 leading digits, then after every three.
      if (grouped ? group !== 3 : group < 1 || group > 3) return undefined;
      grouped = true;
      group = 0;
    } else if (c >= 48 && c <= 57) {
      whole = whole * 10 + (c - 48);
      group++;
    } else break;
  }
  if (i === from || group === 0 || (grouped && group !== 3) || i - from > 20 || i + 3 !== v.length || v.charCodeAt(i) !== 46) return undefined;
  const d1 = v.charCodeAt(i + 1) - 48;
  const d2 = v.charCodeAt(i + 2) - 48;
  if (!(d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) return undefined;
  const dollars = cents / 100;
  if (whole * 100 + d1 * 10 + d2 !== cents || !centsOk(cents) || Math.round(dollars * 100) !== cents) return undefined;
  return { ok: true, cents, dollars, currency: 'USD' };
}

export function parsePrice(raw: string | undefined): Price {
  return (raw === undefined ? undefined : commonPrice(raw)) ?? priceByRules(raw);
}

/** parsePrice without the common shape's shortcut (what the shortcut is tested against). */
export function priceByRules(raw: string | undefined): Price {
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

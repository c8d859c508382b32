// Movie record → `movies_catalog_enriched` event. Known attributes become typed fields; every
// attribute, known or not, is also kept in `attributes`, so nothing in the file is lost.
import crypto from 'node:crypto';
import type { MoviesCatalogEnriched } from '../events/types.generated.ts';
import type { MovieRecord } from './parse.ts';
import { parsePrice } from './price.ts';
import { digitsAt } from '../digits.ts';

/** Attribute keys are matched case- and punctuation-insensitively, with common aliases. */
const FIELD_KEYS = {
  title: ['title'],
  genre: ['genre', 'genres'],
  listPrice: ['listprice'],
  tradeIn: ['tradeinvalue'],
  actors: ['actor', 'actors', 'starring'],
  directors: ['director', 'directors'],
  releaseDate: ['releasedate', 'theatricalreleasedate', 'dvdreleasedate'],
  runningTime: ['runningtime', 'runtime'],
  studio: ['studio'],
  format: ['format'],
  audienceRating: ['audiencerating', 'rating', 'mpaarating'],
} as const;

export type Field = keyof typeof FIELD_KEYS;
const FIELD_BY_NORM = new Map<string, Field>(
  (Object.entries(FIELD_KEYS) as Array<[Field, readonly string[]]>).flatMap(([field, keys]) => keys.map((k) => [k, field] as const)),
);
// Keys repeat across millions of records: normalise each distinct key once.
const fieldOfKey = new Map<string, Field | null>();
export function fieldOf(key: string): Field | null {
  let f = fieldOfKey.get(key);
  if (f === undefined) {
    f = FIELD_BY_NORM.get(key.toLowerCase().replace(/[^a-z0-9]/g, '')) ?? null;
    if (fieldOfKey.size < 10_000 && key.length <= 256) fieldOfKey.set(key, f);
  }
  return f;
}

/** Non-empty values per known field, in file order. */
function knownFields(attrs: Map<string, string[]>): Partial<Record<Field, string[]>> {
  const out: Partial<Record<Field, string[]>> = {};
  for (const [k, values] of attrs) {
    const f = fieldOf(k);
    if (!f) continue;
    const target = (out[f] ??= []);
    for (const v of values) if (v !== '') target.push(v);
  }
  return out;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** YYYY-MM-DD of a real calendar date in 1870..2100 (Gregorian), null otherwise. */
function isoDate(y: number, m: number, d: number): string | null {
  if (y < 1870 || y > 2100 || m < 1 || m > 12 || d < 1) return null;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]!)) return null;
  return `${y}-${pad2(m)}-${pad2(d)}`;
}

/** ISO date (YYYY-MM-DD) from the formats seen in catalog dumps; null when not a full date. */
export function parseReleaseDate(raw: string | undefined): string | null {
  // YYYY-MM-DD, the common case, without a regular expression.
  if (raw?.length === 10 && raw.charCodeAt(4) === 45 && raw.charCodeAt(7) === 45) {
    const y = digitsAt(raw, 0, 4);
    const m = digitsAt(raw, 5, 2);
    const d = digitsAt(raw, 8, 2);
    if (y >= 0 && m >= 0 && d >= 0) return isoDate(y, m, d);
  }
  return releaseDateByRules(raw);
}

/** parseReleaseDate without the common shape's shortcut (what the shortcut is tested against). */
export function releaseDateByRules(raw: string | undefined): string | null {
  const v = raw?.trim();
  if (!v) return null;
  let m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T\s].*)?$/.exec(v);
  if (m) return isoDate(+m[1]!, +m[2]!, +m[3]!);
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(v); // US month/day/year
  if (m) return isoDate(+m[3]!, +m[1]!, +m[2]!);
  m = /^([A-Za-z]{3,})\.?\s+(\d{1,2}),?\s+(\d{4})$/.exec(v); // November 16, 2004
  if (m) {
    const month = MONTHS.indexOf(m[1]!.slice(0, 3).toLowerCase());
    return month < 0 ? null : isoDate(+m[3]!, month + 1, +m[2]!);
  }
  m = /^(\d{1,2})\s+([A-Za-z]{3,})\.?,?\s+(\d{4})$/.exec(v); // 16 Nov 2004
  if (m) {
    const month = MONTHS.indexOf(m[2]!.slice(0, 3).toLowerCase());
    return month < 0 ? null : isoDate(+m[3]!, month + 1, +m[1]!);
  }
  return null;
}

/** Minutes from `90`, `90 minutes`, `1 hour 30 minutes`, `1h 30m`, `2:15`; null otherwise. */
export function parseRunningTime(raw: string | undefined): number | null {
  // `<minutes> minutes`, the common case, without a regular expression (nine digits at most: an int).
  if (raw !== undefined && raw.length > 8 && raw.length < 18 && raw.endsWith(' minutes')) {
    const n = digitsAt(raw, 0, raw.length - 8);
    if (n >= 0) return n || null;
  }
  return runningTimeByRules(raw);
}

/** parseRunningTime without the common shape's shortcut (what the shortcut is tested against). */
export function runningTimeByRules(raw: string | undefined): number | null {
  const minutes = runningTimeMinutes(raw);
  // The field is an Avro int: a longer running time is not one.
  return minutes !== null && minutes <= 2 ** 31 - 1 ? minutes : null;
}

function runningTimeMinutes(raw: string | undefined): number | null {
  const v = raw?.trim().toLowerCase();
  if (!v) return null;
  let m = /^(\d+)\s*(?:m|min|mins|minutes?)?\.?$/.exec(v);
  if (m) return +m[1]! || null;
  m = /^(\d+):(\d{2})$/.exec(v);
  if (m) return +m[1]! * 60 + +m[2]!;
  m = /^(?:(\d+)\s*(?:h|hr|hrs|hours?))?\s*(?:(\d+)\s*(?:m|min|mins|minutes?))?\.?$/.exec(v);
  if (m && (m[1] || m[2])) return (+(m[1] ?? 0) * 60 + +(m[2] ?? 0)) || null;
  return null;
}

/** Stable hash of what the record says (not where it was): unchanged items are skipped. */
export function contentHash(rec: MovieRecord): string {
  let text = rec.itemId;
  for (const k of [...rec.attributes.keys()].sort()) text += `\u0000${k}\u0001${rec.attributes.get(k)!.join('\u0001')}`;
  return crypto.createHash('sha1').update(text).digest('hex');
}

export interface EnrichContext {
  sourceFile: string;
  /** File offset of the parsed range: added to the record's offset within it. */
  rangeStart?: number;
  /** Event time: when the catalog run saw the item (ISO 8601 UTC). */
  timestamp: string;
}

/**
 * The typed fields of an event from the non-empty values of each known field, in file order;
 * values of any representation (strings here, byte ranges in the parse workers), `text` giving
 * a value's string where one is parsed. `format` stays the list its text is joined from.
 */
export interface Typed<V> {
  title: V | null;
  genre: V | null;
  list_price: number | null;
  list_price_cents: number | null;
  currency: string | null;
  list_price_null_reason: string | null;
  trade_in_value: number | null;
  trade_in_value_cents: number | null;
  trade_in_value_null_reason: string | null;
  actors: V[];
  directors: V[];
  release_date: string | null;
  running_time_minutes: number | null;
  studio: V | null;
  format: V[];
  audience_rating: V | null;
}

/** The separator of a record's Format values in the `format` field. */
export const FORMAT_SEPARATOR = ', ';

function firstOf<V>(known: Partial<Record<Field, V[]>>, f: Field): V | null {
  return known[f]?.[0] ?? null;
}

function firstText<V>(known: Partial<Record<Field, V[]>>, f: Field, text: (v: V) => string): string | undefined {
  const v = known[f]?.[0];
  return v === undefined ? undefined : text(v);
}

export function typedFields<V>(known: Partial<Record<Field, V[]>>, text: (v: V) => string): Typed<V> {
  const list = parsePrice(firstText(known, 'listPrice', text));
  const tradeIn = parsePrice(firstText(known, 'tradeIn', text));
  return {
    title: firstOf(known, 'title'),
    genre: firstOf(known, 'genre'),
    list_price: list.ok ? list.dollars : null,
    list_price_cents: list.ok ? list.cents : null,
    currency: list.ok ? list.currency : tradeIn.ok ? tradeIn.currency : null,
    list_price_null_reason: list.ok ? null : list.reason,
    trade_in_value: tradeIn.ok ? tradeIn.dollars : null,
    trade_in_value_cents: tradeIn.ok ? tradeIn.cents : null,
    trade_in_value_null_reason: tradeIn.ok ? null : tradeIn.reason,
    actors: known.actors ?? [],
    directors: known.directors ?? [],
    release_date: parseReleaseDate(firstText(known, 'releaseDate', text)),
    running_time_minutes: parseRunningTime(firstText(known, 'runningTime', text)),
    studio: firstOf(known, 'studio'),
    format: known.format ?? [],
    audience_rating: firstOf(known, 'audienceRating'),
  };
}

/** `movie:<item id>:<first 20 hex of the content hash>`: a new id whenever the item's content changes. */
export const catalogEventId = (itemId: string, hash: string): string => `movie:${itemId}:${hash.slice(0, 20)}`;

export function toCatalogEvent(rec: MovieRecord, ctx: EnrichContext, hash = contentHash(rec)): MoviesCatalogEnriched {
  const { format, ...typed } = typedFields(knownFields(rec.attributes), (v) => v);
  return {
    event_id: catalogEventId(rec.itemId, hash),
    event_name: 'movies_catalog_enriched',
    timestamp: ctx.timestamp,
    item_id: rec.itemId,
    ...typed,
    format: format.length > 0 ? format.join(FORMAT_SEPARATOR) : null,
    source_file: ctx.sourceFile,
    source_offset: rec.offset + (ctx.rangeStart ?? 0),
    content_hash: hash,
    attributes: Object.fromEntries(rec.attributes),
  };
}

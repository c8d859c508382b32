// The parse workers' record path on bytes (issue #15): a range is scanned once for line and `=`
// boundaries; a record's values stay byte ranges of the input (UTF-8 already, as Avro strings
// are), only keys, ids and the values of known fields become JS strings, and the content hash
// and the Avro body are written from those bytes. What it produces is, byte for byte, what
// parseMovies + contentHash + toCatalogEvent + avsc produce (test/unit/byte-records.test.ts):
// any line off the common shape (indented, latin1, outside a record, a value with non-ASCII
// whitespace at an end…) takes the string path of parse.ts for that line or value.
import crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { FORMAT_SEPARATOR, catalogEventId, fieldOf, typedFields, type Field, type Typed } from './enrich.ts';
import { isItemLine, itemLineAt, type QuarantineReason, type QuarantinedLine } from './parse.ts';

/** An attribute key as first seen, shared by every record that uses it. */
interface Key {
  name: string;
  utf8: Buffer;
  field: Field | null;
  /** A canonical array index ("0", "17"): a JS object lists such keys first, ascending. */
  index: number;
  /** Distinct per key object; whether the thread keeps it (only such keys go into ORDERS). */
  uid: number;
  interned: boolean;
  /** The key's Avro map key: its length as a varint, then its bytes. */
  avro: Buffer;
  /** keysOf's scratch: the call that last met the key, and the key's first and last entry there. */
  stamp: number;
  first: number;
  last: number;
}

/**
 * Keys repeat across millions of records: each thread keeps the first ones it meets (at most
 * MAX_INTERNED, each at most MAX_INTERNED_BYTES long). Any other key lives in its range's own
 * map, so within a range one name is always one Key, whatever the thread met before.
 */
const MAX_INTERNED = 10_000;
const MAX_INTERNED_BYTES = 256;
/** Stamps a keysOf call on the keys it meets (keys are shared by every range of the thread). */
let keysOfCalls = 0;
const keys = new Map<string, Key>();
function keyOf(name: string, local: Map<string, Key>): Key {
  let k = keys.get(name) ?? local.get(name);
  if (!k) {
    const index = /^(?:0|[1-9]\d{0,9})$/.test(name) && Number(name) < 4_294_967_295 ? Number(name) : -1;
    const utf8 = Buffer.from(name, 'utf8');
    const interned = keys.size < MAX_INTERNED && utf8.length <= MAX_INTERNED_BYTES;
    const w = new AvroBytes(Buffer.allocUnsafe(utf8.length + 10));
    w.long(utf8.length);
    w.bytes(utf8, 0, utf8.length);
    k = { name, utf8, field: fieldOf(name), index, uid: ++keyUids, interned, avro: Buffer.from(w.buf.subarray(0, w.pos)), stamp: -1, first: -1, last: -1 };
    if (interned) keys.set(name, k);
    else local.set(name, k);
  }
  return k;
}

let keyUids = 0;

/**
 * A record's keys in the two orders the output needs: sorted by name (the content hash) and as
 * Object.fromEntries lists them (the attributes map). Records share a few key sequences, so
 * both are kept per sequence of interned keys (at most MAX_ORDERS sequences) instead of sorted
 * per record.
 */
interface KeyOrders {
  keys: Key[];
  sorted: Key[];
  attributes: Key[];
}
const MAX_ORDERS = 4096;
const orders = new Map<number, KeyOrders>();
function ordersOf(recordKeys: Key[]): KeyOrders {
  let sig = recordKeys.length;
  let cacheable = true;
  for (const k of recordKeys) {
    sig = (Math.imul(sig, 0x9e3779b1) + k.uid) | 0;
    cacheable &&= k.interned;
  }
  const hit = orders.get(sig);
  if (hit && hit.keys.length === recordKeys.length && hit.keys.every((k, i) => k === recordKeys[i])) return hit;
  const sorted = recordKeys.length < 2 ? recordKeys : [...recordKeys].sort((a, b) => (a.name < b.name ? -1 : 1));
  const attributes = recordKeys.some((k) => k.index >= 0) ? [...recordKeys.filter((k) => k.index >= 0).sort((a, b) => a.index - b.index), ...recordKeys.filter((k) => k.index < 0)] : recordKeys;
  const made = { keys: [...recordKeys], sorted, attributes };
  if (cacheable && !hit && orders.size < MAX_ORDERS) orders.set(sig, made);
  return made;
}

/** The thread's keys by a hash of their bytes, so the common line's key is found without a string. */
const keysByBytes = new Map<number, Key[]>();
/** Keys per bucket at most: crafted keys that share a hash fall back to the string map, not a longer scan. */
const MAX_BUCKET = 4;
/** The key of bytes [start, end) of b, whose hash (31·h + byte, from 0) the caller computed. */
function keyAt(b: Buffer, start: number, end: number, h: number, local: Map<string, Key>): Key {
  const bucket = keysByBytes.get(h);
  if (bucket) {
    outer: for (const k of bucket) {
      const u = k.utf8;
      if (u.length !== end - start) continue;
      for (let i = 0; i < u.length; i++) if (u[i] !== b[start + i]) continue outer;
      return k;
    }
  }
  const k = keyOf(b.toString('utf8', start, end), local);
  if (keys.get(k.name) === k && (bucket ? bucket.length < MAX_BUCKET : keysByBytes.size < MAX_INTERNED)) {
    if (bucket) bucket.push(k);
    else keysByBytes.set(h, [k]);
  }
  return k;
}

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const EQ = 0x3d;
/** The ASCII characters String.prototype.trim removes. */
const asciiSpace = (c: number) => c === SPACE || (c >= TAB && c <= CR);

/** A scanned range: records as runs of entries, an entry a key and its value's bytes. */
export class ScannedRange {
  readonly ids: string[] = [];
  readonly recLine: number[] = [];
  readonly recOffset: number[] = [];
  /** Where record r's bytes end: the next record's start in its piece, or the piece's end; and its last line. */
  readonly recEnd: number[] = [];
  readonly recLastLine: number[] = [];
  /** Entries [entryFrom[r], entryFrom[r + 1]) belong to record r. */
  readonly entryFrom: number[] = [];
  readonly entryKey: Key[] = [];
  /** Entries so far; the typed arrays below hold them (grown by doubling, sized from the range's bytes). */
  entries = 0;
  /** Value bytes [start, end) of `buf`, or, for start < 0, the bytes of `external[-start - 1]`. */
  entryStart: Int32Array;
  entryEnd: Int32Array;
  /** Values that are not a plain slice of the input (latin1 lines, trimmed as strings). */
  readonly external: Array<{ bytes: Buffer; text: string }> = [];
  /** Per entry, the next entry of the same key in its record, -1 for none. */
  nextSame: Int32Array;
  readonly quarantined: QuarantinedLine[] = [];
  /** Keys of this range the thread does not keep (keyOf). */
  readonly localKeys = new Map<string, Key>();
  lines = 0;
  constructor(readonly buf: Buffer) {
    // About one entry per 24 bytes in real dumps; growing is the exception.
    const n = Math.max(64, buf.length >> 4);
    this.entryStart = new Int32Array(n);
    this.entryEnd = new Int32Array(n);
    this.nextSame = new Int32Array(n);
  }

  get records(): number {
    return this.ids.length;
  }

  private startRecord(id: string, line: number, offset: number): void {
    this.closeRecord(offset, line - 1);
    this.ids.push(id);
    this.recLine.push(line);
    this.recOffset.push(offset);
    this.entryFrom.push(this.entries);
  }

  private add(key: Key, start: number, end: number): void {
    const e = this.entries++;
    if (e === this.entryStart.length) this.grow();
    this.entryKey.push(key);
    this.entryStart[e] = start;
    this.entryEnd[e] = end;
    this.nextSame[e] = -1;
  }

  private grow(): void {
    const more = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.entryStart = more(this.entryStart);
    this.entryEnd = more(this.entryEnd);
    this.nextSame = more(this.nextSame);
  }

  private addText(key: Key, text: string): void {
    this.external.push({ bytes: Buffer.from(text, 'utf8'), text });
    this.add(key, -this.external.length, 0);
  }

  /** Gives the open record of the piece its end, if it has none yet. */
  private closeRecord(end: number, lastLine: number): void {
    if (this.recEnd.length < this.ids.length) {
      this.recEnd.push(end);
      this.recLastLine.push(lastLine);
    }
  }

  /** Closes the entry list (entryFrom[records] is the end of the last record). */
  finish(): this {
    this.entryFrom.push(this.entries);
    return this;
  }

  /**
   * Scans `buf` (a range that starts at a line start), exactly as parseMovies parses it; with
   * `pieces`, only those parts of it, each starting at a line that starts a record or is the
   * range's start (where parseMovies has no open record either), numbered from its first line;
   * `lines`, the range's line count, then comes from the caller's scan of the whole range.
   */
  static scan(buf: Buffer, part?: { pieces: Array<{ start: number; end: number; firstLine: number }>; lines: number }): ScannedRange {
    const r = new ScannedRange(buf);
    const allUtf8 = isUtf8(buf);
    let last = 0;
    for (const p of part?.pieces ?? [{ start: 0, end: buf.length, firstLine: 1 }]) last = r.scanPiece(p.start, p.end, p.firstLine, allUtf8);
    r.lines = part ? part.lines : last;
    return r.finish();
  }

  /** Scans [from, to) whose first line is line `firstLine`; returns its last line's number. */
  private scanPiece(from: number, to: number, firstLine: number, allUtf8: boolean): number {
    const r = this;
    const b = this.buf;
    let blockEnd = 0;
    let blockUtf8 = true;
    let inRecord = false;
    let lineNo = firstLine - 1;
    let s = from === 0 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : from;
    while (s < to) {
      let next = b.indexOf(LF, s);
      if (next < 0) next = b.length;
      const end = next > s && b[next - 1] === CR ? next - 1 : next;
      lineNo++;
      const lineStart = s;
      s = next + 1;
      // A range that is not all UTF-8 is checked in blocks of lines, and line by line only in a
      // block that is not (one view per line would cost more than the check).
      if (!allUtf8 && lineStart >= blockEnd) {
        const to = b.indexOf(LF, Math.min(b.length, lineStart + 4096));
        blockEnd = to < 0 ? b.length : to + 1;
        blockUtf8 = isUtf8(b.subarray(lineStart, blockEnd));
      }
      const latin1 = !allUtf8 && !blockUtf8 && !isUtf8(b.subarray(lineStart, end));
      const enc = latin1 ? 'latin1' : 'utf8';
      const c0 = b[lineStart];
      if (c0 !== SPACE && c0 !== TAB && end > lineStart) {
        if (itemLineAt(b, lineStart) === true) {
          const id = b.toString(enc, lineStart + 4, end).trim();
          if (id === '') {
            inRecord = false;
            r.quarantined.push({ line: lineNo, reason: 'item_without_id', text: b.toString(enc, lineStart, end) });
          } else {
            inRecord = true;
            r.startRecord(id, lineNo, lineStart);
          }
          continue;
        }
        // Keys are short: a loop finds the `=` within the line (indexOf would search past it),
        // hashing the key's bytes on the way.
        let eq = lineStart;
        let h = 0;
        for (let c = b[eq]!; eq < end && c !== EQ; c = b[++eq]!) h = (Math.imul(h, 31) + c) | 0;
        if (eq > lineStart && eq < end && inRecord && !latin1) {
          // The common line: `Key=Value` in a record, UTF-8, not indented.
          const p = b[eq - 1];
          const key = p === SPACE || p === TAB ? keyOf(b.toString('utf8', lineStart, eq).trim(), r.localKeys) : keyAt(b, lineStart, eq, h, r.localKeys);
          let vs = eq + 1;
          let ve = end;
          while (vs < ve && asciiSpace(b[vs]!)) vs++;
          while (ve > vs && asciiSpace(b[ve - 1]!)) ve--;
          // A non-ASCII end may be whitespace trim() also removes (U+00A0, U+3000…).
          if (vs < ve && (b[vs]! >= 0x80 || b[ve - 1]! >= 0x80)) r.addText(key, b.toString('utf8', vs, ve).trim());
          else r.add(key, vs, ve);
          continue;
        }
      }
      r.slowLine(b.toString(enc, lineStart, end), lineNo, lineStart, inRecord);
      if (r.closedRecord) {
        inRecord = false;
        r.closedRecord = false;
      } else if (r.openedRecord) {
        inRecord = true;
        r.openedRecord = false;
      }
    }
    r.closeRecord(to, lineNo);
    return lineNo;
  }

  private closedRecord = false;
  private openedRecord = false;

  /** Any other line, decoded: parse.ts's rules on its text. */
  private slowLine(text: string, lineNo: number, lineStart: number, inRecord: boolean): void {
    let reason: QuarantineReason | undefined;
    const c0 = text.charCodeAt(0);
    const eq = text.indexOf('=');
    const lead = c0 === SPACE || c0 === TAB ? text.trimStart() : text;
    if (isItemLine(lead)) {
      const id = lead.slice(4).trim();
      if (id === '') {
        this.closedRecord = true;
        reason = 'item_without_id';
      } else {
        this.openedRecord = true;
        this.startRecord(id, lineNo, lineStart);
      }
    } else if (eq > 0 && lead === text && inRecord) {
      const key = text.charCodeAt(eq - 1) === SPACE || text.charCodeAt(eq - 1) === TAB ? text.slice(0, eq).trim() : text.slice(0, eq);
      this.addText(keyOf(key, this.localKeys), text.slice(eq + 1).trim());
    } else {
      if (lead.trimEnd() === '') return;
      if (eq < 0) reason = 'unrecognized_line';
      else {
        const key = text.slice(0, eq).trim();
        if (key === '') reason = 'empty_key';
        else if (!inRecord) reason = 'attribute_outside_item';
        else this.addText(keyOf(key, this.localKeys), text.slice(eq + 1).trim());
      }
    }
    if (reason) this.quarantined.push({ line: lineNo, reason, text });
  }

  /**
   * Record r's distinct keys in first-use order, each key's entries linked through nextSame
   * (key.first … key.last).
   */
  keysOf(r: number): Key[] {
    const out: Key[] = [];
    const stamp = ++keysOfCalls;
    for (let e = this.entryFrom[r]!, to = this.entryFrom[r + 1]!; e < to; e++) {
      const k = this.entryKey[e]!;
      this.nextSame[e] = -1;
      if (k.stamp !== stamp) {
        k.stamp = stamp;
        k.first = e;
        out.push(k);
      } else this.nextSame[k.last] = e;
      k.last = e;
    }
    return out;
  }

  /** Copies entry e's value bytes to dst at pos; returns the end. */
  copyValue(e: number, dst: Uint8Array, pos: number): number {
    const s = this.entryStart[e]!;
    if (s >= 0) return copyBytes(this.buf, s, this.entryEnd[e]!, dst, pos);
    const x = this.external[-s - 1]!.bytes;
    return copyBytes(x, 0, x.length, dst, pos);
  }

  valueText(e: number): string {
    const s = this.entryStart[e]!;
    return s >= 0 ? this.buf.toString('utf8', s, this.entryEnd[e]!) : this.external[-s - 1]!.text;
  }

  private hashScratch = Buffer.allocUnsafe(64 * 1024);

  /** contentHash of record r: SHA-1 of its id and its attributes, keys sorted, over the same bytes. */
  hash(r: number, recordKeys: Key[]): string {
    const sorted = ordersOf(recordKeys).sorted;
    // Each entry came from at least `k=` and a line end of the record's bytes, and a value
    // decoded as latin1 at most doubles: three times the record's bytes bound what is hashed.
    const need = 3 * (this.recEnd[r]! - this.recOffset[r]!) + 3 * this.ids[r]!.length + 64;
    if (this.hashScratch.length < need) this.hashScratch = Buffer.allocUnsafe(need * 2);
    const h = this.hashScratch;
    const id = this.ids[r]!;
    let pos = isAscii(id) ? copyAscii(id, h, 0) : h.write(id, 0, 'utf8');
    for (const k of sorted) {
      h[pos++] = 0;
      pos = copyBytes(k.utf8, 0, k.utf8.length, h, pos);
      h[pos++] = 1;
      for (let e = k.first, firstValue = true; e >= 0; e = this.nextSame[e]!, firstValue = false) {
        if (!firstValue) h[pos++] = 1;
        pos = this.copyValue(e, h, pos);
      }
    }
    return crypto.hash('sha1', h.subarray(0, pos), 'hex');
  }

  /** The typed fields of a record, from the values (entries) of its known keys only. */
  typed(recordKeys: Key[]): Typed<number> {
    // Every field present from the start: one object shape for every record.
    const known: Partial<Record<Field, number[]>> = {
      title: undefined, genre: undefined, listPrice: undefined, tradeIn: undefined, actors: undefined, directors: undefined,
      releaseDate: undefined, runningTime: undefined, studio: undefined, format: undefined, audienceRating: undefined,
    };
    for (const k of recordKeys) {
      if (!k.field) continue;
      const target = (known[k.field] ??= []);
      for (let e = k.first; e >= 0; e = this.nextSame[e]!) if (this.valueLength(e) > 0) target.push(e);
    }
    return typedFields(known, (e) => this.valueText(e));
  }

  valueLength(e: number): number {
    const s = this.entryStart[e]!;
    return s >= 0 ? this.entryEnd[e]! - s : this.external[-s - 1]!.bytes.length;
  }

  /** An optional string field holding entry e's value, or null. */
  optionalValue(w: AvroBytes, e: number | null): void {
    w.long(e === null ? 0 : 1);
    if (e !== null) this.writeValue(w, e);
  }

  /** An array of strings: the entries' values. */
  values(w: AvroBytes, entries: number[]): void {
    if (entries.length > 0) {
      w.long(entries.length);
      for (const e of entries) this.writeValue(w, e);
    }
    w.long(0);
  }

  /** An entry's value as an Avro string. */
  writeValue(w: AvroBytes, e: number): void {
    const s = this.entryStart[e]!;
    if (s >= 0) {
      // A slice of the input, the common case: its length then its bytes.
      const end = this.entryEnd[e]!;
      w.long(end - s);
      const at = w.ensure(end - s); // before w.buf is read: ensure may replace it
      w.pos = copyBytes(this.buf, s, end, w.buf, at);
      return;
    }
    const x = this.external[-s - 1]!.bytes;
    w.long(x.length);
    w.bytes(x, 0, x.length);
  }

  /** Writes record r's attributes map as Avro (keys as Object.fromEntries would list them). */
  writeAttributes(w: AvroBytes, recordKeys: Key[]): void {
    const ordered = ordersOf(recordKeys).attributes;
    if (ordered.length > 0) {
      w.long(ordered.length);
      for (const k of ordered) {
        w.bytes(k.avro, 0, k.avro.length);
        let n = 0;
        for (let e = k.first; e >= 0; e = this.nextSame[e]!) n++;
        w.long(n);
        for (let e = k.first; e >= 0; e = this.nextSame[e]!) this.writeValue(w, e);
        w.long(0);
      }
    }
    w.long(0);
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function copyAscii(s: string, dst: Uint8Array, pos: number): number {
  for (let i = 0; i < s.length; i++) dst[pos++] = s.charCodeAt(i);
  return pos;
}

/** Copies src[start, end) to dst at pos, returns the end; a loop for the short values most are (set() allocates a view). */
function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, pos: number): number {
  if (end - start > 48) {
    dst.set(src.subarray(start, end), pos);
    return pos + end - start;
  }
  for (let i = start; i < end; i++) dst[pos++] = src[i]!;
  return pos;
}

/** An Avro binary writer into a growing buffer, for the catalog schema's types. */
export class AvroBytes {
  pos = 0;
  constructor(public buf: Buffer) {}

  /** Room for n more bytes; returns pos. */
  ensure(n: number): number {
    if (this.buf.length - this.pos < n) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
    }
    return this.pos;
  }

  /** Zig-zag varint, as avsc writes int and long (floating arithmetic past 2^30). */
  long(n: number): void {
    // Most longs are lengths and counts under 64: one byte.
    if (n >= 0 && n < 64 && (n | 0) === n) {
      if (this.pos === this.buf.length) this.ensure(1);
      this.buf[this.pos++] = n << 1;
      return;
    }
    // Ten bytes hold any safe integer; anything else is no Avro long (the enrichment caps its numbers).
    if (!Number.isSafeInteger(n)) throw new RangeError(`${n} is not an integer an Avro long holds exactly`);
    this.ensure(10);
    const b = this.buf;
    if (n >= -1073741824 && n < 1073741824) {
      let m = n >= 0 ? n << 1 : (~n << 1) | 1;
      while (m > 0x7f) {
        b[this.pos++] = (m & 0x7f) | 0x80;
        m >>>= 7;
      }
      b[this.pos++] = m;
    } else {
      let f = n >= 0 ? n * 2 : -n * 2 - 1;
      while (f >= 128) {
        b[this.pos++] = (f % 128) | 0x80;
        f = Math.floor(f / 128);
      }
      b[this.pos++] = f;
    }
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    const pos = this.ensure(end - start);
    this.pos = copyBytes(src, start, end, this.buf, pos);
  }

  /** A string known to be ASCII, without its length. */
  ascii(s: string): void {
    let pos = this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
  }

  string(s: string): void {
    if (s.length < 64) {
      // Written as ASCII (a one-byte length) until a character is not; then rewritten below.
      let pos = this.ensure(s.length + 1);
      const b = this.buf;
      b[pos++] = s.length << 1;
      let i = 0;
      for (let c; i < s.length && (c = s.charCodeAt(i)) < 0x80; i++) b[pos++] = c;
      if (i === s.length) {
        this.pos = pos;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.long(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  double(d: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(d, this.pos);
  }

  // ["null", T] unions: branch 0 for null, branch 1 and the value otherwise.
  optionalString(v: string | null): void {
    this.long(v === null ? 0 : 1);
    if (v !== null) this.string(v);
  }

  optionalLong(v: number | null): void {
    this.long(v === null ? 0 : 1);
    if (v !== null) this.long(v);
  }

  optionalDouble(v: number | null): void {
    this.long(v === null ? 0 : 1);
    if (v !== null) this.double(v);
  }

}

/**
 * The catalog schema's fields in the order this writer writes them; checked against the schema
 * file at load, so a schema change cannot silently diverge from the writer.
 */
export const CATALOG_WRITER_FIELDS = [
  'event_id', 'event_name', 'timestamp', 'item_id', 'title', 'genre', 'list_price', 'list_price_cents', 'currency', 'list_price_null_reason',
  'trade_in_value', 'trade_in_value_cents', 'trade_in_value_null_reason', 'actors', 'directors', 'release_date', 'running_time_minutes',
  'studio', 'format', 'audience_rating', 'source_file', 'source_offset', 'content_hash', 'attributes',
] as const;

export interface CatalogContext {
  sourceFile: string;
  /** File offset of the range: added to a record's offset within it. */
  rangeStart: number;
  timestamp: string;
}

/** What the caller keeps of an encoded record besides its bytes. */
export interface EncodedItem {
  itemId: string;
  listPriceCents: number | null;
  currency: string | null;
}

const EVENT_ID_PREFIX = catalogEventId('', '').slice(0, -1);
const EVENT_ID_HASH_CHARS = catalogEventId('', 'f'.repeat(64)).length - catalogEventId('', '').length;

/** The fields every record of a run shares, encoded once per context. */
let lastContext: { ctx: CatalogContext; nameAndTimestamp: Buffer; sourceFile: Buffer } | undefined;
function contextBytes(ctx: CatalogContext): { nameAndTimestamp: Buffer; sourceFile: Buffer } {
  if (lastContext?.ctx !== ctx) {
    const w = new AvroBytes(Buffer.allocUnsafe(256));
    w.string('movies_catalog_enriched');
    w.string(ctx.timestamp);
    const nameAndTimestamp = Buffer.from(w.buf.subarray(0, w.pos));
    w.pos = 0;
    w.optionalString(ctx.sourceFile);
    lastContext = { ctx, nameAndTimestamp, sourceFile: Buffer.from(w.buf.subarray(0, w.pos)) };
  }
  return lastContext;
}

/** Writes record r's Avro body (no wire header) in CATALOG_WRITER_FIELDS order. */
export function writeCatalogRecord(w: AvroBytes, range: ScannedRange, r: number, recordKeys: Key[], hash: string, ctx: CatalogContext): EncodedItem {
  const t = range.typed(recordKeys);
  const id = range.ids[r]!;
  const fixed = contextBytes(ctx);
  const asciiId = id.length < 40 && isAscii(id);
  if (asciiId) {
    // catalogEventId(id, hash), written without building it.
    w.long(EVENT_ID_PREFIX.length + id.length + 1 + EVENT_ID_HASH_CHARS);
    w.ascii(EVENT_ID_PREFIX);
    w.ascii(id);
    w.ascii(':');
    w.ascii(hash.slice(0, EVENT_ID_HASH_CHARS));
  } else w.string(catalogEventId(id, hash));
  w.bytes(fixed.nameAndTimestamp, 0, fixed.nameAndTimestamp.length);
  w.string(id);
  range.optionalValue(w, t.title);
  range.optionalValue(w, t.genre);
  w.optionalDouble(t.list_price);
  w.optionalLong(t.list_price_cents);
  w.optionalString(t.currency);
  w.optionalString(t.list_price_null_reason);
  w.optionalDouble(t.trade_in_value);
  w.optionalLong(t.trade_in_value_cents);
  w.optionalString(t.trade_in_value_null_reason);
  range.values(w, t.actors);
  range.values(w, t.directors);
  w.optionalString(t.release_date);
  w.optionalLong(t.running_time_minutes);
  range.optionalValue(w, t.studio);
  if (t.format.length === 0) w.long(0);
  else {
    // The values joined by FORMAT_SEPARATOR, as one string.
    let len = FORMAT_SEPARATOR.length * (t.format.length - 1);
    for (const e of t.format) len += range.valueLength(e);
    w.long(1);
    w.long(len);
    for (let i = 0; i < t.format.length; i++) {
      if (i > 0) w.ascii(FORMAT_SEPARATOR);
      const e = t.format[i]!;
      const at = w.ensure(range.valueLength(e));
      w.pos = range.copyValue(e, w.buf, at);
    }
  }
  range.optionalValue(w, t.audience_rating);
  w.bytes(fixed.sourceFile, 0, fixed.sourceFile.length);
  w.optionalLong(range.recOffset[r]! + ctx.rangeStart);
  w.string(hash);
  range.writeAttributes(w, recordKeys);
  return { itemId: id, listPriceCents: t.list_price_cents, currency: t.currency };
}

/** Throws unless `schema` (the catalog .avsc, parsed) has exactly the fields this writer writes, in order. */
export function checkCatalogSchema(schema: { fields: Array<{ name: string }> }): void {
  const names = schema.fields.map((f) => f.name);
  if (names.join(',') !== CATALOG_WRITER_FIELDS.join(',')) {
    throw new Error(`movies_catalog_enriched.avsc fields (${names.join(', ')}) differ from the byte writer's (src/movies/byte-records.ts): update CATALOG_WRITER_FIELDS and writeCatalogRecord with the schema`);
  }
}

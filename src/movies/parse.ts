// Movies.txt parser: a pure function over a byte range that starts at a line boundary.
// `ITEM <id>` starts a record; `Key=Value` lines (split at the first `=`, both sides trimmed)
// add to it, repeated keys becoming lists; blank lines and CRLF are tolerated. Text is UTF-8,
// with a per-line latin1 fallback for bytes that are not valid UTF-8. Every other line is
// returned as quarantined with its line number and a reason: nothing is dropped silently.
import { isUtf8 } from 'node:buffer';

export interface MovieRecord {
  itemId: string;
  /** 1-based line of the `ITEM` line, relative to the start of the parsed range. */
  line: number;
  /** Byte offset of the `ITEM` line, relative to the start of the parsed range. */
  offset: number;
  /** Attributes in file order; a key seen several times keeps every value. */
  attributes: Map<string, string[]>;
}

export type QuarantineReason =
  | 'attribute_outside_item'
  | 'item_without_id'
  | 'empty_key'
  | 'unrecognized_line';

export interface QuarantinedLine {
  line: number;
  reason: QuarantineReason;
  text: string;
}

export interface ParseResult {
  records: MovieRecord[];
  quarantined: QuarantinedLine[];
  /** Lines in the range (a last line without a newline counts). */
  lines: number;
}

/** `ITEM` alone or followed by whitespace: a record start (`ITEMS=…` is an attribute). */
export function isItemLine(line: string): boolean {
  return line.charCodeAt(0) === 0x49 && line.startsWith('ITEM') && (line.length === 4 || line.charCodeAt(4) === SPACE || line.charCodeAt(4) === TAB);
}

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Parses `buf` (a range that starts at a line start). Line numbers start at 1 for its first line.
 * Works on bytes: only keys, values and ids are decoded to strings, which keeps it fast.
 */
export function parseMovies(buf: Uint8Array): ParseResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: MovieRecord[] = [];
  const quarantined: QuarantinedLine[] = [];
  // A valid UTF-8 range decodes as UTF-8 throughout; otherwise each line picks UTF-8 or latin1.
  const allUtf8 = isUtf8(b);
  let current: MovieRecord | undefined;
  let lineNo = 0;
  let s = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  while (s < b.length) {
    let next = b.indexOf(LF, s);
    if (next < 0) next = b.length;
    const end = next > s && b[next - 1] === CR ? next - 1 : next;
    lineNo++;
    // One decode per line. U+FFFD marks bytes that are not UTF-8: that line is latin1.
    let text = b.toString('utf8', s, end);
    if (!allUtf8 && text.includes('\uFFFD') && !isUtf8(b.subarray(s, end))) text = b.toString('latin1', s, end);
    const lineStart = s;
    s = next + 1;
    let reason: QuarantineReason | undefined;
    const c0 = text.charCodeAt(0);
    const eq = text.indexOf('=');
    // Indented lines are rare: only they pay for a trim before the ITEM check.
    const lead = c0 === SPACE || c0 === TAB ? text.trimStart() : text;
    if (isItemLine(lead)) {
      const id = lead.slice(4).trim();
      if (id === '') {
        current = undefined;
        reason = 'item_without_id';
      } else {
        current = { itemId: id, line: lineNo, offset: lineStart, attributes: new Map() };
        records.push(current);
      }
    } else if (eq > 0 && lead === text && current) {
      // Common case: `Key=Value` inside a record, key not indented.
      const key = text.charCodeAt(eq - 1) === SPACE || text.charCodeAt(eq - 1) === TAB ? text.slice(0, eq).trim() : text.slice(0, eq);
      const value = text.slice(eq + 1).trim();
      const values = current.attributes.get(key);
      if (values) values.push(value);
      else current.attributes.set(key, [value]);
    } else {
      if (lead.trimEnd() === '') continue; // blank line
      if (eq < 0) reason = 'unrecognized_line';
      else {
        const key = text.slice(0, eq).trim();
        if (key === '') reason = 'empty_key';
        else if (!current) reason = 'attribute_outside_item';
        else {
          const value = text.slice(eq + 1).trim();
          const values = current.attributes.get(key);
          if (values) values.push(value);
          else current.attributes.set(key, [value]);
        }
      }
    }
    if (reason) quarantined.push({ line: lineNo, reason, text });
  }
  return { records, quarantined, lines: lineNo };
}

/**
 * Whether the line at b[s] is one parseMovies ends its open record at (a record start, or an
 * `ITEM` without an id): `ITEM` followed by a space, a tab or the line's end, a final CR not
 * counted (`ITEM\rx` is an attribute line). undefined when `b` ends before that is known and
 * is not the end of the file (`eof` false).
 */
export function itemLineAt(b: Uint8Array, s: number, eof = true): boolean | undefined {
  for (let i = 0; i < 4; i++) {
    if (s + i >= b.length) return eof ? false : undefined;
    if (b[s + i] !== ITEM[i]) return false;
  }
  const c = b[s + 4];
  if (c === undefined) return eof ? true : undefined;
  if (c === SPACE || c === TAB || c === LF) return true;
  if (c !== CR) return false;
  const d = b[s + 5];
  if (d === undefined) return eof ? true : undefined;
  return d === LF;
}

const ITEM = [0x49, 0x54, 0x45, 0x4d];

/**
 * Offset of the first line at or after `from` at which parseMovies ends the open record
 * (itemLineAt), so ranges cut there parse as the whole file does. -1 when there is none in
 * `buf`, or when the last line could be one but `buf` ends too soon to tell (`eof` false: the
 * caller reads on from that line).
 */
export function findRecordStart(buf: Buffer, from: number, eof = true): number {
  let pos = from;
  // `from` itself counts only if it is at a line start.
  if (pos > 0 && buf[pos - 1] !== 0x0a) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) return -1;
    pos = nl + 1;
  }
  while (pos < buf.length) {
    const item = itemLineAt(buf, pos, eof);
    if (item === true) return pos;
    if (item === undefined) return -1;
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) return -1;
    pos = nl + 1;
  }
  return -1;
}

// An unchanged record skipped without being parsed (issue #15: an unchanged 1 GB file should
// cost little more than reading it). Beside the content hash of the version last produced, the
// catalog keeps the SHA-1 of the record's span: its bytes from its `ITEM` line to the next.
// A record parses from its span alone, so the same span bytes are the same record: a range
// whose every span hash is the stored one is skipped after a boundary scan and one hash per
// record. Only spans that are exactly one clean record (no quarantined line, no record start
// the scan below would not see) get a span hash; any other range is parsed in full.
import crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { ScannedRange } from './byte-records.ts';

/** Hex characters kept of each hash. */
export const HASH_CHARS = 16;

/** A stored catalog value: `<content hash>` or `<content hash>.<span hash>`. */
export const storedValue = (contentHash: string, spanHash: string): string => (spanHash ? `${contentHash.slice(0, HASH_CHARS)}.${spanHash}` : contentHash.slice(0, HASH_CHARS));
export const storedContent = (v: string | null | undefined): string | null => (v ? v.slice(0, HASH_CHARS) : null);
export const storedSpan = (v: string | null | undefined): string | null => (v && v.length > HASH_CHARS + 1 ? v.slice(HASH_CHARS + 1) : null);

const spanHash = (b: Buffer, start: number, end: number) => crypto.hash('sha1', b.subarray(start, end), 'hex').slice(0, HASH_CHARS);

/** `ITEM` at b[s] followed by a space, a tab, a line end or the end: where a span starts. */
function itemAt(b: Buffer, s: number): boolean {
  if (b[s] !== 0x49 || b[s + 1] !== 0x54 || b[s + 2] !== 0x45 || b[s + 3] !== 0x4d) return false;
  const after = b[s + 4];
  return after === undefined || after === 0x20 || after === 0x09 || after === 0x0a || after === 0x0d;
}

export interface Spans {
  ids: string[];
  hashes: string[];
  lines: number;
}

/**
 * The range's spans, ids and span hashes, or null when the range does not start with a span
 * (a preamble is parsed in full) or a span's `ITEM` line has no id.
 */
export function scanSpans(b: Buffer): Spans | null {
  if (!itemAt(b, 0)) return null;
  const allUtf8 = isUtf8(b);
  const ids: string[] = [];
  const hashes: string[] = [];
  let lines = 0;
  let spanStart = -1;
  for (let s = 0; s < b.length; ) {
    let next = b.indexOf(0x0a, s);
    if (next < 0) next = b.length;
    lines++;
    if (itemAt(b, s)) {
      if (spanStart >= 0) hashes.push(spanHash(b, spanStart, s));
      spanStart = s;
      const end = next > s && b[next - 1] === 0x0d ? next - 1 : next;
      const id = b.toString(allUtf8 || isUtf8(b.subarray(s, end)) ? 'utf8' : 'latin1', s + 4, end).trim();
      if (id === '') return null;
      ids.push(id);
    }
    s = next + 1;
  }
  hashes.push(spanHash(b, spanStart, b.length));
  return { ids, hashes, lines };
}

/**
 * Per record of a parsed range, its span hash when its span is exactly that record and nothing
 * else (what scanSpans would see as one unchanged span), '' otherwise.
 */
export function cleanSpanHashes(range: ScannedRange): string[] {
  const b = range.buf;
  const quarantined = range.quarantined.map((q) => q.line);
  let qi = 0;
  return range.ids.map((_, r) => {
    const start = range.recOffset[r]!;
    const last = r + 1 === range.records;
    const end = last ? b.length : range.recOffset[r + 1]!;
    const lastLine = last ? range.lines : range.recLine[r + 1]! - 1;
    while (qi < quarantined.length && quarantined[qi]! < range.recLine[r]!) qi++;
    const clean = itemAt(b, start) && (last || itemAt(b, end)) && !(qi < quarantined.length && quarantined[qi]! <= lastLine);
    return clean ? spanHash(b, start, end) : '';
  });
}

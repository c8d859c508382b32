// An unchanged record skipped without being parsed (issue #15: an unchanged 1 GB file should
// cost little more than reading it). Beside the content hash of the version last produced, the
// catalog keeps the SHA-1 of the record's span: its bytes from its `ITEM` line to the next.
// A span parses on its own (parseMovies has no open record at an `ITEM` line), so the same span
// bytes are the same record: a span whose hash is the stored one for its id is skipped after a
// boundary scan and one hash; the rest of the range is parsed. Only spans that are exactly one
// clean record (no quarantined line, no record start inside) get a span hash stored.
import crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { ScannedRange } from './byte-records.ts';
import { itemLineAt } from './parse.ts';

/** Hex characters kept of each hash. */
export const HASH_CHARS = 16;

/** A stored catalog value: `<content hash>` or `<content hash>.<span hash>`. */
export const storedValue = (contentHash: string, spanHash: string): string => (spanHash ? `${contentHash.slice(0, HASH_CHARS)}.${spanHash}` : contentHash.slice(0, HASH_CHARS));
export const storedContent = (v: string | null | undefined): string | null => (v ? v.slice(0, HASH_CHARS) : null);
export const storedSpan = (v: string | null | undefined): string | null => (v && v.length > HASH_CHARS + 1 ? v.slice(HASH_CHARS + 1) : null);

const spanHash = (b: Buffer, start: number, end: number) => crypto.hash('sha1', b.subarray(start, end), 'hex').slice(0, HASH_CHARS);

export interface Spans {
  /** Per span: its start, its first line's number, the id on its `ITEM` line, the hash of its bytes. */
  starts: number[];
  firstLines: number[];
  ids: string[];
  hashes: string[];
  /** Lines in the range, and where its first span starts (what is before it parses on its own). */
  lines: number;
  preambleEnd: number;
}

export function scanSpans(b: Buffer): Spans {
  const allUtf8 = isUtf8(b);
  const spans: Spans = { starts: [], firstLines: [], ids: [], hashes: [], lines: 0, preambleEnd: b.length };
  // As parseMovies: a BOM at the range's start is not part of its first line (nor a line itself).
  for (let s = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; s < b.length; ) {
    let next = b.indexOf(0x0a, s);
    if (next < 0) next = b.length;
    spans.lines++;
    const end = next > s && b[next - 1] === 0x0d ? next - 1 : next;
    if (itemLineAt(b, s)) {
      if (spans.starts.length === 0) spans.preambleEnd = s;
      else spans.hashes.push(spanHash(b, spans.starts[spans.starts.length - 1]!, s));
      spans.starts.push(s);
      spans.firstLines.push(spans.lines);
      spans.ids.push(b.toString(allUtf8 || isUtf8(b.subarray(s, end)) ? 'utf8' : 'latin1', s + 4, end).trim());
    }
    s = next + 1;
  }
  if (spans.starts.length > 0) spans.hashes.push(spanHash(b, spans.starts[spans.starts.length - 1]!, b.length));
  return spans;
}

/** The parts of the range to parse: what precedes the first span, and the spans not skipped (neighbours joined). */
export function piecesToParse(spans: Spans, skip: boolean[], size: number): Array<{ start: number; end: number; firstLine: number }> {
  const pieces: Array<{ start: number; end: number; firstLine: number }> = [];
  if (spans.preambleEnd > 0) pieces.push({ start: 0, end: spans.preambleEnd, firstLine: 1 });
  spans.starts.forEach((start, i) => {
    if (skip[i]) return;
    const end = spans.starts[i + 1] ?? size;
    const last = pieces[pieces.length - 1];
    if (last && last.end === start) last.end = end;
    else pieces.push({ start, end, firstLine: spans.firstLines[i]! });
  });
  return pieces;
}

/**
 * Per record of a parsed range, the hash of its span when its span is exactly that record and
 * nothing else (what scanSpans would see as one span, clean), '' otherwise.
 */
export function cleanSpanHashes(range: ScannedRange): string[] {
  const b = range.buf;
  const quarantined = range.quarantined.map((q) => q.line);
  let qi = 0;
  return range.ids.map((_, r) => {
    const start = range.recOffset[r]!;
    const end = range.recEnd[r]!;
    while (qi < quarantined.length && quarantined[qi]! < range.recLine[r]!) qi++;
    const clean = itemLineAt(b, start) === true && (end === b.length || itemLineAt(b, end) === true) && !(qi < quarantined.length && quarantined[qi]! <= range.recLastLine[r]!);
    return clean ? spanHash(b, start, end) : '';
  });
}

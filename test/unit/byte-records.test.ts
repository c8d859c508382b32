// The byte-level record path (issue #15) against the string path it replaces in the parse
// workers: the same records, quarantine, content hashes and Avro bytes, on the sample file, a
// generated file rich in edge cases, and random text built from the characters that decide a
// line's fate (ITEM, `=`, CR, tabs, Unicode spaces trim() removes, latin1 bytes, index-like keys).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AvroBytes, ScannedRange, checkCatalogSchema, writeCatalogRecord } from '../../src/movies/byte-records.ts';
import { contentHash, toCatalogEvent } from '../../src/movies/enrich.ts';
import { generateMovies } from '../../src/movies/generate.ts';
import { parseMovies } from '../../src/movies/parse.ts';
import { SCHEMAS_DIR } from '../../src/registry/serde.ts';
import { cleanSpanHashes, piecesToParse, scanSpans, storedContent, storedSpan, storedValue } from '../../src/movies/span-skip.ts';

const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'movies_catalog_enriched.avsc'), 'utf8'));
const type = avro.Type.forSchema(schema);
const ctx = { sourceFile: 'Movies.txt', rangeStart: 4096, timestamp: '2026-12-03T10:00:00.000Z' };

/** Everything the string path makes of `buf`, and everything the byte path makes of it. */
function bothWays(buf: Buffer) {
  const parsed = parseMovies(buf);
  const expected = parsed.records.map((rec) => {
    const hash = contentHash(rec);
    return { itemId: rec.itemId, line: rec.line, offset: rec.offset, attributes: Object.fromEntries(rec.attributes), hash, avro: type.toBuffer(toCatalogEvent(rec, ctx, hash)).toString('hex') };
  });
  const range = ScannedRange.scan(buf);
  const w = new AvroBytes(Buffer.allocUnsafe(16));
  const actual = range.ids.map((itemId, r) => {
    const keys = range.keysOf(r);
    const attributes: Array<[string, string[]]> = [];
    for (const k of keys) {
      const values: string[] = [];
      for (let e = k.first; e >= 0; e = range.nextSame[e]!) values.push(range.valueText(e));
      attributes.push([k.name, values]);
    }
    const hash = range.hash(r, keys);
    w.pos = 0;
    writeCatalogRecord(w, range, r, keys, hash, ctx);
    return { itemId, line: range.recLine[r], offset: range.recOffset[r], attributes: Object.fromEntries(attributes), hash, avro: w.buf.toString('hex', 0, w.pos) };
  });
  return { expected: { records: expected, quarantined: parsed.quarantined, lines: parsed.lines }, actual: { records: actual, quarantined: range.quarantined, lines: range.lines } };
}

const join = (lines: Buffer[], crlf: boolean) => Buffer.concat(lines.flatMap((l) => [l, Buffer.from(crlf ? '\r\n' : '\n')]));
const piece = fc.constantFrom(
  'ITEM', 'ITEM ', 'ITEM\t', ' ITEM 7', 'ITEMS', '=', '==', ' ', '\t', '\r', '\v', '\u00a0', '\u3000', '\ufeff', '\u2028', 'é', '千', '😀', '\ufffd',
  'Title', 'title', 'Actor', 'Genres', 'ListPrice', '1999USD$19.99', 'Too low', 'RunningTime', '90 minutes', 'ReleaseDate', '2003-04-15', 'Format',
  '0', '1', '01', '4294967294', '4294967295', '__proto__', 'a', 'B', '7',
);
const line = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
const latin1 = fc.constantFrom('Studio=Soci\xe9t\xe9', 'Titl\xe9=\xa0x\xa0', 'ITEM \xe9');
const doc = fc.array(fc.oneof({ weight: 6, arbitrary: line.map((l) => Buffer.from(l, 'utf8')) }, { weight: 1, arbitrary: latin1.map((l) => Buffer.from(l, 'latin1')) }), { maxLength: 30 });

describe('the byte-level record path', () => {
  it('matches the schema it writes', () => {
    expect(() => checkCatalogSchema(schema)).not.toThrow();
    expect(() => checkCatalogSchema({ fields: [...schema.fields, { name: 'new_field' }] })).toThrow(/CATALOG_WRITER_FIELDS/);
  });

  it('gives the sample Movies.txt the same records, quarantine, hashes and Avro bytes as the string path', () => {
    const { expected, actual } = bothWays(fs.readFileSync('data/Movies.txt'));
    expect(expected.records.length).toBeGreaterThan(300);
    expect(actual).toEqual(expected);
  });

  it('does the same on a generated file with a third of its records carrying an edge case', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'byte-records-')), 'Movies.txt');
    await generateMovies({ items: 4000, out, seed: 11, edgeRate: 0.35 });
    const { expected, actual } = bothWays(fs.readFileSync(out));
    expect(expected.quarantined.length).toBeGreaterThan(0);
    expect(actual).toEqual(expected);
    // A range that starts mid-file, as the pool's ranges do.
    const buf = fs.readFileSync(out);
    const mid = buf.indexOf('\nITEM ', buf.length >> 1) + 1;
    const half = bothWays(buf.subarray(mid));
    expect(half.actual).toEqual(half.expected);
  }, 60_000);

  it('does the same on random lines made of the characters that decide how a line is read', () => {
    fc.assert(
      fc.property(doc, fc.boolean(), (lines, crlf) => {
        const { expected, actual } = bothWays(join(lines, crlf));
        expect(actual).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  }, 60_000);
});

/** What a full run stores per item id (the last version in the range wins, as HSET in file order). */
function storeOf(buf: Buffer): Map<string, string> {
  const range = ScannedRange.scan(buf);
  const spans = cleanSpanHashes(range);
  return new Map(range.ids.map((id, r) => [id, storedValue(range.hash(r, range.keysOf(r)), spans[r]!)]));
}

/** Records as compared: id, line, offset, content hash. */
const recordsOf = (range: ScannedRange, keep: (offset: number) => boolean = () => true) =>
  range.ids.flatMap((itemId, r) => (keep(range.recOffset[r]!) ? [{ itemId, line: range.recLine[r], offset: range.recOffset[r], hash: range.hash(r, range.keysOf(r)) }] : []));

/**
 * Reads `buf` as processChunk does against `stored`: the spans whose hash is stored are skipped,
 * the rest parsed in pieces. Checks it against the full parse: every skipped span holds one
 * record whose content hash is the stored one and no quarantined line; the pieces give the
 * same records as the full parse outside the skipped spans, the same quarantine and lines.
 * Returns how many spans were skipped.
 */
function checkSkip(buf: Buffer, stored: Map<string, string>): number {
  const spans = scanSpans(buf);
  const skip = spans.hashes.map((h, i) => storedSpan(stored.get(spans.ids[i]!)) === h);
  const inSkipped = (offset: number) => spans.starts.some((st, i) => skip[i] && offset >= st && offset < (spans.starts[i + 1] ?? buf.length));
  const full = ScannedRange.scan(buf);
  const pieces = ScannedRange.scan(buf, { pieces: piecesToParse(spans, skip, buf.length), lines: spans.lines });
  expect(recordsOf(pieces)).toEqual(recordsOf(full, (o) => !inSkipped(o)));
  expect(pieces.quarantined).toEqual(full.quarantined);
  expect(spans.lines).toBe(full.lines);
  const skippedRecords = recordsOf(full, inSkipped);
  expect(skippedRecords.length).toBe(skip.filter(Boolean).length);
  for (const rec of skippedRecords) expect(storedContent(stored.get(rec.itemId))).toBe(rec.hash.slice(0, 16));
  return skippedRecords.length;
}

// Found by an attack on 2026-12-03.
describe('the byte-level record path on what an attacker sends', () => {
  it('keeps one key per name in a range, whatever the thread met before (past its cache of keys)', () => {
    ScannedRange.scan(Buffer.from(`ITEM 0\n${Array.from({ length: 10_050 }, (_, i) => `k${i}=v`).join('\n')}\n`));
    for (const text of ['ITEM 3\nFresh=a\nFresh=b\n', 'ITEM 2\nOther2 =a\nOther2 =b\n', `ITEM 4\n${'K'.repeat(300)}=a\n${'K'.repeat(300)}=b\n`]) {
      const { expected, actual } = bothWays(Buffer.from(text));
      expect(actual).toEqual(expected);
      expect(Object.keys(actual.records[0]!.attributes)).toHaveLength(1);
    }
  });

  it('writes numbers the schema cannot hold as not a price or no running time, never as an invalid long or int', () => {
    for (const line of ['RunningTime=2147483648', 'RunningTime=99999999999 minutes', 'ListPrice=9007199254740991USD', 'ListPrice=$99999999999999999999', `ListPrice=$${'9'.repeat(300)}`, 'TradeInValue=9007199254740991USD$90071992547409.91']) {
      // bothWays encodes with avsc, which throws on a value its schema cannot hold.
      const { expected, actual } = bothWays(Buffer.from(`ITEM 1\n${line}\n`));
      expect(actual).toEqual(expected);
      const event = type.fromBuffer(Buffer.from(actual.records[0]!.avro, 'hex'));
      expect([event.running_time_minutes, event.list_price_cents, event.trade_in_value_cents]).toEqual([null, null, null]);
    }
  });

  it('counts no line in a range that holds only a BOM, as parseMovies', () => {
    expect(scanSpans(Buffer.from([0xef, 0xbb, 0xbf])).lines).toBe(parseMovies(Buffer.from([0xef, 0xbb, 0xbf])).lines);
  });
});

describe('skipping unchanged records unparsed (span hashes)', () => {
  it('skips a record only when parsing it would find it unchanged, and parses the rest as the whole range would be', () => {
    // B is A itself, or A with a few bytes changed, inserted or removed.
    const edit = fc.record({ at: fc.nat(), cut: fc.nat({ max: 3 }), insert: fc.constantFrom('', 'x', '=', '\n', '\nITEM 9\n', '\n ITEM 9\n', ' ', '\r', '\u00a0', '\nTitle=y', '\nITEM\n', '\nITEM\rx=1\n') });
    let skips = 0;
    fc.assert(
      fc.property(fc.boolean(), doc, fc.boolean(), fc.array(edit, { maxLength: 2 }), (lead, lines, crlf, edits) => {
        const a = join([...(lead ? [Buffer.from('ITEM 1')] : []), ...lines], crlf);
        let b = a;
        for (const e of edits) {
          const at = b.length === 0 ? 0 : e.at % b.length;
          b = Buffer.concat([b.subarray(0, at), Buffer.from(e.insert, 'utf8'), b.subarray(Math.min(b.length, at + e.cut))]);
        }
        skips += checkSkip(b, storeOf(a));
      }),
      { numRuns: 4000 },
    );
    expect(skips).toBeGreaterThan(500);
  }, 60_000);

  it('skips every clean record of an unchanged generated file, still quarantines every bad line, and parses a record again once it changes', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'span-skip-')), 'Movies.txt');
    await generateMovies({ items: 3000, out, seed: 12, edgeRate: 0.1 });
    const buf = fs.readFileSync(out);
    const stored = storeOf(buf);
    const records = ScannedRange.scan(buf).records;
    expect(ScannedRange.scan(buf).quarantined.length).toBeGreaterThan(0);
    expect(checkSkip(buf, stored)).toBeGreaterThan(records * 0.8);
    const text = buf.toString('latin1');
    const at = text.indexOf('ListPrice=', text.length >> 1);
    const changed = Buffer.from(text.slice(0, at) + 'ListPrice=9' + text.slice(at + 'ListPrice='.length), 'latin1');
    expect(checkSkip(changed, stored)).toBe(checkSkip(buf, stored) - 1);
  }, 60_000);
});

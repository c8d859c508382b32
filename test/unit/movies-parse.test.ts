import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planChunks } from '../../src/movies/chunks.ts';
import { findRecordStart, parseMovies } from '../../src/movies/parse.ts';
import { parsePrice, priceByRules } from '../../src/movies/price.ts';
import { contentHash, parseReleaseDate, parseRunningTime, releaseDateByRules, runningTimeByRules, toCatalogEvent } from '../../src/movies/enrich.ts';
import avro from 'avsc';
import { loadConfig } from '../../src/config.ts';
import { CatalogItemEvent, type DomainEvent } from '../../src/events/model.ts';
import { readSchemaFiles } from '../../src/registry/serde.ts';

const parse = (text: string | Buffer) => parseMovies(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
const attrs = (text: string) => Object.fromEntries(parse(text).records[0]!.attributes);

describe('Movies.txt parser', () => {
  it('starts a record at ITEM and splits Key=Value at the first =, trimming both sides', () => {
    const r = parse('ITEM 42\nTitle = 2+2=4: The Movie \nASIN=B000\n');
    expect(r.records).toHaveLength(1);
    expect(r.records[0]!.itemId).toBe('42');
    expect(Object.fromEntries(r.records[0]!.attributes)).toEqual({ Title: ['2+2=4: The Movie'], ASIN: ['B000'] });
    expect(r.quarantined).toEqual([]);
    expect(r.lines).toBe(3);
  });

  it('collects repeated keys into lists in file order', () => {
    expect(attrs('ITEM 1\nActor=A\nActor=B\nDirector=D\nActor=C')).toEqual({ Actor: ['A', 'B', 'C'], Director: ['D'] });
  });

  it('tolerates CRLF, blank and whitespace-only lines, and a missing final newline', () => {
    const r = parse('ITEM 1\r\nTitle=X\r\n\r\n   \r\nITEM 2\r\nTitle=Y');
    expect(r.records.map((x) => [x.itemId, x.attributes.get('Title')])).toEqual([['1', ['X']], ['2', ['Y']]]);
    expect(r.quarantined).toEqual([]);
    expect(r.lines).toBe(6);
  });

  it('reads UTF-8, and latin1 for lines that are not valid UTF-8', () => {
    const buf = Buffer.concat([
      Buffer.from('ITEM 1\nTitle=千と千尋の神隠し\n', 'utf8'),
      Buffer.from('Studio=Société Générale\n', 'latin1'),
      Buffer.from('Actor=Zoë\n', 'utf8'),
    ]);
    expect(Object.fromEntries(parse(buf).records[0]!.attributes)).toEqual({ Title: ['千と千尋の神隠し'], Studio: ['Société Générale'], Actor: ['Zoë'] });
  });

  it('keeps a genuine U+FFFD in UTF-8 text', () => {
    expect(attrs('ITEM 1\nTitle=a\uFFFDb\n')).toEqual({ Title: ['a\uFFFDb'] });
  });

  it('quarantines every line that fits no rule, with its line number and reason', () => {
    const r = parse(['Title=before any item', 'ITEM 1', 'Title=ok', 'this line has no equals sign', '=orphan', 'ITEM', 'Title=lost', 'ITEM 2', 'Title=fine'].join('\n'));
    expect(r.records.map((x) => x.itemId)).toEqual(['1', '2']);
    expect(r.quarantined).toEqual([
      { line: 1, reason: 'attribute_outside_item', text: 'Title=before any item' },
      { line: 4, reason: 'unrecognized_line', text: 'this line has no equals sign' },
      { line: 5, reason: 'empty_key', text: '=orphan' },
      { line: 6, reason: 'item_without_id', text: 'ITEM' },
      { line: 7, reason: 'attribute_outside_item', text: 'Title=lost' },
    ]);
  });

  it('does not take ITEMS= or ITEMIZED for a record start', () => {
    const r = parse('ITEM 1\nITEMS=3\nITEMIZED=yes');
    expect(r.records).toHaveLength(1);
    expect(Object.fromEntries(r.records[0]!.attributes)).toEqual({ ITEMS: ['3'], ITEMIZED: ['yes'] });
  });

  it('records the byte offset of each ITEM line', () => {
    const text = 'ITEM 1\nTitle=é\nITEM 2\n';
    const r = parse(text);
    expect(r.records.map((x) => x.offset)).toEqual([0, Buffer.byteLength('ITEM 1\nTitle=é\n')]);
  });
});

describe('prices', () => {
  it.each([
    ['899USD$8.99', { ok: true, cents: 899, dollars: 8.99, currency: 'USD' }],
    ['129999USD$1,299.99', { ok: true, cents: 129999, dollars: 1299.99, currency: 'USD' }],
    ['0USD$0.00', { ok: true, cents: 0, dollars: 0, currency: 'USD' }],
    ['1500EUR EUR 15,00$15.00', { ok: true, cents: 1500, dollars: 15, currency: 'EUR' }],
    ['2500USD', { ok: true, cents: 2500, dollars: 25, currency: 'USD' }],
    ['$12.50', { ok: true, cents: 1250, dollars: 12.5, currency: 'USD' }],
  ])('%s', (raw, expected) => expect(parsePrice(raw)).toEqual(expected));

  it.each([
    [undefined, 'missing'],
    ['', 'missing'],
    ['Too low to display', 'not_a_price'],
    ['899USDToo low to display', 'not_a_price'],
    ['899USD$9.99', 'cents_dollars_mismatch'],
  ])('%s → null because %s', (raw, reason) => expect(parsePrice(raw)).toMatchObject({ ok: false, reason }));
});

describe('dates and running times', () => {
  it.each([
    ['2004-11-16', '2004-11-16'],
    ['2004/1/5', '2004-01-05'],
    ['11/16/2004', '2004-11-16'],
    ['November 16, 2004', '2004-11-16'],
    ['16 Nov 2004', '2004-11-16'],
    ['2004-02-30', null],
    ['2004', null],
    ['soon', null],
  ])('release date %s → %s', (raw, iso) => expect(parseReleaseDate(raw)).toBe(iso));

  it.each([
    ['90', 90],
    ['112 minutes', 112],
    ['1 hour 30 minutes', 90],
    ['2h 5m', 125],
    ['2:15', 135],
    ['long', null],
    ['0', null],
  ])('running time %s → %s', (raw, minutes) => expect(parseRunningTime(raw)).toBe(minutes));
});

describe('the shortcuts for the common shapes of prices, dates and running times', () => {
  // Strings made of what decides these shapes, near them and off them in every way a piece can.
  const of = (pieces: string[], maxLength = 12) => fc.array(fc.constantFrom(...pieces), { maxLength }).map((p) => p.join(''));
  const digits = ['0', '1', '2', '5', '9', '00', '999', '1234'];
  const runs = { numRuns: 20_000 };

  it('read a price as the general rules do, for any string', () => {
    const price = of([...digits, ',', '.', 'USD$', 'USD', 'usd$', 'EUR$', '$', ' ', '\t', '-', '9007199254740993', '99999999999999']);
    fc.assert(fc.property(price, (raw) => {
      expect(parsePrice(raw)).toEqual(priceByRules(raw));
    }), runs);
    for (const raw of ['899USD$8.99', '129999USD$1,299.99', '1299999USD$12,999.99', '100USD$1.00', '0USD$0.00', '001USD$0.01', '899USD$0,008.99'])
      expect(parsePrice(raw)).toEqual(priceByRules(raw));
  });

  it('read a release date and a running time as the general rules do, for any string', () => {
    const date = of([...digits, '-', '/', '.', ' ', 'T', '2004', '02', '29', '13', '1869', '2101'], 8);
    fc.assert(fc.property(date, (raw) => {
      expect(parseReleaseDate(raw)).toBe(releaseDateByRules(raw));
    }), runs);
    const time = of([...digits, ' ', ' minutes', 'minutes', ' Minutes', 'h', ':', '4294967296'], 6);
    fc.assert(fc.property(time, (raw) => {
      expect(parseRunningTime(raw)).toBe(runningTimeByRules(raw));
    }), runs);
  });
});

describe('catalog event', () => {
  const rec = parse(
    [
      'ITEM 7',
      'Title=Amélie',
      'Genre=Comedy',
      'ListPrice=1999USD$19.99',
      'TradeInValue=Too low to display',
      'Actor=Audrey Tautou',
      'Actor=Mathieu Kassovitz',
      'Director=Jean-Pierre Jeunet',
      'ReleaseDate=April 25, 2001',
      'RunningTime=122 minutes',
      'Studio=Miramax',
      'Format=DVD',
      'Format=Widescreen',
      'AudienceRating=R',
      'Languages=French',
    ].join('\n'),
  ).records[0]!;

  it('maps known attributes to fields and keeps every attribute', () => {
    const e = toCatalogEvent(rec, { sourceFile: 'Movies.txt', timestamp: '2026-11-25T00:00:00.000Z', rangeStart: 100 });
    expect(e).toMatchObject({
      item_id: '7',
      title: 'Amélie',
      genre: 'Comedy',
      list_price: 19.99,
      list_price_cents: 1999,
      currency: 'USD',
      list_price_null_reason: null,
      trade_in_value: null,
      trade_in_value_cents: null,
      trade_in_value_null_reason: 'not_a_price',
      actors: ['Audrey Tautou', 'Mathieu Kassovitz'],
      directors: ['Jean-Pierre Jeunet'],
      release_date: '2001-04-25',
      running_time_minutes: 122,
      studio: 'Miramax',
      format: 'DVD, Widescreen',
      audience_rating: 'R',
      source_offset: 100,
    });
    expect(e.attributes.Languages).toEqual(['French']);
    expect(Object.keys(e.attributes)).toHaveLength(12); // 14 lines, Actor and Format twice
    expect(e.event_id).toBe(`movie:7:${contentHash(rec).slice(0, 20)}`);
  });

  it('is a DomainEvent: keyed by item_id, on the catalog topic, valid for its schema', () => {
    const timestamp = '2026-11-25T00:00:00.000Z';
    const e: DomainEvent = new CatalogItemEvent(toCatalogEvent(rec, { sourceFile: 'Movies.txt', timestamp }), Date.parse(timestamp));
    const topics = loadConfig({}).topics;
    expect(e.eventName).toBe('movies_catalog_enriched');
    expect(e.key()).toBe('7');
    expect(e.topic(topics)).toBe(topics.movies_catalog_enriched);
    expect(e.timestamp).toBe(timestamp);
    const schema = readSchemaFiles().find((f) => f.name === 'movies_catalog_enriched')!;
    expect(avro.Type.forSchema(JSON.parse(schema.text)).isValid(e.toRecord())).toBe(true);
  });

  it('hashes content, not position or key order', () => {
    const a = parse('ITEM 1\nTitle=X\nActor=A\n').records[0]!;
    const b = parse('\n\nITEM 1\nActor=A\nTitle=X').records[0]!;
    const c = parse('ITEM 1\nTitle=X\nActor=B\n').records[0]!;
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(a)).not.toBe(contentHash(c));
  });
});

describe('chunking', () => {
  it('finds record starts only at line starts', () => {
    const buf = Buffer.from('xITEM 1\nITEM 2\nITEMS=1\nITEM\n');
    expect(findRecordStart(buf, 0)).toBe(8);
    expect(findRecordStart(buf, 9)).toBe(23);
  });

  // Found by an attack on 2026-12-03: ranges were cut where the parser does not end a record.
  it('cuts only where the parser ends the open record: not at `ITEM\\r<x>`, not at an `ITEM` the buffer ends inside', () => {
    expect(findRecordStart(Buffer.from('ITEM 1\nITEM\rX=5\nITEM\r\r\nITEM 2\n'), 1)).toBe(23);
    expect(findRecordStart(Buffer.from('ITEM 1\nITEM\rX=5\nITEM\r\nITEM 2\n'), 1)).toBe(16); // `ITEM` alone ends the record too
    expect(findRecordStart(Buffer.from('ITEM 1\nITEM'), 1, false)).toBe(-1); // `ITEMS=…` may follow
    expect(findRecordStart(Buffer.from('ITEM 1\nITEM'), 1, true)).toBe(7); // the file ends there
    expect(findRecordStart(Buffer.from('ITEM 1\nITEM\r'), 1, false)).toBe(-1);
  });

  it('reads a file cut into ranges as a whole when an `ITEMS=` line straddles the 64 KiB search window', async () => {
    const chunk = 1000;
    const windowEnd = chunk - 1 + 64 * 1024; // planChunks's first window is read from chunk - 1
    const head = 'ITEM 1\nTitle=' + 'a'.repeat(windowEnd - 4 - 1 - 'ITEM 1\nTitle='.length) + '\n';
    const bytes = Buffer.from(`${head}ITEMS=3\nGenre=Drama\nITEM 2\nTitle=b\n`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-window-'));
    const file = path.join(dir, 'm.txt');
    fs.writeFileSync(file, bytes);
    const { ranges } = await planChunks(file, chunk);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ranges.map((r) => r.start)).toEqual([0, bytes.indexOf('ITEM 2')]);
  });

  const lineArb = fc.oneof(
    fc.constantFrom('', '   ', 'garbage line', '=x', 'ITEMS=2', 'ITEM', 'ITEM\rX=5', 'ITEM\r', 'ITEM\r\r', 'Title=a=b', 'Actor= Zoë ', 'Format=DVD\r'),
    fc.nat({ max: 999 }).map((n) => `ITEM ${n}`),
    fc.tuple(fc.constantFrom('Title', 'Actor', 'ListPrice', 'Genre'), fc.string({ maxLength: 12 }).filter((s) => !s.includes('\n'))).map(([k, v]) => `${k}=${v}`),
  );

  it('property: for random cut points, chunked parsing yields exactly the single-pass records', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segpipe-chunks-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(lineArb, { maxLength: 80 }), fc.integer({ min: 1, max: 64 }), async (lines, chunkBytes) => {
          const file = path.join(dir, 'm.txt');
          const bytes = Buffer.from(lines.join('\n'), 'utf8');
          fs.writeFileSync(file, bytes);
          const whole = parseMovies(bytes);
          const { ranges } = await planChunks(file, chunkBytes);
          if (bytes.length > 0) {
            expect(ranges[0]!.start).toBe(0);
            expect(ranges[ranges.length - 1]!.end).toBe(bytes.length);
          }
          const records: Array<{ id: string; line: number; offset: number; attrs: unknown }> = [];
          const quarantined: unknown[] = [];
          let lineBase = 0;
          for (const r of ranges) {
            const part = parseMovies(bytes.subarray(r.start, r.end));
            for (const rec of part.records) records.push({ id: rec.itemId, line: rec.line + lineBase, offset: rec.offset + r.start, attrs: [...rec.attributes] });
            for (const q of part.quarantined) quarantined.push({ ...q, line: q.line + lineBase });
            lineBase += part.lines;
          }
          expect(records).toEqual(whole.records.map((rec) => ({ id: rec.itemId, line: rec.line, offset: rec.offset, attrs: [...rec.attributes] })));
          expect(quarantined).toEqual(whole.quarantined);
          expect(lineBase).toBe(whole.lines);
        }),
        { numRuns: 300 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Realistic Movies.txt generator (deterministic for a seed), with a configurable share of the
// edge cases real dumps contain: odd prices, `=` in values, CRLF, non-ASCII and latin1 bytes,
// repeated keys, blank and garbage lines.
import fs from 'node:fs';
import { once } from 'node:events';
import { Faker, en } from '@faker-js/faker';

export interface GenerateOptions {
  items: number;
  out: string;
  seed?: number;
  /** Share of records (0..1) that carry an edge case; default 0.05. */
  edgeRate?: number;
  firstId?: number;
  onProgress?: (written: number, bytes: number) => void;
}

const GENRES = ['Drama', 'Comedy', 'Action & Adventure', 'Documentary', 'Horror', 'Science Fiction & Fantasy', 'Kids & Family', 'Musicals & Performing Arts', 'Anime', 'Westerns'];
const FORMATS = ['DVD', 'Blu-ray', 'Widescreen', 'Color', 'NTSC', 'Subtitled', 'Box set'];
const RATINGS = ['G', 'PG', 'PG-13', 'R', 'NC-17', 'Unrated', 'NR'];
const STUDIOS = ['Warner Home Video', 'Universal Studios', 'Criterion Collection', 'Paramount', 'Sony Pictures', 'Lionsgate', 'Studio Ghibli', 'A24'];
const FOREIGN_TITLES = ['Amélie', 'Le Fabuleux Destin d’Amélie Poulain', '千と千尋の神隠し', 'Crouching Tiger, Hidden Dragon (臥虎藏龍)', 'Das Boot', 'Ōkami', 'Y tu mamá también', 'Смерть Кощея'];

const priceField = (cents: number) => `${cents}USD$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

export async function generateMovies(opts: GenerateOptions): Promise<{ items: number; bytes: number }> {
  const f = new Faker({ locale: [en] });
  f.seed(opts.seed ?? 42);
  const edgeRate = opts.edgeRate ?? 0.05;
  const out = fs.createWriteStream(opts.out);
  let bytes = 0;
  const write = async (chunk: Buffer | string) => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    bytes += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  const firstId = opts.firstId ?? 1;
  for (let i = 0; i < opts.items; i++) {
    const edge = f.number.float() < edgeRate ? f.number.int({ min: 0, max: 11 }) : -1;
    const eol = edge === 0 ? '\r\n' : '\n';
    const cents = f.number.int({ min: 199, max: edge === 1 ? 250_000 : 4_999 });
    const lines: Array<string | Buffer> = [`ITEM ${firstId + i}`];
    const title = edge === 2 ? f.helpers.arrayElement(FOREIGN_TITLES) : edge === 3 ? `${f.word.words(2)} = ${f.word.noun()}: Part ${f.number.int({ min: 2, max: 9 })}` : f.book.title();
    lines.push(`ASIN=B0${f.string.alphanumeric({ length: 8, casing: 'upper' })}`, `Title=${title}`, `Genre=${f.helpers.arrayElement(GENRES)}`);
    if (edge === 4) lines.push('ListPrice=Too low to display');
    else if (edge === 5) lines.push(`ListPrice=${cents}USD$${((cents + 100) / 100).toFixed(2)}`); // cents and dollars disagree
    else if (edge !== 6) lines.push(`ListPrice=${priceField(cents)}`); // edge 6: no price at all
    if (f.number.float() < 0.4) lines.push(`TradeInValue=${priceField(Math.floor(cents / 3))}`);
    for (let a = f.number.int({ min: 1, max: 5 }); a > 0; a--) lines.push(`Actor=${f.person.fullName()}`);
    for (let d = f.number.int({ min: 1, max: 2 }); d > 0; d--) lines.push(`Director=${f.person.fullName()}`);
    const released = f.date.between({ from: '1950-01-01T00:00:00Z', to: '2025-12-31T00:00:00Z' });
    lines.push(
      `ReleaseDate=${edge === 7 ? released.toLocaleDateString('en-US', { month: 'long', day: 'numeric', year: 'numeric', timeZone: 'UTC' }) : released.toISOString().slice(0, 10)}`,
      `RunningTime=${f.number.int({ min: 70, max: 200 })} minutes`,
      `Studio=${f.helpers.arrayElement(STUDIOS)}`,
    );
    for (const fmt of f.helpers.arrayElements(FORMATS, { min: 1, max: 3 })) lines.push(`Format=${fmt}`);
    lines.push(`AudienceRating=${f.helpers.arrayElement(RATINGS)}`, `NumberOfDiscs=${f.number.int({ min: 1, max: 4 })}`);
    if (edge === 8) lines.push(Buffer.from(`Studio=Soci${'\u00e9'}t${'\u00e9'} G${'\u00e9'}n${'\u00e9'}rale de Films`, 'latin1')); // not UTF-8
    if (edge === 9) lines.push('', `Languages=English`, '');
    if (edge === 10) lines.push('#### transfer interrupted, resuming ####');
    if (edge === 11) lines.push(`=orphan value ${f.word.noun()}`);
    for (const line of lines) {
      await write(line);
      await write(eol);
    }
    if (i % 10_000 === 0) opts.onProgress?.(i, bytes);
  }
  out.end();
  await once(out, 'finish');
  opts.onProgress?.(opts.items, bytes);
  return { items: opts.items, bytes };
}

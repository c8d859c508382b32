// Realistic Movies.txt generator (deterministic for a seed), with a configurable share of the
// edge cases real dumps contain: odd prices, `=` in values, CRLF, non-ASCII and latin1 bytes,
// repeated keys, blank and garbage lines.
import fs from 'node:fs';
import { once } from 'node:events';
import { Faker, en } from '@faker-js/faker';
import { rng } from '../random.ts';

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

/** `129999USD$1,299.99` (Intl formatting is far too slow for gigabytes of prices). */
function priceField(cents: number): string {
  const dollars = String(Math.floor(cents / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${cents}USD$${dollars}.${String(cents % 100).padStart(2, '0')}`;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export async function generateMovies(opts: GenerateOptions): Promise<{ items: number; bytes: number }> {
  const seed = opts.seed ?? 42;
  const f = new Faker({ locale: [en] });
  f.seed(seed);
  // Realistic values from faker, drawn once; millions of records then pick from them.
  const names = Array.from({ length: 5000 }, () => f.person.fullName());
  const titles = Array.from({ length: 5000 }, () => f.book.title());
  const words = Array.from({ length: 500 }, () => f.word.noun());
  const r = rng(seed);
  const edgeRate = opts.edgeRate ?? 0.05;
  const out = fs.createWriteStream(opts.out);
  let bytes = 0;
  // Records are collected and written in batches: one write per few hundred records.
  let batch: Buffer[] = [];
  let text = '';
  const flush = async () => {
    if (text) batch.push(Buffer.from(text, 'utf8'));
    text = '';
    const b = Buffer.concat(batch);
    batch = [];
    bytes += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  const firstId = opts.firstId ?? 1;
  const from = Date.UTC(1950, 0, 1);
  const to = Date.UTC(2025, 11, 31);
  for (let i = 0; i < opts.items; i++) {
    const edge = r.next() < edgeRate ? r.int(0, 11) : -1;
    const eol = edge === 0 ? '\r\n' : '\n';
    const cents = r.int(199, edge === 1 ? 250_000 : 4_999);
    const lines: Array<string | Buffer> = [`ITEM ${firstId + i}`];
    const title = edge === 2 ? r.pick(FOREIGN_TITLES) : edge === 3 ? `${r.pick(words)} ${r.pick(words)} = ${r.pick(words)}: Part ${r.int(2, 9)}` : r.pick(titles);
    let asin = 'B0';
    for (let k = 0; k < 8; k++) asin += ALNUM[r.int(0, ALNUM.length - 1)];
    lines.push(`ASIN=${asin}`, `Title=${title}`, `Genre=${r.pick(GENRES)}`);
    if (edge === 4) lines.push('ListPrice=Too low to display');
    else if (edge === 5) lines.push(`ListPrice=${cents}USD$${((cents + 100) / 100).toFixed(2)}`); // cents and dollars disagree
    else if (edge !== 6) lines.push(`ListPrice=${priceField(cents)}`); // edge 6: no price at all
    if (r.next() < 0.4) lines.push(`TradeInValue=${priceField(Math.floor(cents / 3))}`);
    for (let a = r.int(1, 5); a > 0; a--) lines.push(`Actor=${r.pick(names)}`);
    for (let d = r.int(1, 2); d > 0; d--) lines.push(`Director=${r.pick(names)}`);
    const released = new Date(from + Math.floor(r.next() * (to - from)));
    lines.push(
      `ReleaseDate=${edge === 7 ? released.toLocaleDateString('en-US', { month: 'long', day: 'numeric', year: 'numeric', timeZone: 'UTC' }) : released.toISOString().slice(0, 10)}`,
      `RunningTime=${r.int(70, 200)} minutes`,
      `Studio=${r.pick(STUDIOS)}`,
    );
    const formats = FORMATS.filter(() => r.next() < 0.35);
    for (const fmt of formats.length ? formats : [r.pick(FORMATS)]) lines.push(`Format=${fmt}`);
    lines.push(`AudienceRating=${r.pick(RATINGS)}`, `NumberOfDiscs=${r.int(1, 4)}`);
    if (edge === 8) lines.push(Buffer.from('Studio=Soci\u00e9t\u00e9 G\u00e9n\u00e9rale de Films', 'latin1')); // not UTF-8
    if (edge === 9) lines.push('', 'Languages=English', '');
    if (edge === 10) lines.push('#### transfer interrupted, resuming ####');
    if (edge === 11) lines.push(`=orphan value ${r.pick(words)}`);
    for (const line of lines) {
      if (typeof line === 'string') text += line + eol;
      else {
        batch.push(Buffer.from(text, 'utf8'), line, Buffer.from(eol));
        text = '';
      }
    }
    if (i % 500 === 499) await flush();
    if (i % 10_000 === 0) opts.onProgress?.(i, bytes);
  }
  await flush();
  out.end();
  await once(out, 'finish');
  opts.onProgress?.(opts.items, bytes);
  return { items: opts.items, bytes };
}

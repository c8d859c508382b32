// What the simulated shop sells: the priced items the movies pipeline keeps in Redis, or the
// sample data/Movies.txt when that is empty (a fresh install). Sorted by item_id so the same
// catalog gives the same simulation for a seed.
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { toCatalogEvent } from '../movies/enrich.ts';
import { CATALOG_PRICES_KEY } from '../movies/ingest.ts';
import { parseMovies } from '../movies/parse.ts';

export interface CatalogItem {
  itemId: string;
  priceCents: number;
  currency: string;
}

export const SAMPLE_CATALOG = path.resolve(import.meta.dirname, '..', '..', 'data', 'Movies.txt');

export function catalogFromFile(file = SAMPLE_CATALOG): CatalogItem[] {
  const ts = new Date(0).toISOString();
  return sortCatalog(
    parseMovies(fs.readFileSync(file))
      .records.map((r) => toCatalogEvent(r, { sourceFile: path.basename(file), timestamp: ts }))
      .filter((e) => e.list_price_cents !== null)
      .map((e) => ({ itemId: e.item_id, priceCents: e.list_price_cents!, currency: e.currency ?? 'USD' })),
  );
}

/** The catalog the pipeline keeps, capped at `max` items (the first by item_id). */
export async function loadCatalog(redis: Redis, max = 20_000): Promise<{ items: CatalogItem[]; source: string }> {
  const items: CatalogItem[] = [];
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(CATALOG_PRICES_KEY, cursor, 'COUNT', 5000);
    cursor = next;
    for (let i = 0; i < flat.length; i += 2) {
      const [cents, currency] = flat[i + 1]!.split(' ');
      const priceCents = Number(cents);
      // The movies pipeline writes whole cents; anything else is not a price to sell at.
      if (Number.isSafeInteger(priceCents) && priceCents >= 0) items.push({ itemId: flat[i]!, priceCents, currency: currency ?? 'USD' });
    }
  } while (cursor !== '0');
  if (items.length === 0) return { items: catalogFromFile(), source: SAMPLE_CATALOG };
  return { items: sortCatalog(items).slice(0, max), source: `redis ${CATALOG_PRICES_KEY}` };
}

function sortCatalog(items: CatalogItem[]): CatalogItem[] {
  const seen = new Map<string, CatalogItem>();
  for (const i of items) seen.set(i.itemId, i);
  return [...seen.values()].sort((a, b) => (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
}

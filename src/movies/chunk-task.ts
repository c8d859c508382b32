// One byte range of Movies.txt → parsed and hashed, then the items new or changed since last
// produced enriched and Avro-encoded into catalog events, packed for a
// zero-copy transfer out of the worker thread: one buffer of wire-format values plus offsets.
import fs from 'node:fs';
import { FileChangedError, openPinned, type FileIdentity } from './pinned-file.ts';
import path from 'node:path';
import avro from 'avsc';
import { Redis } from 'ioredis';
import { SCHEMAS_DIR, encodeWire } from '../registry/serde.ts';
import { contentHash, toCatalogEvent } from './enrich.ts';
import { CatalogItemEvent } from '../events/model.ts';
import { parseMovies, type QuarantinedLine } from './parse.ts';

export interface ChunkTask {
  file: string;
  /** The file as checked and first opened: a different file under the name fails the chunk. */
  identity?: FileIdentity;
  start: number;
  end: number;
  /** Registry id of the catalog schema, written into each value's wire header. */
  schemaId: number;
  /** Event time for the run (ISO 8601 UTC). */
  timestamp: string;
  /**
   * Where the content hash of each item last produced is kept: items whose hash is the stored
   * one are counted and skipped before they are enriched and encoded (one lookup per range).
   * The caller checks the hashes again before producing (another run may have moved them on).
   */
  storedHashes?: { redisUrl: string; key: string; chars: number };
}

export interface ChunkResult {
  start: number;
  end: number;
  /** Lines in the range; the caller adds earlier ranges' lines to make quarantine lines absolute. */
  lines: number;
  itemIds: string[];
  /** Content hash per item (hex), for the incremental skip. */
  hashes: string[];
  /** `<cents> <currency>` per item with a valid list price, '' otherwise: the sellable catalog. */
  prices: string[];
  /** values[i] = packed.subarray(offsets[i], offsets[i + 1]): Confluent wire format. */
  packed: Uint8Array;
  offsets: Uint32Array;
  quarantined: QuarantinedLine[];
  /** Items of the range left out because their stored hash was theirs already. */
  unchanged: number;
}

let hashStore: { url: string; client: Redis } | undefined;
/** This thread's connection to the hash store, opened at first use. */
function storeFor(url: string): Redis {
  if (hashStore?.url !== url) {
    hashStore?.client.disconnect();
    const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
    client.on('error', () => undefined);
    hashStore = { url, client };
  }
  return hashStore.client;
}

/** The stored hash of each id, or null for all of them when the store cannot answer (then nothing is skipped). */
async function storedHashesOf(ids: string[], where: NonNullable<ChunkTask['storedHashes']>): Promise<Array<string | null>> {
  if (ids.length === 0) return [];
  try {
    return await storeFor(where.redisUrl).hmget(where.key, ...ids);
  } catch {
    return ids.map(() => null);
  }
}

let catalogType: avro.Type | undefined;
const type = () =>
  (catalogType ??= avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'movies_catalog_enriched.avsc'), 'utf8'))));

export function readRange(file: string, start: number, end: number, identity?: FileIdentity): Buffer {
  const buf = Buffer.allocUnsafe(end - start);
  const { fd } = openPinned(file, identity);
  try {
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(fd, buf, done, buf.length - done, start + done);
      if (n === 0) throw new FileChangedError(`${path.basename(file)} ended at byte ${start + done}, expected ${end}: truncated while being read?`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

export async function processChunk(task: ChunkTask): Promise<ChunkResult> {
  const parsed = parseMovies(readRange(task.file, task.start, task.end, task.identity));
  // Hash first, and enrich and encode only what changed since it was last produced.
  const allHashes = parsed.records.map((rec) => contentHash(rec));
  let records = parsed.records;
  let recordHashes = allHashes;
  if (task.storedHashes) {
    const where = task.storedHashes;
    const stored = await storedHashesOf(
      parsed.records.map((rec) => rec.itemId),
      where,
    );
    const keep = parsed.records.flatMap((_, i) => (stored[i] === allHashes[i]!.slice(0, where.chars) ? [] : [i]));
    records = keep.map((i) => parsed.records[i]!);
    recordHashes = keep.map((i) => allHashes[i]!);
  }
  const t = type();
  const sourceFile = path.basename(task.file);
  const itemIds: string[] = [];
  const hashes: string[] = [];
  const prices: string[] = [];
  const offsets = new Uint32Array(records.length + 1);
  // Encode straight into one buffer (avsc's toBuffer encodes twice past 1 KiB); grow on overflow.
  let packed = Buffer.allocUnsafe(Math.max(64 * 1024, Math.ceil((task.end - task.start) * 1.5)));
  let pos = 0;
  const time = Date.parse(task.timestamp);
  records.forEach((rec, i) => {
    const hash = recordHashes[i]!;
    const event = new CatalogItemEvent(toCatalogEvent(rec, { sourceFile, rangeStart: task.start, timestamp: task.timestamp }, hash), time);
    const record = event.toRecord();
    let end = -1;
    while (end < 0) {
      end = encodeWire(t, task.schemaId, record, packed, pos);
      if (end < 0) {
        const bigger = Buffer.allocUnsafe(packed.length * 2);
        packed.copy(bigger, 0, 0, pos);
        packed = bigger;
      }
    }
    offsets[i] = pos;
    pos = end;
    itemIds.push(event.key());
    hashes.push(hash);
    prices.push(record.list_price_cents === null ? '' : `${record.list_price_cents} ${record.currency ?? 'USD'}`);
  });
  offsets[records.length] = pos;
  return {
    start: task.start,
    end: task.end,
    lines: parsed.lines,
    itemIds,
    hashes,
    prices,
    // A right-sized copy: posting a view would clone its whole (oversized) backing buffer.
    packed: Uint8Array.prototype.slice.call(packed, 0, pos),
    offsets,
    quarantined: parsed.quarantined,
    unchanged: parsed.records.length - records.length,
  };
}

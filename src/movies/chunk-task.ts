// One byte range of Movies.txt → parsed, enriched, Avro-encoded catalog events, packed for a
// zero-copy transfer out of the worker thread: one buffer of wire-format values plus offsets.
import fs from 'node:fs';
import { FileChangedError, openPinned, type FileIdentity } from './pinned-file.ts';
import path from 'node:path';
import avro from 'avsc';
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

export function processChunk(task: ChunkTask): ChunkResult {
  const parsed = parseMovies(readRange(task.file, task.start, task.end, task.identity));
  const t = type();
  const sourceFile = path.basename(task.file);
  const itemIds: string[] = [];
  const hashes: string[] = [];
  const prices: string[] = [];
  const offsets = new Uint32Array(parsed.records.length + 1);
  // Encode straight into one buffer (avsc's toBuffer encodes twice past 1 KiB); grow on overflow.
  let packed = Buffer.allocUnsafe(Math.max(64 * 1024, Math.ceil((task.end - task.start) * 1.5)));
  let pos = 0;
  const time = Date.parse(task.timestamp);
  parsed.records.forEach((rec, i) => {
    const hash = contentHash(rec);
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
  offsets[parsed.records.length] = pos;
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
  };
}

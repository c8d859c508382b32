// One byte range of Movies.txt → scanned and hashed on bytes, then the items new or changed
// since last produced enriched and Avro-encoded into catalog events (byte-records.ts: the same
// bytes as parse.ts + enrich.ts + avsc), packed for a zero-copy transfer out of the worker
// thread: one buffer of wire-format values plus offsets.
import fs from 'node:fs';
import { FileChangedError, openPinned, type FileIdentity } from './pinned-file.ts';
import path from 'node:path';
import { Redis } from 'ioredis';
import { HEADER_BYTES, SCHEMAS_DIR, writeWireHeader } from '../registry/serde.ts';
import { AvroBytes, ScannedRange, checkCatalogSchema, writeCatalogRecord } from './byte-records.ts';
import type { QuarantinedLine } from './parse.ts';
import { HASH_CHARS, cleanSpanHashes, piecesToParse, scanSpans, storedContent, storedSpan, storedValue, type Spans } from './span-skip.ts';
import { RawReplies } from '../state/raw-replies.ts';
import { checkRange, rangeDigest, storeRangeRecord, type RangeCheck, type RangeRecord } from './range-skip.ts';

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
   * one are counted and skipped before they are enriched and encoded, records whose span hash
   * is before they are parsed (span-skip.ts; one lookup per range, one more when some parse).
   */
  storedHashes?: { redisUrl: string; key: string };
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
  /** Span hash per item ('' when its span is not one clean record): stored beside its content hash. */
  spanHashes: string[];
  /** Items unchanged whose stored value lacks their span hash: [item id, value to store]. */
  restamp: Array<[string, string]>;
  /** Items of the range left out because their stored hash was theirs already. */
  unchanged: number;
  /** The whole range was found unchanged by its digest and skipped unparsed (range-skip.ts). */
  rangeSkipped: boolean;
}

let hashStore: { url: string; client: Redis; raw: RawReplies } | undefined;
/** This thread's connections to the hash store (ioredis, and one for raw replies), opened at first use. */
function storesFor(url: string): { client: Redis; raw: RawReplies } {
  if (hashStore?.url !== url) {
    hashStore?.client.disconnect();
    hashStore?.raw.close();
    const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
    client.on('error', () => undefined);
    hashStore = { url, client, raw: RawReplies.like(client) };
  }
  return hashStore;
}
const storeFor = (url: string): Redis => storesFor(url).client;

/** Ids per HMGET: an argument list is spread on the stack, and a 64 MB range holds half a million ids. */
const MAX_HMGET_IDS = 10_000;

/** The stored hash of each id, or null for all of them when the store cannot answer (then nothing is skipped). */
async function storedHashesOf(ids: string[], where: NonNullable<ChunkTask['storedHashes']>): Promise<Array<string | null>> {
  if (ids.length === 0) return [];
  try {
    const client = storeFor(where.redisUrl);
    const lookups: Array<Promise<Array<string | null>>> = [];
    for (let i = 0; i < ids.length; i += MAX_HMGET_IDS) lookups.push(client.hmget(where.key, ...ids.slice(i, i + MAX_HMGET_IDS)));
    return (await Promise.all(lookups)).flat();
  } catch {
    return ids.map(() => null);
  }
}

let schemaChecked = false;
/** The byte writer writes the catalog schema's fields in its own order: checked once per thread. */
function checkSchema(): void {
  if (schemaChecked) return;
  checkCatalogSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'movies_catalog_enriched.avsc'), 'utf8')));
  schemaChecked = true;
}

/** Reads [start, end) of the file into `into` (a new buffer when it is too small); returns the bytes read. */
export function readRange(file: string, start: number, end: number, identity?: FileIdentity, into?: Buffer): Buffer {
  const buf = into && into.length >= end - start ? into.subarray(0, end - start) : Buffer.allocUnsafe(end - start);
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

/**
 * This thread's input and output buffers, reused range after range (nothing of either
 * outlives its task: results hold strings and a right-sized copy), so a 1 GB file does not
 * churn through a thousand fresh megabyte buffers per thread. A thread runs two tasks at once
 * (one scans while the other waits for the hash store): one pair of buffers per task.
 */
const freeScratch: Array<{ input: Buffer; output: Buffer }> = [];

/** Whether this thread's last range found records to skip by their span hash (see processChunkWith). */
let spanScanPays = true;

export async function processChunk(task: ChunkTask): Promise<ChunkResult> {
  let scratch = freeScratch.pop();
  if (!scratch || scratch.input.length < task.end - task.start) scratch = newScratch(task.end - task.start);
  try {
    return await processChunkWith(task, scratch);
  } finally {
    if (freeScratch.length < 2) freeScratch.push(scratch);
  }
}

const newScratch = (size: number) => ({ input: Buffer.allocUnsafe(size), output: Buffer.allocUnsafe(Math.max(64 * 1024, Math.ceil(size * 1.5))) });

async function processChunkWith(task: ChunkTask, scratch: { input: Buffer; output: Buffer }): Promise<ChunkResult> {
  checkSchema();
  const buf = readRange(task.file, task.start, task.end, task.identity, scratch.input);
  const where = task.storedHashes;
  const sourceFile = path.basename(task.file);
  // A range whose bytes and catalog values are as recorded costs one hash and two lookups.
  const digest = where ? rangeDigest(buf) : '';
  let check: RangeCheck | undefined;
  if (where) {
    const { raw, client } = storesFor(where.redisUrl);
    check = await checkRange(raw, client, where.key, sourceFile, task.start, digest);
    const whole = check.skip;
    if (whole) return { ...nothingProduced(task, whole.lines), quarantined: whole.quarantined, unchanged: whole.records, rangeSkipped: true };
  }
  // An unchanged record costs a boundary scan and one hash (span-skip.ts); the rest is parsed.
  // Where the thread's last range had nothing to skip (a file new to the catalog), the scan is
  // left out until a parsed range shows records it would have skipped.
  const spans = where && spanScanPays ? scanSpans(buf) : null;
  let skip: boolean[] = [];
  let storedOfSpans: Array<string | null> = [];
  if (spans) {
    storedOfSpans = await storedHashesOf(spans.ids, where!);
    // A record without an id is never skipped: its lines are quarantined on every run.
    skip = spans.hashes.map((h, i) => spans.ids[i] !== '' && storedSpan(storedOfSpans[i]) === h);
  }
  const skipped = skip.filter(Boolean).length;
  const range = ScannedRange.scan(buf, spans ? { pieces: piecesToParse(spans, skip, buf.length), lines: spans.lines } : undefined);
  const n = range.records;
  // Hash first, and enrich and encode only what changed since it was last produced.
  const allHashes: string[] = new Array(n);
  for (let r = 0; r < n; r++) allHashes[r] = range.hash(r, range.keysOf(r));
  const spanHashes = cleanSpanHashes(range);
  let todo = Array.from({ length: n }, (_, r) => r);
  const restamp: Array<[string, string]> = [];
  // An id twice in a range: its last record is the catalog's (as HSET in file order), the
  // earlier ones are left out; comparing each with the stored value would produce them in turn,
  // run after run.
  const lastAt = new Map<string, number>();
  spans?.ids.forEach((id, i) => lastAt.set(id, spans.starts[i]!));
  range.ids.forEach((id, r) => lastAt.set(id, Math.max(lastAt.get(id) ?? -1, range.recOffset[r]!)));
  todo = todo.filter((r) => lastAt.get(range.ids[r]!) === range.recOffset[r]);
  // The value each record leaves in the catalog once this range is produced: its own, unless
  // the one stored already is (read on the range's next run: range-skip.ts).
  const left = allHashes.map((h, r) => storedValue(h, spanHashes[r]!));
  let stored: Array<string | null> = [];
  if (where && n > 0) {
    // Nothing skipped and the same ids in the same order: the first lookup answered this one.
    const sameIds = skipped === 0 && spans !== null && spans.ids.length === n && range.ids.every((id, r) => id === spans.ids[r]);
    stored = sameIds ? storedOfSpans : await storedHashesOf(range.ids, where);
    todo = todo.filter((r) => {
      if (storedContent(stored[r]) !== allHashes[r]!.slice(0, HASH_CHARS)) return true;
      if (spanHashes[r] && storedSpan(stored[r]) !== spanHashes[r]) restamp.push([range.ids[r]!, left[r]!]);
      else left[r] = stored[r]!;
      return false;
    });
  }
  if (where) spanScanPays = spans ? skipped > 0 : range.ids.some((_, r) => spanHashes[r] !== '' && storedSpan(stored[r]) === spanHashes[r]);
  if (where) await storeRangeRecord(storeFor(where!.redisUrl), where!.key, sourceFile, task.start, rangeRecordOf(digest, spans, skip, storedOfSpans, range, left, lastAt), check?.recorded ?? null);
  const ctx = { sourceFile, rangeStart: task.start, timestamp: task.timestamp };
  const itemIds: string[] = [];
  const hashes: string[] = [];
  const prices: string[] = [];
  const offsets = new Uint32Array(todo.length + 1);
  const w = new AvroBytes(scratch.output);
  todo.forEach((r, i) => {
    offsets[i] = w.pos;
    w.ensure(HEADER_BYTES);
    writeWireHeader(w.buf, w.pos, task.schemaId);
    w.pos += HEADER_BYTES;
    const item = writeCatalogRecord(w, range, r, range.keysOf(r), allHashes[r]!, ctx);
    itemIds.push(item.itemId);
    hashes.push(allHashes[r]!);
    prices.push(item.listPriceCents === null ? '' : `${item.listPriceCents} ${item.currency ?? 'USD'}`);
  });
  offsets[todo.length] = w.pos;
  scratch.output = w.buf; // grown, if it had to
  return {
    start: task.start,
    end: task.end,
    lines: range.lines,
    itemIds,
    hashes,
    prices,
    spanHashes: todo.map((r) => spanHashes[r]!),
    restamp,
    // A right-sized copy: posting a view would clone its whole (oversized) backing buffer.
    packed: Uint8Array.prototype.slice.call(w.buf, 0, w.pos),
    offsets,
    quarantined: range.quarantined,
    unchanged: skipped + n - todo.length, // superseded ones among them
    rangeSkipped: false,
  };
}

const nothingProduced = (task: ChunkTask, lines: number): Omit<ChunkResult, 'unchanged' | 'rangeSkipped'> => ({
  start: task.start,
  end: task.end,
  lines,
  itemIds: [],
  hashes: [],
  prices: [],
  spanHashes: [],
  restamp: [],
  packed: new Uint8Array(0),
  offsets: new Uint32Array(1),
  quarantined: [],
});

/**
 * The range's record (range-skip.ts): its records in file order (the spans skipped unparsed
 * and the records parsed), each id with the value the last record of that id leaves in the
 * catalog, and what parsing reported. With those values in the catalog, the same bytes parse
 * to records each found unchanged, nothing restamped: what skipping the range reports. Built
 * in flat arrays: a 64 MB range holds half a million records, in a capped heap.
 */
function rangeRecordOf(digest: string, spans: Spans | null, skip: boolean[], storedOfSpans: Array<string | null>, range: ScannedRange, left: string[], lastAt: Map<string, number>): RangeRecord {
  const ids: string[] = [];
  const values: string[] = [];
  const offsets: number[] = [];
  let r = 0;
  // Merged by offset: both are in file order.
  const starts = spans?.starts ?? [];
  for (let i = 0; i <= starts.length; i++) {
    const spanStart = i < starts.length ? starts[i]! : Infinity;
    for (; r < range.records && range.recOffset[r]! < spanStart; r++) {
      ids.push(range.ids[r]!);
      values.push(left[r]!);
      offsets.push(range.recOffset[r]!);
    }
    if (spans && skip[i]) {
      ids.push(spans.ids[i]!);
      values.push(storedOfSpans[i]!);
      offsets.push(starts[i]!);
    }
  }
  // An id given twice (rare): each of its records names the value its last one leaves.
  const ofLast = new Map<string, string>();
  ids.forEach((id, k) => lastAt.get(id) !== offsets[k] && ofLast.set(id, ''));
  if (ofLast.size > 0) {
    ids.forEach((id, k) => ofLast.has(id) && lastAt.get(id) === offsets[k] && ofLast.set(id, values[k]!));
    ids.forEach((id, k) => ofLast.has(id) && (values[k] = ofLast.get(id)!));
  }
  return { digest, lines: range.lines, quarantined: range.quarantined, ids, values };
}

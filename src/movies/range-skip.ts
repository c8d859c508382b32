// A whole range of Movies.txt skipped unread (issue #15: an unchanged 1 GB file should cost
// little more than reading it). The span skip (span-skip.ts) still scans every line, hashes
// every record and looks every id up. So the parse thread also records, beside the catalog's
// hashes, each range's bytes digest, its lines and quarantined lines, its records' ids, and a
// digest of the values the catalog holds for them once the range is produced. A later range of
// the same bytes is skipped when one HMGET finds those values there (its reply's SHA-1 is the
// record's, raw-replies.ts: nothing parsed per value): the case where
// parsing it again would produce nothing and store nothing (the same bytes parse to the same
// records, and each is found unchanged against the value it left).
//
// The record is a fact about bytes and values, not about time: it may be written before its
// items are produced, since the values it names appear in the catalog only once they are (or
// once another run stored the same versions). Anything else (a changed byte, a value restamped,
// deleted or overwritten) makes the script answer no, and the range is parsed as before.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { RawReplies, bulkPayload, encodeCommand } from '../state/raw-replies.ts';
import type { QuarantinedLine } from './parse.ts';

/** How long a file's range records live unused (each hit or write renews them). */
export const RANGE_RECORD_TTL_S = 7 * 24 * 3600;

/**
 * The file's range records: a hash of range start → record, among segpipe's keys and in the
 * catalog hash's slot (its hash tag is the catalog key itself), so a check's two keys sit on one
 * Redis Cluster shard. `v1`: a change to what a record means takes a new name, so records
 * written under the old meaning are never read.
 */
export const rangeRecordsKey = (catalogKey: string, sourceFile: string): string => `segpipe:movies:ranges:v1:{${catalogKey}}:${sourceFile}`;

export const rangeDigest = (b: Buffer): string => crypto.hash('sha1', b, 'hex');

/** Ids per HMGET: a 64 MB range holds about 190k, and one command blocks Redis while it runs. */
const IDS_PER_LOOKUP = 8192;

const bulk = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
};

/** Strings as RESP bulk strings, IDS_PER_LOOKUP to a piece (no buffer per string: half a million of them fill a parse thread's heap). */
function* bulkPieces(strings: string[]): Generator<{ count: number; text: string }> {
  for (let i = 0; i < strings.length || i === 0; i += IDS_PER_LOOKUP) {
    const some = strings.slice(i, i + IDS_PER_LOOKUP);
    yield { count: some.length, text: some.map((v) => `$${Buffer.byteLength(v)}\r\n${v}\r\n`).join('') };
  }
}

/** The SHA-1 of the HMGET replies that return `values`, IDS_PER_LOOKUP at a time (RESP2, as Redis writes them). */
function repliesDigest(values: string[]): string {
  const h = crypto.createHash('sha1');
  for (const piece of bulkPieces(values)) h.update(`*${piece.count}\r\n`).update(piece.text);
  return h.digest('hex');
}

export interface RangeRecord {
  digest: string;
  lines: number;
  quarantined: QuarantinedLine[];
  /** Per record, in file order: its id and the catalog's value for it once the range is produced. */
  ids: string[];
  values: string[];
}

/** Quarantined text a record may carry; a range with more is parsed every time. */
export const MAX_RECORDED_QUARANTINE_CHARS = 64 * 1024;

/**
 * `<digest> <lines> <records> <replies digest>\n<quarantined, JSON>\n` then the ids as RESP
 * bulk strings, ready to send as HMGET's arguments; null when its quarantined lines are too long
 * to keep. The JSON holds no newline.
 */
export function encodeRangeRecord(r: RangeRecord): Buffer | null {
  const quarantined = JSON.stringify(r.quarantined);
  if (quarantined.length > MAX_RECORDED_QUARANTINE_CHARS) return null;
  const parts = [Buffer.from(`${r.digest} ${r.lines} ${r.ids.length} ${repliesDigest(r.values)}\n${quarantined}\n`, 'utf8')];
  if (r.ids.length > 0) for (const piece of bulkPieces(r.ids)) parts.push(Buffer.from(piece.text, 'utf8'));
  return Buffer.concat(parts);
}

/** Where each of `count` RESP bulk strings starting at `pos` ends. */
function bulkEnds(b: Buffer, pos: number, count: number): number[] | null {
  const ends: number[] = [];
  for (let i = 0; i < count; i++) {
    if (b[pos] !== 0x24) return null;
    let n = 0;
    let p = pos + 1;
    for (; p < b.length && b[p] !== 0x0d; p++) n = n * 10 + (b[p]! - 0x30);
    pos = p + 2 + n + 2;
    if (pos > b.length) return null;
    ends.push(pos);
  }
  return pos === b.length ? ends : null;
}

export interface RangeCheck {
  /** What parsing the range would report, when it can be skipped whole; null otherwise, or when Redis cannot answer (then the range is parsed). */
  skip: { lines: number; records: number; quarantined: QuarantinedLine[] } | null;
  /** The record found for the range's place, to leave alone when the new one is the same. */
  recorded: Buffer | null;
}

export async function checkRange(raw: RawReplies, client: Redis, catalogKey: string, sourceFile: string, start: number, digest: string): Promise<RangeCheck> {
  const key = rangeRecordsKey(catalogKey, sourceFile);
  let rec: Buffer | null = null;
  try {
    const [reply] = await raw.send([encodeCommand(['HGET', raw.key(key), String(start)])]);
    rec = bulkPayload(reply!);
    return { skip: rec && (await valuesAsRecorded(raw, client, key, catalogKey, rec, digest)), recorded: rec };
  } catch {
    return { skip: null, recorded: rec };
  }
}

/** The record's report when the range's bytes are the recorded ones and the catalog holds the values its records left. */
async function valuesAsRecorded(raw: RawReplies, client: Redis, key: string, catalogKey: string, rec: Buffer, digest: string): Promise<RangeCheck['skip']> {
  const nl = rec.indexOf(0x0a);
  const nl2 = rec.indexOf(0x0a, nl + 1);
  if (nl < 0 || nl2 < 0) return null;
  const [recordDigest, lines, records, want] = rec.toString('latin1', 0, nl).split(' ');
  if (recordDigest !== digest) return null;
  const count = Number(records);
  const ends = bulkEnds(rec, nl2 + 1, count);
  if (!ends) return null;
  const lookups: Buffer[] = [];
  for (let i = 0, from = nl2 + 1; i < count || i === 0; i += IDS_PER_LOOKUP) {
    const n = Math.min(IDS_PER_LOOKUP, count - i);
    const to = n > 0 ? ends[i + n - 1]! : from;
    lookups.push(Buffer.concat([Buffer.from(`*${n + 2}\r\n`), bulk('HMGET'), bulk(raw.key(catalogKey)), rec.subarray(from, to)]));
    from = to;
  }
  // HMGET with no field is an error: a range without records checks nothing.
  const replies = count > 0 ? await raw.send(lookups) : [Buffer.from('*0\r\n')];
  const h = crypto.createHash('sha1');
  for (const r of replies) h.update(r);
  if (h.digest('hex') !== want) return null;
  client.expire(key, RANGE_RECORD_TTL_S).catch(() => undefined);
  return { lines: Number(lines), records: count, quarantined: JSON.parse(rec.toString('utf8', nl + 1, nl2)) as QuarantinedLine[] };
}

/** Stores the range's record (unless it is the one there); a failure only means the next run parses the range. */
export async function storeRangeRecord(client: Redis, catalogKey: string, sourceFile: string, start: number, record: RangeRecord, recorded: Buffer | null): Promise<void> {
  const key = rangeRecordsKey(catalogKey, sourceFile);
  const encoded = encodeRangeRecord(record);
  try {
    if (encoded === null) await client.hdel(key, String(start));
    else if (recorded?.equals(encoded)) await client.expire(key, RANGE_RECORD_TTL_S);
    else await client.multi().hset(key, String(start), encoded).expire(key, RANGE_RECORD_TTL_S).exec();
  } catch {
    // the range is parsed next time
  }
}

/** After a whole run: drops the records of places no range of the file starts at any more (it shrank, or MOVIES_CHUNK_MB changed). */
export async function pruneRangeRecords(client: Redis, catalogKey: string, sourceFile: string, starts: number[]): Promise<void> {
  const key = rangeRecordsKey(catalogKey, sourceFile);
  const keep = new Set(starts.map(String));
  const stale = (await client.hkeys(key)).filter((f) => !keep.has(f));
  for (let i = 0; i < stale.length; i += 10_000) await client.hdel(key, ...stale.slice(i, i + 10_000));
}

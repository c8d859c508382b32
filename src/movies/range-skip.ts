// A whole range of Movies.txt skipped unread (issue #15: an unchanged 1 GB file should cost
// little more than reading it). The span skip (span-skip.ts) still scans every line, hashes
// every record and looks every id up. So the parse thread also records, beside the catalog's
// hashes, each range's bytes digest, its lines and quarantined lines, its records' ids, and a
// digest of the values the catalog holds for them once the range is produced. A later range of
// the same bytes is skipped when one script, in Redis, finds those values there: the case where
// parsing it again would produce nothing and store nothing (the same bytes parse to the same
// records, and each is found unchanged against the value it left).
//
// The record is a fact about bytes and values, not about time: it may be written before its
// items are produced, since the values it names appear in the catalog only once they are (or
// once another run stored the same versions). Anything else (a changed byte, a value restamped,
// deleted or overwritten) makes the script answer no, and the range is parsed as before.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { QuarantinedLine } from './parse.ts';

/** How long a file's range records live unused (each hit or write renews them). */
export const RANGE_RECORD_TTL_S = 14 * 24 * 3600;

/**
 * The file's range records: a hash of range start → record, in the catalog hash's slot (the
 * hash tag is the catalog key itself), so the script's two keys sit on one Redis Cluster shard.
 */
export const rangeRecordsKey = (catalogKey: string, sourceFile: string): string => `{${catalogKey}}:ranges:${sourceFile}`;

export const rangeDigest = (b: Buffer): string => crypto.hash('sha1', b, 'hex');

const valuesDigest = (values: string[]): string => crypto.hash('sha1', values.join('\n'), 'hex');

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
 * `<digest> <lines> <records> <values digest>\n<quarantined, JSON>\n<id>\n<id>…`, or null when
 * its quarantined lines are too long to keep. Neither ids (they end their line) nor JSON hold a
 * newline.
 */
export function encodeRangeRecord(r: RangeRecord): string | null {
  const quarantined = JSON.stringify(r.quarantined);
  if (quarantined.length > MAX_RECORDED_QUARANTINE_CHARS) return null;
  return `${r.digest} ${r.lines} ${r.ids.length} ${valuesDigest(r.values)}\n${quarantined}\n${r.ids.join('\n')}`;
}

// KEYS: the catalog hash, the file's range records. ARGV: range start, its bytes digest, TTL.
// Returns {lines, records, quarantined JSON} when the range can be skipped, nil otherwise.
const SKIP_RANGE_LUA = `
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if not rec then return nil end
local nl = string.find(rec, '\\n', 1, true)
if not nl then return nil end
local digest, lines, records, want = string.match(string.sub(rec, 1, nl - 1), '^(%x+) (%d+) (%d+) (%x+)$')
if digest ~= ARGV[2] then return nil end
local nl2 = string.find(rec, '\\n', nl + 1, true)
if not nl2 then return nil end
local ids = {}
for id in string.gmatch(string.sub(rec, nl2 + 1), '[^\\n]+') do ids[#ids + 1] = id end
if #ids ~= tonumber(records) then return nil end
-- Lua's C stack takes about 8000 values at once: a 1 MB range's ids go in one call.
local values = {}
for i = 1, #ids, 5000 do
  local got = redis.call('HMGET', KEYS[1], unpack(ids, i, math.min(i + 4999, #ids)))
  for j = 1, #got do
    if not got[j] then return nil end
  end
  if i == 1 then values = got else for j = 1, #got do values[#values + 1] = got[j] end end
end
if redis.sha1hex(table.concat(values, '\\n')) ~= want then return nil end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {tonumber(lines), tonumber(records), string.sub(rec, nl + 1, nl2 - 1)}
`;

type WithSkipRange = Redis & { segpipeSkipRange(catalogKey: string, recordsKey: string, start: number, digest: string, ttl: number): Promise<[number, number, string] | null> };

function scripted(client: Redis): WithSkipRange {
  const c = client as WithSkipRange;
  if (typeof c.segpipeSkipRange !== 'function') client.defineCommand('segpipeSkipRange', { numberOfKeys: 2, lua: SKIP_RANGE_LUA });
  return c;
}

/** What parsing the range would report, when it can be skipped whole; null otherwise, or when Redis cannot answer. */
export async function skippableRange(client: Redis, catalogKey: string, sourceFile: string, start: number, digest: string): Promise<{ lines: number; records: number; quarantined: QuarantinedLine[] } | null> {
  try {
    const got = await scripted(client).segpipeSkipRange(catalogKey, rangeRecordsKey(catalogKey, sourceFile), start, digest, RANGE_RECORD_TTL_S);
    return got ? { lines: got[0], records: got[1], quarantined: JSON.parse(got[2]) as QuarantinedLine[] } : null;
  } catch {
    return null;
  }
}

/** Stores the range's record; a failure only means the next run takes the span skip. */
export async function storeRangeRecord(client: Redis, catalogKey: string, sourceFile: string, start: number, record: RangeRecord): Promise<void> {
  const key = rangeRecordsKey(catalogKey, sourceFile);
  const encoded = encodeRangeRecord(record);
  try {
    if (encoded === null) await client.hdel(key, String(start));
    else await client.multi().hset(key, String(start), encoded).expire(key, RANGE_RECORD_TTL_S).exec();
  } catch {
    // the span skip still applies
  }
}

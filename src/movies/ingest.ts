// One Movies.txt file → catalog events in Kafka. Ranges parse on the Piscina pool (a bounded
// number in flight, so memory stays flat whatever the file size); results are handled in file
// order on this thread: quarantine lines written, unchanged items skipped by content hash,
// changed ones produced and acknowledged, and only then their hashes stored. A crash between
// produce and store re-produces those items on the next run: same event_id, merged away.
import fs from 'node:fs';
import path from 'node:path';
import type { Producer } from 'kafkajs';
import type { AppContext } from '../context.ts';
import { LazyProducer } from '../kafka/client.ts';
import { SHARED_COUNTERS, bumpShared } from '../metrics.ts';
import { planChunks } from './chunks.ts';
import { openPinned, type FileIdentity } from './pinned-file.ts';
import type { ChunkResult } from './chunk-task.ts';
import type { QuarantineReason } from './parse.ts';
import type { ParsePool } from './pool.ts';
import { HASH_CHARS, storedContent, storedValue } from './span-skip.ts';
import { pruneRangeRecords } from './range-skip.ts';

/** item_id → the stored value of the version last produced: its content hash, and its span hash when it has one (span-skip.ts). */
export const CATALOG_HASHES_KEY = 'segpipe:movies:hashes';
/** item_id → `<cents> <currency>` for items with a valid list price: what the simulator sells. */
export const CATALOG_PRICES_KEY = 'segpipe:movies:prices';
const PRODUCE_BATCH = 2000;
/** Batches sent and not acknowledged yet, at most: several partitions' requests on the wire at once. */
const BATCHES_IN_FLIGHT = 4;

export interface IngestProgress {
  bytes: number;
  totalBytes: number;
  items: number;
  produced: number;
  unchanged: number;
  quarantined: number;
  /** Ranges found unchanged whole, by their bytes and their items' stored values, and not parsed. */
  rangesSkipped: number;
}

export interface IngestResult extends IngestProgress {
  file: string;
  /** JSON Lines of quarantined lines (line, reason, text); null when none. */
  quarantineFile: string | null;
  quarantinedByReason: Partial<Record<QuarantineReason, number>>;
  durationMs: number;
}

export class MovieIngestor {
  private readonly producer: LazyProducer;

  constructor(
    private readonly ctx: AppContext,
    private readonly pool: ParsePool,
    /** false: encode every item and skip the unchanged ones only here (the benchmark's comparison). */
    private readonly hashFirst = true,
  ) {
    this.producer = new LazyProducer(ctx.kafka, ctx.config);
  }

  async close(): Promise<void> {
    await this.producer.close();
  }

  /** `signal` stops the file between chunks (items already produced stay produced, their hashes stored). */
  async ingest(file: string, onProgress: (p: IngestProgress) => void = () => undefined, signal?: AbortSignal, identity?: FileIdentity): Promise<IngestResult> {
    const started = Date.now();
    const { ctx } = this;
    const topic = ctx.config.topics.movies_catalog_enriched;
    const schemaId = ctx.serde.idFor(topic);
    // Every chunk reads the file planned here (and, given `identity`, the file that was checked).
    const { ranges, identity: pinned } = await planChunks(file, ctx.config.movies.chunkBytes, identity);
    const totalBytes = ranges.length ? ranges[ranges.length - 1]!.end : 0;
    const timestamp = new Date().toISOString();
    const producer = await this.producer.get();
    // One file per run: the next file of the same name (a daily drop) does not overwrite this one's.
    const stamp = timestamp.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const quarantine = new QuarantineWriter(path.join(ctx.config.movies.quarantineDir, `${path.basename(file)}.${stamp}.jsonl`), file);
    const progress: IngestProgress = { bytes: 0, totalBytes, items: 0, produced: 0, unchanged: 0, quarantined: 0, rangesSkipped: 0 };
    const byReason: Partial<Record<QuarantineReason, number>> = {};

    // Keep the pool busy while this thread produces, bounded: two ranges per thread in flight or
    // waiting, plus one (a range's result holds about twice its bytes).
    const ahead = 2 * this.pool.options.maxThreads + 1;
    const pending: Array<Promise<ChunkResult>> = [];
    let next = 0;
    const submit = () => {
      while (next < ranges.length && pending.length < ahead) {
        const r = ranges[next++]!;
        pending.push(this.pool.run({ file, identity: pinned, start: r.start, end: r.end, schemaId, timestamp, ...(this.hashFirst ? { storedHashes: { redisUrl: ctx.config.redis.url, key: CATALOG_HASHES_KEY } } : {}) }));
      }
    };
    let lineBase = 0;
    const sends = new SendWindow(BATCHES_IN_FLIGHT);
    try {
      submit();
      while (pending.length > 0) {
        signal?.throwIfAborted();
        const result = await pending.shift()!;
        submit();
        for (const q of result.quarantined) {
          quarantine.write({ ...q, line: q.line + lineBase });
          byReason[q.reason] = (byReason[q.reason] ?? 0) + 1;
        }
        lineBase += result.lines;
        const produced = await this.produceChanged(producer, topic, result, sends);
        progress.bytes += result.end - result.start;
        progress.items += result.itemIds.length + result.unchanged;
        progress.produced += produced;
        progress.unchanged += result.itemIds.length - produced + result.unchanged;
        progress.quarantined += result.quarantined.length;
        if (result.rangeSkipped) progress.rangesSkipped++;
        onProgress({ ...progress });
      }
      await sends.drain();
      // The file's range records name only places its ranges start at now.
      if (this.hashFirst) await pruneRangeRecords(ctx.redis, CATALOG_HASHES_KEY, path.basename(file), ranges.map((r) => r.start)).catch(() => undefined);
    } catch (err) {
      await Promise.allSettled([...pending, sends.drain()]);
      // A chunk thread's FileChangedError arrives as a plain Error (classes do not cross threads):
      // look again here, so a swapped file fails the run instead of being retried under its name.
      fs.closeSync(openPinned(file, pinned).fd);
      throw err;
    } finally {
      await quarantine.close();
    }

    const redis = ctx.redis;
    await Promise.all([
      bumpShared(redis, SHARED_COUNTERS.moviesBytes, {}, progress.bytes),
      bumpShared(redis, SHARED_COUNTERS.moviesItems, { outcome: 'produced' }, progress.produced),
      bumpShared(redis, SHARED_COUNTERS.moviesItems, { outcome: 'unchanged' }, progress.unchanged),
      ...Object.entries(byReason).map(([reason, n]) => bumpShared(redis, SHARED_COUNTERS.moviesQuarantined, { reason }, n)),
    ]);
    return { ...progress, file, quarantineFile: quarantine.path, quarantinedByReason: byReason, durationMs: Date.now() - started };
  }

  /**
   * Sends the items whose content changed since last produced, in batches that join `sends`;
   * returns how many. Each batch's hashes are stored after its acknowledgement, in batch order.
   */
  private async produceChanged(producer: Producer, topic: string, r: ChunkResult, sends: SendWindow): Promise<number> {
    const redis = this.ctx.redis;
    let produced = 0;
    for (let from = 0; from < r.itemIds.length; from += PRODUCE_BATCH) {
      const ids = r.itemIds.slice(from, from + PRODUCE_BATCH);
      // The parse threads left out what their lookup found unchanged; only the way without
      // that lookup compares here. (Two runs of different files with a common item may both
      // produce it: the same event_id, merged away.)
      const stored = this.hashFirst ? [] : await redis.hmget(CATALOG_HASHES_KEY, ...ids);
      const changed: number[] = [];
      ids.forEach((_, j) => {
        if (this.hashFirst || storedContent(stored[j]) !== r.hashes[from + j]!.slice(0, HASH_CHARS)) changed.push(from + j);
      });
      if (changed.length === 0) continue;
      // The producer keeps each partition's requests in order, so an item's versions stay in order.
      const sent = producer.send({
        topic,
        acks: -1,
        messages: changed.map((i) => ({
          key: r.itemIds[i]!,
          value: Buffer.from(r.packed.buffer, r.packed.byteOffset + r.offsets[i]!, r.offsets[i + 1]! - r.offsets[i]!),
        })),
      });
      await sends.add(sent, async () => {
        const priced = changed.filter((i) => r.prices[i] !== '');
        const unpriced = changed.filter((i) => r.prices[i] === '');
        const tx = redis.multi().hset(CATALOG_HASHES_KEY, Object.fromEntries(changed.map((i) => [r.itemIds[i]!, storedValue(r.hashes[i]!, r.spanHashes[i]!)])));
        if (priced.length) tx.hset(CATALOG_PRICES_KEY, Object.fromEntries(priced.map((i) => [r.itemIds[i]!, r.prices[i]!])));
        if (unpriced.length) tx.hdel(CATALOG_PRICES_KEY, ...unpriced.map((i) => r.itemIds[i]!));
        await tx.exec();
      });
      produced += changed.length;
    }
    // Unchanged items whose span hash was not stored yet (stored by an earlier version, or their
    // span changed in layout only): stored now, so the next run skips them unparsed.
    if (r.restamp.length > 0) await sends.add(Promise.resolve(), async () => void (await redis.hset(CATALOG_HASHES_KEY, Object.fromEntries(r.restamp))));
    return produced;
  }
}

/**
 * Up to `credits` sends unacknowledged; each one's follow-up (storing its hashes) runs after its
 * acknowledgement and after every earlier follow-up, so a hash is stored only for what Kafka
 * has, in the order produced. A credit comes back at the acknowledgement, not after the
 * follow-up: the producer does not wait for the hash store (at most twice the credits of
 * follow-ups wait, each holding its batch). The first failure fails the window.
 */
export class SendWindow {
  private chain: Promise<void> = Promise.resolve();
  private readonly unacknowledged: Array<Promise<unknown>> = [];
  private readonly followUps: Array<Promise<void>> = [];

  constructor(private readonly credits: number) {}

  async add(sent: Promise<unknown>, then: () => Promise<void>): Promise<void> {
    const done = (this.chain = this.chain.then(async () => {
      await sent;
      await then();
    }));
    done.catch(() => undefined); // awaited below or by drain()
    sent.catch(() => undefined);
    this.unacknowledged.push(sent);
    this.followUps.push(done);
    while (this.unacknowledged.length >= this.credits) await this.unacknowledged.shift();
    while (this.followUps.length > 2 * this.credits) await this.followUps.shift();
  }

  /** Waits for every send and follow-up; throws the first failure. */
  async drain(): Promise<void> {
    const settled = await Promise.allSettled([...this.unacknowledged.splice(0), ...this.followUps.splice(0)]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Writes quarantined lines as JSON Lines; the file exists only when a line was quarantined. */
class QuarantineWriter {
  private stream?: fs.WriteStream;

  constructor(
    private readonly file: string,
    private readonly source: string,
  ) {
    fs.rmSync(file, { force: true }); // a re-run within the same second describes the file as it is now
  }

  get path(): string | null {
    return this.stream ? this.file : null;
  }

  write(entry: { line: number; reason: string; text: string }): void {
    if (!this.stream) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      this.stream = fs.createWriteStream(this.file, { flags: 'w' });
    }
    this.stream.write(`${JSON.stringify({ file: path.basename(this.source), line: entry.line, reason: entry.reason, text: entry.text })}\n`);
  }

  async close(): Promise<void> {
    const s = this.stream;
    if (s) await new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

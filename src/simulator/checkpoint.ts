// A job's acknowledged progress, so that a retried simulator job (its worker killed, a lane's
// send failed) sends only what is not in Kafka yet instead of its events again. The generator is
// deterministic and every topic-partition gets a run's events in the order it generates them
// (one request at a time per partition, idempotent producer), so what a partition holds of a run
// is a prefix of that order: its length is all a retry needs. The checkpoint keeps, per
// topic-partition, how many events acknowledged sends put there and the offset after them; on a
// retry the messages of the run's users past that offset (sent, never acknowledged) are counted
// from Kafka too, so the retry resumes exactly where Kafka is.
import type { AppContext } from '../context.ts';
import { topicOffsets } from '../kafka/client.ts';
import { scanTopics } from '../kafka/scan.ts';

/** A topic-partition's share of the run in Kafka: `sent` events of the run, up to offset `next`. */
interface Position {
  sent: number;
  next: number;
}

const KEY = (runKey: string) => `segpipe:simulator:checkpoint:${runKey}`;
/** A checkpoint outlives any retry of its job. */
const TTL_S = 7 * 86_400;
/**
 * A completed run keeps only this mark (a worker killed after the run, before BullMQ recorded the
 * job as completed, has its job retried: the retry must send nothing).
 */
const COMPLETE = 'complete';
const COMPLETE_TTL_S = 86_400;

const field = (topic: string, partition: number) => `${topic}:${partition}`;
const parse = (v: string): Position => {
  const [sent, next] = v.split(' ').map(Number);
  return { sent: sent!, next: next! };
};

export class RunCheckpoint {
  private readonly positions = new Map<string, Position>();
  private writes: Promise<unknown> = Promise.resolve();
  /** The run completed in an earlier attempt. */
  complete = false;

  private constructor(
    private readonly ctx: AppContext,
    private readonly key: string,
  ) {}

  /**
   * The checkpoint of `runKey`: on the first attempt, today's ends of `topics` (nothing of the
   * run is before them); on a retry, what the earlier attempts acknowledged plus what Kafka holds
   * of `userPrefix`'s events after it.
   */
  static async open(ctx: AppContext, runKey: string, topics: readonly string[], userPrefix: string): Promise<RunCheckpoint> {
    const cp = new RunCheckpoint(ctx, KEY(runKey));
    const stored = await ctx.redis.hgetall(cp.key);
    if (Object.keys(stored).length === 0) {
      const admin = await ctx.admin();
      for (const topic of topics) for (const [p, { high }] of await topicOffsets(admin, topic)) cp.positions.set(field(topic, p), { sent: 0, next: high });
      await cp.save([...cp.positions.keys()]);
      return cp;
    }
    if (stored[COMPLETE]) {
      cp.complete = true;
      return cp;
    }
    for (const [f, v] of Object.entries(stored)) cp.positions.set(f, parse(v));
    const ends = new Map(await Promise.all(topics.map(async (t) => [t, await topicOffsets(await ctx.admin(), t)] as const)));
    const from = new Map([...cp.positions].map(([f, { next }]) => [f, next]));
    const ours = Buffer.from(`${userPrefix}-`);
    await scanTopics(
      ctx,
      [...topics],
      ({ topic, partition, key }) => {
        if (key && key.subarray(0, ours.length).equals(ours)) cp.positions.get(field(topic, partition))!.sent++;
      },
      300_000,
      from,
    );
    for (const [topic, offsets] of ends) for (const [p, { high }] of offsets) if (cp.positions.has(field(topic, p))) cp.positions.get(field(topic, p))!.next = Math.max(high, cp.positions.get(field(topic, p))!.next);
    await cp.save([...cp.positions.keys()]);
    return cp;
  }

  /** Events of the run already in Kafka, per topic-partition. */
  inKafka(): Array<{ topic: string; partition: number; events: number }> {
    return [...this.positions].filter(([, p]) => p.sent > 0).map(([f, p]) => ({ topic: f.slice(0, f.lastIndexOf(':')), partition: Number(f.slice(f.lastIndexOf(':') + 1)), events: p.sent }));
  }

  /** Records an acknowledged send: `events` more on a topic-partition, the log now ending at `next`. */
  acknowledged(sends: ReadonlyArray<{ topic: string; partition: number; events: number; next: number }>): void {
    for (const s of sends) {
      const p = this.positions.get(field(s.topic, s.partition)) ?? { sent: 0, next: 0 };
      p.sent += s.events;
      p.next = Math.max(p.next, s.next);
      this.positions.set(field(s.topic, s.partition), p);
    }
    this.writes = this.writes.then(() => this.save(sends.map((s) => field(s.topic, s.partition)))).catch(() => undefined); // the retry's scan covers a lost write
  }

  /** Waits for the writes so far. */
  flushed(): Promise<unknown> {
    return this.writes;
  }

  /** The run completed: nothing to resume. */
  async done(): Promise<void> {
    await this.writes;
    await this.ctx.redis.multi().del(this.key).hset(this.key, COMPLETE, '1').expire(this.key, COMPLETE_TTL_S).exec();
  }

  private async save(fields: string[]): Promise<void> {
    const values = fields.flatMap((f) => [f, `${this.positions.get(f)!.sent} ${this.positions.get(f)!.next}`]);
    await this.ctx.redis.multi().hset(this.key, ...values).expire(this.key, TTL_S).exec();
  }
}

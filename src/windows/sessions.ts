// Sessions from sign_in and sign_out, which arrive on different topics and so may be consumed
// in any order. The batch step only records them (sorted sets per shard); pairing happens here,
// in event-time order, up to the shard's session watermark: the older of the two topics'
// event-time marks minus the allowed lateness. Rules:
//   - a sign_out closes the user's open session; with none open it is an orphan (counted);
//   - a second sign_in while a session is open closes the first at the new sign-in;
//   - a session with neither ends SESSION_TIMEOUT_MS after its sign-in, timed out (counted apart:
//     its length is not known, so it is not in the durations); a sign-out at or after that is an
//     orphan;
//   - a session open across a window end counts as active at that end.
// Per shard and hourly window, the closed sessions' count and duration sum are kept (so averages
// merge exactly across shards), with orphans, time-outs and the sessions active at each hour
// boundary.
import type { Redis } from 'ioredis';
import { shardKeys, withStateCommands } from '../state/scripts.ts';
import type { TableSpec } from '../warehouse/tables.ts';
import type { Row } from '../warehouse/warehouse.ts';
import { HOUR, watermark } from './window.ts';

export const SESSION_METRICS: TableSpec = {
  name: 'session_metrics',
  key: ['window_start'],
  columns: [
    { name: 'window_start', type: 'TIMESTAMP', nullable: false },
    { name: 'window_end', type: 'TIMESTAMP', nullable: false },
    { name: 'sessions_closed', type: 'BIGINT', nullable: false },
    { name: 'total_duration_ms', type: 'BIGINT', nullable: false },
    { name: 'avg_duration_s', type: 'DOUBLE', nullable: true },
    /** Null until every shard has paired past the window's end. */
    { name: 'active_sessions_at_end', type: 'BIGINT', nullable: true },
    { name: 'orphan_sign_outs', type: 'BIGINT', nullable: false },
    { name: 'is_final', type: 'BOOLEAN', nullable: false },
    { name: 'computed_at', type: 'TIMESTAMP', nullable: false },
    // Last: a table of an earlier version gets it appended (NULL in its old rows).
    /** Sessions that ended SESSION_TIMEOUT_MS after their sign-in with no sign-out. */
    { name: 'sessions_timed_out', type: 'BIGINT', nullable: true },
  ],
};

interface SessionEvent {
  t: number;
  user: string;
  /** 0 = sign_out, 1 = sign_in: at one instant a sign-out is applied first. */
  kind: 0 | 1;
  member: string;
}

const parse = (member: string, kind: 0 | 1): SessionEvent => {
  const bar = member.indexOf('|');
  return { t: Number(member.slice(0, bar)), user: member.slice(bar + 1), kind, member };
};
const hourOf = (t: number) => Math.floor(t / HOUR) * HOUR;

/**
 * Pairs one shard's recorded events up to its watermark; returns the shard's pairing boundary.
 * The result is committed by commitPairing-4.lua only if the shard still holds what was read
 * (`beforeCommit`: a test's hook between the read and the commit).
 */
export interface PairingOptions {
  latenessMs: number;
  /** SESSION_TIMEOUT_MS; none when absent. */
  timeoutMs?: number;
  /** A test's hook between the read and the commit. */
  beforeCommit?: () => Promise<void>;
}

export async function pairShard(redis: Redis, partition: number, topics: { signIn: string; signOut: string }, { latenessMs, timeoutMs = Number.POSITIVE_INFINITY, beforeCommit }: PairingOptions): Promise<number | null> {
  const k = shardKeys(partition);
  const [markIn, markOut, doneText] = await Promise.all([redis.hget(k.maxTime, topics.signIn), redis.hget(k.maxTime, topics.signOut), redis.hget(k.sessionTotals, 'done')]);
  const done = doneText === null ? Number.NEGATIVE_INFINITY : Number(doneText);
  if (markIn === null) return doneText === null ? null : done; // no sign-ins here: nothing to pair
  if (markOut === null) return done; // sign-outs not seen yet: their consumer may be behind
  const wm = watermark(Math.min(Number(markIn), Number(markOut)), latenessMs);
  if (wm <= done) return done;

  const [ins, outs, openHash] = await Promise.all([
    redis.zrangebyscore(k.signIns, '-inf', wm),
    redis.zrangebyscore(k.signOuts, '-inf', wm),
    redis.hgetall(k.openSessions),
  ]);
  const events = [...outs.map((m) => parse(m, 0)), ...ins.map((m) => parse(m, 1))].sort((a, b) => a.t - b.t || a.kind - b.kind || (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  const open = new Map(Object.entries(openHash).map(([u, t]) => [u, Number(t)]));
  const deltas = new Map<string, number>();
  const add = (field: string, n: number) => deltas.set(field, (deltas.get(field) ?? 0) + n);
  const active: Record<string, number> = {};
  // Hour boundaries not yet recorded; none before this shard's first event.
  let boundary = Number.isFinite(done) ? hourOf(done) + HOUR : events.length ? hourOf(events[0]!.t) + HOUR : hourOf(wm) + HOUR;
  // Open sessions in sign-in order, which is the order they time out in (a session closed
  // meanwhile is skipped when its turn comes: its sign-in time no longer matches).
  const expiring = [...open].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let next = 0;
  /** Time-outs and hour boundaries up to `t`, in time order; a time-out at a boundary comes first (the session is over at b). */
  const advanceTo = (t: number) => {
    for (;;) {
      while (next < expiring.length && open.get(expiring[next]![0]) !== expiring[next]![1]) next++;
      const expiry = next < expiring.length ? expiring[next]![1] + timeoutMs : Number.POSITIVE_INFINITY;
      if (expiry <= t && expiry <= boundary) {
        add(`${hourOf(expiry)}:timeouts`, 1);
        open.delete(expiring[next++]![0]);
      } else if (boundary <= t) {
        active[`active:${boundary}`] = open.size;
        boundary += HOUR;
      } else return;
    }
  };
  const close = (user: string, at: number) => {
    const from = open.get(user)!;
    add(`${hourOf(at)}:count`, 1);
    add(`${hourOf(at)}:sum`, at - from);
    open.delete(user);
  };
  for (const e of events) {
    // A boundary at exactly e.t is recorded before e applies (events at b are not "before b"); a
    // time-out at exactly e.t comes before e (a sign-out then finds no session).
    advanceTo(e.t);
    if (e.kind === 1) {
      if (open.has(e.user)) close(e.user, e.t);
      open.set(e.user, e.t);
      expiring.push([e.user, e.t]);
    } else if (open.has(e.user)) close(e.user, e.t);
    else add(`${hourOf(e.t)}:orphans`, 1);
  }
  advanceTo(wm);

  await beforeCommit?.();
  const args: Array<string | number> = [doneText ?? '', String(wm), ins.length, outs.length, open.size, deltas.size, Object.keys(active).length];
  for (const [u, t] of open) args.push(u, String(t));
  for (const [field, n] of deltas) args.push(field, n);
  for (const [field, n] of Object.entries(active)) args.push(field, n);
  const committed = await withStateCommands(redis).commitPairing(k.signIns, k.signOuts, k.openSessions, k.sessionTotals, ...args);
  // Something arrived behind the new boundary, or another run committed: the next run pairs again.
  if (committed !== 1) return doneText === null ? null : done;
  return wm;
}

/** Sums the shards' session totals into hourly rows; final where every shard paired past the end. */
export async function sessionRows(redis: Redis, shards: number, boundaries: Array<number | null>, now: string): Promise<Row[]> {
  const totals = new Map<number, { count: number; sum: number; orphans: number; timeouts: number; active: number }>();
  const at = (ws: number) => {
    let v = totals.get(ws);
    if (!v) totals.set(ws, (v = { count: 0, sum: 0, orphans: 0, timeouts: 0, active: 0 }));
    return v;
  };
  for (let p = 0; p < shards; p++) {
    for (const [field, value] of Object.entries(await redis.hgetall(shardKeys(p).sessionTotals))) {
      if (field === 'done') continue;
      const n = Number(value);
      if (field.startsWith('active:')) at(Number(field.slice(7)) - HOUR).active += n;
      else {
        const [ws, what] = field.split(':') as [string, 'count' | 'sum' | 'orphans' | 'timeouts'];
        at(Number(ws))[what] += n;
      }
    }
  }
  const known = boundaries.filter((b): b is number => b !== null);
  const finalThrough = known.length ? Math.min(...known) : Number.NEGATIVE_INFINITY;
  return [...totals]
    .sort(([a], [b]) => a - b)
    .map(([ws, v]) => [
      new Date(ws).toISOString(),
      new Date(ws + HOUR).toISOString(),
      v.count,
      v.sum,
      v.count ? v.sum / v.count / 1000 : null,
      ws + HOUR <= finalThrough ? v.active : null,
      v.orphans,
      ws + HOUR <= finalThrough,
      now,
      v.timeouts,
    ]);
}

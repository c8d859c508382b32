// Whether a consumer role (the stream, the raw loader) is doing its work, told from outside it:
// each member writes a report to Redis every few seconds (supervised-consumer.ts), and /health,
// on whatever process serves it, judges the role from the reports and the group's lag.
import type { Admin } from 'kafkajs';
import type { Redis } from 'ioredis';
import { topicOffsets } from './client.ts';

export type ConsumerRole = 'stream' | 'loader';

/** Hash per role: member id → its MemberReport as JSON. One key, so it lives on one Redis Cluster slot. */
export const livenessKey = (role: ConsumerRole) => `segpipe:liveness:${role}`;

export const REPORT_EVERY_MS = 5000;
/** A member whose last report is older than this is gone (SIGKILLed, partitioned away). */
export const REPORT_STALE_MS = 20_000;
/** A member with lag that finished no batch for this long is stuck: twice the group's session timeout, so a rebalance is not one. */
export const STALL_MS = 60_000;

export interface MemberReport {
  groupId: string;
  state: 'running' | 'restarting';
  /** When this report was written (epoch ms). */
  at: number;
  /** When the member last finished a batch, or (re)started. */
  progressAt: number;
  /** Restarts after a crash since the process started, and the error of the last one. */
  restarts: number;
  lastError?: string;
  /** Partitions assigned to the member, by topic. */
  assigned: Record<string, number[]>;
}

export type Verdict = { up: true } | { up: false; reason: string };

/**
 * The role is up while some member reports, none of those reporting is restarting after a
 * crash, and none has gone STALL_MS without finishing a batch while its partitions have lag.
 * `lagOf` gives the messages behind on a member's partitions (only asked of a quiet member).
 */
export async function judgeRole(role: ConsumerRole, reports: Record<string, MemberReport>, now: number, lagOf: (r: MemberReport) => Promise<number>): Promise<Verdict> {
  const live = Object.entries(reports).filter(([, r]) => now - r.at < REPORT_STALE_MS);
  if (live.length === 0) return { up: false, reason: `no ${role} member has reported in the last ${REPORT_STALE_MS / 1000} s: start the ${role === 'loader' ? 'worker' : 'stream'} role (npm start runs every role)` };
  for (const [member, r] of live) {
    if (r.state === 'restarting') return { up: false, reason: `${role} member ${member} crashed and is restarting (${r.restarts} restart(s)): ${r.lastError ?? 'unknown error'}` };
  }
  for (const [member, r] of live) {
    const quiet = now - r.progressAt;
    if (quiet < STALL_MS) continue;
    const lag = await lagOf(r);
    if (lag > 0) return { up: false, reason: `${role} member ${member} finished no batch for ${Math.round(quiet / 1000)} s with ${lag} message(s) behind on its partitions` };
  }
  return { up: true };
}

/** Messages past the group's committed offsets on the member's partitions. */
export async function groupLag(admin: Admin, r: MemberReport): Promise<number> {
  let lag = 0;
  for (const [topic, partitions] of Object.entries(r.assigned)) {
    const ends = await topicOffsets(admin, topic);
    const [committed] = await admin.fetchOffsets({ groupId: r.groupId, topics: [topic] });
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    for (const p of partitions) {
      const end = ends.get(p);
      if (!end) continue;
      const from = at.get(p) ?? -1;
      lag += Math.max(0, end.high - (from >= 0 ? from : end.low));
    }
  }
  return lag;
}

/** The /health probe of a role: throws the reason when it is down. */
export async function checkRole(redis: Redis, admin: () => Promise<Admin>, role: ConsumerRole): Promise<void> {
  const raw = await redis.hgetall(livenessKey(role));
  const reports = Object.fromEntries(Object.entries(raw).map(([m, v]) => [m, JSON.parse(v) as MemberReport]));
  const verdict = await judgeRole(role, reports, Date.now(), async (r) => groupLag(await admin(), r));
  if (!verdict.up) throw new Error(verdict.reason);
}

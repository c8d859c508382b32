// Roles of the one binary. `all` runs every role in this process (the local default);
// production runs them as separate containers and scales `worker` and `stream`.
import type { AppContext } from '../context.ts';
import { startApi } from './api.ts';
import { startRoleThread } from './role-thread.ts';
import { startScheduler } from './scheduler.ts';
import { startWorkers } from './worker.ts';
import { startStream } from './stream.ts';

export const ROLES = ['api', 'scheduler', 'worker', 'stream', 'all'] as const;
export type Role = (typeof ROLES)[number];

export interface RoleInfo {
  role: Exclude<Role, 'all'>;
  detail: string;
}

const STARTERS: Record<Exclude<Role, 'all'>, (ctx: AppContext) => Promise<string>> = {
  api: startApi,
  scheduler: startScheduler,
  worker: startWorkers,
  stream: startStream,
};

export async function runRole(role: Role, ctx: AppContext): Promise<RoleInfo[]> {
  await ctx.prepare();
  const roles = role === 'all' ? (Object.keys(STARTERS) as Exclude<Role, 'all'>[]) : [role];
  const info: RoleInfo[] = [];
  // Sharing the process, the API and the stream get a thread of their own (role-thread.ts says why).
  for (const r of roles) info.push({ role: r, detail: await (role === 'all' && (r === 'api' || r === 'stream') ? startRoleThread(ctx, r) : STARTERS[r](ctx)) });
  return info;
}

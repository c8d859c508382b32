// A role on a thread of its own (see role-thread.ts): its own connections, its own event loop.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { AppContext } from '../context.ts';
import { startApi } from './api.ts';
import type { ThreadRole } from './role-thread.ts';
import { startStream } from './stream.ts';

const STARTERS: Record<ThreadRole, (ctx: AppContext) => Promise<string>> = { api: startApi, stream: startStream };

const ctx = new AppContext(workerData.config as Config);
parentPort!.on('message', (m: unknown) => {
  if (m === 'close') void ctx.close().finally(() => parentPort!.close());
});
STARTERS[workerData.role as ThreadRole](ctx).then(
  (detail) => parentPort!.postMessage({ detail }),
  (err: Error) => parentPort!.postMessage({ error: err.message }),
);

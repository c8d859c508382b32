// The admin API on a thread of its own (see api-thread.ts): its own connections, its own event loop.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { AppContext } from '../context.ts';
import { startApi } from './api.ts';

const ctx = new AppContext(workerData.config as Config);
parentPort!.on('message', (m: unknown) => {
  if (m === 'close') void ctx.close().finally(() => parentPort!.close());
});
startApi(ctx).then(
  (address) => parentPort!.postMessage({ address }),
  (err: Error) => parentPort!.postMessage({ error: err.message }),
);

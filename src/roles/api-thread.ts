// In `segpipe all` every role shares one process. The stream's decoding and the flush can keep
// the main event loop busy for seconds under load, and /health and /api/status must still answer
// at once (a load balancer or an operator is waiting): so there the API runs on a thread of its own.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AppContext } from '../context.ts';
import { childLog } from '../log.ts';

const log = childLog('api');

const ENTRY = path.resolve(import.meta.dirname, '..', '..', 'workers', 'role-thread.mjs');
const MODULE = pathToFileURL(path.join(import.meta.dirname, 'api-thread.main.ts')).href;

export async function startApiThread(ctx: AppContext): Promise<string> {
  const thread = new Worker(ENTRY, { workerData: { module: MODULE, config: ctx.config } });
  const address = await new Promise<string>((resolve, reject) => {
    thread.once('message', (m: { address?: string; error?: string }) => (m.address ? resolve(m.address) : reject(new Error(m.error))));
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the admin API thread exited (code ${code}) before listening`)));
  }).catch(async (err: Error) => {
    await thread.terminate();
    throw err;
  });
  // After start-up a dead API thread must not leave the process running without its admin plane:
  // exit, so whatever supervises segpipe restarts it.
  let closing = false;
  thread.on('error', (err) => log.fatal({ err: err.message }, 'the admin API thread failed; exiting'));
  thread.on('exit', (code) => {
    if (closing) return;
    log.fatal({ code }, 'the admin API thread exited; exiting so the process can be restarted');
    process.exit(1);
  });
  ctx.onClose(async () => {
    closing = true;
    if (thread.threadId === -1) return;
    const exited = new Promise((r) => thread.once('exit', r));
    thread.postMessage('close');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    await thread.terminate();
  });
  return `${address} (on its own thread)`;
}

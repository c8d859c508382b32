// In `segpipe all` every role shares one process. Two of them get a thread of their own there:
// - the API: the stream's decoding and the raw loads can keep the main event loop busy for
//   seconds under load, and /health and /api/status must still answer at once;
// - the stream: it and the raw loader (in the worker role) each keep an event loop busy with
//   decoding, so on one thread they would share one core of a laptop's several.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AppContext } from '../context.ts';
import { childLog } from '../log.ts';

export type ThreadRole = 'api' | 'stream';

const ENTRY = path.resolve(import.meta.dirname, '..', '..', 'workers', 'role-thread.mjs');
const MODULE = pathToFileURL(path.join(import.meta.dirname, 'role-thread.main.ts')).href;

/** Starts `role` on a thread of its own; resolves with what the role reports once started. */
export async function startRoleThread(ctx: AppContext, role: ThreadRole): Promise<string> {
  const log = childLog(role);
  const thread = new Worker(ENTRY, { workerData: { module: MODULE, role, config: ctx.config } });
  const detail = await new Promise<string>((resolve, reject) => {
    thread.once('message', (m: { detail?: string; error?: string }) => (m.detail ? resolve(m.detail) : reject(new Error(m.error))));
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the ${role} thread exited (code ${code}) before it started`)));
  }).catch(async (err: Error) => {
    await thread.terminate();
    throw err;
  });
  // After start-up a dead role thread must not leave the process running without that role:
  // exit, so whatever supervises segpipe restarts it.
  let closing = false;
  thread.on('error', (err) => log.fatal({ err: err.message }, `the ${role} thread failed; exiting`));
  thread.on('exit', (code) => {
    if (closing) return;
    log.fatal({ code }, `the ${role} thread exited; exiting so the process can be restarted`);
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
  return `${detail} (on its own thread)`;
}

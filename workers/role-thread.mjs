// Entry of a role running on a thread of its own (the admin API and the stream in `segpipe all`): tsx's loader
// hooks do not reach worker threads, so the thread registers them, then loads its module.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);

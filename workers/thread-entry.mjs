// Entry of every Piscina worker thread: tsx's loader hooks registered in the main thread do not
// reach worker threads, so each thread registers them itself, then loads its TypeScript task.
import { register } from 'tsx/esm/api';
import { workerData } from 'piscina';

register();
const task = await import(workerData.taskModule);
export default task.default;

// Piscina pools over the TypeScript task files in workers/. Every thread starts at
// workers/thread-entry.mjs, which registers tsx (its hooks do not reach worker threads) and
// then loads the task module.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';

type Options = NonNullable<ConstructorParameters<typeof Piscina>[0]>;

const WORKERS = path.resolve(import.meta.dirname, '..', 'workers');

export function createTaskPool<T, R>(taskFile: string, options: Omit<Options, 'filename' | 'workerData'>): Piscina<T, R> {
  return new Piscina<T, R>({
    ...options,
    filename: pathToFileURL(path.join(WORKERS, 'thread-entry.mjs')).href,
    workerData: { taskModule: pathToFileURL(path.join(WORKERS, taskFile)).href },
  });
}

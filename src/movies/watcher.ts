// Enqueues an ingest as soon as a file in data/incoming/ has stopped growing.
import fs from 'node:fs';
import path from 'node:path';
import { watch } from 'chokidar';
import type { Queue } from 'bullmq';
import { enqueueIngest } from '../../queues/movies.ts';
import { childLog } from '../log.ts';

const log = childLog('movies-watcher');

export async function watchIncoming(queue: Queue, dir: string, stableMs: number): Promise<() => Promise<void>> {
  fs.mkdirSync(dir, { recursive: true });
  const watcher = watch(dir, {
    ignoreInitial: true, // files already there are picked up by the start-up scan
    depth: 0,
    // A symlink in incoming/ could point anywhere (/dev/zero, a secret): never followed.
    followSymlinks: false,
    ignored: (p: string) => {
      const name = path.basename(p);
      return p !== dir && (name.startsWith('.') || /\.(part|partial|tmp|crdownload)$/i.test(name));
    },
    awaitWriteFinish: { stabilityThreshold: stableMs, pollInterval: Math.min(250, stableMs) },
  });
  const onFile = (file: string) => {
    enqueueIngest(queue, file).then(
      ({ jobId }) => log.info({ file, jobId }, 'new movie file queued'),
      (err: Error) => log.warn({ file, err: err.message }, 'could not queue movie file'),
    );
  };
  watcher.on('add', onFile).on('change', onFile);
  watcher.on('error', (err) => log.error({ err: (err as Error).message }, 'watcher error'));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return () => watcher.close();
}

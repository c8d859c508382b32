// Files a request or a job names must lie inside the data directory (DATA_DIR) once every
// symlink is resolved: a caller can point the catalog pipeline at its own files, never at the
// rest of the server's tree. Errors name the path as given and DATA_DIR, nothing else of the server.
import fs from 'node:fs';
import path from 'node:path';
import { openPinned, type FileIdentity } from './pinned-file.ts';

export class DataPathError extends Error {
  constructor(given: string, rule: string) {
    super(`path ${JSON.stringify(given.length > 200 ? `${given.slice(0, 200)}…` : given)} ${rule}`);
    this.name = 'DataPathError';
  }
}

const NOT_HERE = 'does not name a regular file inside the data directory (DATA_DIR)';
const inside = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
};

/**
 * The real path of a regular file inside `dataDir` (a relative path is taken from the data
 * directory, not the server's working directory; `alsoAllowed` are exact paths of files segpipe
 * itself names, such as the sample catalog it ships), and the identity of the file found: it is opened (no symlink as its last
 * component, no blocking on a FIFO) and, on Linux, the path of what was opened is checked
 * again, so a swap between the check and the open is caught. Readers then read only that file.
 * A path outside DATA_DIR as written is refused before anything is looked up, so answers tell
 * nothing about the server's other files.
 */
export function pinDataFile(dataDir: string, given: string, alsoAllowed: readonly string[] = []): { path: string; identity: FileIdentity } {
  const allowed = alsoAllowed.includes(given);
  if (given.includes('\0')) throw new DataPathError(given, NOT_HERE);
  let root: string;
  try {
    root = fs.realpathSync(dataDir);
  } catch {
    throw new DataPathError(given, 'cannot be read: the data directory (DATA_DIR) does not exist on the server');
  }
  if (!allowed && !inside(root, path.resolve(root, given)) && !inside(path.resolve(dataDir), path.resolve(root, given))) {
    throw new DataPathError(given, 'is outside the data directory (DATA_DIR); copy the file into it');
  }
  let real: string;
  let pinned: ReturnType<typeof openPinned>;
  try {
    real = fs.realpathSync(path.resolve(root, given));
    if (!allowed && !inside(root, real)) throw new Error('outside');
    pinned = openPinned(real);
  } catch {
    throw new DataPathError(given, NOT_HERE);
  }
  try {
    let opened = real;
    try {
      opened = fs.readlinkSync(`/proc/self/fd/${pinned.fd}`);
    } catch {
      // No /proc (not Linux): the realpath check above stands alone.
    }
    if (opened !== real || (!allowed && !inside(root, opened))) throw new DataPathError(given, NOT_HERE);
    return { path: real, identity: pinned.identity };
  } finally {
    fs.closeSync(pinned.fd);
  }
}

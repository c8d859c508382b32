// Files a request or a job names must lie inside the data directory (DATA_DIR) once every
// symlink is resolved: a caller can point the catalog pipeline at its own files, never at the
// rest of the server's tree. Errors name the path as given and DATA_DIR, nothing else of the server.
import fs from 'node:fs';
import path from 'node:path';

export class DataPathError extends Error {
  constructor(given: string, rule: string) {
    super(`path ${JSON.stringify(given.length > 200 ? `${given.slice(0, 200)}…` : given)} ${rule}`);
    this.name = 'DataPathError';
  }
}

/**
 * The real path of a regular file inside `dataDir`. A relative path is taken from the data
 * directory, not from the server's working directory. `alsoAllowed` are exact paths of files
 * segpipe itself names (the sample catalog it ships).
 */
export function resolveDataFile(dataDir: string, given: string, alsoAllowed: readonly string[] = []): string {
  if (alsoAllowed.includes(given)) return fs.realpathSync(given);
  if (given.includes('\0')) throw new DataPathError(given, 'is not a valid path inside the data directory (DATA_DIR)');
  let root: string;
  try {
    root = fs.realpathSync(dataDir);
  } catch {
    throw new DataPathError(given, 'cannot be read: the data directory (DATA_DIR) does not exist on the server');
  }
  let real: string;
  try {
    real = fs.realpathSync(path.resolve(root, given));
  } catch {
    throw new DataPathError(given, 'does not exist inside the data directory (DATA_DIR)');
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new DataPathError(given, 'is outside the data directory (DATA_DIR); copy the file into it');
  if (!fs.statSync(real).isFile()) throw new DataPathError(given, 'is not a regular file inside the data directory (DATA_DIR)');
  return real;
}

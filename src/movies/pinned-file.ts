// Opening a catalog file so that what is read is the file that was checked: never through a
// symlink in its last component, never blocking on a FIFO or device, and, when the checked
// file's identity (device, inode) is given, only that same file. A file swapped by a rename or
// symlink between the check and any later open fails the read instead of being read.
import fs from 'node:fs';

export interface FileIdentity {
  dev: number;
  ino: number;
}

export class FileChangedError extends Error {
  constructor(what: string) {
    super(`the file changed while it was being ingested (${what}); ingest it again once it is complete`);
    this.name = 'FileChangedError';
  }
}

const FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;

/** An open fd of a regular file (its identity and size); the caller closes it. */
export function openPinned(file: string, expected?: FileIdentity): { fd: number; identity: FileIdentity; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new FileChangedError('it is a symbolic link now');
    throw err;
  }
  const st = fs.fstatSync(fd);
  const identity = { dev: st.dev, ino: st.ino };
  const problem = !st.isFile() ? 'it is not a regular file' : expected && (expected.dev !== st.dev || expected.ino !== st.ino) ? 'another file has its name now' : null;
  if (problem) {
    fs.closeSync(fd);
    throw new FileChangedError(problem);
  }
  return { fd, identity, size: st.size };
}

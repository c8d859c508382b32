// Splits a Movies.txt file into byte ranges cut at record starts, so each range parses on its own.
import fs from 'node:fs';
import { promisify } from 'node:util';
import { findRecordStart } from './parse.ts';
import { openPinned, type FileIdentity } from './pinned-file.ts';

export interface ByteRange {
  index: number;
  start: number;
  end: number;
}

const WINDOW = 64 * 1024;

/** First record start at or after `offset` (or the file size when there is none). */
const readAt = promisify(fs.read);

async function recordStartAtOrAfter(fd: number, offset: number, size: number): Promise<number> {
  // Read from offset-1 so we can tell whether `offset` itself is at a line start.
  let pos = offset - 1;
  const buf = Buffer.alloc(WINDOW);
  let from = 1;
  while (pos < size) {
    const { bytesRead } = await readAt(fd, buf, 0, WINDOW, pos);
    if (bytesRead === 0) break;
    const view = buf.subarray(0, bytesRead);
    const found = findRecordStart(view, from, pos + bytesRead >= size);
    if (found >= 0) return pos + found;
    if (pos + bytesRead >= size) break;
    // Step back a little so an `ITEM` straddling the window edge is seen whole.
    const lastNl = view.lastIndexOf(0x0a);
    const next = lastNl >= from ? pos + lastNl : pos + bytesRead - 1;
    from = 1;
    pos = next;
  }
  return size;
}

/**
 * Ranges of about `chunkBytes` each, every one starting at a record (the first at byte 0), and
 * the identity of the file they were cut from (the chunks read only that file).
 */
export async function planChunks(file: string, chunkBytes: number, expected?: FileIdentity): Promise<{ ranges: ByteRange[]; identity: FileIdentity }> {
  const pinned = openPinned(file, expected);
  try {
    const { size } = pinned;
    const cuts = [0];
    let target = chunkBytes;
    while (target < size) {
      const cut = await recordStartAtOrAfter(pinned.fd, target, size);
      if (cut >= size) break;
      cuts.push(cut);
      target = cut + chunkBytes;
    }
    cuts.push(size);
    return { ranges: cuts.slice(0, -1).map((start, index) => ({ index, start, end: cuts[index + 1]! })), identity: pinned.identity };
  } finally {
    fs.closeSync(pinned.fd);
  }
}

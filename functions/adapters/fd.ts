/**
 * Promise wrappers over the callback file-descriptor API of `node:fs`. Not fs/promises
 * FileHandles: each call through a FileHandle costs about a third more CPU (its object, promise
 * and close tracking), which shows when thousands of small files are written and read per
 * invocation (a flush of 3,000 apps' objects).
 */
import { close, fstat, fsync, open, read, write } from "node:fs";
import { promisify } from "node:util";

export const fdOpen = promisify(open);
export const fdWrite = (fd: number, data: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => write(fd, data, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
export const fdRead = (fd: number, buf: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
export const fdSync = promisify(fsync);
export const fdClose = promisify(close);
export const fdStat = promisify(fstat);

/**
 * Writes all of `data` at `pos` of an open file; `midWrite`, when given, runs once the first half
 * is written (crash tests tear a write there).
 */
export async function writeAll(fd: number, data: Uint8Array, pos: number, midWrite?: () => void): Promise<void> {
  const half = data.length >> 1;
  let at = 0;
  if (midWrite) {
    while (at < half) at += await fdWrite(fd, data, at, half - at, pos + at);
    midWrite();
  }
  while (at < data.length) at += await fdWrite(fd, data, at, data.length - at, pos + at);
}

/** Where a read puts its bytes: a buffer of at least `len` bytes (its first `len` are written). */
export type ReadBufferSource = (len: number) => Buffer;
const freshBuffer: ReadBufferSource = (len) => Buffer.allocUnsafe(len);

/** Bytes [pos, pos + len) of an open file, fewer if it is shorter. */
export async function readAt(fd: number, pos: number, len: number, into: ReadBufferSource = freshBuffer): Promise<Buffer> {
  const buf = into(len);
  let got = 0;
  while (got < len) {
    const n = await fdRead(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === buf.length ? buf : buf.subarray(0, got);
}

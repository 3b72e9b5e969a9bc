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

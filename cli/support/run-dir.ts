/**
 * The `--out DIR` run directory of `logpipe local` / `logpipe invoke`: checked before anything
 * starts (an unusable path is a usage error naming it, not a retry loop), and cleared only when
 * it is known to hold nothing but the previous `logpipe local` run.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../ops/errors.js";

/**
 * Written by `logpipe local` into DIR once it owns DIR/nas and DIR/objects; removed by anything
 * else that writes there (`logpipe invoke`), so a later run never deletes what it did not write.
 */
export const LOCAL_RUN_MARKER = ".logpipe-local-run";
const RUN_SUBDIRS = ["nas", "objects"] as const;

/**
 * mkdir -p one level at a time. Node 20's `mkdirSync(dir, { recursive: true })` never returns
 * under /proc (the kernel answers ENOENT and Node retries forever, at 100 % CPU).
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  for (const m of missing.reverse()) mkdirSync(m);
}

/** Creates DIR if needed and proves it is a writable directory; throws a UsageError naming `flag` and the path. */
export function ensureWritableDir(flag: string, dir: string): void {
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: not a directory`);
    makeDirs(dir);
    accessSync(dir, constants.W_OK | constants.X_OK);
    const probe = path.join(dir, `.logpipe-probe-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe, { force: true });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = { EACCES: "permission denied", EPERM: "permission denied", EROFS: "read-only file system", ENOENT: "cannot be created", ENOTDIR: "a parent is not a directory", ENOSPC: "no space left on device" }[err.code ?? ""] ?? err.message;
    throw new UsageError(`${flag} ${dir}: not a writable directory (${why})`);
  }
}

export interface PreparedRunDir {
  /** Subdirectories deleted because the previous `logpipe local` run left them. */
  cleared: string[];
}

/**
 * Makes DIR ready for a `logpipe local` run. keep: leave DIR/nas and DIR/objects as they are.
 * Otherwise they are deleted when DIR carries the marker of a previous local run (or `clean`
 * says so); when they hold anything else the run refuses, naming the directory and the flags.
 */
export function prepareLocalRunDir(dir: string, opts: { keep?: boolean; clean?: boolean }): PreparedRunDir {
  ensureWritableDir("--out", dir);
  const cleared: string[] = [];
  if (!opts.keep) {
    const owned = opts.clean || existsSync(path.join(dir, LOCAL_RUN_MARKER));
    const occupied = RUN_SUBDIRS.map((d) => path.join(dir, d)).filter((d) => existsSync(d) && readdirSync(d).length > 0);
    if (occupied.length > 0 && !owned) {
      throw new UsageError(
        `--out ${dir}: ${occupied.map((d) => path.basename(d) + "/").join(" and ")} already hold files that logpipe local did not write (e.g. from logpipe invoke); ` +
          "add --keep to run on top of them, --clean to delete them, or pick another --out",
      );
    }
    for (const d of occupied) {
      rmSync(d, { recursive: true, force: true });
      cleared.push(d);
    }
  }
  writeFileSync(path.join(dir, LOCAL_RUN_MARKER), "DIR/nas and DIR/objects were written by `logpipe local` only; the next run without --keep replaces them.\n");
  return { cleared };
}

/** Called by other writers of DIR: from now on a `logpipe local` run must not delete DIR/nas or DIR/objects unasked. */
export function disownLocalRunDir(dir: string): void {
  rmSync(path.join(dir, LOCAL_RUN_MARKER), { force: true });
}

/**
 * Where the bench keeps its NAS directories (and the object store's stand-in): on tmpfs when the
 * machine has one with room, because a local disk's own file-creation cost is not what FC bills.
 *
 * On NAS (NFS) a create is a round trip the NAS model books (1 ms a metadata op); the FC
 * instance's CPU only marshals it. A local ext4 without a journal — the root disk of this kind of
 * VM — instead scans the inodes deleted in the last ~30 s on every create (the kernel's
 * `recently_deleted`, run only when there is no journal), and the bench's simulated clock deletes
 * an hour of files in about a minute: a create then costs 0.3–0.6 ms of system CPU, against
 * ~0.03 ms on tmpfs (docs/bench.md, "The bench's own disk"), booked to the handler that made it.
 */
import { statfsSync } from "node:fs";
import path from "node:path";

/** statfs(2) f_type of tmpfs. */
export const TMPFS_MAGIC = 0x01021994;
/** What a full run keeps on its NAS directories at once (an hour of staging per app count, side by side), with room to spare. */
export const FULL_RUN_BYTES = 8 * 1024 ** 3;
export const QUICK_RUN_BYTES = 1024 ** 3;

export interface WorkDirChoice {
  /** the directory the run's NAS directories go under (the caller makes and removes it) */
  dir: string;
  /** whether it is on tmpfs */
  fs: "tmpfs" | "disk";
  /** one line for the report: where, and why */
  note: string;
}

export interface FsProbe {
  /** statfs of `dir`: its type and free bytes, or undefined when it is not there */
  statfs(dir: string): { type: number; freeBytes: number } | undefined;
}

export const systemFs: FsProbe = {
  statfs(dir) {
    try {
      const s = statfsSync(dir);
      return { type: Number(s.type), freeBytes: Number(s.bavail) * Number(s.bsize) };
    } catch {
      return undefined;
    }
  },
};

/**
 * The run's work directory: `override` when given (`--work-dir`), else a directory under
 * `tmpfsRoot` (/dev/shm) when that is tmpfs with `needBytes` free, else under `fallbackRoot`.
 * Pure but for the probe; the caller makes and removes the directory.
 */
export function chooseWorkDir(opts: { override?: string; tmpfsRoot?: string; fallbackRoot: string; name: string; needBytes: number; probe?: FsProbe }): WorkDirChoice {
  const probe = opts.probe ?? systemFs;
  const kindOf = (dir: string): "tmpfs" | "disk" => (probe.statfs(dir)?.type === TMPFS_MAGIC ? "tmpfs" : "disk");
  if (opts.override) {
    const root = path.resolve(opts.override);
    const dir = path.join(root, opts.name);
    const fs = kindOf(root);
    return { dir, fs, note: `NAS directories under ${dir} (--work-dir; ${fs === "tmpfs" ? "tmpfs" : "not tmpfs: a local disk's own cost of creating files is booked as handler CPU"})` };
  }
  const tmpfsRoot = opts.tmpfsRoot ?? "/dev/shm";
  const st = probe.statfs(tmpfsRoot);
  const gb = (n: number) => (n / 1024 ** 3).toFixed(1);
  if (st && st.type === TMPFS_MAGIC && st.freeBytes >= opts.needBytes) {
    return { dir: path.join(tmpfsRoot, opts.name), fs: "tmpfs", note: `NAS directories on tmpfs (${tmpfsRoot}): on NAS a create is a round trip the model books, not the local disk's inode allocation` };
  }
  const why = !st ? `${tmpfsRoot} not there` : st.type !== TMPFS_MAGIC ? `${tmpfsRoot} is not tmpfs` : `${tmpfsRoot} has ${gb(st.freeBytes)} GB free, ${gb(opts.needBytes)} GB needed`;
  return {
    dir: path.join(opts.fallbackRoot, opts.name), fs: kindOf(opts.fallbackRoot),
    note: `NAS directories on the local disk (${why}): its own cost of creating files is booked as handler CPU, which inflates what grows with files per GB (docs/bench.md, "The bench's own disk")`,
  };
}

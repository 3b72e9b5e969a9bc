/**
 * The NAS working directory (a local directory in local runs). All paths are relative to the
 * root and checked to stay inside it; writes that must appear whole go through temp + rename.
 */
import { randomBytes } from "node:crypto";
import { constants, promises as fsp, type Dirent } from "node:fs";
import path from "node:path";
import pLimit from "p-limit";
import { NAS_CONCURRENCY } from "../core/deps.js";
import { TEMP_PREFIX } from "../core/layout.js";
import { fdClose, fdOpen, fdStat, fdSync, readAt, writeAll, type ReadBufferSource } from "./fd.js";

export type { ReadBufferSource } from "./fd.js";

/** `abs` opened for reading, or undefined when it does not exist. */
async function openIfExists(abs: string): Promise<number | undefined> {
  try {
    return await fdOpen(abs, constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export interface DirEntry {
  rel: string;
  size: number;
  mtimeMs: number;
}

export class NasDir {
  readonly root: string;
  constructor(root: string, private readonly fsyncEnabled = true) {
    this.root = path.resolve(root);
  }

  /** Absolute path of a relative one; throws if it would leave the root. */
  abs(rel: string): string {
    const p = path.resolve(this.root, rel);
    if (p !== this.root && !p.startsWith(this.root + path.sep)) throw new Error(`path escapes the NAS root: ${JSON.stringify(rel)}`);
    return p;
  }

  async ensureDir(relDir: string): Promise<void> {
    await fsp.mkdir(this.abs(relDir), { recursive: true });
  }

  /** Directories this instance has created or seen: a warm instance skips `mkdir -p` per write. */
  private readonly knownDirs = new Set<string>();

  /** Makes sure the parent directory of `absPath` exists (cached). */
  async ensureParent(absPath: string): Promise<void> {
    const dir = path.dirname(absPath);
    if (this.knownDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.knownDirs.add(dir);
  }

  /** Makes the parent directory of `absPath` after an open found it missing (not cached: it was missing). */
  protected async makeParent(absPath: string): Promise<void> {
    const dir = path.dirname(absPath);
    await fsp.mkdir(dir, { recursive: true });
    this.knownDirs.add(dir);
  }

  /** Runs `op` after ensureParent; if the directory vanished meanwhile (pruned), recreates it once. */
  private async inDir<T>(absPath: string, op: () => Promise<T>): Promise<T> {
    await this.ensureParent(absPath);
    try {
      return await op();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      this.knownDirs.delete(path.dirname(absPath));
      await this.ensureParent(absPath);
      return op();
    }
  }

  /** Writes to a temp name beside the target, fsyncs, then renames over it: readers see all or nothing. */
  async writeAtomic(rel: string, data: Buffer | Uint8Array): Promise<void> {
    return this.replaceWhole(this.abs(rel), data);
  }

  /**
   * Writes a file whose name is derived from its bytes (a staging file's carries their CRC-32)
   * straight under that name: exclusive create + write + fsync — no temp name and no rename, one
   * NAS round trip fewer than writeAtomic. For files nobody reads before the writer says they are
   * there (a staging file is read once it is registered, after this returns). A crash mid-write
   * leaves a torn file under the name: a later write of the same name finds it there and replaces
   * it whole (writeAtomic's temp + rename, "replaced"), and the reconciler removes one nobody
   * writes again (its bytes do not match its name). `midWrite` runs after half the bytes (crash
   * point).
   */
  async writeNamedByContent(rel: string, data: Buffer | Uint8Array, midWrite?: () => void): Promise<"created" | "replaced"> {
    const target = this.abs(rel);
    const fd = await this.inDir(target, () => this.createExclusive(target, 0o640));
    if (fd === undefined) {
      await this.replaceWhole(target, data);
      return "replaced";
    }
    try {
      await writeAll(fd, data, 0, midWrite);
      if (this.fsyncEnabled) await fdSync(fd);
    } finally {
      await fdClose(fd);
    }
    return "created";
  }

  /** writeAtomic's steps on an absolute path (not overridden: the latency model charges its callers). */
  private async replaceWhole(target: string, data: Buffer | Uint8Array): Promise<void> {
    const tmp = path.join(path.dirname(target), `${TEMP_PREFIX}${path.basename(target)}.${randomBytes(4).toString("hex")}`);
    // callback-API file descriptors, not fs/promises FileHandles: the same overlap of NAS
    // latency for split's concurrent chunk writes at about 3/4 of the CPU per write
    const fd = await this.inDir(tmp, () => fdOpen(tmp, "w", 0o640));
    try {
      await writeAll(fd, data, 0);
      if (this.fsyncEnabled) await fdSync(fd);
    } finally {
      await fdClose(fd);
    }
    await fsp.rename(tmp, target);
  }

  /**
   * Copies the first `len` bytes of `fromRel` to `toRel` through a temp file + fsync + rename, so
   * the target is a new file nobody else holds open. Throws if the source is shorter than `len`.
   */
  async copyPrefixAtomic(fromRel: string, toRel: string, len: number): Promise<void> {
    const target = this.abs(toRel);
    const tmp = path.join(path.dirname(target), `${TEMP_PREFIX}${path.basename(target)}.${randomBytes(4).toString("hex")}`);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const src = await fsp.open(this.abs(fromRel), "r");
    try {
      const dst = await fsp.open(tmp, "w");
      try {
        const buf = Buffer.allocUnsafe(Math.min(len, 4 * 1024 * 1024) || 1);
        let pos = 0;
        while (pos < len) {
          const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, len - pos), pos);
          if (bytesRead === 0) throw new Error(`${fromRel} is ${pos} bytes but ${len} are committed: NAS lost data`);
          await dst.write(buf, 0, bytesRead, pos);
          pos += bytesRead;
        }
        if (this.fsyncEnabled) await dst.sync();
      } finally {
        await dst.close();
      }
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    } finally {
      await src.close();
    }
    await fsp.rename(tmp, target);
  }

  // Every call here is asynchronous. On NAS each is a round trip of about a millisecond, and
  // compress and upload keep NAS_CONCURRENCY of them in flight (with UV_THREADPOOL_SIZE=32,
  // infra/runtime-env.ts); a synchronous call would hold the event loop for its round trip while
  // the NAS latency model overlapped it (a unit test keeps *Sync calls out of this file). On a
  // local disk a call through libuv's pool costs ~3× the CPU of a synchronous one (80–170 µs more),
  // little beside a round trip.
  async read(rel: string): Promise<Buffer | undefined> {
    try {
      return await fsp.readFile(this.abs(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async exists(rel: string): Promise<boolean> {
    try {
      await fsp.access(this.abs(rel), constants.F_OK);
      return true;
    } catch {
      return false;
    }
  }

  async size(rel: string): Promise<number | undefined> {
    return (await this.statFile(rel))?.size;
  }

  /** Size and modification time; undefined when the file is gone. */
  async stat(rel: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    return this.statFile(rel);
  }

  private async statFile(rel: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    try {
      const st = await fsp.stat(this.abs(rel));
      return { size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Removes a file; a file already gone is fine (idempotent). */
  async remove(rel: string): Promise<void> {
    try {
      await fsp.unlink(this.abs(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  /**
   * Writes `data` at byte `at` of `rel` (created if missing when `at` is 0) in one positional write + fsync, but
   * only if the file is exactly `at` bytes long; otherwise writes nothing and returns the size
   * found (the caller repairs from the file: complete members past `at` are adopted, never cut).
   * `check()` runs just before the write, so a caller can re-check its lock; it may throw to abort.
   * `midWrite`, when given, runs after the first half is written (crash tests tear appends there).
   */
  async appendExact(rel: string, at: number, data: Uint8Array, check: () => Promise<void>, midWrite?: () => void, mode = 0o640): Promise<{ ok: true } | { ok: false; size: number }> {
    const abs = this.abs(rel);
    let fd: number | undefined;
    if (at === 0) {
      // a generation's first member: its file is normally not there yet (a seal moved the last
      // one away), so it is created exclusively and, being new, needs no fstat — the long tail
      // starts a generation at every drain. A file already there (a crashed writer's) is opened
      // and checked like any other. The directory is there but for an app's first file: open
      // first, make it only when missing (a cold instance would otherwise mkdir once per app it
      // writes, a NAS round trip each). Not so for inDir's callers: a seal renames into an outbox
      // directory that the upload of the previous object pruned, so there the directory is made
      // first (one failed op saved).
      try {
        fd = await this.createExclusive(abs, mode);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        await this.makeParent(abs);
        fd = await this.createExclusive(abs, mode);
      }
    }
    const created = fd !== undefined;
    if (fd === undefined) {
      // appending past 0 to a file that is gone must not create it: the caller's repair tells
      // "sealed already" (no file) from "shorter than committed" (a file with less)
      try {
        fd = await this.openExisting(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return { ok: false, size: 0 };
        throw e;
      }
    }
    try {
      if (!created) {
        const size = await this.sizeOfOpen(fd);
        if (size !== at) return { ok: false, size };
      }
      await check();
      await writeAll(fd, data, at, midWrite);
      if (this.fsyncEnabled) await fdSync(fd);
      return { ok: true };
    } finally {
      await fdClose(fd);
    }
  }

  /** `abs` made and opened for writing, or undefined when it exists already (appendExact). */
  protected async createExclusive(abs: string, mode: number): Promise<number | undefined> {
    try {
      return await fdOpen(abs, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return undefined;
      throw e;
    }
  }

  /** An existing `abs` opened for writing (appendExact); ENOENT when it is gone. */
  protected openExisting(abs: string): Promise<number> {
    return fdOpen(abs, constants.O_RDWR);
  }

  /** The size of an open file (appendExact's check that it ends where the append starts). */
  protected async sizeOfOpen(fd: number): Promise<number> {
    return (await fdStat(fd)).size;
  }

  /**
   * Marks that `bytes` of `rel` are about to be read by code that needs the file's path (a
   * streaming hash, the object store's upload): it does nothing here; the NAS latency model
   * counts those reads, which would otherwise bypass it.
   */
  async readByPath(_rel: string, _bytes: number): Promise<void> {}

  /** Bytes [pos, pos + len) of `rel` (fewer if the file is shorter); undefined when the file is gone. */
  async readRange(rel: string, pos: number, len: number): Promise<Buffer | undefined> {
    return (await this.readRanges(rel, [{ pos, len }]))?.[0];
  }

  /**
   * The first `max` bytes of `rel` — the whole file when it is no larger — in a buffer of exactly
   * that size (the size comes with the open: NFS returns a file's attributes with the lookup),
   * undefined when the file is gone. readRange(rel, 0, max) would allocate `max` bytes whatever
   * the file holds: upload reads every outbox file this way, mostly a few KB against a 1 MB cap.
   */
  async readUpTo(rel: string, max: number): Promise<Buffer | undefined> {
    const fd = await openIfExists(this.abs(rel));
    if (fd === undefined) return undefined;
    try {
      return await readAt(fd, 0, Math.min(max, (await fdStat(fd)).size));
    } finally {
      await fdClose(fd);
    }
  }

  /**
   * Several ranges of `rel` through one open (one NFS OPEN/LOOKUP, then a positional read per
   * range), each fewer bytes if the file is shorter; undefined when the file is gone. `into`
   * gives the buffers the ranges are read into (a pool's, say); each result is a view of one.
   */
  async readRanges(rel: string, ranges: readonly { pos: number; len: number }[], into?: ReadBufferSource): Promise<Buffer[] | undefined> {
    const fd = await openIfExists(this.abs(rel));
    if (fd === undefined) return undefined;
    try {
      const out: Buffer[] = [];
      for (const { pos, len } of ranges) out.push(await readAt(fd, pos, len, into));
      return out;
    } finally {
      await fdClose(fd);
    }
  }

  async rename(fromRel: string, toRel: string): Promise<void> {
    const to = this.abs(toRel);
    await this.inDir(to, () => fsp.rename(this.abs(fromRel), to));
  }

  async syncFile(rel: string): Promise<void> {
    if (!this.fsyncEnabled) return;
    const fh = await fsp.open(this.abs(rel), "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async truncate(rel: string, len: number): Promise<void> {
    await fsp.truncate(this.abs(rel), len);
  }

  /** Names in a directory (files and dirs), [] if it does not exist. */
  async listNames(relDir: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.abs(relDir))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  /** Every regular file below a directory, recursively, in name order, depth first. */
  async walk(relDir: string): Promise<DirEntry[]> {
    // the directories' listings and the files' stats NAS_CONCURRENCY at a time: on NFS each is a
    // round trip, and the active tree has a directory per app (3,000 apps: over 3,000 round trips)
    const limit = pLimit(NAS_CONCURRENCY);
    const visit = async (rel: string): Promise<DirEntry[]> => {
      const entries = await limit(() => this.listDir(rel));
      if (!entries) return [];
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const found = await Promise.all(entries.map(async (e): Promise<DirEntry[]> => {
        const child = `${rel}/${e.name}`;
        if (e.isDirectory()) return visit(child);
        if (!e.isFile()) return [];
        const st = await limit(() => this.statEntry(child)); // gone: raced with a rename, fine
        return st ? [{ rel: child, size: st.size, mtimeMs: st.mtimeMs }] : [];
      }));
      return found.flat(); // in name order, depth first, as a sequential walk gives them
    };
    return visit(relDir);
  }

  /** A file's size and time for walk, or undefined when it is gone. */
  protected statEntry(rel: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    return this.statFile(rel);
  }

  /** A directory's entries, or undefined when it does not exist (walk's listing). */
  protected async listDir(rel: string): Promise<Dirent[] | undefined> {
    try {
      return await fsp.readdir(this.abs(rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Removes empty directories below relDir (not relDir itself). */
  /**
   * Removes the directories above `rel` that are now empty, up to (not including) `stopAt`,
   * stopping at the first that is not: after an upload, its own date/hour directories, without
   * walking the tree. Returns the directories removed and how many rmdir calls it made.
   */
  async removeEmptyParents(rel: string, stopAt: string): Promise<{ removed: string[]; attempts: number }> {
    const removed: string[] = [];
    let attempts = 0;
    for (let dir = path.posix.dirname(rel); dir.startsWith(`${stopAt}/`); dir = path.posix.dirname(dir)) {
      attempts++;
      try {
        await fsp.rmdir(this.abs(dir));
      } catch {
        break; // not empty (or already gone): its ancestors are not empty either
      }
      this.knownDirs.delete(this.abs(dir));
      removed.push(dir);
    }
    return { removed, attempts };
  }

  async pruneEmptyDirs(relDir: string): Promise<void> {
    const visit = async (rel: string): Promise<boolean> => {
      let entries;
      try {
        entries = await fsp.readdir(this.abs(rel), { withFileTypes: true });
      } catch {
        return false;
      }
      let empty = true;
      for (const e of entries) {
        if (e.isDirectory() && (await visit(`${rel}/${e.name}`))) {
          await fsp.rmdir(this.abs(`${rel}/${e.name}`)).catch(() => {});
        } else empty = false;
      }
      return empty;
    };
    await visit(relDir);
  }
}

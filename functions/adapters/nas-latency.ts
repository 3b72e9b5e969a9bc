/**
 * A NAS latency model for benchmarks and local runs: a NasDir that counts every file-system
 * operation it performs by kind and, when a model is given, waits a real timer per operation,
 * as an NFS round trip would. FC bills a handler's duration, and on NAS most of the data path's
 * file operations are network round trips, so the wait must be an awaited timer, not arithmetic —
 * or, for long simulations, a virtual clock on which operations in flight together overlap (see
 * the constructor).
 *
 * Operation kinds (counted at the level of the system calls NasDir makes; each is one NFS round
 * trip or, for data, one round trip plus the transfer):
 *   metadata — open, create (open with O_CREAT of a new temp file), rename, unlink, stat,
 *              readdir, mkdir, rmdir, setattr (truncate); close is not counted (NFSv3 has no
 *              CLOSE call and the data is already committed by fsync)
 *   data     — read and write calls, with their bytes
 *   fsync    — an NFS COMMIT
 *
 * Default delays: Alibaba Cloud General-purpose NAS, Performance type (infra's default
 * `nas.storageType`), checked 2026-12-01:
 *   - https://www.alibabacloud.com/help/en/nas/user-guide/nas-performance-overview (updated
 *     2024-12-13) defines latency per I/O request and "overall task latency = write latency ×
 *     (number of writes / concurrency)" — i.e. NAS operations are serial round trips unless the
 *     caller overlaps them — but the parts of the page we could read give no per-operation latency
 *     figure for General-purpose NAS.
 *   - https://www.alibabacloud.com/help/ja/doc-detail/95501.htm (fio on one ECS instance, 1 MB
 *     blocks): Performance NAS about 300 MB/s read and 600 MB/s write; Capacity NAS about 150 MB/s
 *     both ways (the page's "Mbit/s" is MB/s: it equates a 1 Gbit/s instance with 125). These give
 *     the per-MB terms below.
 *   - No published per-operation latency was found for metadata calls, a single data call or
 *     fsync: the model ASSUMES 1 ms per round trip for each (a round trip to a mount target in the
 *     same zone; the figure issue 11 uses). Pass another model to test other assumptions.
 * The size of a file just opened (readUpTo's, appendExact's fstat) is not a round trip of its
 * own: an NFS open revalidates the file's attributes with the server ("close-to-open cache
 * consistency": a GETATTR or ACCESS at every open, whatever the cache holds) and they are then
 * cached for at least acregmin, 3 s by default (https://man7.org/linux/man-pages/man5/nfs.5.html,
 * checked 2026-12-05), so an fstat right after the open reads the cache. Until 2026-12-05
 * appendExact's fstat was charged a stat (1 ms per append past 0).
 */
import { readdirSync, type Dirent } from "node:fs";
import path from "node:path";
import { NasDir, type ReadBufferSource } from "./nas.js";
import { realClock, type PacerClock } from "../core/request-pacer.js";

export const NAS_METADATA_KINDS = ["open", "create", "rename", "unlink", "stat", "readdir", "mkdir", "rmdir", "setattr"] as const;
export type NasMetadataKind = (typeof NAS_METADATA_KINDS)[number];
export type NasOpKind = NasMetadataKind | "read" | "write" | "fsync";

export interface NasOpCounts extends Record<NasMetadataKind, number> {
  /** read calls and the bytes they returned */
  read: number;
  readBytes: number;
  /** write calls and the bytes they wrote */
  write: number;
  writeBytes: number;
  fsync: number;
  /** time the model charged (sum of the per-operation delays: what a caller making them one after another waits) */
  modelledMs: number;
  /**
   * the handler's NAS time: `modelledMs`, except on the overlap clock (`wait: "overlap"`), where
   * operations the caller has in flight together overlap (never less than its longest chain)
   */
  bookedMs: number;
  /**
   * `bookedMs` on a clock that stands still while the handler computes: with the overlap clock
   * given the handler's busy time (`busyMs`), what it would have booked had that time not moved
   * it — every wait after the CPU, none beside it (the bench's yardstick until 2026-12-05, an
   * upper bound); otherwise the same as `bookedMs`
   */
  bookedAfterCpuMs: number;
  /** time actually spent waiting in timers (≥ modelledMs by the timers' granularity) */
  sleptMs: number;
}

export interface NasLatencyModel {
  name: string;
  /** per metadata round trip (open, create, rename, unlink, stat, readdir, mkdir, rmdir, setattr) */
  metadataMs: number;
  /** per read or write call, before its bytes */
  dataCallMs: number;
  readMsPerMB: number;
  writeMsPerMB: number;
  fsyncMs: number;
  /** where each figure comes from, for reports */
  source: string;
}

const PERF_SOURCE =
  "per MB: Performance NAS ~300 MB/s read, ~600 MB/s write on one client (https://www.alibabacloud.com/help/ja/doc-detail/95501.htm, checked 2026-12-01); " +
  "per metadata op, per data call and per fsync: 1 ms, an assumption — no published per-operation latency for General-purpose NAS " +
  "(https://www.alibabacloud.com/help/en/nas/user-guide/nas-performance-overview, checked 2026-12-01)";

/** General-purpose NAS, Performance type (infra's default storage type). */
export const GENERAL_PURPOSE_PERFORMANCE_NAS: NasLatencyModel = {
  name: "General-purpose NAS, Performance",
  metadataMs: 1,
  dataCallMs: 1,
  readMsPerMB: 1000 / 300,
  writeMsPerMB: 1000 / 600,
  fsyncMs: 1,
  source: PERF_SOURCE,
};

/** General-purpose NAS, Capacity type (cheaper, slower transfers). */
export const GENERAL_PURPOSE_CAPACITY_NAS: NasLatencyModel = {
  ...GENERAL_PURPOSE_PERFORMANCE_NAS,
  name: "General-purpose NAS, Capacity",
  readMsPerMB: 1000 / 150,
  writeMsPerMB: 1000 / 150,
  source: PERF_SOURCE.replace("Performance NAS ~300 MB/s read, ~600 MB/s write", "Capacity NAS ~150 MB/s read and write"),
};

export function emptyNasOpCounts(): NasOpCounts {
  const c = { read: 0, readBytes: 0, write: 0, writeBytes: 0, fsync: 0, modelledMs: 0, bookedMs: 0, bookedAfterCpuMs: 0, sleptMs: 0 } as NasOpCounts;
  for (const k of NAS_METADATA_KINDS) c[k] = 0;
  return c;
}

/** Sum of the metadata operations in `c`. */
export function metadataOps(c: NasOpCounts): number {
  return NAS_METADATA_KINDS.reduce((s, k) => s + c[k], 0);
}

/** Adds `b` into `a` (several instances' counters into one report). */
export function addNasOpCounts(a: NasOpCounts, b: NasOpCounts): NasOpCounts {
  for (const k of Object.keys(a) as (keyof NasOpCounts)[]) a[k] += b[k];
  return a;
}

type Methods<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T];
/** NasDir's public methods (a new one is a type error here until it is mapped). */
export type NasDirMethod = Methods<NasDir>;

/**
 * What each NasDir method does on the file system, as the model counts it. The unit test fails
 * when NasDir gains a method that is not listed here, so a new operation cannot go uncounted.
 */
export const NAS_METHOD_OPS: Record<NasDirMethod, string> = {
  abs: "none (path arithmetic)",
  ensureDir: "mkdir",
  ensureParent: "mkdir, the first time a directory is seen by this instance",
  writeAtomic: "mkdir of the parent (first time) + create + write + fsync + rename",
  writeNamedByContent: "mkdir of the parent (first time) + create + write (2 when a crash point splits it) + fsync; a name already there: + open (the create that failed) + writeAtomic's create + write + fsync + rename",
  copyPrefixAtomic: "mkdir + open (source) + create (temp) + read and write per 4 MB + fsync + rename",
  read: "open + read (open only when the file is missing)",
  exists: "stat",
  size: "stat",
  stat: "stat",
  remove: "unlink",
  appendExact: "at 0: an exclusive create (the file is new; a file already there: + open); past 0: open (the size is the open's attributes: no stat, see the header); a missing directory: + mkdir and a second open; then, when the size matches: write (2 when torn mid-write) + fsync",
  readRange: "open + read (open only when the file is missing)",
  readRanges: "open + one read per range (open only when the file is missing)",
  readUpTo: "open + read (open only when the file is missing; the size comes with the open's attributes)",
  readByPath: "open + one read per MB (reads by path: streaming hashes, the object store's upload)",
  rename: "mkdir of the target's parent (first time) + rename",
  syncFile: "open + fsync (nothing when fsync is off)",
  truncate: "setattr",
  listNames: "readdir",
  walk: "readdir per directory (listDir) + stat per file (statEntry), several at once",
  pruneEmptyDirs: "readdir per directory + rmdir per empty directory removed",
  removeEmptyParents: "rmdir per directory tried (the last one may fail: not empty)",
};

/**
 * NasDir's non-public helpers: their operations are counted by the public methods that call them,
 * except makeParent's (mkdir + the open that found the directory missing), walk's listDir
 * (readdir) and statEntry (stat), and appendExact's createExclusive when the file was there (the
 * open that failed), counted by their overrides. sizeOfOpen (fstat of a file just opened) is no
 * round trip: the open fetched the attributes (see the header).
 */
export const NAS_INTERNAL_METHODS = ["inDir", "replaceWhole", "statFile", "makeParent", "listDir", "statEntry", "createExclusive", "openExisting", "sizeOfOpen"] as const;

/**
 * NasDir methods that touch the file system only through helpers the model overrides and charges
 * one call at a time, so that what they keep in flight together overlaps on the clock.
 */
export const NAS_COUNTED_BY_HELPERS: Partial<Record<NasDirMethod, readonly string[]>> = { walk: ["listDir", "statEntry"] };

const COPY_BLOCK = 4 * 1024 * 1024;
const MB = 1024 * 1024;

type Ops = Partial<Record<NasMetadataKind | "read" | "write" | "fsync", number>> & { readBytes?: number; writeBytes?: number };

/** Directories below `abs` (itself included), 0 if it does not exist. */
function countDirs(abs: string): number {
  let entries;
  try {
    entries = readdirSync(abs, { withFileTypes: true });
  } catch {
    return 0;
  }
  let n = 1;
  for (const e of entries) if (e.isDirectory()) n += countDirs(path.join(abs, e.name));
  return n;
}

export class NasLatencyDir extends NasDir {
  readonly counts: NasOpCounts = emptyNasOpCounts();
  /** Fractions of a millisecond owed, carried to the next wait (timers have 1 ms granularity). */
  private owedMs = 0;
  private readonly seenDirs = new Set<string>();

  /** Whether fsyncs are counted and charged (by default: when they are made). */
  private readonly syncs: boolean;
  /** How the modelled time is spent: a real timer, booked serially, or booked on the overlap clock. */
  private readonly clock: "wait" | "book" | "overlap";
  /**
   * The overlap clock: the waits it booked (its now is this plus the handler's busy time, when
   * given), and the operations in flight by the time they end, on it and on the clock that does
   * not move with the busy time (`bookedAfterCpuMs`).
   */
  private virtualNow = 0;
  private afterCpuNow = 0;
  private readonly busyMs?: () => number;
  private readonly inFlight: { end: number; endAfterCpu: number; seq: number; done: () => void }[] = [];
  private inFlightSeq = 0;
  private advancing = false;
  /**
   * Real work in progress (the local file-system call behind a modelled operation, or another
   * service's stand-in: trackRealWork). It takes no time on the overlap clock — its cost is the
   * modelled time — so the clock does not move while any is pending: what the handler starts
   * meanwhile joins in flight at the same virtual time, as it would on NFS.
   */
  private realPending = 0;

  /**
   * `chargeFsync: true` with `fsyncEnabled: false` counts and charges the fsyncs a deployment
   * (fsync on) would make without making them on the local disk, whose own fsync time is not
   * what is being modelled. `wait: false` books the modelled time without waiting it: for long
   * simulations, where a handler's billed time is then its measured time plus `bookedMs` (an
   * upper bound: NAS operations the caller overlaps are charged as if serial). `wait: "overlap"`
   * books it on a virtual clock instead: each operation starts at the clock's now and ends its
   * modelled time later, and the clock moves only to the earliest end of what is in flight, so
   * operations the caller has in flight together (p-limit, Promise.all) overlap as on an NFS
   * mount with several requests outstanding, while one after another they add up (true only
   * because NasDir makes no synchronous call, which would hold the event loop: a unit test keeps
   * it so). `bookedMs` is
   * how far the clock moved: at least the caller's longest chain of operations, at most their sum.
   *
   * `busyMs` (the handler's CPU time so far, in ms) makes the overlap clock move with the
   * handler's work too, as time does on FC: an operation in flight while the handler computes
   * ends that much sooner after it, and one the work outlasts is booked nothing. A bill of CPU +
   * `bookedMs` then charges the handler's waits beside its work once, the way FC's duration does;
   * without it, each wait is booked after the CPU as if the two could not overlap
   * (`bookedAfterCpuMs` keeps that figure either way).
   */
  constructor(root: string, fsyncEnabled = true, readonly model?: NasLatencyModel, opts: { chargeFsync?: boolean; wait?: boolean | "overlap"; busyMs?: () => number } = {}) {
    super(root, fsyncEnabled);
    this.syncs = opts.chargeFsync ?? fsyncEnabled;
    this.clock = opts.wait === "overlap" ? "overlap" : opts.wait === false ? "book" : "wait";
    this.busyMs = opts.busyMs;
  }

  /** The overlap clock's now: the waits it booked, plus the handler's busy time when given. */
  private clockNow(): number {
    return this.virtualNow + (this.busyMs?.() ?? 0);
  }

  /**
   * The clock upload paces its OSS requests on (RequestPacer): with the overlap clock its virtual
   * time, so a request waiting for its turn is booked like one in flight (and, with `busyMs`, a
   * turn that comes while the handler computes is not waited for again); otherwise real time.
   */
  get requestClock(): PacerClock {
    if (this.clock !== "overlap") return realClock;
    return { now: () => this.clockNow(), sleep: (ms) => this.onVirtualClock(ms) };
  }

  /** Zeroes the counters (e.g. after loading data, before the measured section). */
  resetCounts(): void {
    Object.assign(this.counts, emptyNasOpCounts());
  }

  /** Counts `ops` and, with a model, waits their modelled time. */
  private async charge(ops: Ops): Promise<void> {
    const c = this.counts;
    let ms = 0;
    const m = this.model;
    for (const k of NAS_METADATA_KINDS) {
      const n = ops[k];
      if (!n) continue;
      c[k] += n;
      if (m) ms += n * m.metadataMs;
    }
    const reads = ops.read ?? 0, writes = ops.write ?? 0, fsyncs = ops.fsync ?? 0;
    const rb = ops.readBytes ?? 0, wb = ops.writeBytes ?? 0;
    c.read += reads;
    c.readBytes += rb;
    c.write += writes;
    c.writeBytes += wb;
    c.fsync += fsyncs;
    if (!m) return;
    ms += (reads + writes) * m.dataCallMs + (rb / MB) * m.readMsPerMB + (wb / MB) * m.writeMsPerMB + fsyncs * m.fsyncMs;
    c.modelledMs += ms;
    return this.spend(ms);
  }

  /**
   * Books a round trip to another service — an object-store request (object-store-latency.ts) —
   * on this handler's clock, so that it overlaps with the NAS operations and requests the handler
   * has in flight beside it, as in the handler: it moves `bookedMs` (or is waited) but is not a
   * NAS operation, so no NAS counter and not `modelledMs`.
   */
  bookRoundTrip(ms: number): Promise<void> {
    return this.spend(ms);
  }

  /** Spends `ms` of modelled time the way this instance's clock does. */
  private async spend(ms: number): Promise<void> {
    const c = this.counts;
    if (this.clock === "overlap") return this.onVirtualClock(ms);
    c.bookedMs += ms;
    c.bookedAfterCpuMs += ms;
    if (this.clock === "book") return;
    this.owedMs += ms;
    const whole = Math.floor(this.owedMs);
    if (whole < 1) return;
    this.owedMs -= whole;
    const t0 = performance.now();
    await new Promise<void>((resolve) => setTimeout(resolve, whole));
    c.sleptMs += performance.now() - t0;
  }

  /**
   * Resolves when the overlap clock reaches now + `ms`. The clock is advanced one end at a time,
   * each on its own event-loop turn (setImmediate), so whatever the caller starts meanwhile —
   * the next operations of a concurrent batch — joins in flight at the current virtual time.
   */
  private onVirtualClock(ms: number): Promise<void> {
    return new Promise<void>((done) => {
      this.inFlight.push({ end: this.clockNow() + ms, endAfterCpu: this.afterCpuNow + ms, seq: this.inFlightSeq++, done });
      if (!this.advancing) {
        this.advancing = true;
        setImmediate(() => this.advanceVirtualClock());
      }
    });
  }

  private advanceVirtualClock(): void {
    if (this.realPending > 0) {
      this.advancing = false; // the last real work to finish starts it again
      return;
    }
    let next = 0;
    for (let i = 1; i < this.inFlight.length; i++) {
      const a = this.inFlight[i]!, b = this.inFlight[next]!;
      if (a.end < b.end || (a.end === b.end && a.seq < b.seq)) next = i;
    }
    const op = this.inFlight.splice(next, 1)[0]!;
    // what the handler's work since the operation began did not cover is waited (booked)
    const now = this.clockNow();
    if (op.end > now) {
      this.counts.bookedMs += op.end - now;
      this.virtualNow += op.end - now;
    }
    if (op.endAfterCpu > this.afterCpuNow) {
      this.counts.bookedAfterCpuMs += op.endAfterCpu - this.afterCpuNow;
      this.afterCpuNow = op.endAfterCpu;
    }
    op.done();
    if (this.inFlight.length > 0) setImmediate(() => this.advanceVirtualClock());
    else this.advancing = false;
  }

  /** Runs real work with the overlap clock held (see realPending). */
  private async real<T>(work: () => Promise<T>): Promise<T> {
    this.realPending++;
    try {
      return await work();
    } finally {
      this.realPending--;
      this.resumeClock();
    }
  }

  private resumeClock(): void {
    if (this.realPending === 0 && this.inFlight.length > 0 && !this.advancing) {
      this.advancing = true;
      setImmediate(() => this.advanceVirtualClock());
    }
  }

  /**
   * Holds the overlap clock while `work` runs: real work that stands for another service's
   * request (the local server or directory an OSS request goes to, object-store-latency.ts),
   * whose modelled time is booked with bookRoundTrip from the request's start.
   */
  trackRealWork<T>(work: Promise<T>): Promise<T> {
    return this.real(() => work);
  }

  /**
   * A modelled operation made from inside real work (the parent directory a write creates): the
   * enclosing work waits for it, so it must not hold the clock meanwhile.
   */
  private async chargeWithin(ops: Ops): Promise<void> {
    const inside = this.realPending > 0;
    if (inside) {
      this.realPending--;
      this.resumeClock();
    }
    try {
      await this.charge(ops);
    } finally {
      if (inside) this.realPending++;
    }
  }

  override async ensureDir(relDir: string): Promise<void> {
    await this.charge({ mkdir: 1 });
    return this.real(() => super.ensureDir(relDir));
  }

  override async ensureParent(absPath: string): Promise<void> {
    const dir = path.dirname(absPath);
    if (!this.seenDirs.has(dir)) {
      this.seenDirs.add(dir);
      await this.chargeWithin({ mkdir: 1 }); // called by NasDir's writes, inside their real work
    }
    return super.ensureParent(absPath);
  }

  protected override async makeParent(absPath: string): Promise<void> {
    this.seenDirs.add(path.dirname(absPath));
    await this.chargeWithin({ mkdir: 1, open: 1 }); // and the open that found no directory; inside appendExact's real work
    return super.makeParent(absPath);
  }

  override async writeAtomic(rel: string, data: Buffer | Uint8Array): Promise<void> {
    await this.charge({ create: 1, write: data.length > 0 ? 1 : 0, writeBytes: data.length, fsync: this.syncs ? 1 : 0, rename: 1 });
    return this.real(() => super.writeAtomic(rel, data));
  }

  override async writeNamedByContent(rel: string, data: Buffer | Uint8Array, midWrite?: () => void): Promise<"created" | "replaced"> {
    // charged after the call, as appendExact: whether the name was free is known only then (a
    // create that found it taken is charged where it is made, by createExclusive)
    let how: "created" | "replaced" | undefined;
    try {
      how = await this.real(() => super.writeNamedByContent(rel, data, midWrite));
      return how;
    } finally {
      const wrote = { write: data.length > 0 ? (midWrite ? 2 : 1) : 0, writeBytes: data.length, fsync: this.syncs ? 1 : 0 };
      await this.charge(how === "replaced" ? { create: 1, ...wrote, rename: 1 } : how === "created" ? { create: 1, ...wrote } : { create: 1 });
    }
  }

  override async copyPrefixAtomic(fromRel: string, toRel: string, len: number): Promise<void> {
    const calls = Math.ceil(len / COPY_BLOCK);
    await this.charge({ mkdir: 1, open: 1, create: 1, read: calls, readBytes: len, write: calls, writeBytes: len, fsync: this.syncs ? 1 : 0, rename: 1 });
    return this.real(() => super.copyPrefixAtomic(fromRel, toRel, len));
  }

  override async read(rel: string): Promise<Buffer | undefined> {
    const data = await this.real(() => super.read(rel));
    await this.charge(data ? { open: 1, read: 1, readBytes: data.length } : { open: 1 });
    return data;
  }

  override async exists(rel: string): Promise<boolean> {
    await this.charge({ stat: 1 });
    return this.real(() => super.exists(rel));
  }

  override async size(rel: string): Promise<number | undefined> {
    await this.charge({ stat: 1 });
    return this.real(() => super.size(rel));
  }

  override async stat(rel: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    await this.charge({ stat: 1 });
    return this.real(() => super.stat(rel));
  }

  override async remove(rel: string): Promise<void> {
    await this.charge({ unlink: 1 });
    return this.real(() => super.remove(rel));
  }

  override async appendExact(rel: string, at: number, data: Uint8Array, check: () => Promise<void>, midWrite?: () => void, mode?: number): Promise<{ ok: true } | { ok: false; size: number }> {
    // the open (and the write and fsync when it wrote) charged after the call — whether it wrote
    // is known only then — still inside the caller's lock window, as the real round trips would
    // be; a stat and a create that found the file there are charged where they are made
    let r: { ok: true } | { ok: false; size: number } | undefined;
    try {
      r = await this.real(() => super.appendExact(rel, at, data, check, midWrite, mode));
      return r;
    } finally {
      const writes = midWrite ? 2 : data.length > 0 ? 1 : 0;
      await this.charge(r?.ok ? { open: 1, write: writes, writeBytes: data.length, fsync: this.syncs ? 1 : 0 } : { open: 1 });
    }
  }

  protected override async createExclusive(abs: string, mode: number): Promise<number | undefined> {
    const fd = await super.createExclusive(abs, mode);
    if (fd === undefined) await this.chargeWithin({ open: 1 }); // the create that found the file there; inside appendExact's real work
    return fd;
  }

  override async readByPath(rel: string, bytes: number): Promise<void> {
    await this.charge({ open: 1, read: Math.max(1, Math.ceil(bytes / MB)), readBytes: bytes });
    return this.real(() => super.readByPath(rel, bytes));
  }

  /** Charged by readRanges, which NasDir's readRange goes through. */
  override async readRange(rel: string, pos: number, len: number): Promise<Buffer | undefined> {
    return super.readRange(rel, pos, len);
  }

  override async readUpTo(rel: string, max: number): Promise<Buffer | undefined> {
    const data = await this.real(() => super.readUpTo(rel, max));
    await this.charge(data ? { open: 1, read: 1, readBytes: data.length } : { open: 1 });
    return data;
  }

  override async readRanges(rel: string, ranges: readonly { pos: number; len: number }[], into?: ReadBufferSource): Promise<Buffer[] | undefined> {
    const data = await this.real(() => super.readRanges(rel, ranges, into));
    await this.charge(data ? { open: 1, read: data.length, readBytes: data.reduce((n, b) => n + b.length, 0) } : { open: 1 });
    return data;
  }

  override async rename(fromRel: string, toRel: string): Promise<void> {
    await this.charge({ rename: 1 });
    return this.real(() => super.rename(fromRel, toRel));
  }

  override async syncFile(rel: string): Promise<void> {
    if (this.syncs) await this.charge({ open: 1, fsync: 1 });
    return this.real(() => super.syncFile(rel));
  }

  override async truncate(rel: string, len: number): Promise<void> {
    await this.charge({ setattr: 1 });
    return this.real(() => super.truncate(rel, len));
  }

  override async listNames(relDir: string): Promise<string[]> {
    await this.charge({ readdir: 1 });
    return this.real(() => super.listNames(relDir));
  }

  // walk's listings and stats, charged one by one (NAS_COUNTED_BY_HELPERS), so those it has in
  // flight together overlap on the clock as they do on NFS
  protected override async listDir(rel: string): Promise<Dirent[] | undefined> {
    await this.charge({ readdir: 1 });
    return this.real(() => super.listDir(rel));
  }

  protected override async statEntry(rel: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    await this.charge({ stat: 1 });
    return this.real(() => super.statEntry(rel));
  }

  override async removeEmptyParents(rel: string, stopAt: string): Promise<{ removed: string[]; attempts: number }> {
    const r = await this.real(() => super.removeEmptyParents(rel, stopAt));
    for (const d of r.removed) this.seenDirs.delete(this.abs(d)); // recreating it costs a mkdir again
    await this.charge({ rmdir: r.attempts });
    return r;
  }

  override async pruneEmptyDirs(relDir: string): Promise<void> {
    const abs = this.abs(relDir);
    const before = countDirs(abs);
    await this.real(() => super.pruneEmptyDirs(relDir));
    await this.charge({ readdir: before, rmdir: before - countDirs(abs) });
  }
}

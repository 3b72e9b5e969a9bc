/**
 * The NAS latency model counts every file operation NasDir makes, by kind, and waits real timers
 * for them; it must map every NasDir method so no operation goes uncounted.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NasDir } from "../../functions/adapters/nas.js";
import {
  emptyNasOpCounts, GENERAL_PURPOSE_PERFORMANCE_NAS, metadataOps, NAS_COUNTED_BY_HELPERS, NAS_INTERNAL_METHODS, NAS_METHOD_OPS, NasLatencyDir, type NasLatencyModel, type NasOpCounts,
} from "../../functions/adapters/nas-latency.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), "lp-naslat-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Counts other than zero, without the timing fields. */
function nonZero(c: NasOpCounts): Partial<NasOpCounts> {
  const out: Partial<NasOpCounts> = {};
  for (const [k, v] of Object.entries(c) as [keyof NasOpCounts, number][]) if (v !== 0 && k !== "modelledMs" && k !== "bookedMs" && k !== "sleptMs") out[k] = v;
  return out;
}

async function delta(nas: NasLatencyDir, op: () => Promise<unknown>): Promise<Partial<NasOpCounts>> {
  nas.resetCounts();
  await op();
  return nonZero(nas.counts);
}

describe("NasLatencyDir", () => {
  it("maps every NasDir method, and overrides every one that touches the file system", () => {
    const methods = Object.getOwnPropertyNames(NasDir.prototype).filter((n) => n !== "constructor");
    const unmapped = methods.filter((m) => !(m in NAS_METHOD_OPS) && !(NAS_INTERNAL_METHODS as readonly string[]).includes(m));
    expect(unmapped, "NasDir methods the latency model does not map (add them to NAS_METHOD_OPS and override them)").toEqual([]);
    const overridden = (m: string) => Object.prototype.hasOwnProperty.call(NasLatencyDir.prototype, m);
    const notOverridden = Object.keys(NAS_METHOD_OPS).filter((m) => m !== "abs" && !(m in NAS_COUNTED_BY_HELPERS) && !overridden(m));
    expect(notOverridden).toEqual([]);
    // a method counted through helpers has every one of them overridden (and is not itself, so nothing is charged twice)
    for (const [m, helpers] of Object.entries(NAS_COUNTED_BY_HELPERS)) {
      expect(helpers!.filter((h) => !overridden(h)), m).toEqual([]);
      expect(overridden(m), m).toBe(false);
    }
    // and nothing stale: every mapped name is still a NasDir method
    expect(Object.keys(NAS_METHOD_OPS).filter((m) => !methods.includes(m))).toEqual([]);
  });

  it("counts each method's operations by kind", async () => {
    const nas = new NasLatencyDir(root, true);
    const data = Buffer.alloc(3000, 0x61);
    expect(await delta(nas, () => nas.writeAtomic("a/b/f1", data))).toEqual({ mkdir: 1, create: 1, write: 1, writeBytes: 3000, fsync: 1, rename: 1 });
    // the parent directory is known now: no mkdir the second time
    expect(await delta(nas, () => nas.writeAtomic("a/b/f2", data))).toEqual({ create: 1, write: 1, writeBytes: 3000, fsync: 1, rename: 1 });
    // a name derived from the bytes is written in place (no rename); a name already taken is replaced whole
    expect(await delta(nas, () => nas.writeNamedByContent("n/m/n1", data))).toEqual({ mkdir: 1, create: 1, write: 1, writeBytes: 3000, fsync: 1 });
    expect(await delta(nas, () => nas.writeNamedByContent("n/m/n1", data))).toEqual({ open: 1, create: 1, write: 1, writeBytes: 3000, fsync: 1, rename: 1 });
    expect(await delta(nas, () => nas.read("a/b/f1"))).toEqual({ open: 1, read: 1, readBytes: 3000 });
    expect(await delta(nas, () => nas.read("a/b/missing"))).toEqual({ open: 1 });
    expect(await delta(nas, () => nas.readRange("a/b/f1", 100, 50))).toEqual({ open: 1, read: 1, readBytes: 50 });
    expect(await delta(nas, () => nas.readRange("a/b/missing", 0, 50))).toEqual({ open: 1 });
    expect(await delta(nas, () => nas.readUpTo("a/b/f1", 1 << 20))).toEqual({ open: 1, read: 1, readBytes: 3000 });
    expect(await delta(nas, () => nas.readUpTo("a/b/missing", 50))).toEqual({ open: 1 });
    // several ranges through one open
    expect(await delta(nas, () => nas.readRanges("a/b/f1", [{ pos: 0, len: 10 }, { pos: 100, len: 20 }, { pos: 300, len: 5 }]))).toEqual({ open: 1, read: 3, readBytes: 35 });
    expect(await delta(nas, () => nas.exists("a/b/f1"))).toEqual({ stat: 1 });
    expect(await delta(nas, () => nas.size("a/b/f1"))).toEqual({ stat: 1 });
    // an app's first file in a missing directory: the create fails, mkdir, create again; a file
    // it made is empty, so no stat
    expect(await delta(nas, () => nas.appendExact("a/c/slot", 0, data, async () => {}))).toEqual({ mkdir: 1, open: 2, write: 1, writeBytes: 3000, fsync: 1 });
    // in a directory that is there (made by another instance, say), no mkdir at all
    expect(await delta(nas, () => nas.appendExact("a/b/slot2", 0, data, async () => {}))).toEqual({ open: 1, write: 1, writeBytes: 3000, fsync: 1 });
    // a generation's file already there at 0 (a crashed writer's): the create finds it, it is
    // opened and its size checked (the open's attributes: no stat round trip)
    expect(await delta(nas, () => nas.appendExact("a/b/slot2", 0, data, async () => {}))).toEqual({ open: 2 });
    await nas.remove("a/b/slot2");
    // a size mismatch writes nothing
    expect(await delta(nas, () => nas.appendExact("a/c/slot", 10, data, async () => {}))).toEqual({ open: 1 });
    // the append that matches: open, write, fsync
    expect(await delta(nas, () => nas.appendExact("a/c/slot", 3000, data, async () => {}))).toEqual({ open: 1, write: 1, writeBytes: 3000, fsync: 1 });
    expect(await delta(nas, () => nas.copyPrefixAtomic("a/c/slot", "a/d/copy", 2000))).toEqual({ mkdir: 1, open: 1, create: 1, read: 1, readBytes: 2000, write: 1, writeBytes: 2000, fsync: 1, rename: 1 });
    expect(await delta(nas, () => nas.truncate("a/d/copy", 10))).toEqual({ setattr: 1 });
    expect(await delta(nas, () => nas.syncFile("a/d/copy"))).toEqual({ open: 1, fsync: 1 });
    expect(await delta(nas, () => nas.rename("a/d/copy", "a/e/moved"))).toEqual({ mkdir: 1, rename: 1 });
    expect(await delta(nas, () => nas.listNames("a"))).toEqual({ readdir: 1 });
    expect(await delta(nas, () => nas.remove("a/e/moved"))).toEqual({ unlink: 1 });
    expect(await delta(nas, () => nas.ensureDir("x/y"))).toEqual({ mkdir: 1 });
    // every directory below a is listed (a, a/b, a/c and the empty a/d, a/e), each file stat'ed
    expect(await delta(nas, async () => expect(await nas.walk("a")).toHaveLength(3))).toEqual({ readdir: 5, stat: 3 });
    // a, a/b, a/c, a/d, a/e read; a/d and a/e removed
    expect(await delta(nas, () => nas.pruneEmptyDirs("a"))).toEqual({ readdir: 5, rmdir: 2 });
    expect(await delta(nas, () => Promise.resolve(nas.abs("a")))).toEqual({});
    // an upload's own empty directories, up to the first that is not empty
    await nas.writeAtomic("o/p/app/dt/h1/obj", data);
    await nas.writeAtomic("o/p/app/dt/h2/obj", data);
    await nas.remove("o/p/app/dt/h1/obj");
    expect(await delta(nas, async () => expect((await nas.removeEmptyParents("o/p/app/dt/h1/obj", "o")).removed).toEqual(["o/p/app/dt/h1"]))).toEqual({ rmdir: 2 });
    expect(existsSync(path.join(root, "o/p/app/dt/h2/obj"))).toBe(true);
    await nas.remove("o/p/app/dt/h2/obj");
    expect((await nas.removeEmptyParents("o/p/app/dt/h2/obj", "o")).removed).toEqual(["o/p/app/dt/h2", "o/p/app/dt", "o/p/app", "o/p"]);
    expect(existsSync(path.join(root, "o"))).toBe(true); // never above stopAt
    // a directory removed is created (and charged) again when written to
    expect(await delta(nas, () => nas.writeAtomic("o/p/app/dt/h2/obj", data))).toMatchObject({ mkdir: 1 });
  });

  it("reads a file up to a cap into a buffer of the file's size, not the cap's", async () => {
    // upload reads every outbox file with a 1 MB cap; most are a few KB, and a 1 MB buffer per
    // object was garbage the collector paid for
    writeFileSync(path.join(root, "small"), Buffer.alloc(20_000, 1));
    const nas = new NasDir(root, false);
    const buf = (await nas.readUpTo("small", 1024 * 1024 + 1))!;
    expect(buf.length).toBe(20_000);
    expect(buf.buffer.byteLength).toBeLessThan(64 * 1024);
  });

  it("appends a generation's first member to a new file, and at 0 to a file already there only when it is empty", async () => {
    const nas = new NasDir(root, false);
    // a new file in a directory that is not there yet: made, written
    expect(await nas.appendExact("g/app/0-1", 0, Buffer.from("first"), async () => {})).toEqual({ ok: true });
    expect(readFileSync(path.join(root, "g/app/0-1"), "utf8")).toBe("first");
    // a file already there at 0 with bytes in it (a crashed writer's): nothing written, its size told
    expect(await nas.appendExact("g/app/0-1", 0, Buffer.from("again"), async () => {})).toEqual({ ok: false, size: 5 });
    expect(readFileSync(path.join(root, "g/app/0-1"), "utf8")).toBe("first");
    // an empty file already there at 0 (a writer died after creating it): written
    writeFileSync(path.join(root, "g/app/0-2"), "");
    expect(await nas.appendExact("g/app/0-2", 0, Buffer.from("second"), async () => {})).toEqual({ ok: true });
    expect(readFileSync(path.join(root, "g/app/0-2"), "utf8")).toBe("second");
    // the check runs before any byte is written, on a new file too
    await expect(nas.appendExact("g/app/0-3", 0, Buffer.from("x"), async () => { throw new Error("lock lost"); })).rejects.toThrow("lock lost");
    expect(readFileSync(path.join(root, "g/app/0-3"), "utf8")).toBe("");
  });

  it("leaves the behaviour of NasDir unchanged", async () => {
    const nas = new NasLatencyDir(root, false);
    await nas.writeAtomic("s/one", Buffer.from("hello"));
    expect(readFileSync(path.join(root, "s/one"), "utf8")).toBe("hello");
    expect((await nas.read("s/one"))?.toString()).toBe("hello");
    expect(await nas.read("s/none")).toBeUndefined();
    expect(await nas.appendExact("s/one", 5, Buffer.from(" world"), async () => {})).toEqual({ ok: true });
    expect(await nas.appendExact("s/one", 5, Buffer.from("!"), async () => {})).toEqual({ ok: false, size: 11 });
    expect((await nas.readRange("s/one", 6, 100))?.toString()).toBe("world");
    expect((await nas.readUpTo("s/one", 100))?.toString()).toBe("hello world");
    expect((await nas.readUpTo("s/one", 5))?.toString()).toBe("hello");
    expect(await nas.readUpTo("s/none", 5)).toBeUndefined();
    // fsync off: no fsync counted
    expect(nas.counts.fsync).toBe(0);
    expect(nas.counts.open).toBe(8); // 2 reads, 2 appends, 1 range read, 3 capped reads
    await nas.syncFile("s/one"); // fsync off: syncFile does nothing, so nothing is counted
    expect(nas.counts.open).toBe(8);
    expect((await nas.readRanges("s/one", [{ pos: 0, len: 5 }, { pos: 6, len: 100 }]))?.map(String)).toEqual(["hello", "world"]);
    expect(await nas.readRanges("s/none", [{ pos: 0, len: 5 }])).toBeUndefined();
    expect(nas.counts.open).toBe(10); // one open per call, however many ranges
  });

  it("charges the modelled time per operation kind, with real awaited timers", async () => {
    const model: NasLatencyModel = { name: "test", metadataMs: 3, dataCallMs: 2, readMsPerMB: 10, writeMsPerMB: 20, fsyncMs: 5, source: "test" };
    const nas = new NasLatencyDir(root, true, model);
    mkdirSync(path.join(root, "d"));
    const mb = Buffer.alloc(1024 * 1024);
    nas.resetCounts();
    await nas.writeAtomic("d/f", mb); // parent seen for the first time: mkdir + create + rename
    expect(nas.counts.modelledMs).toBeCloseTo(3 * 3 + 2 + 20 + 5, 9);
    nas.resetCounts();
    await nas.read("d/f"); // open + one read call of 1 MB
    expect(nas.counts.modelledMs).toBeCloseTo(3 + 2 + 10, 9);
    expect(nas.counts.sleptMs).toBeGreaterThan(0);
    // the wait is a timer (the event loop keeps turning), not a busy loop
    nas.resetCounts();
    let turns = 0;
    const spin = setInterval(() => turns++, 0);
    try {
      for (let i = 0; i < 5; i++) await nas.remove("d/none");
    } finally {
      clearInterval(spin);
    }
    expect(nas.counts.unlink).toBe(5);
    expect(nas.counts.modelledMs).toBe(15);
    expect(turns).toBeGreaterThan(0);
  });

  it("can charge the fsyncs of a deployment without making them on the local disk", async () => {
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, fsyncMs: 4, metadataMs: 0, dataCallMs: 0, writeMsPerMB: 0 }, { chargeFsync: true });
    await nas.writeAtomic("f", Buffer.from("x"));
    await nas.syncFile("f");
    expect(nas.counts.fsync).toBe(2);
    expect(nas.counts.modelledMs).toBe(8);
    const plain = new NasLatencyDir(root, false);
    await plain.writeAtomic("g", Buffer.from("x"));
    expect(plain.counts.fsync).toBe(0);
  });

  it("carries fractions of a millisecond instead of dropping them", async () => {
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 0.25 });
    for (let i = 0; i < 8; i++) await nas.exists("nothing");
    expect(nas.counts.stat).toBe(8);
    expect(nas.counts.modelledMs).toBeCloseTo(2, 9);
    expect(nas.counts.sleptMs).toBeGreaterThan(0); // two whole milliseconds were waited
  });

  it("books the modelled time without waiting it when told not to wait (long simulations)", async () => {
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 50 }, { wait: false });
    for (let i = 0; i < 4; i++) await nas.remove("d/none");
    expect(nas.counts.unlink).toBe(4);
    expect(nas.counts.modelledMs).toBe(200); // charged as a waiting run would charge it …
    expect(nas.counts.bookedMs).toBe(200);
    expect(nas.counts.sleptMs).toBe(0); // … but nothing was waited
  });

  it("overlaps on the overlap clock what the caller has in flight together, and adds up what it does one after another", async () => {
    const model = { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 50 };
    const nas = new NasLatencyDir(root, false, model, { wait: "overlap" });
    await Promise.all([1, 2, 3, 4].map(() => nas.remove("d/none"))); // four at once: 50 ms
    await nas.remove("d/none"); // then one more: 50 ms
    await Promise.all([nas.exists("a"), nas.remove("d/none").then(() => nas.remove("d/none"))]); // a chain of two beside one: 100 ms
    expect(nas.counts.unlink).toBe(7);
    expect(nas.counts.modelledMs).toBe(400); // the serial sum …
    expect(nas.counts.bookedMs).toBe(200); // … and the clock: 50 + 50 + 100
    expect(nas.counts.bookedAfterCpuMs).toBe(200); // no busy time given: the same
    expect(nas.counts.sleptMs).toBe(0); // booked, not waited
  });

  it("moves the overlap clock with the handler's busy time: a wait its work covers is not booked again", async () => {
    // Arrange: 50 ms unlinks, and the handler's CPU time as a counter the test moves
    let busy = 0;
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 50 }, { wait: "overlap", busyMs: () => busy });
    // Act: an unlink with 30 ms of work beside it, one with 80 ms, then one with none
    const first = nas.remove("d/none");
    busy += 30;
    await first;
    const second = nas.remove("d/none");
    busy += 80;
    await second;
    await nas.remove("d/none");
    // Assert: 20 ms of the first waited, none of the second, all of the third; booked after the
    // CPU, each would be 50
    expect(nas.counts.bookedMs).toBe(20 + 0 + 50);
    expect(nas.counts.bookedAfterCpuMs).toBe(150);
  });

  it("walks a tree of many directories with its listings and stats overlapping, and returns the files in name order, depth first", async () => {
    // Arrange: 40 app directories of one file each (the active tree's shape), and names where
    // depth-first name order and the order of the full paths differ ("a/…" before "a-b/…")
    for (let i = 0; i < 40; i++) await new NasDir(root, false).writeAtomic(`t/app${String(i).padStart(2, "0")}/slot`, Buffer.from("x"));
    await new NasDir(root, false).writeAtomic("u/a/z", Buffer.from("x"));
    await new NasDir(root, false).writeAtomic("u/a-b/y", Buffer.from("x"));
    await new NasDir(root, false).writeAtomic("u/a0", Buffer.from("x"));
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 10 }, { wait: "overlap" });
    // Act
    const files = await nas.walk("t");
    // Assert: 41 listings and 40 stats, 810 ms one after another, booked as a few rounds of 8
    expect(files.map((f) => f.rel)).toEqual(Array.from({ length: 40 }, (_, i) => `t/app${String(i).padStart(2, "0")}/slot`));
    expect(nas.counts.readdir).toBe(41);
    expect(nas.counts.stat).toBe(40);
    expect(nas.counts.modelledMs).toBe(810);
    expect(nas.counts.bookedMs).toBeLessThanOrEqual(810 / 4);
    expect((await nas.walk("u")).map((f) => f.rel)).toEqual(["u/a/z", "u/a-b/y", "u/a0"]);
  });

  it("does not move the overlap clock while a file-system call is running: the chain beside a long operation overlaps it", async () => {
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 10, dataCallMs: 0, readMsPerMB: 10 }, { wait: "overlap" });
    // a 100 ms read beside three 10 ms unlinks one after another: between the unlinks the real
    // unlink runs, which takes no modelled time, so the read is still in flight when the next starts
    await Promise.all([nas.readByPath("f", 9 * 1024 * 1024), nas.remove("a").then(() => nas.remove("b")).then(() => nas.remove("c"))]);
    expect(nas.counts.modelledMs).toBe(130);
    expect(nas.counts.bookedMs).toBe(100);
  });

  it("rests on a NasDir that never blocks the event loop: no synchronous file-system call, so what a handler has in flight really overlaps", () => {
    // the overlap clock lets operations a handler has in flight together overlap; a synchronous
    // call would hold the loop on NFS (a round trip each) while the model overlapped it
    // (nas.ts and the descriptor wrappers it calls, fd.ts)
    const fromFs = ["nas.ts", "fd.ts"].flatMap((file) => {
      const source = readFileSync(new URL(`../../functions/adapters/${file}`, import.meta.url), "utf8");
      return [...source.matchAll(/import \{([^}]*)\} from "node:fs"/g)].flatMap((m) => m[1]!.split(",").map((n) => n.trim()));
    });
    expect(fromFs).toContain("open"); // the imports were found
    expect(fromFs).toContain("constants");
    expect(fromFs.filter((n) => n.endsWith("Sync"))).toEqual([]);
  });

  it("keeps the overlap clock's booking per reset, and books serial work in full on it", async () => {
    const nas = new NasLatencyDir(root, false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 3 }, { wait: "overlap" });
    await Promise.all([nas.remove("x"), nas.remove("y")]);
    nas.resetCounts();
    for (let i = 0; i < 5; i++) await nas.exists("nothing");
    expect(nas.counts.bookedMs).toBe(15);
    expect(nas.counts.modelledMs).toBe(15);
  });

  it("counts without waiting when no model is given", async () => {
    writeFileSync(path.join(root, "f"), "x");
    const nas = new NasLatencyDir(root, false);
    await nas.read("f");
    await nas.listNames(".");
    expect(nas.counts.modelledMs).toBe(0);
    expect(nas.counts.sleptMs).toBe(0);
    expect(metadataOps(nas.counts)).toBe(2);
    expect(nonZero(emptyNasOpCounts())).toEqual({});
  });
});

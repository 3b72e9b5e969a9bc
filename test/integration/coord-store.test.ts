/**
 * The coordination contract, run against the real Redis store (the private redis-server of the
 * global setup) and the in-process store: both must behave the same, since `logpipe local` falls
 * back to the latter. The Redis store's Lua port of the partition dedup is checked against the
 * pure registerRange() over thousands of registrations.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { tailRef, type CoordStore, type DrainClaim, type DrainCommit, type RegisterFile, type RegisterOptions, type TailClaim, type TailPlacement } from "../../functions/adapters/coord-store.js";
import { MemoryCoordStore } from "../../functions/adapters/memory-coord-store.js";
import { DRAIN_SCRIPT_APPS, DRAIN_SCRIPT_REFS, RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import type { Interval } from "../../functions/core/intervals.js";
import { emptyPartition, registerRange, type PartitionState } from "../../functions/core/partition-state.js";
import { startRedisServer } from "../../cli/services/redis-server.js";
import { seededRandom } from "../../cli/sources/synthetic.js";

const redisUrl = process.env.LOGPIPE_TEST_REDIS_URL!;
const stores: { name: string; make: () => CoordStore }[] = [
  { name: "redis", make: () => new RedisCoordStore({ url: redisUrl, keyPrefix: `t-${randomUUID()}` }) },
  { name: "memory", make: () => new MemoryCoordStore() },
];
const opened: CoordStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
});

/** Polls `done` until it holds (progress, not a fixed sleep). */
async function until(done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

let fileSeq = 0;
/** A staging file of (topic, partition) covering [first, last], one section per [app, bytes]. */
function batch(topic: string, partition: number, first: number, last: number, apps: [string, number][], ts: [number, number] = [1000, 2000]): RegisterFile {
  let off = 64;
  return {
    file: `${topic}.${partition}.${first}-${last}.${fileSeq++}`, topic, partition, first, last, minTs: ts[0], maxTs: ts[1],
    sections: apps.map(([app, len]) => {
      const s = { app, off, len, records: Math.max(1, Math.floor(len / 10)), minTs: ts[0] };
      off += len;
      return s;
    }),
  };
}

/** Batches of topic "t", partition 0, each the next ten offsets (so each is new to the dedup). */
function nextBatches(): (apps: [string, number][]) => RegisterFile {
  let n = 0;
  return (apps) => batch("t", 0, n * 10, n++ * 10 + 9, apps);
}
const reg = (now: number, over: Partial<RegisterOptions> = {}): RegisterOptions => ({ now, drainBytes: 1e12, scheduleTtlMs: 60_000, maxRanges: 8, maxGaps: 32, ...over });
const drain = (token: string, over: Partial<Parameters<CoordStore["acquireDrains"]>[1]> = {}) => ({ order: [0], token, ttlMs: 10_000, maxBytes: 1e9, budget: 1e12, maxRefs: 1000, now: Date.now(), ...over });
const commitOf = (c: DrainClaim, addLen: number, release = false, refs = c.sections.map((x) => x.ref)): DrainCommit => ({
  app: c.app, slot: c.slot, gen: c.state.gen, expectLen: c.state.len, addLen, refs, release,
});
const refsOf = (c: DrainClaim | undefined) => c?.sections.map((x) => x.ref);

/** `f` with one tail region per [shard, bytes, apps], laid out after its sections. */
function withTails(f: RegisterFile, tails: [number, number, number?][]): RegisterFile {
  let off = f.sections.reduce((end, x) => Math.max(end, x.off + x.len), 64);
  return {
    ...f,
    tails: tails.map(([shard, len, apps = 1]) => {
      const t = { shard, off, len, records: Math.max(1, Math.floor(len / 10)), minTs: f.minTs, apps };
      off += len;
      return t;
    }),
  };
}
const tailOpts = (token: string, over: Partial<Parameters<CoordStore["claimTail"]>[1]> = {}) => ({ token, ttlMs: 10_000, budget: 1e12, maxEntries: 1000, now: Date.now(), ...over });
const place = { order: [0], ttlMs: 10_000 };
const tailCommitOf = (p: TailPlacement, addLen: number, release = true): DrainCommit => ({
  app: p.app, slot: p.slot, gen: p.state.gen, expectLen: p.state.len, addLen, refs: [], release,
});
const entryRefs = (c: TailClaim | null | undefined) => c?.entries.map((e) => e.ref);
/** Places and commits the apps of claim `c` (held by `token`): the claim ends. */
async function finishTail(s: CoordStore, c: TailClaim, token: string, apps = ["x"]) {
  const placed = await s.placeTail(c.shard, token, c.id, apps.length, apps, { order: [0, 1, 2, 3], ttlMs: 10_000 });
  return s.commitTail(token, c.shard, c.id, placed.map((p) => tailCommitOf(p, 1)), 5000);
}

/** Shard 0's claim of one region (apps a, b, c), taken by `token`: all placed, a committed (the claim stays open). */
async function claimOfThreeOneDone(s: CoordStore, f: (apps: [string, number][]) => RegisterFile, token: string) {
  const f1 = withTails(f([]), [[0, 30, 3]]);
  await s.registerFiles([f1], reg(1000));
  const c = (await s.claimTail(0, tailOpts(token)))!;
  const placed = await s.placeTail(0, token, c.id, 3, ["a", "b", "c"], place);
  const committed = await s.commitTail(token, 0, c.id, [tailCommitOf(placed[0]!, 10)], 2000);
  return { f1, c, placed, committed };
}

describe.each(stores)("coord store contract: $name", ({ make }) => {
  const open = () => {
    const s = make();
    opened.push(s);
    return s;
  };

  it("registers a file once, keeps only the new offsets of a shifted redelivery, and knows a file it holds", async () => {
    const s = open();
    const f1 = batch("t", 0, 0, 99, [["a", 100], ["b", 50]]);
    const f2 = batch("t", 0, 50, 149, [["a", 60]]);
    expect((await s.registerFiles([f1], reg(1000))).results).toEqual([{ file: f1.file, status: "registered", keep: [[0, 99]] }]);
    expect((await s.registerFiles([f2, f1], reg(1001))).results).toEqual([
      { file: f2.file, status: "partial", keep: [[100, 149]] },
      { file: f1.file, status: "known", keep: [] },
    ]);
    const f3 = batch("t", 0, 0, 149, [["a", 10]]);
    expect((await s.registerFiles([f3, f2], reg(1002))).results).toEqual([
      { file: f3.file, status: "duplicate", keep: [] },
      { file: f2.file, status: "known", keep: [[100, 149]] },
    ]);
    expect(await s.registeredFiles([f1.file, f2.file, f3.file, "never"])).toEqual(new Set([f1.file, f2.file]));
    const [a] = await s.acquireDrains(["a"], drain("w"));
    expect(a!.sections).toEqual([
      { ref: `${f1.file}#0`, file: f1.file, off: 64, len: 100, records: 10, stagedAt: 1000, minTs: 1000, keep: [] },
      { ref: `${f2.file}#0`, file: f2.file, off: 64, len: 60, records: 6, stagedAt: 1001, minTs: 1000, keep: [[100, 149]] },
    ]);
    // another partition and topic have their own watermark
    expect((await s.registerFiles([batch("t", 1, 0, 9, [["a", 1]]), batch("u", 0, 0, 9, [["a", 1]])], reg(1003))).results.map((r) => r.status)).toEqual(["registered", "registered"]);
  });

  it("matches the pure dedup over thousands of registrations with a gap in ten, out-of-order and shifted redeliveries, and stays bounded", async () => {
    const s = open();
    const rnd = seededRandom(7);
    const base = 2 ** 40; // offsets far beyond 2^31
    const model = new Map<number, PartitionState>();
    const next = new Map<number, number>();
    const history = new Map<number, [number, number][]>();
    const held: RegisterFile[] = [];
    let ts = 1_700_000_000_000;
    const maxRanges = 4, maxGaps = 16;
    for (let call = 0; call < 400; call++) {
      const files: RegisterFile[] = [];
      const count = 1 + Math.floor(rnd() * 12);
      for (let i = 0; i < count; i++) {
        const p = Math.floor(rnd() * 3);
        const apps: [string, number][] = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => [`app${Math.floor(rnd() ** 3 * 500)}`, 100]);
        const x = rnd();
        const hist = history.get(p) ?? [];
        if (x < 0.05 && held.length > 0) files.push(held.shift()!);
        else if (x < 0.08 && hist.length > 5) {
          const [a, b] = hist[hist.length - 1 - Math.floor(rnd() * 5)]!;
          files.push(batch("t", p, a - Math.floor(rnd() * 50), b + Math.floor(rnd() * 50), apps, [ts - 50_000, ts - 40_000]));
        } else {
          const first = (next.get(p) ?? base) + (rnd() < 0.1 ? 1 + Math.floor(rnd() * 3) : 0);
          const last = first + 50 + Math.floor(rnd() * 100);
          next.set(p, last + 1);
          hist.push([first, last]);
          history.set(p, hist);
          ts += 1000;
          const f = batch("t", p, first, last, apps, [ts - 500, ts]);
          if (rnd() < 0.05) held.push(f);
          else files.push(f);
        }
      }
      const r = await s.registerFiles(files, reg(ts, { maxRanges, maxGaps }));
      const expected = files.map((f) => {
        const m = registerRange(model.get(f.partition) ?? emptyPartition(), f.first, f.last, f.minTs, f.maxTs, maxRanges, maxGaps);
        model.set(f.partition, m.state);
        const full = m.keep.length === 1 && m.keep[0]![0] === f.first && m.keep[0]![1] === f.last;
        return { file: f.file, status: m.keep.length === 0 ? "duplicate" : full ? "registered" : "partial", keep: m.keep, ...(m.reset ? { reset: m.reset } : {}) };
      });
      expect(r.results).toEqual(expected);
    }
    for (const [p, m] of model) {
      const got = await s.readPartition("t", p);
      expect(got).toEqual({ hw: m.hw, ranges: m.ranges, gaps: m.gaps, maxTs: m.maxTs, incarnation: 0 });
      expect(got.hw).toBeGreaterThan(base);
      expect(got.ranges.length).toBeLessThanOrEqual(maxRanges);
      expect(got.gaps.length).toBeLessThanOrEqual(maxGaps);
    }
    // the run did exercise the bounds: gaps were moved out of the ranges and the oldest forgotten
    expect([...model.values()].some((m) => m.gaps.length === maxGaps)).toBe(true);
  });

  it("detects a topic reset, and an operator reset forgets the partition", async () => {
    const s = open();
    await s.registerFiles([batch("t", 0, 0, 999, [["a", 10]], [1000, 2000])], reg(1));
    const again = batch("t", 0, 0, 99, [["a", 10]], [1500, 2000]);
    expect((await s.registerFiles([again], reg(2))).results[0]).toEqual({ file: again.file, status: "duplicate", keep: [] });
    const fresh = batch("t", 0, 0, 99, [["a", 10]], [5000, 6000]);
    expect((await s.registerFiles([fresh], reg(3))).results[0]).toEqual({ file: fresh.file, status: "registered", keep: [[0, 99]], reset: { previousHw: 1000, incarnation: 1 } });
    expect(await s.readPartition("t", 0)).toEqual({ hw: 100, ranges: [], gaps: [], maxTs: 6000, incarnation: 1 });
    expect(await s.resetPartition("t", 0)).toEqual({ hw: 100, incarnation: 2 });
    expect(await s.readPartition("t", 0)).toEqual({ hw: 0, ranges: [], gaps: [], maxTs: 0, incarnation: 2 });
    const after = batch("t", 0, 0, 99, [["a", 10]], [5000, 6000]);
    expect((await s.registerFiles([after], reg(4))).results[0]!.status).toBe("registered");
    expect(await s.readPartition("nope", 3)).toEqual({ hw: 0, ranges: [], gaps: [], maxTs: 0, incarnation: 0 });
  });

  it("returns a hot app once per schedule ttl, and again as soon as it was drained", async () => {
    const s = open();
    const t = Date.now();
    const o = (now: number) => reg(now, { drainBytes: 100, scheduleTtlMs: 60_000 });
    const f = nextBatches();
    expect((await s.registerFiles([f([["a", 150], ["b", 50]])], o(t))).hot).toEqual(["a"]);
    expect((await s.registerFiles([f([["a", 10], ["b", 60]])], o(t + 10))).hot).toEqual(["b"]);
    expect((await s.registerFiles([f([["a", 10]])], o(t + 59_999))).hot).toEqual([]);
    expect((await s.registerFiles([f([["a", 10]])], o(t + 60_000))).hot).toEqual(["a"]);
    const [claim] = await s.acquireDrains(["b"], drain("w"));
    expect(claim!.sections).toHaveLength(2);
    expect((await s.registerFiles([f([["b", 99]])], o(t + 60_001))).hot).toEqual([]);
    expect((await s.registerFiles([f([["b", 1]])], o(t + 60_002))).hot).toEqual(["b"]);
  });

  it("the long tail waits: an app under minBytes is due only once its oldest section passes forceBefore (a stranded claim never waits)", async () => {
    const s = open();
    const f = nextBatches();
    await s.registerFiles([f([["big", 5000], ["tiny", 10]])], reg(1000));
    await s.registerFiles([f([["tiny2", 10]])], reg(1500));
    // plain rule: both old enough
    expect(await s.dueApps(2000, 10)).toEqual(["big", "tiny", "tiny2"]);
    // small-app rule: only the app with enough pending, until the tail is older than forceBefore
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500 })).toEqual(["big"]);
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 1200 })).toEqual(["big", "tiny"]);
    // a drain of tiny that crashed leaves its claim: due at once whatever its size
    expect(await s.acquireDrains(["tiny2"], drain("crashed"))).toHaveLength(1);
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500 })).toEqual(["big", "tiny2"]);
  });

  it("the long tail is drained in waves: once one small app reaches forceBefore, every small app past waveBefore goes with it", async () => {
    const s = open();
    const f = nextBatches();
    await s.registerFiles([f([["oldest", 10], ["big", 5000]])], reg(1000));
    await s.registerFiles([f([["half", 10]])], reg(1400));
    await s.registerFiles([f([["fresh", 10]])], reg(1800));
    // nobody small at forceBefore yet: only the big app, waves or not
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 900, waveBefore: 1500 })).toEqual(["big"]);
    // "oldest" reached forceBefore: "half" (past waveBefore) goes with it, "fresh" waits
    expect((await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 1000, waveBefore: 1500 })).sort()).toEqual(["big", "half", "oldest"]);
    // without waves, only the app at forceBefore
    expect((await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 1000 })).sort()).toEqual(["big", "oldest"]);
  });

  it("at a drain epoch, small apps on pace to fill the minimum go together; the rest keep waiting", async () => {
    const s = open();
    const f = nextBatches();
    await s.registerFiles([f([["steady", 200], ["rare", 10]])], reg(1000));
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500 })).toEqual([]);
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500, stepMinBytes: 150 })).toEqual(["steady"]);
  });

  it("an epoch's minimum is per epoch period since the app's oldest section: an app that reached it only by waiting waits for its wave", async () => {
    const s = open();
    const f = nextBatches();
    await s.registerFiles([f([["waited", 200]])], reg(1000)); // 200 bytes over 1,000 ms: 20 per 100 ms
    await s.registerFiles([f([["steady", 200]])], reg(1950)); // 200 bytes over 50 ms
    const epoch = { minBytes: 1000, forceBefore: 500, stepMinBytes: 150 };
    expect((await s.dueApps(2000, 10, epoch)).sort()).toEqual(["steady", "waited"]); // by amount alone
    expect(await s.dueApps(2000, 10, { ...epoch, now: 2000, stepPeriodMs: 100 })).toEqual(["steady"]);
    expect((await s.dueApps(2000, 10, { ...epoch, now: 2000, stepPeriodMs: 1000 })).sort()).toEqual(["steady", "waited"]);
  });

  it("a small app with a full drain's worth of sections pending is due at once (its pending list stays bounded)", async () => {
    const s = open();
    const f = nextBatches();
    for (let i = 0; i < 3; i++) await s.registerFiles([f([["scattered", 10]])], reg(1000 + i));
    await s.registerFiles([f([["tiny", 10]])], reg(1000));
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500, maxRefs: 4 })).toEqual([]);
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 500, maxRefs: 3 })).toEqual(["scattered"]);
  });

  it("a full app starts a wave: every small app pending at least half as long goes with it (its drain reads those staging files anyway)", async () => {
    const s = open();
    const f = nextBatches();
    for (let i = 0; i < 3; i++) await s.registerFiles([f([["full", 10]])], reg(1000 + i));
    await s.registerFiles([f([["half", 10]])], reg(1400));
    await s.registerFiles([f([["fresh", 10]])], reg(1800));
    const rule = { minBytes: 1000, forceBefore: 0, waveBefore: 500, maxRefs: 3 };
    // cut-off: midway between the full app's oldest section (1000) and now (2000)
    expect((await s.dueApps(2000, 10, { ...rule, now: 2000 })).sort()).toEqual(["full", "half"]);
    // without `now` (or without waves) the full app goes alone, as before
    expect(await s.dueApps(2000, 10, rule)).toEqual(["full"]);
    expect(await s.dueApps(2000, 10, { minBytes: 1000, forceBefore: 0, maxRefs: 3, now: 2000 })).toEqual(["full"]);
    // an app with minBytes pending is due by its size and starts no wave
    await s.registerFiles([f([["big", 5000]])], reg(1001));
    expect((await s.dueApps(2000, 10, { ...rule, maxRefs: 10, now: 2000 })).sort()).toEqual(["big"]);
  });

  it("a hot app whose drain found every slot busy is returned as hot again (not left to the sweep)", async () => {
    const s = open();
    const t = Date.now();
    const o = (now: number) => reg(now, { drainBytes: 100, scheduleTtlMs: 60_000 });
    const next = nextBatches();
    const f = () => next([["a", 150]]);
    expect((await s.registerFiles([f()], o(t))).hot).toEqual(["a"]);
    expect(await s.acquireDrains(["a"], drain("holder", { order: [0] }))).toHaveLength(1);
    expect((await s.registerFiles([f()], o(t + 1))).hot).toEqual(["a"]);
    // the drain split asked for finds the only slot busy: it takes nothing …
    expect(await s.acquireDrains(["a"], drain("late", { order: [0] }))).toEqual([]);
    // … and the next registration asks again, instead of waiting out the schedule ttl
    expect((await s.registerFiles([f()], o(t + 2))).hot).toEqual(["a"]);
  });

  it("claims pending sections within maxBytes, maxRefs and the budget, at least one per app", async () => {
    const s = open();
    const files = Array.from({ length: 3 }, (_, i) => batch("t", 0, i * 10, i * 10 + 9, [["a", 100], ["b", 100], ["c", 100]]));
    await s.registerFiles(files, reg(1000));
    const byBudget = await s.acquireDrains(["a", "b", "c"], drain("w1", { budget: 250 }));
    expect(byBudget.map((c) => [c.app, c.sections.length, c.inherited])).toEqual([["a", 2, 0], ["b", 1, 0]]);
    await s.commitDrains("w1", byBudget.map((c) => commitOf(c, 1, true)), 2000);
    expect((await s.acquireDrains(["c"], drain("w2", { maxBytes: 150 })))[0]!.sections.map((x) => x.ref)).toEqual([`${files[0]!.file}#2`]);
    expect((await s.acquireDrains(["c"], drain("w3", { order: [1], maxRefs: 1 })))[0]!.sections.map((x) => x.ref)).toEqual([`${files[1]!.file}#2`]);
    // a section bigger than maxBytes still goes, alone
    await s.registerFiles([batch("t", 0, 100, 109, [["d", 5000]]), batch("t", 0, 110, 119, [["d", 10]])], reg(1001));
    const [big] = await s.acquireDrains(["d"], drain("w4", { maxBytes: 1000 }));
    expect(big!.sections.map((x) => x.len)).toEqual([5000]);
    // what the budget left is still pending; then nothing is
    expect((await s.acquireDrains(["a", "zz"], drain("w5", { order: [1] }))).map((c) => [c.app, refsOf(c)])).toEqual([["a", [`${files[2]!.file}#0`]]]);
    expect(await s.acquireDrains(["a", "zz"], drain("w6", { order: [2] }))).toEqual([]);
  });

  it("claims and commits a wave of more apps than one script takes as if in one call: the budget spans the wave", async () => {
    const s = open();
    const apps = Array.from({ length: 150 }, (_, i) => `w${i}`);
    const files = Array.from({ length: 3 }, (_, i) => batch("t", 0, i * 10, i * 10 + 9, apps.map((a) => [a, 10] as [string, number])));
    await s.registerFiles(files, reg(1000));
    // 100 apps × 3 sections × 10 bytes: the budget runs out after the 100th app, past the first scripts
    const claims = await s.acquireDrains(apps, drain("w", { budget: 3000 }));
    expect(claims.map((c) => c.app)).toEqual(apps.slice(0, 100));
    expect(claims.every((c) => c.sections.length === 3)).toBe(true);
    const results = await s.commitDrains("w", claims.map((c) => commitOf(c, 1, true)), 2000);
    expect(results.map((r) => [r.app, r.ok])).toEqual(apps.slice(0, 100).map((a) => [a, true]));
    // the other 50 apps still hold every file: none is gone yet
    expect(results.flatMap((r) => (r.ok ? r.gone : []))).toEqual([]);
    const rest = await s.acquireDrains(apps, drain("w2"));
    expect(rest.map((c) => c.app)).toEqual(apps.slice(100));
    const last = await s.commitDrains("w2", rest.map((c) => commitOf(c, 1, true)), 2001);
    expect(last.flatMap((r) => (r.ok ? r.gone : [])).sort()).toEqual(files.map((f) => f.file).sort());
  });

  it("reports a staging file gone once, with the commit of the call that consumed its last section", async () => {
    // Arrange: f1 holds a and b, f2 a and c, f3 only b
    const s = open();
    const f1 = batch("t", 0, 0, 9, [["a", 10], ["b", 10]]);
    const f2 = batch("t", 0, 10, 19, [["a", 10], ["c", 10]]);
    const f3 = batch("t", 0, 20, 29, [["b", 10]]);
    await s.registerFiles([f1, f2, f3], reg(1000));
    const claims = await s.acquireDrains(["a", "b", "c"], drain("w"));
    // Act: every app's commit in one call
    const results = await s.commitDrains("w", claims.map((c) => commitOf(c, 1, true)), 2000);
    // Assert: a leaves every file with a section of b or c; b empties f1 and f3, c empties f2
    expect(results.map((r) => [r.app, r.ok ? r.gone : r.reason])).toEqual([["a", []], ["b", [f1.file, f3.file]], ["c", [f2.file]]]);
    expect(await s.registeredFiles([f1.file, f2.file, f3.file])).toEqual(new Set());
  });

  it("takes many slots' locks at once: each slot's state, or null where another holds it", async () => {
    const s = open();
    await s.acquireSlot("b", 1, "other", 10_000);
    // Act
    const got = await s.acquireSlots([{ app: "a", slot: 0 }, { app: "b", slot: 1 }, { app: "c", slot: 2 }], "sealer", 10_000);
    // Assert: a and c taken (fresh slots), b busy; the locks are the sealer's
    expect(got).toEqual([{ gen: 0, len: 0, t0: 0 }, null, { gen: 0, len: 0, t0: 0 }]);
    expect(await s.acquireSlot("a", 0, "third", 10_000)).toBeNull();
    expect(await s.lockRemainingMs("c", 2, "sealer")).toBeGreaterThan(0);
    expect(await s.acquireSlots([], "sealer", 10_000)).toEqual([]);
  });

  it("skips apps whose slots are all busy and takes the lowest free slot", async () => {
    const s = open();
    await s.registerFiles([batch("t", 0, 0, 9, [["a", 10], ["b", 10]])], reg(1000));
    expect(await s.acquireSlot("a", 0, "sealer", 10_000)).toEqual({ gen: 0, len: 0, t0: 0 });
    expect(await s.acquireSlot("a", 0, "other", 10_000)).toBeNull();
    const got = await s.acquireDrains(["a", "b"], drain("w", { order: [0] }));
    expect(got.map((c) => [c.app, c.slot])).toEqual([["b", 0]]);
    const next = await s.acquireDrains(["a"], drain("w2", { order: [0, 1, 2] }));
    expect(next.map((c) => [c.app, c.slot, refsOf(c)!.length])).toEqual([["a", 1, 1]]);
  });

  it("prefers a free slot with a stranded claim and hands it over as inherited", async () => {
    const s = open();
    const f1 = batch("t", 0, 0, 9, [["a", 10]]);
    await s.registerFiles([f1], reg(1000));
    await s.acquireSlot("a", 0, "busy", 10_000);
    const [first] = await s.acquireDrains(["a"], drain("w1", { order: [0, 1] }));
    expect(first!.slot).toBe(1);
    await s.release("a", 1, "w1"); // gave up without committing: the claim stays with slot 1
    await s.release("a", 0, "busy");
    const f2 = batch("t", 0, 10, 19, [["a", 10]]);
    await s.registerFiles([f2], reg(1001));
    const [second] = await s.acquireDrains(["a"], drain("w2", { order: [0, 1] }));
    expect(second).toMatchObject({ app: "a", slot: 1, inherited: 1, state: { gen: 0, len: 0, t0: 0 } });
    expect(refsOf(second)).toEqual([`${f1.file}#0`, `${f2.file}#0`]);
    expect(second!.state.tainted).toBeUndefined();
  });

  it("taints the generation when it takes a slot over from a holder that never released, and fences that holder", async () => {
    const s = open();
    const f1 = batch("t", 0, 0, 9, [["a", 10]]);
    await s.registerFiles([f1], reg(1000));
    const [crashed] = await s.acquireDrains(["a"], drain("dead", { ttlMs: 100 }));
    expect(await s.lockRemainingMs("a", 0, "dead")).toBeGreaterThan(0);
    await until(async () => (await s.lockRemainingMs("a", 0, "dead")) <= 0);
    const [next] = await s.acquireDrains(["a"], drain("live"));
    expect(next).toMatchObject({ slot: 0, inherited: 1, state: { gen: 0, len: 0, t0: 0, tainted: true } });
    expect(refsOf(next)).toEqual(refsOf(crashed));
    expect(await s.commitDrains("dead", [commitOf(crashed!, 10)], 5)).toEqual([{ app: "a", ok: false, reason: "lost-lock" }]);
    expect((await s.readSlotState("a", 0)).tainted).toBe(true);
  });

  it("commits drains atomically per app: refcounts free files, stale state and lost locks are refused, release frees the lock", async () => {
    const s = open();
    const f1 = batch("t", 0, 0, 9, [["a", 100], ["b", 100]]);
    const f2 = batch("t", 0, 10, 19, [["a", 50]]);
    await s.registerFiles([f1, f2], reg(1000));
    const claims = await s.acquireDrains(["a", "b"], drain("w"));
    const [ca, cb] = claims as [DrainClaim, DrainClaim];
    expect(await s.commitDrains("w", [commitOf(ca, 150)], 5000)).toEqual([{ app: "a", ok: true, state: { gen: 0, len: 150, t0: 5000 }, gone: [f2.file] }]);
    expect(await s.registeredFiles([f1.file, f2.file])).toEqual(new Set([f1.file]));
    expect(await s.commitDrains("w", [commitOf(cb, 100, true), commitOf(ca, 1), { ...commitOf(ca, 1), expectLen: 150 }], 6000)).toEqual([
      { app: "b", ok: true, state: { gen: 0, len: 100, t0: 6000 }, gone: [f1.file] },
      { app: "a", ok: false, reason: "stale-state" },
      { app: "a", ok: true, state: { gen: 0, len: 151, t0: 5000 }, gone: [] },
    ]);
    expect(await s.registeredFiles([f1.file])).toEqual(new Set());
    expect(await s.lockRemainingMs("b", 0, "w")).toBeLessThanOrEqual(0);
    expect(await s.commitDrains("w", [{ ...commitOf(cb, 1), expectLen: 100 }], 7000)).toEqual([{ app: "b", ok: false, reason: "lost-lock" }]);
    expect(await s.commitDrains("intruder", [{ ...commitOf(ca, 1), expectLen: 151 }], 7000)).toEqual([{ app: "a", ok: false, reason: "lost-lock" }]);
    // released properly: the next holder's generation is clean
    await s.registerFiles([batch("t", 0, 20, 29, [["b", 10]])], reg(1001));
    const [again] = await s.acquireDrains(["b"], drain("w2"));
    expect(again).toMatchObject({ slot: 0, inherited: 0, state: { gen: 0, len: 100, t0: 6000 } });
    expect(again!.state.tainted).toBeUndefined();
  });

  it("keeps the refs a commit did not consume with the slot for the next holder", async () => {
    const s = open();
    const files = [0, 1, 2].map((i) => batch("t", 0, i * 10, i * 10 + 9, [["a", 10]]));
    await s.registerFiles(files, reg(1000));
    const [c] = await s.acquireDrains(["a"], drain("w"));
    const r = await s.commitDrains("w", [commitOf(c!, 20, true, refsOf(c)!.slice(0, 2))], 2000);
    expect(r).toEqual([{ app: "a", ok: true, state: { gen: 0, len: 20, t0: 2000 }, gone: [files[0]!.file, files[1]!.file] }]);
    const [next] = await s.acquireDrains(["a"], drain("w2"));
    expect(next).toMatchObject({ inherited: 1, state: { gen: 0, len: 20 } });
    expect(refsOf(next)).toEqual([`${files[2]!.file}#0`]);
  });

  it("adopts members found past the committed length: consumes their refs from the claim or the queue, reports unknown ones", async () => {
    const s = open();
    const f1 = batch("t", 0, 0, 9, [["a", 100]]);
    const f2 = batch("t", 0, 10, 19, [["a", 100], ["b", 100]]);
    const f3 = batch("t", 0, 20, 29, [["a", 100]]);
    const f4 = batch("t", 0, 30, 39, [["a", 100]]);
    await s.registerFiles([f1, f2, f3, f4], reg(1000));
    const [c] = await s.acquireDrains(["a"], drain("w", { maxRefs: 2 }));
    expect(refsOf(c)).toEqual([`${f1.file}#0`, `${f2.file}#0`]);
    await s.commitDrains("w", [commitOf(c!, 10, false, [])], 6000);
    const req = { app: "a", slot: 0, gen: 0, len: 300, refs: [`${f1.file}#0`, `${f3.file}#0`, "ghost#0", `${f1.file}#0`], now: 7000 };
    expect(await s.adopt("other", req)).toBeNull();
    expect(await s.adopt("w", { ...req, gen: 1 })).toBeNull();
    expect(await s.adopt("w", { ...req, len: 5 })).toBeNull();
    expect(await s.adopt("w", req)).toEqual({ state: { gen: 0, len: 300, t0: 6000 }, found: 2, unknown: ["ghost#0", `${f1.file}#0`], gone: [f1.file, f3.file] });
    expect(await s.readSlotState("a", 0)).toEqual({ gen: 0, len: 300, t0: 6000 });
    // many at once, in the order asked, unknown slots as empty
    expect(await s.readSlotStates([{ app: "b", slot: 1 }, { app: "a", slot: 0 }])).toEqual([{ gen: 0, len: 0, t0: 0 }, { gen: 0, len: 300, t0: 6000 }]);
    await s.release("a", 0, "w");
    // f2#0 is still claimed by slot 0, f4#0 still pending; f3#0 was adopted from the queue
    const [next] = await s.acquireDrains(["a"], drain("w2"));
    expect(next).toMatchObject({ inherited: 1, state: { len: 300 } });
    expect(refsOf(next)).toEqual([`${f2.file}#0`, `${f4.file}#0`]);
    // adopting everything empties the app: no longer due; t0 is set by a first adoption
    expect(await s.adopt("w2", { app: "a", slot: 0, gen: 0, len: 400, refs: refsOf(next)!, now: 8000 })).toMatchObject({ found: 2, unknown: [], gone: [f4.file] });
    expect(await s.dueApps(Number.MAX_SAFE_INTEGER, 10)).toEqual(["b"]);
    await s.acquireSlot("fresh", 0, "w3", 10_000);
    expect((await s.adopt("w3", { app: "fresh", slot: 0, gen: 0, len: 50, refs: [], now: 9000 }))!.state).toEqual({ gen: 0, len: 50, t0: 9000 });
  });

  it("skips a generation for its holder only, clearing the seal marker and the taint", async () => {
    const s = open();
    await s.acquireSlot("a", 0, "dead", 100);
    await until(async () => (await s.lockRemainingMs("a", 0, "dead")) <= 0);
    const st = (await s.acquireSlot("a", 0, "w", 10_000))!;
    expect(st.tainted).toBe(true);
    const [c] = await s.commitDrains("w", [{ app: "a", slot: 0, gen: 0, expectLen: 0, addLen: 5, refs: [], release: false }], 100);
    expect(c!.ok).toBe(true);
    expect(await s.beginSeal("a", 0, "w", 0, "k")).toBe(true);
    expect(await s.skipGeneration("a", 0, "other", 0)).toBe(false);
    expect(await s.skipGeneration("a", 0, "w", 1)).toBe(false);
    expect(await s.skipGeneration("a", 0, "w", 0)).toBe(true);
    expect(await s.readSlotState("a", 0)).toEqual({ gen: 1, len: 0, t0: 0 });
    expect(await s.skipGeneration("a", 0, "w", 0)).toBe(false);
  });

  it("records a seal, hands an unfinished seal to the next holder, then bumps the generation", async () => {
    const s = open();
    await s.acquireSlot("seal", 0, "w", 10_000);
    await s.commitDrains("w", [{ app: "seal", slot: 0, gen: 0, expectLen: 0, addLen: 42, refs: [], release: false }], 5);
    expect(await s.beginSeal("seal", 0, "other", 0, "logs/seal/k")).toBe(false);
    expect(await s.beginSeal("seal", 0, "w", 1, "logs/seal/k")).toBe(false);
    expect(await s.beginSeal("seal", 0, "w", 0, "logs/seal/k")).toBe(true);
    // a commit on a sealing slot is refused
    expect(await s.commitDrains("w", [{ app: "seal", slot: 0, gen: 0, expectLen: 42, addLen: 1, refs: [], release: false }], 6)).toEqual([{ app: "seal", ok: false, reason: "stale-state" }]);
    await s.release("seal", 0, "w");
    expect(await s.acquireSlot("seal", 0, "w2", 10_000)).toEqual({ gen: 0, len: 42, t0: 5, sealing: { gen: 0, key: "logs/seal/k" } });
    expect(await s.finishSeal("seal", 0, "other", 0)).toBe(false);
    expect(await s.finishSeal("seal", 0, "w2", 1)).toBe(false);
    expect(await s.finishSeal("seal", 0, "w2", 0)).toBe(true);
    expect(await s.readSlotState("seal", 0)).toEqual({ gen: 1, len: 0, t0: 0 });
    expect(await s.finishSeal("seal", 0, "w2", 0)).toBe(false); // no double bump
    expect(await s.finishSeal("seal", 0, "w2", 1)).toBe(false); // no marker for gen 1
  });

  it("records and finishes several seals in one call, each slot checked on its own", async () => {
    // Arrange: three committed slots held by "w", and one held by somebody else
    const s = open();
    for (const app of ["s1", "s2", "s3"]) {
      await s.acquireSlot(app, 0, "w", 10_000);
      await s.commitDrains("w", [{ app, slot: 0, gen: 0, expectLen: 0, addLen: 10, refs: [], release: false }], 5);
    }
    await s.acquireSlot("s4", 0, "other", 10_000);
    // Act: record all four (s3 with a stale generation), then finish the recorded ones
    const recorded = await s.beginSeals("w", [
      { app: "s1", slot: 0, gen: 0, key: "logs/s1/k" }, { app: "s2", slot: 0, gen: 0, key: "logs/s2/k" },
      { app: "s3", slot: 0, gen: 1, key: "logs/s3/k" }, { app: "s4", slot: 0, gen: 0, key: "logs/s4/k" },
    ]);
    const finished = await s.finishSeals("w", [{ app: "s1", slot: 0, gen: 0 }, { app: "s2", slot: 0, gen: 1 }, { app: "s3", slot: 0, gen: 0 }], { release: true });
    // Assert: per slot, in order; a finished seal bumped its generation and freed its lock, a
    // refused one changed nothing and its lock stays with its holder
    expect(recorded).toEqual([true, true, false, false]);
    expect(finished).toEqual([true, false, false]);
    expect(await s.acquireSlot("s1", 0, "probe", 10_000)).toEqual({ gen: 1, len: 0, t0: 0 });
    expect(await s.readSlotState("s2", 0)).toEqual({ gen: 0, len: 10, t0: 5, sealing: { gen: 0, key: "logs/s2/k" } });
    expect(await s.lockRemainingMs("s2", 0, "w")).toBeGreaterThan(0);
    expect(await s.readSlotState("s3", 0)).toEqual({ gen: 0, len: 10, t0: 5 });
    expect(await s.beginSeals("w", [])).toEqual([]);
  });

  it("finishes a seal and gives the lock back in one call when asked, and only for the holder", async () => {
    // Arrange: a committed generation with its seal recorded
    const s = open();
    await s.acquireSlot("tail", 0, "w", 10_000);
    await s.commitDrains("w", [{ app: "tail", slot: 0, gen: 0, expectLen: 0, addLen: 42, refs: [], release: false }], 5);
    expect(await s.beginSeal("tail", 0, "w", 0, "logs/tail/k")).toBe(true);
    // Act / Assert: a stranger neither finishes nor frees it
    expect(await s.finishSeal("tail", 0, "other", 0, { release: true })).toBe(false);
    expect(await s.acquireSlot("tail", 0, "w2", 10_000)).toBeNull();
    // the holder's finish bumps the generation and frees the lock in the same call
    expect(await s.finishSeal("tail", 0, "w", 0, { release: true })).toBe(true);
    expect(await s.lockRemainingMs("tail", 0, "w")).toBeLessThanOrEqual(0);
    expect(await s.acquireSlot("tail", 0, "w2", 10_000)).toEqual({ gen: 1, len: 0, t0: 0 });
    // without the option the lock stays with its holder
    await s.commitDrains("w2", [{ app: "tail", slot: 0, gen: 1, expectLen: 0, addLen: 7, refs: [], release: false }], 6);
    expect(await s.beginSeal("tail", 0, "w2", 1, "logs/tail/k2")).toBe(true);
    expect(await s.finishSeal("tail", 0, "w2", 1)).toBe(true);
    expect(await s.lockRemainingMs("tail", 0, "w2")).toBeGreaterThan(0);
  });

  it("lists the slots holding data by the age of their generation, full ones at once, until the generation is bumped", async () => {
    const s = open();
    const commit = (app: string, slot: number, expectLen: number, addLen: number, now: number, sealBytes = 1000) =>
      s.commitDrains("w", [{ app, slot, gen: 0, expectLen, addLen, refs: [], release: false }], now, sealBytes);
    for (const [app, slot] of [["old", 0], ["young", 1], ["big", 0], ["empty", 0], ["skip", 2]] as const) await s.acquireSlot(app, slot, "w", 10_000);
    await commit("old", 0, 0, 10, 100);
    await commit("old", 0, 10, 10, 900); // a later commit keeps the generation's start
    await commit("young", 1, 0, 10, 800);
    await commit("big", 0, 0, 10, 700);
    await commit("big", 0, 10, 990, 950); // reached sealBytes: due whatever its age
    await commit("empty", 0, 0, 0, 100); // nothing written: nothing to seal
    await commit("skip", 2, 0, 5, 50);
    expect(await s.sealableSlots(500, 100)).toEqual([{ app: "big", slot: 0 }, { app: "skip", slot: 2 }, { app: "old", slot: 0 }]);
    expect(await s.sealableSlots(800, 100)).toEqual([{ app: "big", slot: 0 }, { app: "skip", slot: 2 }, { app: "old", slot: 0 }, { app: "young", slot: 1 }]);
    expect(await s.sealableSlots(800, 2)).toHaveLength(2);
    // sealed (begin + finish) or skipped: off the list
    expect(await s.beginSeal("old", 0, "w", 0, "k")).toBe(true);
    expect(await s.finishSeal("old", 0, "w", 0)).toBe(true);
    expect(await s.skipGeneration("skip", 2, "w", 0)).toBe(true);
    expect(await s.sealableSlots(800, 100)).toEqual([{ app: "big", slot: 0 }, { app: "young", slot: 1 }]);
    // the next generation is listed again from its own first commit
    await s.commitDrains("w", [{ app: "old", slot: 0, gen: 1, expectLen: 0, addLen: 3, refs: [], release: false }], 2000, 1000);
    expect(await s.sealableSlots(1999, 100)).toEqual([{ app: "big", slot: 0 }, { app: "young", slot: 1 }]);
    expect(await s.sealableSlots(2000, 100)).toEqual([{ app: "big", slot: 0 }, { app: "young", slot: 1 }, { app: "old", slot: 0 }]);
    // an adopted generation is listed too
    await s.acquireSlot("adopted", 0, "w", 10_000);
    expect(await s.adopt("w", { app: "adopted", slot: 0, gen: 0, len: 30, refs: [], now: 1500 })).not.toBeNull();
    expect((await s.sealableSlots(1500, 100)).map((x) => x.app)).toContain("adopted");
  });

  it("keeps a small slot off the list until the max age, unless it holds enough or a seal is half done", async () => {
    // Arrange: slots whose generations all started at 100; "small" holds 10 bytes, "enough" 60
    const s = open();
    const commit = (app: string, addLen: number) => s.commitDrains("w", [{ app, slot: 0, gen: 0, expectLen: 0, addLen, refs: [], release: false }], 100, 1000);
    for (const app of ["small", "enough", "half-sealed"]) {
      await s.acquireSlot(app, 0, "w", 10_000);
      await commit(app, app === "enough" ? 60 : 10);
    }
    expect(await s.beginSeal("half-sealed", 0, "w", 0, "k")).toBe(true); // a seal that died before its finish
    const small = (forceBefore: number) => ({ minBytes: 50, forceBefore });
    // Act + Assert: due by age at 500; "small" only once its generation started before forceBefore
    expect((await s.sealableSlots(500, 100, small(50))).map((x) => x.app).sort()).toEqual(["enough", "half-sealed"]);
    expect((await s.sealableSlots(500, 100, small(100))).map((x) => x.app).sort()).toEqual(["enough", "half-sealed", "small"]);
    expect((await s.sealableSlots(500, 100, { minBytes: 0, forceBefore: 50 })).map((x) => x.app).sort()).toEqual(["enough", "half-sealed", "small"]);
    expect(await s.sealableSlots(99, 100, small(100))).toEqual([]); // not due by age at all
  });

  it("runs a periodic job at most once per period, and at once when its mark is missing or in the future", async () => {
    const s = open();
    const claim = async (name: string, now: number, everyMs: number) => (await s.claimPeriodics([{ name, now, everyMs }]))[0];
    expect(await claim("walk", 10_000, 600)).toBe(true); // no mark yet
    expect(await claim("walk", 10_100, 600)).toBe(false);
    expect(await claim("other", 10_100, 600)).toBe(true); // each name has its own mark
    expect(await claim("walk", 10_599, 600)).toBe(false);
    expect(await claim("walk", 10_600, 600)).toBe(true);
    expect(await claim("walk", 10_700, 600)).toBe(false);
    expect(await claim("walk", 5_000, 600)).toBe(true); // the mark lies in the future (clock jumped back)
    expect(await claim("walk", 5_100, 600)).toBe(false);
  });

  it("claims several periodic marks at once, each on its own terms", async () => {
    const s = open();
    await s.claimPeriodics([{ name: "a", now: 1_000, everyMs: 500 }]);
    const roundTripsOf = (x: CoordStore) => (x instanceof RedisCoordStore ? x.roundTrips : 0);
    const rt0 = roundTripsOf(s);
    // Act: "a" not yet due, "b" never claimed, "c" due at its own time and period
    const got = await s.claimPeriodics([{ name: "a", now: 1_200, everyMs: 500 }, { name: "b", now: 1_200, everyMs: 500 }, { name: "c", now: 900, everyMs: 50 }]);
    // Assert
    expect(got).toEqual([false, true, true]);
    expect(roundTripsOf(s) - rt0).toBe(s instanceof RedisCoordStore ? 1 : 0);
    expect(await s.claimPeriodics([])).toEqual([]);
    expect(await s.claimPeriodics([{ name: "a", now: 1_500, everyMs: 500 }, { name: "b", now: 1_300, everyMs: 500 }])).toEqual([true, false]);
  });

  it("releases only for the holder", async () => {
    const s = open();
    await s.acquireSlot("a", 0, "w", 10_000);
    await s.release("a", 0, "other");
    expect(await s.lockRemainingMs("a", 0, "w")).toBeGreaterThan(0);
    expect(await s.acquireSlot("a", 0, "other", 10_000)).toBeNull();
    await s.release("a", 0, "w");
    expect(await s.lockRemainingMs("a", 0, "w")).toBeLessThanOrEqual(0);
    expect(await s.acquireSlot("a", 0, "other", 10_000)).toEqual({ gen: 0, len: 0, t0: 0 });
  });

  it("lists due apps oldest first, including apps whose claims a drain left behind", async () => {
    const s = open();
    let n = 0;
    const f = (app: string) => batch("t", 0, n * 10, n++ * 10 + 9, [[app, 10]]);
    await s.registerFiles([f("b")], reg(100));
    await s.registerFiles([f("a"), f("b")], reg(200));
    await s.registerFiles([f("c")], reg(300));
    expect(await s.dueApps(250, 10)).toEqual(["b", "a"]);
    expect(await s.dueApps(1000, 2)).toEqual(["b", "a"]);
    expect(await s.dueApps(1000, 10)).toEqual(["b", "a", "c"]);
    expect(await s.dueApps(99, 10)).toEqual([]);
    // b's drain dies after claiming: b stays due, at its oldest section's age
    await s.acquireDrains(["b"], drain("dead"));
    await s.release("b", 0, "dead");
    expect(await s.dueApps(1000, 10)).toEqual(["b", "a", "c"]);
    // c drained and committed: not due
    const [cc] = await s.acquireDrains(["c"], drain("w"));
    await s.commitDrains("w", [commitOf(cc!, 1, true)], 400);
    expect(await s.dueApps(1000, 10)).toEqual(["b", "a"]);
    // a stranded claim is older than a new pending section: the app is due by the claim's age
    await s.acquireDrains(["a"], drain("dead2"));
    await s.release("a", 0, "dead2");
    await s.registerFiles([f("a")], reg(5000));
    expect(await s.dueApps(1000, 10)).toEqual(["b", "a"]);
    // b's claim finished by the next drain: b leaves the list
    const [cb] = await s.acquireDrains(["b"], drain("w2"));
    expect(cb!.inherited).toBe(2);
    await s.commitDrains("w2", [commitOf(cb!, 1, true)], 6000);
    expect(await s.dueApps(10_000, 10)).toEqual(["a"]);
    const [ca] = await s.acquireDrains(["a"], drain("w3"));
    expect(ca!.sections.map((x) => x.stagedAt)).toEqual([200, 5000]);
    await s.commitDrains("w3", [commitOf(ca!, 1, true)], 6000);
    expect(await s.dueApps(10_000, 10)).toEqual([]);
  });

  it("lets a lock expire after its TTL and reports remaining time only to its holder", async () => {
    const s = open();
    expect(await s.acquireSlot("exp", 0, "tok-a", 150)).not.toBeNull();
    expect(await s.lockRemainingMs("exp", 0, "tok-a")).toBeGreaterThan(0);
    expect(await s.lockRemainingMs("exp", 0, "tok-a")).toBeLessThanOrEqual(150);
    expect(await s.lockRemainingMs("exp", 0, "tok-b")).toBeLessThanOrEqual(0);
    expect(await s.acquireSlot("exp", 0, "tok-b", 10_000)).toBeNull();
    await until(async () => (await s.lockRemainingMs("exp", 0, "tok-a")) <= 0);
    expect(await s.acquireSlot("exp", 0, "tok-b", 10_000)).toEqual({ gen: 0, len: 0, t0: 0, tainted: true });
    expect(await s.lockRemainingMs("exp", 0, "tok-b")).toBeGreaterThan(5_000);
  });

  it("gives a lease to one holder at a time, lets it renew, and lets it lapse", async () => {
    const s = open();
    expect(await s.acquireLease("up", "x", 10_000)).toBe(true);
    expect(await s.acquireLease("up", "y", 10_000)).toBe(false);
    expect(await s.acquireLease("up", "x", 10_000)).toBe(true);
    await s.releaseLease("up", "y");
    expect(await s.acquireLease("up", "y", 10_000)).toBe(false);
    await s.releaseLease("up", "x");
    expect(await s.acquireLease("up", "y", 100)).toBe(true);
    expect(await s.acquireLease("other-name", "x", 10_000)).toBe(true);
    await until(() => s.acquireLease("up", "x", 10_000));
    expect(await s.acquireLease("up", "y", 10_000)).toBe(false);
  });

  it("admits apps up to the cap, keeps each decision while used, and forgets unused ones", async () => {
    const s = open();
    const asObj = (m: Map<string, boolean>) => Object.fromEntries(m);
    expect(asObj(await s.admitApps(["a", "b", "c"], 2, 1000, 100))).toEqual({ a: true, b: true, c: false });
    expect(asObj(await s.admitApps(["c", "a", "d"], 2, 1050, 100))).toEqual({ c: false, a: true, d: false });
    // a bigger cap does not change an existing decision, but admits new apps
    expect(asObj(await s.admitApps(["c", "e"], 100, 1090, 100))).toEqual({ c: false, e: true });
    // b (last used 1000) and d (1050) are forgotten at 1160; a (1050) too; c (1090) and e (1090) are kept
    expect(asObj(await s.admitApps(["c", "e", "b", "f", "g"], 2, 1160, 100))).toEqual({ c: false, e: true, b: true, f: false, g: false });
    expect(asObj(await s.admitApps([], 2, 1160, 100))).toEqual({});
  });

  it("registers a file's tail regions as one queue entry per shard, counted with its sections in the file's refcount (a file of tails only too)", async () => {
    // Arrange: f1 has a section of big and regions of shards 0 and 1; f2 only a region of shard 0;
    // f3 neither; f4 redelivers f1's offsets; f5 overlaps f3 (30-39 are new)
    const s = open();
    const f1 = withTails(batch("t", 0, 0, 9, [["big", 500]]), [[0, 40, 3], [1, 30, 2]]);
    const f2 = withTails(batch("t", 0, 10, 19, []), [[0, 20, 2]]);
    const f3 = batch("t", 0, 20, 29, []);
    const f4 = withTails(batch("t", 0, 0, 9, []), [[0, 99]]);
    const f5 = withTails(batch("t", 0, 25, 39, []), [[2, 10]]);
    // Act
    const r = await s.registerFiles([f1, f2, f3, f4, f5], reg(1000, { drainBytes: 100 }));
    // Assert: statuses as for sections; a file with neither sections nor regions, or a duplicate, is not kept
    expect(r.results.map((x) => [x.status, x.keep])).toEqual([["registered", [[0, 9]]], ["registered", [[10, 19]]], ["registered", [[20, 29]]], ["duplicate", []], ["partial", [[30, 39]]]]);
    expect(r.hot).toEqual(["big"]);
    expect(await s.registeredFiles([f1.file, f2.file, f3.file, f4.file, f5.file])).toEqual(new Set([f1.file, f2.file, f5.file]));
    const c0 = await s.claimTail(0, tailOpts("w"));
    expect(c0).toEqual({
      shard: 0, id: expect.stringMatching(/^[^:\s]+$/), total: 0, inherited: false, apps: new Map(),
      entries: [
        { ref: `${f1.file}#t0`, file: f1.file, off: 564, len: 40, records: 4, stagedAt: 1000, minTs: 1000, keep: [] },
        { ref: `${f2.file}#t0`, file: f2.file, off: 64, len: 20, records: 2, stagedAt: 1000, minTs: 1000, keep: [] },
      ],
    });
    const c1 = await s.claimTail(1, tailOpts("w"));
    expect(c1!.entries).toEqual([{ ref: `${f1.file}#t1`, file: f1.file, off: 604, len: 30, records: 3, stagedAt: 1000, minTs: 1000, keep: [] }]);
    expect((await s.claimTail(2, tailOpts("w")))!.entries).toMatchObject([{ ref: `${f5.file}#t2`, keep: [[30, 39]] }]);
    // f1 counts its section and both regions: it is gone with the last of the three only
    const [big] = await s.acquireDrains(["big"], drain("d"));
    expect(refsOf(big)).toEqual([`${f1.file}#0`]);
    expect((await s.commitDrains("d", [commitOf(big!, 1, true)], 2000))[0]).toMatchObject({ ok: true, gone: [] });
    expect(await finishTail(s, c0!, "w")).toMatchObject({ ended: true, gone: [f2.file] });
    expect(await finishTail(s, c1!, "w")).toMatchObject({ ended: true, gone: [f1.file] });
    expect(await s.registeredFiles([f1.file, f2.file, f5.file])).toEqual(new Set([f5.file]));
  });

  it("lists tail shards due by their oldest queued or claimed entry, oldest first, until their last claim ends", async () => {
    // Arrange: shard 3 has entries staged at 1000 and 3000, shard 1 at 2000, shard 2 at 2500
    const s = open();
    const f = nextBatches();
    const tails = (...t: [number, number][]) => withTails(f([]), t);
    await s.registerFiles([tails([3, 10])], reg(1000));
    await s.registerFiles([tails([1, 10])], reg(2000));
    await s.registerFiles([tails([2, 10])], reg(2500));
    await s.registerFiles([tails([3, 10])], reg(3000));
    // Act / Assert
    expect(await s.dueShards(999, 10)).toEqual([]);
    expect(await s.dueShards(1000, 10)).toEqual([3]);
    expect(await s.dueShards(5000, 10)).toEqual([3, 1, 2]);
    expect(await s.dueShards(5000, 2)).toEqual([3, 1]);
    // shard 3's oldest entry claimed but not finished: the shard stays due by it, released or not
    const c3 = (await s.claimTail(3, tailOpts("w", { maxEntries: 1 })))!;
    expect(c3.entries.map((e) => e.stagedAt)).toEqual([1000]);
    expect(await s.dueShards(5000, 10)).toEqual([3, 1, 2]);
    await s.releaseTail(3, "w");
    expect(await s.dueShards(5000, 10)).toEqual([3, 1, 2]);
    // the claim ends: due by its queued entry
    expect((await s.claimTail(3, tailOpts("w")))!.id).toBe(c3.id);
    expect((await finishTail(s, c3, "w")).ended).toBe(true);
    await s.releaseTail(3, "w");
    expect(await s.dueShards(5000, 10)).toEqual([1, 2, 3]);
    expect(await s.dueShards(2999, 10)).toEqual([1, 2]);
    // shard 2's only entry claimed and finished: no longer due
    const c2 = (await s.claimTail(2, tailOpts("w")))!;
    expect((await finishTail(s, c2, "w")).ended).toBe(true);
    await s.releaseTail(2, "w");
    expect(await s.dueShards(5000, 10)).toEqual([1, 3]);
    // an entry registered with an older stamp makes its shard due from then
    await s.registerFiles([tails([3, 10])], reg(1500));
    expect(await s.dueShards(5000, 10)).toEqual([3, 1]);
  });

  it("lists a tail shard whose queued regions reach minBytes before its age, after those due by age; claimed regions no longer count", async () => {
    // Arrange: shard 1 queues 60 + 50 bytes at 2000, shard 2 queues 200 at 3000, shard 0 10 at 1000
    const s = open();
    const f = nextBatches();
    const tails = (...t: [number, number][]) => withTails(f([]), t);
    await s.registerFiles([tails([0, 10])], reg(1000));
    await s.registerFiles([tails([1, 60])], reg(2000));
    await s.registerFiles([tails([1, 50])], reg(2000));
    await s.registerFiles([tails([2, 200])], reg(3000));
    // Act / Assert: by age only, shard 0; with minBytes 100, the full shards after it, fullest first
    expect(await s.dueShards(1000, 10)).toEqual([0]);
    expect(await s.dueShards(1000, 10, { minBytes: 100 })).toEqual([0, 2, 1]);
    expect(await s.dueShards(1000, 2, { minBytes: 100 })).toEqual([0, 2]);
    expect(await s.dueShards(1000, 10, { minBytes: 111 })).toEqual([0, 2]);
    // a shard due by age is listed once, in its place by age
    expect(await s.dueShards(2000, 10, { minBytes: 100 })).toEqual([0, 1, 2]);
    // shard 1's first region claimed: 50 bytes queued, under the minimum
    const c1 = (await s.claimTail(1, tailOpts("w", { maxEntries: 1 })))!;
    expect(c1.entries.map((e) => e.len)).toEqual([60]);
    expect(await s.dueShards(1000, 10, { minBytes: 100 })).toEqual([0, 2]);
    // shard 2's queue claimed whole: none of it counts any more
    const c2 = (await s.claimTail(2, tailOpts("w")))!;
    expect((await finishTail(s, c2, "w")).ended).toBe(true);
    expect(await s.dueShards(1000, 10, { minBytes: 100 })).toEqual([0]);
    // new regions count from zero again
    await s.registerFiles([tails([2, 120])], reg(4000));
    expect(await s.dueShards(1000, 10, { minBytes: 100 })).toEqual([0, 2]);
  });

  it("claims a shard's queued entries oldest first within the budget and maxEntries, at least one; null while its lock is held or nothing is queued", async () => {
    // Arrange: six files with a region of shard 0 each
    const s = open();
    const f = nextBatches();
    const files = [100, 100, 300, 100, 100, 100].map((len) => withTails(f([]), [[0, len]]));
    await s.registerFiles(files, reg(1000));
    const ref = (i: number) => `${files[i]!.file}#t0`;
    // Act / Assert: maxEntries
    const first = await s.claimTail(0, tailOpts("w1", { maxEntries: 2 }));
    expect(first).toMatchObject({ shard: 0, inherited: false, total: 0 });
    expect(entryRefs(first)).toEqual([ref(0), ref(1)]);
    // the lock is held: by another task or by the holder itself; a stranger cannot give it back
    expect(await s.claimTail(0, tailOpts("w2"))).toBeNull();
    expect(await s.claimTail(0, tailOpts("w1"))).toBeNull();
    await s.releaseTail(0, "w2");
    expect(await s.claimTail(0, tailOpts("w2"))).toBeNull();
    await finishTail(s, first!, "w1");
    await s.releaseTail(0, "w1");
    // an entry over the budget still goes, alone
    const second = await s.claimTail(0, tailOpts("w2", { budget: 250 }));
    expect(entryRefs(second)).toEqual([ref(2)]);
    expect(second!.id).toMatch(/^[^:\s]+$/);
    expect(second!.id).not.toBe(first!.id);
    await finishTail(s, second!, "w2");
    await s.releaseTail(0, "w2");
    // the budget: 100 + 100, the third would pass 250
    expect(entryRefs(await s.claimTail(0, tailOpts("w3", { budget: 250 })))).toEqual([ref(3), ref(4)]);
    // nothing queued in shard 7: null, and the lock is not kept
    expect(await s.claimTail(7, tailOpts("w4"))).toBeNull();
    await s.registerFiles([withTails(f([]), [[7, 10]])], reg(2000));
    expect(entryRefs(await s.claimTail(7, tailOpts("w5")))).toHaveLength(1);
  });

  it("hands an unfinished claim as it is to the shard's next task, after a release or the lock's expiry: inherited, with its placements and done apps, nothing added", async () => {
    // Arrange: a claim of f1's region (apps a, b, c): all placed, a committed, b and c given up
    const s = open();
    const f = nextBatches();
    const { f1, c, placed, committed } = await claimOfThreeOneDone(s, f, "w1");
    expect(placed.map((p) => [p.app, p.slot])).toEqual([["a", 0], ["b", 0], ["c", 0]]);
    expect(committed.ended).toBe(false);
    for (const app of ["b", "c"]) await s.release(app, 0, "w1");
    await s.releaseTail(0, "w1");
    const f2 = withTails(f([]), [[0, 10]]);
    await s.registerFiles([f2], reg(2000));
    // Act: the next task, which dies holding the lock
    const next = await s.claimTail(0, tailOpts("w2", { ttlMs: 100 }));
    // Assert
    const left = { shard: 0, id: c.id, entries: c.entries, total: 3, inherited: true, apps: new Map<string, number | "done">([["a", "done"], ["b", 0], ["c", 0]]) };
    expect(next).toEqual(left);
    let third: TailClaim | null = null;
    await until(async () => (third = await s.claimTail(0, tailOpts("w3"))) !== null);
    expect(third).toEqual(left);
    // the third task finishes it; only then is f2's entry claimed, by a new claim
    const rest = await s.placeTail(0, "w3", c.id, 3, ["a", "b", "c"], place);
    expect(rest.map((p) => [p.app, p.slot])).toEqual([["b", 0], ["c", 0]]);
    expect(await s.commitTail("w3", 0, c.id, rest.map((p) => tailCommitOf(p, 10)), 3000)).toMatchObject({ ended: true, gone: [f1.file] });
    await s.releaseTail(0, "w3");
    const fresh = await s.claimTail(0, tailOpts("w4"));
    expect(fresh).toMatchObject({ inherited: false, total: 0, apps: new Map() });
    expect(entryRefs(fresh)).toEqual([`${f2.file}#t0`]);
    expect(fresh!.id).not.toBe(c.id);
  });

  it("ends a claim with apps not done at endTail, only for the shard lock's holder: its files counted off, the next claim free to form", async () => {
    // Arrange: a claim of f1's region (apps a, b, c): a committed, b and c never will be (their region is gone)
    const s = open();
    const f = nextBatches();
    const { f1, c, committed } = await claimOfThreeOneDone(s, f, "w1");
    expect(committed.ended).toBe(false);
    const f2 = withTails(f([]), [[0, 10]]);
    await s.registerFiles([f2], reg(2000));
    // Act: a stranger, the wrong claim, then the holder
    const byStranger = await s.endTail(0, "w2", c.id);
    const wrongClaim = await s.endTail(0, "w1", "other-claim");
    const byHolder = await s.endTail(0, "w1", c.id);
    await s.releaseTail(0, "w1");
    // Assert: only the holder's ended it, f1 counted off (its region was its last entry); f2's entry is claimed next
    expect(byStranger).toEqual({ ended: false, gone: [] });
    expect(wrongClaim).toEqual({ ended: false, gone: [] });
    expect(byHolder).toEqual({ ended: true, gone: [f1.file] });
    const fresh = await s.claimTail(0, tailOpts("w3"));
    expect(fresh).toMatchObject({ inherited: false, total: 0 });
    expect(entryRefs(fresh)).toEqual([`${f2.file}#t0`]);
  });

  it("places each app of a claim once: records the total the first time, takes a free slot with no claimed sections, goes back to a recorded slot only when it is free, skips done apps", async () => {
    // Arrange: a's slot 0 holds sections a drain left claimed; b's slot 0 is busy; d's slots 0 and 1 too
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([["a", 10]]), [[0, 40, 4]]);
    await s.registerFiles([f1], reg(1000));
    expect(await s.acquireDrains(["a"], drain("drainer"))).toHaveLength(1);
    await s.release("a", 0, "drainer");
    await s.acquireSlot("b", 0, "sealer", 10_000);
    for (const slot of [0, 1]) await s.acquireSlot("d", slot, "sealer", 10_000);
    const c = (await s.claimTail(0, tailOpts("w")))!;
    const order = { order: [0, 1], ttlMs: 10_000 };
    const all = ["a", "b", "c", "d"];
    const empty = { gen: 0, len: 0, t0: 0 };
    // Act / Assert: a wrong token or claim id places (and records) nothing
    expect(await s.placeTail(0, "intruder", c.id, 7, all, order)).toEqual([]);
    expect(await s.placeTail(0, "w", `${c.id}0`, 7, all, order)).toEqual([]);
    expect(await s.placeTail(0, "w", c.id, 4, all, order)).toEqual([
      { app: "a", slot: 1, state: empty }, { app: "b", slot: 1, state: empty }, { app: "c", slot: 0, state: empty },
    ]);
    // a's slot is busy (its own placement): not placed again, nor elsewhere
    expect(await s.placeTail(0, "w", c.id, 9, ["a"], order)).toEqual([]);
    // c done; a's slot freed; b's slot still held though its first choice is free now; d still busy
    expect((await s.commitTail("w", 0, c.id, [{ app: "c", slot: 0, gen: 0, expectLen: 0, addLen: 5, refs: [], release: true }], 2000)).results[0]!.ok).toBe(true);
    await s.release("a", 1, "w");
    await s.release("b", 0, "sealer");
    expect(await s.placeTail(0, "w", c.id, 9, all, order)).toEqual([{ app: "a", slot: 1, state: empty }]);
    // a task that no longer holds the shard's lock places nothing (d's slot 2 is free)
    await s.releaseTail(0, "w");
    expect(await s.placeTail(0, "w", c.id, 4, ["d"], { order: [2], ttlMs: 10_000 })).toEqual([]);
    // the claim kept the first total and every placement
    expect(await s.claimTail(0, tailOpts("w2"))).toMatchObject({ id: c.id, total: 4, inherited: true, apps: new Map<string, number | "done">([["a", 1], ["b", 1], ["c", "done"]]) });
  });

  it("taints a placed app's slot when it is taken over from a task that never released it, and fences that task", async () => {
    // Arrange: a task claims, places a, and dies (neither lock given back)
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([]), [[0, 10]]);
    await s.registerFiles([f1], reg(1000));
    const c = (await s.claimTail(0, tailOpts("dead", { ttlMs: 100 })))!;
    const [p] = await s.placeTail(0, "dead", c.id, 1, ["a"], { order: [0], ttlMs: 100 });
    expect(p).toEqual({ app: "a", slot: 0, state: { gen: 0, len: 0, t0: 0 } });
    await until(async () => (await s.lockRemainingMs("a", 0, "dead")) <= 0);
    let taken: TailClaim | null = null;
    await until(async () => (taken = await s.claimTail(0, tailOpts("live"))) !== null);
    expect(taken).toMatchObject({ id: c.id, inherited: true, apps: new Map([["a", 0]]) });
    // Act: the next task places a again (in its recorded slot, whatever the order)
    const [q] = await s.placeTail(0, "live", c.id, 1, ["a"], { order: [1], ttlMs: 10_000 });
    // Assert
    expect(q).toEqual({ app: "a", slot: 0, state: { gen: 0, len: 0, t0: 0, tainted: true } });
    expect(await s.commitTail("dead", 0, c.id, [tailCommitOf(p!, 10)], 2000)).toEqual({ results: [{ app: "a", ok: false, reason: "lost-lock" }], ended: false, gone: [] });
    expect(await s.commitTail("live", 0, c.id, [tailCommitOf(q!, 10)], 2000)).toMatchObject({ ended: true, gone: [f1.file] });
  });

  it("commits a tail claim app by app: each app counts once, the claim ends when every app is done, and each file is counted off once", async () => {
    // Arrange: f1 has a large section of big and a region of shard 0; f2 only a region of shard 0;
    // f3 regions of shards 0 and 1; shard 0's claim holds the three regions, of apps a and b
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([["big", 5000]]), [[0, 20, 2]]);
    const f2 = withTails(f([]), [[0, 20, 2]]);
    const f3 = withTails(f([]), [[0, 20, 2], [1, 10, 1]]);
    await s.registerFiles([f1, f2, f3], reg(1000));
    const c = (await s.claimTail(0, tailOpts("w")))!;
    expect(c.entries).toHaveLength(3);
    const [pa, pb] = await s.placeTail(0, "w", c.id, 2, ["a", "b"], place);
    // Act / Assert: a's member (its oldest record staged at 1500): the claim goes on
    expect(await s.commitTail("w", 0, c.id, [{ ...tailCommitOf(pa!, 60, false), startedAt: 1500 }], 2000)).toEqual({
      results: [{ app: "a", ok: true, state: { gen: 0, len: 60, t0: 1500 }, gone: [] }], ended: false, gone: [],
    });
    // a again: done already, not counted twice
    expect(await s.commitTail("w", 0, c.id, [{ app: "a", slot: 0, gen: 0, expectLen: 60, addLen: 5, refs: [], release: false }], 2100)).toMatchObject({ results: [{ ok: true }], ended: false, gone: [] });
    // b, the last app, without the shard's lock: the claim ends; f1 waits for big's section, f3 for shard 1's region
    await s.releaseTail(0, "w");
    expect(await s.commitTail("w", 0, c.id, [tailCommitOf(pb!, 60)], 2200)).toEqual({
      results: [{ app: "b", ok: true, state: { gen: 0, len: 60, t0: 2200 }, gone: [] }], ended: true, gone: [f2.file],
    });
    expect(await s.registeredFiles([f1.file, f2.file, f3.file])).toEqual(new Set([f1.file, f3.file]));
    // a commit naming the ended claim counts nothing off again
    expect(await s.commitTail("w", 0, c.id, [{ app: "a", slot: 0, gen: 0, expectLen: 65, addLen: 5, refs: [], release: true }], 2300)).toMatchObject({ results: [{ ok: true }], ended: false, gone: [] });
    expect(await s.registeredFiles([f1.file, f3.file])).toEqual(new Set([f1.file, f3.file]));
    // the last section and the last region consume their files
    const [big] = await s.acquireDrains(["big"], drain("d"));
    expect((await s.commitDrains("d", [commitOf(big!, 1, true)], 2400))[0]).toMatchObject({ ok: true, gone: [f1.file] });
    const c1 = (await s.claimTail(1, tailOpts("w")))!;
    expect(await finishTail(s, c1, "w")).toMatchObject({ ended: true, gone: [f3.file] });
    expect(await s.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  it("refuses a tail commit that lost its slot's lock or whose state is stale, and marks its app done only when it is committed for the claim", async () => {
    // Arrange: a claim of one region, its one app placed
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([]), [[0, 10]]);
    await s.registerFiles([f1], reg(1000));
    const c = (await s.claimTail(0, tailOpts("w")))!;
    const [p] = await s.placeTail(0, "w", c.id, 1, ["a"], place);
    const ok = tailCommitOf(p!, 10, false);
    const refused = (reason: string) => ({ results: [{ app: "a", ok: false, reason }], ended: false, gone: [] });
    // Act / Assert
    expect(await s.commitTail("intruder", 0, c.id, [ok], 2000)).toEqual(refused("lost-lock"));
    expect(await s.commitTail("w", 0, c.id, [{ ...ok, expectLen: 5 }], 2000)).toEqual(refused("stale-state"));
    expect(await s.commitTail("w", 0, c.id, [{ ...ok, gen: 1 }], 2000)).toEqual(refused("stale-state"));
    expect(await s.beginSeal("a", 0, "w", 0, "k")).toBe(true);
    expect(await s.commitTail("w", 0, c.id, [ok], 2000)).toEqual(refused("stale-state"));
    expect(await s.finishSeal("a", 0, "w", 0)).toBe(true);
    // committed, but for another claim: a is not done in this one
    expect(await s.commitTail("w", 0, `${c.id}0`, [{ ...ok, gen: 1 }], 2000)).toMatchObject({ results: [{ ok: true, state: { gen: 1, len: 10 } }], ended: false, gone: [] });
    expect(await s.registeredFiles([f1.file])).toEqual(new Set([f1.file]));
    // none of these marked a done: the claim's next task still sees it placed
    await s.releaseTail(0, "w");
    expect(await s.claimTail(0, tailOpts("w2"))).toMatchObject({ id: c.id, inherited: true, apps: new Map([["a", 0]]) });
    expect(await s.commitTail("w", 0, c.id, [{ ...ok, gen: 1, expectLen: 10 }], 2000)).toEqual({
      results: [{ app: "a", ok: true, state: { gen: 1, len: 20, t0: 2000 }, gone: [] }], ended: true, gone: [f1.file],
    });
  });

  it("a tail commit ignores refs: sections a drain left claimed in the app's recorded slot stay for its next drain", async () => {
    // Arrange: a placed in slot 0 and let go; a drain then claims a's section in slot 0 and gives up
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([]), [[0, 10]]);
    const f2 = f([["a", 10]]);
    await s.registerFiles([f1, f2], reg(1000));
    const c = (await s.claimTail(0, tailOpts("w")))!;
    expect(await s.placeTail(0, "w", c.id, 1, ["a"], place)).toMatchObject([{ app: "a", slot: 0 }]);
    await s.release("a", 0, "w");
    expect(refsOf((await s.acquireDrains(["a"], drain("d")))[0])).toEqual([`${f2.file}#0`]);
    await s.release("a", 0, "d");
    // Act: a placed again (its recorded slot, claimed sections or not) and committed naming the section
    const [again] = await s.placeTail(0, "w", c.id, 1, ["a"], { order: [1], ttlMs: 10_000 });
    expect(again).toMatchObject({ app: "a", slot: 0 });
    const r = await s.commitTail("w", 0, c.id, [{ ...tailCommitOf(again!, 10), refs: [`${f2.file}#0`] }], 2000);
    // Assert: the region is done, the section is not
    expect(r).toEqual({ results: [{ app: "a", ok: true, state: { gen: 0, len: 10, t0: 2000 }, gone: [] }], ended: true, gone: [f1.file] });
    expect(await s.registeredFiles([f1.file, f2.file])).toEqual(new Set([f2.file]));
    const [next] = await s.acquireDrains(["a"], drain("d2"));
    expect(next).toMatchObject({ slot: 0, inherited: 1 });
    expect(refsOf(next)).toEqual([`${f2.file}#0`]);
  });

  it("adopts a member of a tail claim: found while the claim is current and the app not done (the last one ends the claim), unknown otherwise", async () => {
    // Arrange: f1 has a section of b and a region of shard 0 (apps a, b, c); a's member committed
    const s = open();
    const f = nextBatches();
    const f1 = withTails(f([["b", 10]]), [[0, 30, 3]]);
    await s.registerFiles([f1], reg(1000));
    const c = (await s.claimTail(0, tailOpts("w")))!;
    const placed = await s.placeTail(0, "w", c.id, 3, ["a", "b", "c"], place);
    expect(placed.map((p) => p.app)).toEqual(["a", "b", "c"]);
    await s.commitTail("w", 0, c.id, [tailCommitOf(placed[0]!, 10, false)], 2000);
    const ref = tailRef(0, c.id);
    const adopt = (app: string, len: number, refs: string[]) => s.adopt("w", { app, slot: 0, gen: 0, len, refs, now: 3000 });
    // Act / Assert: a is done already; another claim of the shard, or another shard, is unknown
    const strangers = [tailRef(0, `${c.id}0`), tailRef(1, c.id)];
    expect(await adopt("a", 10, [ref, ...strangers])).toEqual({ state: { gen: 0, len: 10, t0: 2000 }, found: 0, unknown: [ref, ...strangers], gone: [] });
    // b's member held its section and its part of the region: both found (the strangers are not)
    expect(await adopt("b", 20, [...strangers, `${f1.file}#0`, ref])).toEqual({ state: { gen: 0, len: 20, t0: 3000 }, found: 2, unknown: strangers, gone: [] });
    // c, the last app: the claim ends and f1 is gone
    expect(await adopt("c", 20, [ref])).toEqual({ state: { gen: 0, len: 20, t0: 3000 }, found: 1, unknown: [], gone: [f1.file] });
    expect(await adopt("c", 20, [ref])).toMatchObject({ found: 0, unknown: [ref], gone: [] });
    expect(await s.registeredFiles([f1.file])).toEqual(new Set());
    expect(await s.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    expect(await s.dueApps(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});

describe("memory store specifics", () => {
  it("clear() forgets tail queues, claims and locks, like a Redis restarted without persistence", async () => {
    // Arrange: a queued region and a claim of another one, its lock held
    const s = new MemoryCoordStore();
    const f = nextBatches();
    await s.registerFiles([withTails(f([]), [[0, 10]])], reg(1000));
    expect(await s.claimTail(0, tailOpts("w"))).not.toBeNull();
    await s.registerFiles([withTails(f([]), [[0, 10]])], reg(1001));
    // Act
    s.clear();
    // Assert: nothing due; a new registration is claimed alone, by a new claim, lock free
    expect(await s.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    const g = withTails(f([]), [[0, 10]]);
    await s.registerFiles([g], reg(2000));
    const c = await s.claimTail(0, tailOpts("w2"));
    expect(c).toMatchObject({ inherited: false, total: 0 });
    expect(entryRefs(c)).toEqual([`${g.file}#t0`]);
  });
});

describe("redis store specifics", () => {
  it("cuts a big drain into scripts of at most DRAIN_SCRIPT_APPS apps and DRAIN_SCRIPT_REFS refs, so no script holds Redis long", async () => {
    const s = new RedisCoordStore({ url: redisUrl, keyPrefix: `chunk-${randomUUID()}` });
    opened.push(s);
    const apps = Array.from({ length: DRAIN_SCRIPT_APPS * 2 + 1 }, (_, i) => `c${i}`);
    const perApp = 4 * Math.ceil(DRAIN_SCRIPT_REFS / DRAIN_SCRIPT_APPS); // so a full script of apps is far over the refs bound
    const files = Array.from({ length: perApp }, (_, i) => batch("t", 0, i * 10, i * 10 + 9, apps.map((a) => [a, 10] as [string, number])));
    await s.registerFiles(files, reg(1000));
    const before = s.roundTrips;
    const claims = await s.acquireDrains(apps, drain("w", { order: [0] }));
    expect(claims).toHaveLength(apps.length);
    expect(claims.every((c) => c.sections.length === perApp)).toBe(true);
    // a claim script stops after the app that brings it to DRAIN_SCRIPT_REFS sections
    const claimScripts = Math.ceil(apps.length / Math.ceil(DRAIN_SCRIPT_REFS / perApp));
    expect(claimScripts).toBeGreaterThan(Math.ceil(apps.length / DRAIN_SCRIPT_APPS));
    expect(s.roundTrips - before).toBe(claimScripts);
    const results = await s.commitDrains("w", claims.map((c) => commitOf(c, 1, true)), 2000);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(s.roundTrips - before).toBe(claimScripts + Math.ceil(apps.length / Math.floor(DRAIN_SCRIPT_REFS / perApp)));
  });

  it("puts every key under one hash tag and makes one round trip per call, however many files or apps fit one script", async () => {
    const prefix = `ht-${randomUUID()}`;
    const s = new RedisCoordStore({ url: redisUrl, keyPrefix: prefix });
    opened.push(s);
    const apps = Array.from({ length: 50 }, (_, i) => `app-${i}`);
    const files = Array.from({ length: 20 }, (_, i) => batch("logs", i % 4, 1000 * i, 1000 * i + 999, apps.map((a) => [a, 10] as [string, number])));
    const before = s.roundTrips;
    await s.registerFiles(files, reg(Date.now(), { drainBytes: 100 }));
    expect(s.roundTrips - before).toBe(1);
    const claims = await s.acquireDrains(apps, drain("w", { order: [0, 1, 2] }));
    expect(claims).toHaveLength(50);
    expect(s.roundTrips - before).toBe(2);
    const results = await s.commitDrains("w", claims.map((c) => commitOf(c, 200, true)), Date.now());
    expect(results.every((r) => r.ok)).toBe(true);
    expect(s.roundTrips - before).toBe(3);
    // the upload tick reads every slot's state in one round trip
    const states = await s.readSlotStates(claims.map((c) => ({ app: c.app, slot: c.slot })));
    expect(s.roundTrips - before).toBe(4);
    expect(states).toHaveLength(50);
    expect(states.every((st) => st.gen === 0 && st.len === 200 && st.t0 > 0)).toBe(true);
    expect(await s.readSlotStates([{ app: "nobody", slot: 3 }])).toEqual([{ gen: 0, len: 0, t0: 0 }]);
    await s.admitApps(apps, 10, Date.now(), 60_000);
    await s.acquireLease("upload", "w", 10_000);
    const keys = await s.redis.keys(`*${prefix}*`);
    expect(keys.length).toBeGreaterThan(50);
    for (const k of keys) expect(k.startsWith(`{${prefix}}:`)).toBe(true);
    // all sections consumed: no file, queue or claim is left
    expect(keys.filter((k) => /:(file|pend|claims):/.test(k))).toEqual([]);
  });

  it("keeps its state bounded over 1,000,000 records of sparse apps with gaps and redeliveries, drained as it goes", async () => {
    const server = await startRedisServer();
    const s = new RedisCoordStore({ url: server.url, keyPrefix: "lp" });
    try {
      const apps = 5000, partitions = 12, records = 1_000_000, perBatch = 500;
      const batches = records / perBatch;
      const rnd = seededRandom(11);
      const next = new Array<number>(partitions).fill(2 ** 33);
      const past: RegisterFile[] = [];
      const memory = async () => Number(/used_memory:(\d+)/.exec(await s.redis.info("memory"))![1]);
      const baseline = await memory();
      let t = 1_700_000_000_000;
      let at20 = 0, peak = 0, redelivered = 0, drained = 0, sections = 0;
      const wave = 20;
      for (let b = 0; b < batches; b += wave) {
        const files: RegisterFile[] = [];
        for (let i = b; i < b + wave; i++) {
          const p = i % partitions;
          const first = next[p]! + (rnd() < 0.1 ? 1 : 0);
          const last = first + perBatch - 1 + (rnd() < 0.1 ? 1 : 0); // a gap inside: one more offset covered
          next[p] = last + 1;
          const perApp = new Map<string, number>();
          for (let r = 0; r < perBatch; r++) {
            // most records come from a few big apps, the rest from a long tail of sparse ones
            const app = rnd() < 0.9 ? `app-${Math.floor(rnd() ** 2 * 50)}` : `app-${50 + Math.floor(rnd() * (apps - 50))}`;
            perApp.set(app, (perApp.get(app) ?? 0) + 1);
          }
          t += 50;
          const f = batch("logs", p, first, last, [...perApp].map(([app, n]) => [app, n * 200]), [t - 1000, t]);
          files.push(f);
          past.push(f);
          sections += perApp.size;
        }
        // the trigger redelivers an old batch with shifted boundaries now and then
        if ((b / wave) % 5 === 4) {
          const old = past[past.length - 1 - Math.floor(rnd() * Math.min(200, past.length))]!;
          files.push(batch(old.topic, old.partition, old.first - 7, old.last + 3, old.sections.map((x) => [x.app, x.len] as [string, number]), [old.minTs, old.maxTs]));
          redelivered++;
        }
        if (past.length > 400) past.splice(0, past.length - 400);
        const registered = await s.registerFiles(files, reg(t, { drainBytes: 256 * 1024, maxRanges: 8, maxGaps: 32 }));
        expect(registered.results.every((r) => r.status !== "known")).toBe(true);
        // hot apps are drained now; every few waves a sweep drains the apps that waited long enough
        const sweep = (b / wave) % 5 === 4 ? await s.dueApps(t - 5 * wave * 50, 5000) : [];
        const due = [...new Set([...registered.hot, ...sweep])];
        const claims = await s.acquireDrains(due, { order: [0, 1], token: `d${b}`, ttlMs: 60_000, maxBytes: 64 << 20, budget: 1 << 30, maxRefs: 1000, now: t });
        const results = await s.commitDrains(`d${b}`, claims.map((c) => commitOf(c, c.sections.reduce((n, x) => n + x.len, 0), true)), t);
        expect(results.every((r) => r.ok)).toBe(true);
        drained += claims.length;
        const used = await memory();
        peak = Math.max(peak, used);
        if (at20 === 0 && b + wave >= batches * 0.2) at20 = used;
      }
      const end = await memory();
      const keys = await s.redis.dbsize();
      console.log(`coord-state: ${records} records, ${batches} batches, ${sections} sections, ${redelivered} redeliveries, ${drained} drains, ${s.roundTrips} round trips; used_memory baseline ${(baseline / 2 ** 20).toFixed(2)} MB, at 20% ${(at20 / 2 ** 20).toFixed(2)} MB, end ${(end / 2 ** 20).toFixed(2)} MB, peak ${(peak / 2 ** 20).toFixed(2)} MB (end/20% ${(end / at20).toFixed(3)}), ${keys} keys`);
      expect(peak).toBeLessThanOrEqual(64 * 2 ** 20);
      expect(end / at20).toBeLessThan(1.5);
      for (let p = 0; p < partitions; p++) {
        const st = await s.readPartition("logs", p);
        expect(st.ranges.length).toBeLessThanOrEqual(8);
        expect(st.gaps.length).toBeLessThanOrEqual(32);
      }
      // only files whose sections wait for the next sweeps are left (at most two sweep intervals)
      const files = await s.redis.keys("{lp}:file:*");
      expect(files.length).toBeLessThanOrEqual(2 * 5 * wave);
    } finally {
      await s.close();
      await server.stop();
    }
  });
});

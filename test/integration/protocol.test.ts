/**
 * The data path's promises, one at a time, on a real redis-server and a real directory:
 * redelivery never duplicates (dedup by offsets per partition, whatever the batch boundaries),
 * a torn tail is cut but a complete uncommitted member is adopted, a writer that lost its lock
 * commits nothing, a drain reads each staging file once and appends one member per app, a
 * staging file goes once every section of it is consumed, and the upload's walk seals or removes
 * an active file only under its slot's lock, whatever Redis (rolled back) says of it.
 */
import { promises as fsp } from "node:fs";
import path from "node:path";
import { crc32, gunzipSync } from "node:zlib";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { ExpectedRecords, verifyArchive } from "../../cli/local/verify.js";
import type { SourceRecord } from "../../cli/sources/types.js";
import type { CoordStore, DrainCommitResult } from "../../functions/adapters/coord-store.js";
import type { NasDir } from "../../functions/adapters/nas.js";
import { compressBuffers, splitBuffers } from "../../functions/core/buffer-pool.js";
import { compressTask } from "../../functions/core/compress.js";
import { MAX_REFS_PER_MEMBER, RetryableError, type DrainTask, type PipelineDeps, type ReconcileEvent } from "../../functions/core/deps.js";
import { unframeRecords } from "../../functions/core/framing.js";
import { activeFilePath, STAGING_DIR } from "../../functions/core/layout.js";
import { scanMembers } from "../../functions/core/members.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload } from "../../functions/core/upload.js";
import { indexLengthOf, stagingIdOf } from "../../functions/core/staging.js";
import { flushPipeline, testPipeline } from "../support/deps.js";

const apps = ["pay", "order", "user", "risk", "search"];
const appOf = (r: SourceRecord) => (JSON.parse(r.value.toString()) as { appId: string }).appId;
const payOf = (list: SourceRecord[]) => list.filter((r) => appOf(r) === "pay");
function records(partition: number, from: number, to: number, topic = "logs"): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (let o = from; o < to; o++) {
    out.push({ topic, partition, offset: o, timestamp: 0, key: null, headers: {}, value: Buffer.from(JSON.stringify({ appId: apps[(o * 7 + partition) % apps.length], p: partition, o })) });
  }
  return out;
}
function expectAll(list: SourceRecord[]): ExpectedRecords {
  const e = new ExpectedRecords();
  for (const r of list) e.add(r.value, appOf(r));
  return e;
}
const sweepTask = (list: string[]): DrainTask => ({ v: 2, apps: list, reason: "sweep" });
/** Records of one app in the archive-line form (framed values, one per line). */
const linesOf = (list: SourceRecord[]) => list.map((r) => r.value.toString());
const unframe = (gz: Buffer) => [...unframeRecords(gunzipSync(gz))].map((b) => b.toString());

/**
 * Every app a section of its own: these tests are about sections (claim, member refs, commit);
 * a tail shard's region has its own (test/integration/outbox.test.ts, coord-store.test.ts).
 */
const SECTIONS = { LOGPIPE_TAIL_SECTION_BYTES: "0" };

/** A pipeline on the test peers whose compress invocations are only recorded (never run). */
function recordingPipeline(opts?: Parameters<typeof testPipeline>[0]) {
  const p = testPipeline({ ...opts, env: { ...SECTIONS, ...opts?.env } });
  const tasks: DrainTask[] = [];
  p.deps.invoker = { invokeCompress: async (t) => void tasks.push(t) };
  return { ...p, tasks };
}

/** The same deps with some coord store methods replaced. */
function withCoord<D extends { coord: CoordStore }>(deps: D, overrides: Partial<CoordStore>): D {
  return { ...deps, coord: Object.assign(Object.create(Object.getPrototypeOf(deps.coord)), deps.coord, overrides) };
}
/** The same deps with some NAS methods replaced. */
function withNas<D extends { nas: NasDir }>(deps: D, overrides: Partial<NasDir>): D {
  return { ...deps, nas: Object.assign(Object.create(Object.getPrototypeOf(deps.nas)), deps.nas, overrides) };
}

/** Polls a condition the test is waiting on (progress, not a fixed time). */
async function until(cond: () => Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const end = performance.now() + limitMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function archiveOf(deps: PipelineDeps, expected: SourceRecord[]) {
  const v = await verifyArchive(deps.objects!, deps.config.prefix, expectAll(expected));
  return { archived: v.archived, lost: v.lost, duplicated: v.duplicated, misrouted: v.misrouted };
}

describe("commit protocol", () => {
  it("archives redelivered records once, whatever the new batch boundaries and order", async () => {
    // Arrange: every app drains at once (hot), so drains run while redeliveries are registered
    const { deps, emulator, close } = testPipeline({ env: { ...SECTIONS, LOGPIPE_DRAIN_BYTES: "1" } });
    const all = [...records(0, 0, 1000), ...records(1, 0, 1000)];
    // Act: first delivery in batches of 100; then overlapping redeliveries with shifted
    // boundaries (137, 250) and partitions interleaved out of order.
    let duplicates = 0;
    for (let o = 0; o < 1000; o += 100) for (const p of [0, 1]) duplicates += (await splitBatch(deps, toCloudEventsBatch(records(p, o, o + 100)))).duplicates;
    await emulator.drain();
    expect(duplicates).toBe(0);
    for (const [start, size] of [[50, 137], [333, 250], [0, 1000]] as const) {
      for (let o = start; o < 1000; o += size) for (const p of [1, 0]) duplicates += (await splitBatch(deps, toCloudEventsBatch(records(p, o, Math.min(1000, o + size))))).duplicates;
    }
    await flushPipeline({ deps, emulator });
    // Assert: every redelivered record was recognised at split (950 + 667 + 1000 per partition)
    expect(duplicates).toBe(2 * (950 + 667 + 1000));
    expect(await archiveOf(deps, all)).toEqual({ archived: 2000, lost: 0, duplicated: 0, misrouted: 0 });
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    expect((await deps.coord.readPartition("logs", 0)).hw).toBe(1000);
    expect(emulator.stats.failed).toBe(0);
    await close();
  });

  it("dedups concurrent redeliveries of the same offsets racing through split", async () => {
    const { deps, emulator, close } = testPipeline({ concurrency: 8, env: { ...SECTIONS, LOGPIPE_DRAIN_BYTES: "1" } });
    const all = records(0, 0, 600);
    // the same 600 offsets in three different batchings, all in flight at once
    const results = await Promise.all([
      ...[0, 200, 400].map((o) => splitBatch(deps, toCloudEventsBatch(records(0, o, o + 200)))),
      ...[0, 300].map((o) => splitBatch(deps, toCloudEventsBatch(records(0, o, o + 300)))),
      splitBatch(deps, toCloudEventsBatch(all)),
    ]);
    await flushPipeline({ deps, emulator });
    // each offset was registered new exactly once, whichever split won the race for it
    expect(results.reduce((n, r) => n + r.records - r.duplicates, 0)).toBe(600);
    expect(await archiveOf(deps, all)).toEqual({ archived: 600, lost: 0, duplicated: 0, misrouted: 0 });
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    await close();
  });

  it("gives splits running at once scratch buffers of their own, and later batches reuse them", async () => {
    // Arrange: batches large enough for split's buffer pool (arena and staging file over 256 KB), four partitions
    const { deps, emulator, close } = testPipeline({ env: SECTIONS });
    const batch = (partition: number, from: number) => records(partition, from, from + 5000);
    const all = [0, 1, 2, 3].flatMap((p) => [...batch(p, 0), ...batch(p, 5000)]);
    // Act: four splits at once, then four one after another
    await Promise.all([0, 1, 2, 3].map((p) => splitBatch(deps, toCloudEventsBatch(batch(p, 0)))));
    const allocatedAtOnce = splitBuffers.allocatedBytes;
    for (const p of [0, 1, 2, 3]) await splitBatch(deps, toCloudEventsBatch(batch(p, 5000)));
    const allocatedAfter = splitBuffers.allocatedBytes;
    // Assert: each staging file holds the bytes its name's checksum was taken over (no split
    // wrote into a buffer another one was writing out), the later splits allocated no arena or
    // staging file of their own, and every record is archived once
    const staged = await deps.nas.walk(STAGING_DIR);
    expect(staged).toHaveLength(8);
    for (const f of staged) {
      const crc = crc32((await deps.nas.read(f.rel))!).toString(16).padStart(8, "0");
      expect(stagingIdOf(f.rel)!.endsWith(`.${crc}`)).toBe(true);
    }
    expect(splitBuffers.keptBytes()).toBeGreaterThan(0);
    expect(allocatedAfter - allocatedAtOnce).toBeLessThan(256 * 1024); // only small buffers, from Node's allocator
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, all)).toEqual({ archived: 40_000, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("gives drains running at once read buffers of their own, and later drains reuse them", async () => {
    // Arrange: two partitions, each batch's app sections over 256 KB (compress's pool keeps those)
    const { deps, emulator, tasks, close } = recordingPipeline();
    const batch = (partition: number, from: number) => records(partition, from, from + 40_000);
    const all = [0, 1].flatMap((p) => [...batch(p, 0), ...batch(p, 40_000)]);
    for (const p of [0, 1]) await splitBatch(deps, toCloudEventsBatch(batch(p, 0)));
    const before = compressBuffers.allocatedBytes;
    // Act: two drains at once (each reads both staging files), then two after the next batches, one after the other
    const first = await Promise.all([compressTask(deps, sweepTask(apps.slice(0, 2))), compressTask(deps, sweepTask(apps.slice(2)))]);
    const allocatedAtOnce = compressBuffers.allocatedBytes;
    for (const p of [0, 1]) await splitBatch(deps, toCloudEventsBatch(batch(p, 40_000)));
    const later = [await compressTask(deps, sweepTask(apps.slice(0, 2))), await compressTask(deps, sweepTask(apps.slice(2)))];
    // Assert: the first drains allocated pooled buffers, the later ones none of their own (only
    // small ones, from Node's allocator), and every record is archived once, intact
    expect([...first, ...later].map((r) => [r.members, r.records > 0])).toEqual([[2, true], [3, true], [2, true], [3, true]]);
    expect(allocatedAtOnce - before).toBeGreaterThan(0);
    expect(compressBuffers.keptBytes()).toBeGreaterThan(0);
    expect(compressBuffers.allocatedBytes - allocatedAtOnce).toBeLessThan(256 * 1024);
    tasks.length = 0;
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, all)).toEqual({ archived: 160_000, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("registers only the new offsets of a partly redelivered batch", async () => {
    const { deps, emulator, close } = recordingPipeline();
    const first = await splitBatch(deps, toCloudEventsBatch(records(0, 0, 100)));
    const overlap = await splitBatch(deps, toCloudEventsBatch(records(0, 50, 150)));
    expect([first.records, first.duplicates]).toEqual([100, 0]);
    expect([overlap.records, overlap.duplicates]).toEqual([100, 50]);
    // both files stay on NAS whole (the second holds 50 old offsets), and the partition moved on to 150
    expect((await deps.nas.walk(STAGING_DIR)).length).toBe(2);
    expect(await deps.coord.readPartition("logs", 0)).toMatchObject({ hw: 150, ranges: [] });
    const r = await compressTask(deps, sweepTask(apps));
    expect(r.records).toBe(150);
    expect(r.filesDeleted).toBe(2);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, records(0, 0, 150))).toEqual({ archived: 150, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("a drain over many apps reads each staging file once and appends one member per app", async () => {
    // Arrange: 4 batches of 2 partitions → 8 staging files, each with a section of all 5 apps
    const { deps, emulator, close } = recordingPipeline();
    const all: SourceRecord[] = [];
    for (let o = 0; o < 400; o += 100) {
      for (const p of [0, 1]) {
        const batch = records(p, o, o + 100);
        all.push(...batch);
        const s = await splitBatch(deps, toCloudEventsBatch(batch));
        expect([s.files, s.apps, s.hot]).toEqual([1, 5, 0]);
      }
    }
    const staged = await deps.nas.walk(STAGING_DIR);
    expect(staged.length).toBe(8);
    const sectionBytes = staged.reduce((n, f) => n + f.size, 0) - (await headerBytes(deps, staged.map((f) => f.rel)));
    // Act: one drain task for every app
    const r = await compressTask(deps, sweepTask(apps));
    // Assert: all sections of every file, each file read once
    expect(r).toMatchObject({ requested: 5, apps: 5, busy: 0, members: 5, records: 800, sections: 40, filesRead: 8, filesDeleted: 8, errors: [] });
    expect(r.bytesIn).toBe(sectionBytes);
    for (const app of apps) {
      const file = (await deps.nas.read(activeFilePath(app, 0, 0)))!;
      const scan = scanMembers(file);
      expect(scan.end).toBe(file.length);
      expect(scan.members).toHaveLength(1);
      const mine = all.filter((x) => appOf(x) === app);
      expect(scan.members[0]!.meta.n).toBe(mine.length);
      expect(scan.members[0]!.meta.r).toHaveLength(8);
      expect(unframe(file).sort()).toEqual(linesOf(mine).sort());
      expect((await deps.coord.readSlotState(app, 0)).len).toBe(file.length);
    }
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, all)).toEqual({ archived: 800, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  /** Stages `count` records of `app` (from the shared record stream), each in a staging file of its own. */
  const stageOneFileEach = async (deps: PipelineDeps, app: string, count: number): Promise<SourceRecord[]> => {
    const staged: SourceRecord[] = [];
    for (let o = 0; staged.length < count; o++) {
      const batch = records(0, o, o + 1).filter((r) => appOf(r) === app);
      if (batch.length === 0) continue;
      staged.push(...batch);
      await splitBatch(deps, toCloudEventsBatch(batch));
    }
    return staged;
  };

  it("a drain of more sections than one member may name appends several members, MAX_REFS_PER_MEMBER sections each, in one write and one commit", async () => {
    // Arrange: "pay" in MAX_REFS_PER_MEMBER + 50 staging files (one record each)
    const { deps, emulator, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const pay = await stageOneFileEach(deps, "pay", MAX_REFS_PER_MEMBER + 50);
    // Act
    const r = await compressTask(deps, sweepTask(["pay"]));
    // Assert: two members (400 + 50 sections) appended at once, every record once, in order
    expect(r).toMatchObject({ apps: 1, members: 2, records: pay.length, sections: pay.length, filesDeleted: pay.length, errors: [] });
    const file = (await deps.nas.read(activeFilePath("pay", 0, 0)))!;
    const scan = scanMembers(file);
    expect(scan.end).toBe(file.length);
    expect(scan.members.map((m) => [m.meta.r.length, m.meta.n])).toEqual([[MAX_REFS_PER_MEMBER, MAX_REFS_PER_MEMBER], [50, 50]]);
    expect(unframe(file)).toEqual(linesOf(pay));
    expect((await deps.coord.readSlotState("pay", 0)).len).toBe(file.length);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, pay)).toEqual({ archived: pay.length, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("a crash inside a several-member append: the next drain adopts the complete members, cuts the torn one and appends its sections again", async () => {
    // Arrange: "pay" in MAX_REFS_PER_MEMBER + 50 staging files; the drain dies half-way through
    // writing its second member (its commit never happens)
    const { deps, emulator, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const reconciled: ReconcileEvent[] = [];
    deps.onReconcile = (e) => reconciled.push(e);
    const pay = await stageOneFileEach(deps, "pay", MAX_REFS_PER_MEMBER + 50);
    let torn = 0;
    const dying = withNas(deps, {
      appendExact: async (rel, _at, data, check) => {
        await check();
        const first = scanMembers(Buffer.from(data)).members[0]!;
        torn = first.size + ((data.length - first.size) >> 1);
        await fsp.mkdir(path.dirname(deps.nas.abs(rel)), { recursive: true }); // the slot's first write
        await fsp.appendFile(deps.nas.abs(rel), data.subarray(0, torn));
        throw new Error("killed mid-append");
      },
    });
    await expect(compressTask(dying, sweepTask(["pay"]))).rejects.toBeInstanceOf(RetryableError);
    expect(await deps.nas.size(activeFilePath("pay", 0, 0))).toBe(torn);
    // Act: the next drain on the slot
    const r = await compressTask(deps, sweepTask(["pay"]));
    // Assert: the first member adopted as it was, the torn bytes cut, the last 50 sections appended once
    expect(r).toMatchObject({ members: 1, records: 50, errors: [] });
    expect(reconciled.map((e) => [e.kind, e.possibleDuplicates])).toEqual([["adopted-members", 0]]);
    const file = (await deps.nas.read(activeFilePath("pay", 0, 0)))!;
    const scan = scanMembers(file);
    expect(scan.end).toBe(file.length);
    expect(scan.members.map((m) => m.meta.r.length)).toEqual([MAX_REFS_PER_MEMBER, 50]);
    expect(unframe(file)).toEqual(linesOf(pay));
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, pay)).toEqual({ archived: pay.length, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("deletes a staging file only once every app's section of it is consumed", async () => {
    const { deps, close } = recordingPipeline();
    await splitBatch(deps, toCloudEventsBatch(records(0, 0, 50)));
    await splitBatch(deps, toCloudEventsBatch(records(0, 50, 100)));
    const staged = (await deps.nas.walk(STAGING_DIR)).map((f) => f.rel).sort();
    expect(staged).toHaveLength(2);
    // two of five apps drained: both files still hold pending sections of the others
    const some = await compressTask(deps, sweepTask(["pay", "order"]));
    expect([some.members, some.sections, some.filesRead, some.filesDeleted]).toEqual([2, 4, 2, 0]);
    expect((await deps.nas.walk(STAGING_DIR)).map((f) => f.rel).sort()).toEqual(staged);
    expect((await deps.coord.registeredFiles(staged.map((f) => stagingIdOf(f)!))).size).toBe(2);
    // the rest: now every section is consumed and both go
    const rest = await compressTask(deps, sweepTask(["user", "risk", "search"]));
    expect([rest.members, rest.sections, rest.filesRead, rest.filesDeleted]).toEqual([3, 6, 2, 2]);
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    expect(some.records + rest.records).toBe(100);
    await close();
  });

  it("a split that dies mid-write leaves a torn staging file under its name: the same batch again replaces it whole, and the reconciler removes one nobody writes again", async () => {
    // Arrange: a split whose staging write dies after half the bytes (as a kill at split.mid-write does)
    const { deps, emulator, close } = testPipeline({ env: SECTIONS });
    const reconciled: ReconcileEvent[] = [];
    deps.onReconcile = (e) => reconciled.push(e);
    const dying = withNas(deps, { writeNamedByContent: (rel, data) => deps.nas.writeNamedByContent(rel, data, () => { throw new Error("killed mid-write"); }) });
    await expect(splitBatch(dying, toCloudEventsBatch(records(0, 0, 100)))).rejects.toThrow("killed mid-write");
    await expect(splitBatch(dying, toCloudEventsBatch(records(1, 0, 100)))).rejects.toThrow("killed mid-write");
    const torn = (await deps.nas.walk(STAGING_DIR)).map((f) => f.rel).sort();
    expect(torn).toHaveLength(2);
    // Act: partition 0's batch comes again with the same boundaries (same name); partition 1's in two halves (other names)
    const again = await splitBatch(deps, toCloudEventsBatch(records(0, 0, 100)));
    for (const o of [0, 50]) await splitBatch(deps, toCloudEventsBatch(records(1, o, o + 50)));
    // Assert: the same name now holds the whole file (its bytes match the CRC-32 in its name)
    expect(again.duplicates).toBe(0);
    const whole = (await deps.nas.read(torn[0]!))!;
    expect(whole.length).toBeGreaterThan(0);
    expect(crc32(whole).toString(16).padStart(8, "0")).toBe(stagingIdOf(torn[0]!)!.split(".").pop());
    // the other torn file is still there, registered by nobody; the reconciler removes it and says so
    expect((await deps.coord.registeredFiles([stagingIdOf(torn[1]!)!])).size).toBe(0);
    const walk = await runUpload({ ...deps, invoker: emulator }, { redriveAll: true, skipLease: true });
    expect([walk.orphansRemoved, walk.redriven]).toEqual([1, 0]);
    expect(await deps.nas.size(torn[1]!)).toBeUndefined();
    expect(reconciled.map((e) => [e.kind, e.possibleDuplicates, e.detail.file])).toEqual([["torn-staging-file", 0, stagingIdOf(torn[1]!)]]);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, [...records(0, 0, 100), ...records(1, 0, 100)])).toEqual({ archived: 200, lost: 0, duplicated: 0, misrouted: 0 });
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    await close();
  });

  it("cuts a torn tail left by a crash mid-append, and never the committed bytes before it", async () => {
    // Arrange: one committed member for pay, then a drain that dies halfway through its append
    const { deps, emulator, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const first = payOf(records(0, 0, 50));
    await splitBatch(deps, toCloudEventsBatch(first));
    await compressTask(deps, sweepTask(["pay"]));
    const active = activeFilePath("pay", 0, 0);
    const committed = (await deps.nas.read(active))!;
    expect((await deps.coord.readSlotState("pay", 0)).len).toBe(committed.length);

    const second = payOf(records(0, 50, 100));
    await splitBatch(deps, toCloudEventsBatch(second));
    let torn = 0;
    const dying = withNas(deps, {
      appendExact: async (rel, at, data, check) => {
        await check();
        torn = data.length >> 1;
        await fsp.appendFile(deps.nas.abs(rel), data.subarray(0, torn)); // the first half reaches NAS
        throw new Error("killed mid-append");
      },
    });
    await expect(compressTask(dying, sweepTask(["pay"]))).rejects.toBeInstanceOf(RetryableError);
    expect((await deps.nas.size(active))!).toBe(committed.length + torn);
    expect(torn).toBeGreaterThan(0);

    // Act: the next drain on that slot (its claimed sections waited for it) plus newer records
    const third = payOf(records(0, 100, 150));
    await splitBatch(deps, toCloudEventsBatch(third));
    const r = await compressTask(deps, sweepTask(["pay"]));

    // Assert: committed prefix intact, torn half gone, one new member with the second and third batches
    expect(r.members).toBe(1);
    expect(r.records).toBe(second.length + third.length);
    const after = (await deps.nas.read(active))!;
    expect(after.subarray(0, committed.length).equals(committed)).toBe(true);
    const scan = scanMembers(after);
    expect(scan.end).toBe(after.length);
    expect(scan.members.map((m) => m.pos)).toEqual([0, committed.length]);
    expect(unframe(after.subarray(committed.length)).sort()).toEqual(linesOf([...second, ...third]).sort());
    expect((await deps.coord.readSlotState("pay", 0)).len).toBe(after.length);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, [...first, ...second, ...third])).toEqual({ archived: first.length + second.length + third.length, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("adopts a complete member whose commit never happened, and cuts only the torn member after it", async () => {
    // Arrange: a committed member, then a drain whose member reaches NAS but whose commit is
    // lost, then half a member from another dying append
    const { deps, emulator, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const reconciled: ReconcileEvent[] = [];
    deps.onReconcile = (e) => reconciled.push(e);
    const first = payOf(records(0, 0, 50));
    await splitBatch(deps, toCloudEventsBatch(first));
    await compressTask(deps, sweepTask(["pay"]));
    const active = activeFilePath("pay", 0, 0);
    const committedLen = (await deps.coord.readSlotState("pay", 0)).len;

    const second = payOf(records(0, 50, 100));
    await splitBatch(deps, toCloudEventsBatch(second));
    const lostCommit = withCoord(deps, {
      commitDrains: async (token, commits) => {
        for (const c of commits) await deps.coord.release(c.app, c.slot, token);
        throw new Error("connection reset: commit lost");
      },
    });
    await expect(compressTask(lostCommit, sweepTask(["pay"]))).rejects.toThrow(/commit lost/);
    const withUncommitted = (await deps.nas.read(active))!;
    expect((await deps.coord.readSlotState("pay", 0)).len).toBe(committedLen);
    expect(scanMembers(withUncommitted).members).toHaveLength(2); // complete, but Redis does not count it
    const half = Buffer.from(withUncommitted.subarray(committedLen, committedLen + ((withUncommitted.length - committedLen) >> 1)));
    await fsp.appendFile(deps.nas.abs(active), half);

    // Act: the next drain on the slot, with newer records
    const third = payOf(records(0, 100, 150));
    await splitBatch(deps, toCloudEventsBatch(third));
    const r = await compressTask(deps, sweepTask(["pay"]));

    // Assert: every byte of both complete members kept, the half member cut, then one new member
    // with only the third batch (the second's sections were consumed by adoption)
    expect(r.records).toBe(third.length);
    const after = (await deps.nas.read(active))!;
    expect(after.subarray(0, withUncommitted.length).equals(withUncommitted)).toBe(true);
    const scan = scanMembers(after);
    expect(scan.end).toBe(after.length);
    expect(scan.members.map((m) => m.pos)).toEqual([0, committedLen, withUncommitted.length]);
    expect(unframe(after.subarray(withUncommitted.length)).sort()).toEqual(linesOf(third).sort());
    expect((await deps.coord.readSlotState("pay", 0)).len).toBe(after.length);
    expect(reconciled.map((e) => [e.kind, e.possibleDuplicates])).toEqual([["adopted-members", 0]]);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, [...first, ...second, ...third])).toEqual({ archived: first.length + second.length + third.length, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("refuses the commit of a writer whose lock expired: its member is adopted by the next holder once, never counted twice", async () => {
    // Arrange: a short lock; writer A stalls between its append and its commit until B is done
    const { deps, emulator, close } = recordingPipeline({
      env: { LOGPIPE_FUNCTION_TIMEOUT: "1s", LOGPIPE_LOCK_TTL: "1500ms", LOGPIPE_LOCK_MARGIN: "200ms", LOGPIPE_MAX_WRITERS_PER_APP: "1" },
    });
    const batch = records(0, 0, 40).filter((r) => appOf(r) === "pay");
    await splitBatch(deps, toCloudEventsBatch(batch));
    const realCommit = deps.coord.commitDrains.bind(deps.coord);
    let aStalled!: (token: string) => void;
    const aToken = new Promise<string>((r) => (aStalled = r));
    let bDone!: () => void;
    const bFinished = new Promise<void>((r) => (bDone = r));
    let aCommit: DrainCommitResult[] | undefined;
    const depsA = withCoord(deps, {
      commitDrains: async (token, commits, now) => {
        aStalled(token);
        await bFinished;
        return (aCommit = await realCommit(token, commits, now));
      },
    });
    // Act: A appends and stalls; once its lock has expired, B (a duplicate invocation) drains pay
    const a = compressTask(depsA, sweepTask(["pay"]));
    const token = await aToken;
    await until(async () => (await deps.coord.lockRemainingMs("pay", 0, token)) <= 0, "A's lock to expire");
    const b = await compressTask(deps, sweepTask(["pay"]));
    const stateAfterB = await deps.coord.readSlotState("pay", 0);
    bDone();
    const aResult = await a;
    // Assert: A's commit was refused and changed nothing; B took over A's member (sealed by copy,
    // as the generation was tainted) and wrote nothing new
    expect(aCommit).toEqual([{ app: "pay", ok: false, reason: "lost-lock" }]);
    expect(aResult.errors.join("\n")).toMatch(/pay: commit refused \(lost-lock\)/);
    expect(await deps.coord.readSlotState("pay", 0)).toEqual(stateAfterB);
    expect(b.members).toBe(0);
    expect(b.errors).toEqual([]);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, batch)).toEqual({ archived: batch.length, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("refuses to write when too little lock time is left, and leaves the claimed sections to the next drain", async () => {
    const { deps, emulator, close } = recordingPipeline();
    const batch = records(0, 0, 20);
    await splitBatch(deps, toCloudEventsBatch(batch));
    const staged = await deps.nas.walk(STAGING_DIR);
    // a lock too short for the local lower bound to vouch for it, so the store is asked
    const config = { ...deps.config, lockTtlMs: 1000, lockMarginMs: 600 };
    const shortLock = withCoord({ ...deps, config }, { lockRemainingMs: async () => 10 });
    const failed = compressTask(shortLock, sweepTask(["pay"]));
    await expect(failed).rejects.toBeInstanceOf(RetryableError);
    await expect(failed).rejects.toThrow(/slot lock lost during append \(only 10 ms of lock left, margin 600 ms\)/);
    expect(await deps.coord.readSlotState("pay", 0)).toEqual({ gen: 0, len: 0, t0: 0 });
    expect(await deps.nas.size(activeFilePath("pay", 0, 0))).toBe(0);
    expect((await deps.nas.walk(STAGING_DIR)).map((f) => f.rel)).toEqual(staged.map((f) => f.rel)); // left for the retry
    // the retry (normal lock) drains what the refused writer had claimed
    const retry = await compressTask(deps, sweepTask(["pay"]));
    expect(retry.records).toBe(batch.filter((r) => appOf(r) === "pay").length);
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, batch)).toEqual({ archived: 20, lost: 0, duplicated: 0, misrouted: 0 });
    await close();
  });

  it("reports the release to a tracer before the lock is free, so traces never show two holders of a slot", async () => {
    // Arrange: on every traced event, probe whether the slot is still taken
    const { deps, close } = recordingPipeline();
    await splitBatch(deps, toCloudEventsBatch(records(0, 0, 20)));
    const seen: { event: string; taken: boolean }[] = [];
    const slotTaken = () => deps.coord.acquireSlot("pay", 0, "probe", 1000).then(async (s) => (s ? (await deps.coord.release("pay", 0, "probe"), false) : true));
    const probes: Promise<void>[] = [];
    const traced = { ...deps, onSlotEvent: (e: { event: string }) => void probes.push(slotTaken().then((taken) => void seen.push({ event: e.event, taken }))) };
    // Act
    const r = await compressTask(traced, sweepTask(["pay"]));
    await Promise.all(probes);
    // Assert: when "release" was heard the slot was still held; afterwards it is free
    expect(r.members).toBe(1);
    expect(seen.map((e) => e.event)).toEqual(["acquire", "release"]);
    expect(seen.every((e) => e.taken)).toBe(true);
    expect(await slotTaken()).toBe(false);
    await close();
  });

  it("asks the coord store for lock time only when the lock may be near its end", async () => {
    // Arrange: the default lock (minutes) is fresh when compress appends
    const { deps, close } = recordingPipeline();
    await splitBatch(deps, toCloudEventsBatch(records(0, 0, 20)));
    let asked = 0;
    const counting = withCoord(deps, { lockRemainingMs: async () => (asked++, -1) });
    // Act
    const r = await compressTask(counting, sweepTask(apps));
    // Assert: committed without asking (the store would have said the lock is gone)
    expect([r.members, r.records, r.errors]).toEqual([5, 20, []]);
    expect(asked).toBe(0);
    await close();
  });
});

/**
 * Every key of a pipeline's Redis namespace (`{prefix}:…`), saved now; `restore()` puts the
 * namespace back exactly as saved (keys made since are deleted): what a failover to a replica
 * that lagged since this point does to the coordination state.
 */
async function saveNamespace(prefix: string): Promise<{ restore(): Promise<void> }> {
  const redis = new Redis(process.env.LOGPIPE_TEST_REDIS_URL!);
  const pattern = `{${prefix}}:*`;
  const saved = await Promise.all((await redis.keys(pattern)).map(async (key) => ({ key, value: (await redis.dumpBuffer(key))!, ttl: await redis.pttl(key) })));
  return {
    async restore() {
      const now = await redis.keys(pattern);
      if (now.length > 0) await redis.del(...now);
      for (const { key, value, ttl } of saved) await redis.restore(key, Math.max(0, ttl), value, "REPLACE");
      redis.disconnect();
    },
  };
}

describe("when Redis forgets", () => {
  it("seals a generation Redis forgot under the slot's lock: a drain that adopts and appends to it at that moment loses nothing", async () => {
    // Arrange: pay's generation 0 committed, Redis saved; then gen 0 sealed and gen 1 written;
    // then Redis rolled back: it counts bytes in gen 0 (gone, archived) and knows nothing of gen 1
    const { deps, emulator, prefix, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const reconciled: ReconcileEvent[] = [];
    deps.onReconcile = (e) => reconciled.push(e);
    const [first, second, third] = [payOf(records(0, 0, 50)), payOf(records(0, 50, 100)), payOf(records(0, 100, 150))];
    await splitBatch(deps, toCloudEventsBatch(first));
    await compressTask(deps, sweepTask(["pay"]));
    const redisAtGen0 = await saveNamespace(prefix);
    expect((await runUpload(deps, { sealAll: true, skipLease: true })).uploaded).toBe(1);
    await splitBatch(deps, toCloudEventsBatch(second));
    await compressTask(deps, sweepTask(["pay"]));
    await redisAtGen0.restore();
    const gen1 = activeFilePath("pay", 0, 1);
    expect((await deps.coord.readSlotState("pay", 0)).gen).toBe(0);
    expect(scanMembers((await deps.nas.read(gen1))!).members).toHaveLength(1);
    await splitBatch(deps, toCloudEventsBatch(third));

    // Act: a drain-everything upload walks the active tree; as it reads gen 1's file (a
    // generation Redis does not know), a drain of pay runs to its end — one that, holding the
    // lock, would skip to gen 1, adopt its member and append the third batch after it
    let drain: Promise<unknown> | undefined;
    const walker = withNas(deps, {
      read: async (rel) => {
        const bytes = await deps.nas.read(rel);
        if (rel === gen1 && !drain) await (drain = compressTask(deps, sweepTask(["pay"])));
        return bytes;
      },
    });
    await runUpload(walker, { sealAll: true, skipLease: true });

    // Assert: the walk's seal and the drain did not both touch gen 1; once everything is drained
    // and sealed, every batch is archived exactly once
    expect(drain).toBeDefined();
    expect(reconciled.map((e) => e.kind)).toContain("untracked-generation-sealed");
    await flushPipeline({ deps, emulator });
    expect(await archiveOf(deps, [...first, ...second, ...third])).toEqual({ archived: first.length + second.length + third.length, lost: 0, duplicated: 0, misrouted: 0 });
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    await close();
  });

  it("removes an orphan of an older generation only under the slot's lock (a rollback can make that generation current again)", async () => {
    // Arrange: pay sealed once (gen 1 now), then gen 0's file written again, as by a writer that
    // lost its lock, and left for longer than a lock TTL; a drain holds pay's slot
    const { deps, close } = recordingPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1", LOGPIPE_SLOT_WAIT: "300ms" } });
    await splitBatch(deps, toCloudEventsBatch(payOf(records(0, 0, 50))));
    await compressTask(deps, sweepTask(["pay"]));
    await runUpload(deps, { sealAll: true, skipLease: true });
    const orphan = activeFilePath("pay", 0, 0);
    await fsp.writeFile(deps.nas.abs(orphan), Buffer.from("late write of a frozen writer"));
    const longAgo = new Date(Date.now() - 2 * deps.config.lockTtlMs);
    await fsp.utimes(deps.nas.abs(orphan), longAgo, longAgo);
    expect(await deps.coord.acquireSlot("pay", 0, "a-drain", deps.config.lockTtlMs)).toMatchObject({ gen: 1 });

    // Act + Assert: while the drain holds the slot the walk leaves the file; once it is free, removes it
    expect((await runUpload(deps, { sealAll: true, skipLease: true })).orphansRemoved).toBe(0);
    expect(await deps.nas.size(orphan)).toBeGreaterThan(0);
    await deps.coord.release("pay", 0, "a-drain");
    expect((await runUpload(deps, { sealAll: true, skipLease: true })).orphansRemoved).toBe(1);
    expect(await deps.nas.size(orphan)).toBeUndefined();
    await close();
  });
});

/** Bytes of the staging files' headers (magic, length, index): what a drain never reads. */
async function headerBytes(deps: PipelineDeps, files: string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += indexLengthOf((await deps.nas.readRange(f, 0, 64 * 1024))!);
  return n;
}

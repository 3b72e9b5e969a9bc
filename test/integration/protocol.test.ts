/**
 * The commit protocol's promises, one at a time, on a real redis-server and a real directory:
 * redelivery never duplicates, a torn tail is repaired, a writer that lost its lock commits nothing.
 */
import { promises as fsp } from "node:fs";
import { describe, expect, it } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { ExpectedRecords, verifyArchive } from "../../cli/local/verify.js";
import type { SourceRecord } from "../../cli/sources/types.js";
import { compressChunk } from "../../functions/core/compress.js";
import { activeFilePath, STAGING_DIR } from "../../functions/core/layout.js";
import { LockLostError } from "../../functions/core/seal.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload } from "../../functions/core/upload.js";
import type { ChunkPointer } from "../../functions/core/deps.js";
import type { CoordStore } from "../../functions/adapters/coord-store.js";
import { testPipeline } from "../support/deps.js";

const apps = ["pay", "order", "user", "risk", "search"];
function records(partition: number, from: number, to: number): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (let o = from; o < to; o++) {
    out.push({ topic: "logs", partition, offset: o, timestamp: 0, key: null, headers: {}, value: Buffer.from(JSON.stringify({ appId: apps[(o * 7 + partition) % apps.length], p: partition, o })) });
  }
  return out;
}
function expectAll(list: SourceRecord[]): ExpectedRecords {
  const e = new ExpectedRecords();
  for (const r of list) e.add(r.value, JSON.parse(r.value.toString()).appId);
  return e;
}

/** A pipeline on the test peers with one 20-record batch split; compress not yet run. */
async function splitOneBatch(opts?: Parameters<typeof testPipeline>[0]) {
  const { deps, close } = testPipeline(opts);
  const pointers: ChunkPointer[] = [];
  deps.invoker = { invokeCompress: async (p) => void pointers.push(p) };
  await splitBatch(deps, toCloudEventsBatch(records(0, 0, 20)));
  return { deps, close, pointer: pointers[0]! };
}

/** The same deps with some coord store methods replaced. */
function withCoord<D extends { coord: CoordStore }>(deps: D, overrides: Partial<CoordStore>): D {
  return { ...deps, coord: Object.assign(Object.create(Object.getPrototypeOf(deps.coord)), deps.coord, overrides) };
}

describe("commit protocol", () => {
  it("archives redelivered records once, whatever the new batch boundaries and order", async () => {
    // Arrange
    const { deps, emulator, close } = testPipeline();
    const all = [...records(0, 0, 1000), ...records(1, 0, 1000)];
    // Act: first delivery in batches of 100; then overlapping redeliveries with shifted
    // boundaries (137, 250) and partitions interleaved out of order.
    for (let o = 0; o < 1000; o += 100) for (const p of [0, 1]) await splitBatch(deps, toCloudEventsBatch(records(p, o, o + 100)));
    await emulator.drain();
    for (const [start, size] of [[50, 137], [333, 250], [0, 1000]] as const) {
      for (let o = start; o < 1000; o += size) for (const p of [1, 0]) await splitBatch(deps, toCloudEventsBatch(records(p, o, Math.min(1000, o + size))));
    }
    await emulator.drain();
    await runUpload(deps, { sealAll: true });
    // Assert
    const v = await verifyArchive(deps.objects!, deps.config.prefix, expectAll(all));
    expect({ archived: v.archived, lost: v.lost, duplicated: v.duplicated, misrouted: v.misrouted }).toEqual({ archived: 2000, lost: 0, duplicated: 0, misrouted: 0 });
    expect(await deps.nas.walk(STAGING_DIR)).toEqual([]);
    await close();
  });

  it("dedups concurrent redeliveries of the same offsets racing on different slots", async () => {
    const { deps, emulator, close } = testPipeline({ concurrency: 8 });
    const all = records(0, 0, 600);
    // the same 600 offsets in three different batchings, all in flight at once
    await Promise.all([
      ...[0, 200, 400].map((o) => splitBatch(deps, toCloudEventsBatch(records(0, o, o + 200)))),
      ...[0, 300].map((o) => splitBatch(deps, toCloudEventsBatch(records(0, o, o + 300)))),
      splitBatch(deps, toCloudEventsBatch(all)),
    ]);
    await emulator.drain();
    await runUpload(deps, { sealAll: true });
    const v = await verifyArchive(deps.objects!, deps.config.prefix, expectAll(all));
    expect({ archived: v.archived, lost: v.lost, duplicated: v.duplicated }).toEqual({ archived: 600, lost: 0, duplicated: 0 });
    await close();
  });

  it("repairs a torn tail: bytes past the committed length never reach the archive", async () => {
    // Arrange: one committed member, then garbage appended as if a writer died mid-append
    const { deps, emulator, close } = testPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "1" } });
    const first = records(0, 0, 50).filter((r) => JSON.parse(r.value.toString()).appId === "pay");
    await splitBatch(deps, toCloudEventsBatch(first));
    await emulator.drain();
    const active = activeFilePath("pay", 0, 0);
    const committed = (await fsp.stat(deps.nas.abs(active))).size;
    await fsp.appendFile(deps.nas.abs(active), Buffer.from("\x1f\x8b torn half-written member"));
    // Act: the next writer on that slot appends more, then the uploader seals
    const second = records(0, 50, 100).filter((r) => JSON.parse(r.value.toString()).appId === "pay");
    await splitBatch(deps, toCloudEventsBatch(second));
    await emulator.drain();
    // Assert: the garbage was cut before the new member was written
    const state = await deps.coord.readSlotState("pay", 0);
    expect((await fsp.stat(deps.nas.abs(active))).size).toBe(state.len);
    expect(state.len).toBeGreaterThan(committed);
    await runUpload(deps, { sealAll: true });
    const v = await verifyArchive(deps.objects!, deps.config.prefix, expectAll([...first, ...second]));
    expect({ archived: v.archived, lost: v.lost, duplicated: v.duplicated }).toEqual({ archived: first.length + second.length, lost: 0, duplicated: 0 });
    await close();
  });

  it("rejects the commit of a writer whose lock expired, and its bytes are never committed", async () => {
    // Arrange: a short lock; writer A stalls between its append and its commit past the TTL
    const { deps, close } = testPipeline({
      env: { LOGPIPE_FUNCTION_TIMEOUT: "1s", LOGPIPE_LOCK_TTL: "1500ms", LOGPIPE_LOCK_MARGIN: "200ms", LOGPIPE_MAX_WRITERS_PER_APP: "1" },
    });
    const pointers: ChunkPointer[] = [];
    deps.invoker = { invokeCompress: async (p) => void pointers.push(p) };
    const batch = records(0, 0, 40).filter((r) => JSON.parse(r.value.toString()).appId === "pay");
    await splitBatch(deps, toCloudEventsBatch(batch));
    const realCommit = deps.coord.commit.bind(deps.coord);
    let stalled = false;
    const depsA = withCoord(deps, {
      commit: async (...args: Parameters<typeof realCommit>) => {
        if (!stalled) {
          stalled = true;
          await new Promise((r) => setTimeout(r, 1800)); // past the TTL: B takes the slot meanwhile
        }
        return realCommit(...args);
      },
    });
    // Act: A starts; once its lock has expired, B (a duplicate invocation) processes the same chunk
    const a = compressChunk(depsA, pointers[0]!);
    await new Promise((r) => setTimeout(r, 1600));
    const b = await compressChunk(deps, pointers[0]!);
    const aResult = await a.then(() => "committed", (e) => e);
    // Assert
    expect(b.status).toBe("committed");
    expect(aResult).toBeInstanceOf(LockLostError);
    await runUpload(deps, { sealAll: true });
    const v = await verifyArchive(deps.objects!, deps.config.prefix, expectAll(batch));
    expect({ archived: v.archived, lost: v.lost, duplicated: v.duplicated }).toEqual({ archived: batch.length, lost: 0, duplicated: 0 });
    await close();
  });

  it("refuses to write when too little lock time is left", async () => {
    const { deps, close, pointer } = await splitOneBatch();
    // a lock too short for the local lower bound to vouch for it, so the store is asked
    const config = { ...deps.config, lockTtlMs: 1000, lockMarginMs: 600 };
    const shortLock = withCoord({ ...deps, config }, { lockRemainingMs: async () => 10 });
    await expect(compressChunk(shortLock, pointer)).rejects.toBeInstanceOf(LockLostError);
    const app = pointer.app;
    expect(await deps.coord.readSlotState(app, 0)).toEqual({ gen: 0, len: 0, t0: 0 });
    expect(await deps.nas.size(activeFilePath(app, 0, 0))).toBe(0);
    expect(await deps.nas.exists(pointer.chunk)).toBe(true); // left for the retry
    await close();
  });

  it("reports the release to a tracer before the lock is free, so traces never show two holders of a slot", async () => {
    // Arrange: on every traced event, probe whether the slot is still taken
    const { deps, close, pointer } = await splitOneBatch();
    const seen: { event: string; taken: boolean }[] = [];
    const slotTaken = () => deps.coord.tryAcquireSlot(pointer.app, [0], "probe", 1000, "").then(async (g) => (g ? (await deps.coord.release(pointer.app, 0, "probe"), false) : true));
    const probes: Promise<void>[] = [];
    const traced = { ...deps, onSlotEvent: (e: { event: string }) => void probes.push(slotTaken().then((taken) => void seen.push({ event: e.event, taken }))) };
    // Act
    const r = await compressChunk(traced, pointer);
    await Promise.all(probes);
    // Assert: when "release" was heard the slot was still held; afterwards it is free
    expect(r.status).toBe("committed");
    expect(seen.map((e) => e.event)).toEqual(["acquire", "release"]);
    expect(seen.every((e) => e.taken)).toBe(true);
    expect(await slotTaken()).toBe(false);
    await close();
  });

  it("asks the coord store for lock time only when the lock may be near its end", async () => {
    // Arrange: the default lock (minutes) is fresh when compress appends
    const { deps, close, pointer } = await splitOneBatch();
    let asked = 0;
    const counting = withCoord(deps, { lockRemainingMs: async () => (asked++, -1) });
    // Act
    const r = await compressChunk(counting, pointer);
    // Assert: committed without asking (the store would have said the lock is gone)
    expect(r.status).toBe("committed");
    expect(asked).toBe(0);
    await close();
  });
});

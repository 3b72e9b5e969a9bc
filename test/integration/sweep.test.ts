/**
 * The sweep's schedule: apps are drained in step (the ladder, the epoch), so a staging file is read
 * at a few ticks, not once per app at the moment that app happens to reach the minimum.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { DrainTask } from "../../functions/core/deps.js";
import { splitBatch } from "../../functions/core/split.js";
import { drainSchedule, runUpload } from "../../functions/core/upload.js";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { testPipeline, type TestPipeline } from "../support/deps.js";

let p: TestPipeline | undefined;
afterEach(async () => {
  await p?.close();
  p = undefined;
});

const T0 = Date.UTC(2026, 11, 1, 10, 0);
const MINUTE = 60_000;

/** One batch: `bytes` of records (about 200 bytes each) per app, offsets from `offset`. */
function batch(offset: number, perApp: Record<string, number>): Buffer {
  const records: { app: string; offset: number }[] = [];
  for (const [app, bytes] of Object.entries(perApp)) for (let i = 0; i < Math.max(1, Math.round(bytes / 200)); i++) records.push({ app, offset: offset + records.length });
  return toCloudEventsBatch(records.map(({ app, offset: o }) => ({
    topic: "logs", partition: 0, offset: o, timestamp: T0 + o, key: null, headers: {},
    value: Buffer.from(JSON.stringify({ appId: app, msg: "x".repeat(170) })),
  })));
}

describe("drainSchedule", () => {
  it("puts the epoch at the largest power-of-two multiple of the drain age within a sixth of the max age, the ladder below it", () => {
    expect(drainSchedule(60_000, 3_600_000)).toEqual({ epochMs: 480_000, ladderMs: [120_000, 240_000] });
    expect(drainSchedule(10_000, 2_400_000)).toEqual({ epochMs: 320_000, ladderMs: [20_000, 40_000, 80_000, 160_000] });
    expect(drainSchedule(600_000, 3_600_000)).toEqual({ epochMs: 600_000, ladderMs: [] }); // the drain age is the epoch
    expect(drainSchedule(0, 3_600_000)).toEqual({ epochMs: 600_000, ladderMs: [] }); // no drain age: no ladder (and no endless loop)
  });
});

describe("the sweep's schedule", () => {
  it("drains apps on the ladder's steps: a busy app every second tick, a slower one at the epochs, the long tail not before its wave", async () => {
    // Arrange: drain age 1 min, minimum 40 KB; the local seal age (10 min) gives a 40-min max age,
    // an epoch of 4 minutes and a ladder of 2. A batch every minute, half a minute before the tick.
    // Every app a section of its own (no tail regions: those go by shard, not on the ladder).
    p = testPipeline({ env: { LOGPIPE_DRAIN_AGE: "60s", LOGPIPE_DRAIN_MIN_BYTES: "40KB", LOGPIPE_TAIL_SECTION_BYTES: "0" } });
    expect(drainSchedule(p.deps.config.drainAgeMs, p.deps.config.drainMaxAgeMs)).toEqual({ epochMs: 4 * MINUTE, ladderMs: [2 * MINUTE] });
    let now = T0;
    p.deps.now = () => now;
    const drained: string[][] = []; // per tick, the apps its sweep sent
    const hot: string[] = []; // apps split sent (none expected: far below the 8 MB hot threshold)
    let ticking = false;
    const emulator = p.emulator;
    const invoker = { invokeCompress: async (t: DrainTask) => { (ticking ? drained[drained.length - 1]! : hot).push(...t.apps); await emulator.invokeCompress(t); } };

    // Act: nine minutes of traffic, a tick at the end of each; "steady" starts in the second minute
    for (let m = 0; m < 9; m++) {
      now = T0 + m * MINUTE + 30_000;
      await splitBatch({ ...p.deps, invoker }, batch(m * 1000, { busy: 48_000, rare: 100, ...(m > 0 ? { steady: 6_000 } : {}) }));
      now = T0 + (m + 1) * MINUTE;
      drained.push([]);
      ticking = true;
      const r = await runUpload({ ...p.deps, invoker }, { skipLease: true });
      ticking = false;
      expect(r.errors).toEqual([]);
      await emulator.drain();
    }

    // Assert: ticks 1…9; the first claims every step. busy (more than the minimum a minute) goes at
    // every second tick, with everything staged before the tick before, and never hot (8 MB);
    // steady (6 KB a minute: under half the minimum in two minutes, over the epoch's 4 KB in four)
    // at the epochs; rare (100 B a minute) not at all: it waits for its wave.
    const ticksOf = (app: string) => drained.flatMap((apps, i) => (apps.includes(app) ? [i + 1] : []));
    expect(hot).toEqual([]);
    expect(ticksOf("busy")).toEqual([1, 3, 5, 7, 9]);
    expect(drained[0]).not.toContain("steady");
    expect(ticksOf("steady")).toEqual([5, 9]);
    expect(ticksOf("rare")).toEqual([]);
  });
});

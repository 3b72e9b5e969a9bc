/**
 * The steady state's repeated runs: each function is booked from the run where it used the least
 * CPU (the work is the same; a loaded machine only adds time), everything else from the first run.
 */
import { describe, expect, it } from "vitest";
import { leastCpuWindow, withoutStandInIdle } from "../../bench/run.js";
import type { FunctionStats, PipelineResult, PipelineWindow } from "../../bench/child.js";
import { floorBatchOf } from "../../bench/floor.js";
import { redisCpuMs } from "../../bench/redis-time.js";
import { emptyNasOpCounts } from "../../functions/adapters/nas-latency.js";
import { emptyObjectRequestCounts } from "../../functions/adapters/object-store-latency.js";

const fn = (cpuMs: number, roundTrips = 0): FunctionStats => ({ invocations: 1, ms: cpuMs, cpuMs, roundTrips, redisServerMs: 0, nas: emptyNasOpCounts(), oss: emptyObjectRequestCounts() });
const window = (records: number, split: number, compress: number, upload: number): PipelineWindow => ({
  fromMs: 0, toMs: 60_000, records, batches: 1, members: 1, hotTasks: 0, sweepTasks: 1, sealed: 0, uploaded: 1, uploadedBytes: 1,
  functions: { split: fn(split, 1), compress: fn(compress, 2), upload: fn(upload, 3) },
});

describe("leastCpuWindow", () => {
  it("books each function from its least-CPU run and the rest from the first run", () => {
    // Arrange: split was slowed in the first run, compress and upload in the second
    const runs = [{ window: window(100, 50, 10, 5) }, { window: window(999, 30, 14, 6) }];
    // Act
    const w = leastCpuWindow(runs);
    // Assert
    expect([w.functions.split.cpuMs, w.functions.compress.cpuMs, w.functions.upload.cpuMs]).toEqual([30, 10, 5]);
    expect(w.records).toBe(100);
  });

  it("refuses a run without a window", () => {
    expect(() => leastCpuWindow([{ window: window(1, 1, 1, 1) }, { window: undefined }])).toThrow(/no window/);
  });
});

describe("floorBatchOf (the lockstep floor's batch after each step)", () => {
  it("takes every booked batch exactly once over the booked stretch", () => {
    // Arrange: batches 0–9, booked from batch 4
    const taken = [];
    // Act
    for (let b = 4; b < 10; b++) taken.push(floorBatchOf(b, 4, 10));
    // Assert
    expect([...taken].sort((x, y) => x - y)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it("never takes the batch just split while more than one is booked (its bytes are still cached)", () => {
    for (const [start, batches] of [[0, 2], [3, 10], [65, 391], [0, 7]] as const) {
      for (let b = start; b < batches; b++) expect(floorBatchOf(b, start, batches)).not.toBe(b);
    }
  });
});

describe("redisCpuMs (Redis's time on a handler's commands)", () => {
  it("reads the main thread's CPU from INFO cpu, and the process's where Redis has no per-thread figures", () => {
    // Arrange: INFO cpu as Redis 7 and Redis 6.0 print it
    const v7 = "# CPU\r\nused_cpu_sys:0.917807\r\nused_cpu_user:3.265272\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:0.908552\r\nused_cpu_user_main_thread:3.261360\r\n";
    const v6 = "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\nused_cpu_sys_children:0.000000\r\n";
    // Act / Assert
    expect(redisCpuMs(v7)).toBeCloseTo(4169.912, 3);
    expect(redisCpuMs(v6)).toBeCloseTo(3750, 6);
    expect(() => redisCpuMs("# CPU\r\n")).toThrow(/used_cpu_user/);
  });
});

describe("the \"off\" figure", () => {
  it("leaves out the time each handler sat idle waiting for the OSS stand-in, from the function and the run", () => {
    // Arrange: upload waited 40 ms of its 100 for the stand-in, split 0
    const functions = { split: fn(300), compress: fn(100), upload: { ...fn(100), oss: { requests: 3, modelledMs: 0, standInIdleMs: 40 } } };
    const run = { ms: 500, functions } as unknown as PipelineResult;
    // Act
    const off = withoutStandInIdle(run);
    // Assert
    expect([off.functions.split.ms, off.functions.compress.ms, off.functions.upload.ms]).toEqual([300, 100, 60]);
    expect(off.ms).toBe(460);
    expect(run.functions.upload.ms).toBe(100); // the run's own figures are left as they were
  });
});

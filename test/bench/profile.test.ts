/**
 * A data-path profile holds split, compress and upload in one process, one invocation at a time:
 * each sample is booked to the handler whose invocation it fell in, by the spans the bench's child
 * records on the profiler's clock.
 */
import { describe, expect, it } from "vitest";
import { summarizeByHandler, summarizeProfile, type CpuProfile, type InvocationSpan } from "../../bench/profile.js";

const frame = (functionName: string) => ({ functionName, url: "file:///repo/functions/core/x.ts", lineNumber: 0 });

/** A profile from `startUs` with one sample per entry of `leaves`, 100 µs apart (leaf function names). */
function profileOf(startUs: number, leaves: string[]): CpuProfile {
  const names = [...new Set(leaves)];
  const nodes = [{ id: 1, callFrame: frame("(root)"), children: names.map((_, i) => i + 2) }, ...names.map((n, i) => ({ id: i + 2, callFrame: frame(n) }))];
  return {
    nodes,
    samples: leaves.map((n) => names.indexOf(n) + 2),
    timeDeltas: leaves.map(() => 100),
    startTime: startUs,
    endTime: startUs + 100 * (leaves.length + 1),
  };
}

const selfMs = (s: ReturnType<typeof summarizeProfile>) => Object.fromEntries(s.top.map((f) => [f.name, f.selfMs]));

describe("summarizeProfile with invocation spans", () => {
  // samples at 1,100 µs, 1,200 µs, … 1,800 µs; each weighs the 100 µs to the next (the last weighs 0)
  const profile = profileOf(1_000, ["parse", "parse", "gzip", "gzip", "gzip", "idle-wait", "put", "put"]);
  const spans: InvocationSpan[] = [
    { fn: "split", startUs: 1_050, endUs: 1_250 }, // samples at 1,100 and 1,200
    { fn: "compress", startUs: 1_250, endUs: 1_550 }, // 1,300, 1,400, 1,500
    { fn: "upload", startUs: 1_650, endUs: 1_900 }, // 1,700, 1,800 (1,600 falls between invocations)
  ];

  it("books each sample to the handler whose invocation it fell in", () => {
    // Act
    const byHandler = summarizeByHandler(profile, spans);
    // Assert
    expect(Object.keys(byHandler)).toEqual(["split", "compress", "upload"]);
    expect(selfMs(byHandler.split!)).toEqual({ parse: 0.2 });
    expect(selfMs(byHandler.compress!)).toEqual({ gzip: 0.3 });
    expect(selfMs(byHandler.upload!)).toEqual({ put: 0.1 }); // the last sample has no time after it
    expect(byHandler.compress!.invocations).toBe(1);
  });

  it("leaves out samples between invocations (the harness's own work)", () => {
    // Act
    const all = summarizeProfile(profile);
    const booked = Object.values(summarizeByHandler(profile, spans)).reduce((t, s) => t + s.totalMs, 0);
    // Assert
    expect(all.totalMs).toBeCloseTo(0.7, 6);
    expect(booked).toBeCloseTo(0.6, 6);
    expect(all.invocations).toBeUndefined();
  });

  it("takes spans in any order and counts each of a handler's invocations", () => {
    // Arrange: two compress invocations, listed out of order
    const two: InvocationSpan[] = [
      { fn: "compress", startUs: 1_450, endUs: 1_550 },
      { fn: "compress", startUs: 1_050, endUs: 1_150 },
    ];
    // Act
    const s = summarizeProfile(profile, 25, two);
    // Assert
    expect(selfMs(s)).toEqual({ parse: 0.1, gzip: 0.1 });
    expect(s.invocations).toBe(2);
  });
});

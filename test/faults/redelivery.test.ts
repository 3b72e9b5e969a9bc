/**
 * Redelivery: the trigger delivers at least once, and a redelivered batch need not have the
 * boundaries of the first delivery. Batches here overlap with shifted boundaries, repeat
 * exactly, mix partitions, and arrive out of order across partitions, to several instances at
 * once (so overlapping chunks race for the commit) — with and without kills. The offsets claim
 * in the commit must keep every record exactly once.
 */
import { afterAll, describe, expect, test } from "vitest";
import { seededRandom } from "../../cli/sources/synthetic.js";
import { describeResult, runScenario, Summary } from "./support/harness.js";
import type { BatchDescriptor, PartRange } from "./support/records.js";

const redisUrl = process.env.LOGPIPE_FAULT_REDIS_URL!;
const summary = new Summary("redelivery");
afterAll(() => summary.flush());

/** Every offset of every partition at least once, plus shifted, repeated and mixed-partition redeliveries, shuffled. */
function redeliveries(seed: number, partitions: number, perPartition: number): BatchDescriptor[] {
  const rand = seededRandom(seed);
  const batches: BatchDescriptor[] = [];
  let id = 0;
  const add = (parts: PartRange[]) => batches.push({ id: `r${id++}`, parts });
  for (let p = 0; p < partitions; p++) {
    // first delivery: consecutive batches of varying size
    for (let from = 0; from < perPartition; ) {
      const to = Math.min(perPartition, from + 300 + Math.floor(rand() * 1500));
      add([{ partition: p, from, to }]);
      from = to;
    }
    // redeliveries with shifted boundaries (straddling the first delivery's batches)
    for (let from = Math.floor(rand() * 700); from < perPartition; from += 900 + Math.floor(rand() * 2500)) {
      add([{ partition: p, from, to: Math.min(perPartition, from + 200 + Math.floor(rand() * 2000)) }]);
    }
  }
  // exact repeats of some batches, and batches that mix slices of several partitions
  for (const b of batches.slice()) if (rand() < 0.15) add(b.parts);
  for (let i = 0; i < 30; i++) {
    const parts: PartRange[] = [];
    for (let p = 0; p < partitions; p++) {
      if (rand() < 0.6) {
        const from = Math.floor(rand() * (perPartition - 500));
        parts.push({ partition: p, from, to: from + 100 + Math.floor(rand() * 400) });
      }
    }
    if (parts.length) add(parts.reverse());
  }
  // out of order across partitions (and within): shuffle
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  return batches;
}

describe("redelivered, overlapping, shifted, out-of-order batches", () => {
  test("the batch plan really overlaps", () => {
    const b = redeliveries(1, 4, 20_000);
    const delivered = b.reduce((n, x) => n + x.parts.reduce((m, r) => m + r.to - r.from, 0), 0);
    expect(delivered).toBeGreaterThan(1.3 * 4 * 20_000);
  });

  for (const [seed, kills] of [[21, false], [22, false], [23, true]] as const) {
    test(`plan ${seed}${kills ? " with kills at random points" : ""}`, async () => {
      const batches = redeliveries(seed, 4, 20_000);
      const delivered = batches.reduce((n, x) => n + x.parts.reduce((m, r) => m + r.to - r.from, 0), 0);
      const r = await runScenario({
        name: `redeliver-${seed}`, seed, partitions: 4, perPartition: 20_000, batches,
        procs: 2, compressConcurrency: 4, maxSpawns: 12, redisUrl, objects: { kind: "local", dir: "" },
        crashAt: kills ? (n, crashes) => (crashes < 5 ? `random:0.002:${seed * 1000 + n}` : undefined) : undefined,
      });
      console.log(`${describeResult(r)} (records delivered ${delivered}, ${batches.length} batches)`);
      summary.addResult(r);
      expect(r.verify.lost).toBe(0);
      expect(r.verify.duplicated).toBe(0);
      expect(r.verify.misrouted).toBe(0);
      expect(r.leftOnNas).toEqual([]);
    });
  }
});

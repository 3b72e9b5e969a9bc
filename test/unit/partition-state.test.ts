/**
 * registerRange (core/partition-state.ts): the per-(topic, partition) dedup that decides which
 * offsets of a staging file are new. Pure; the Redis store's Lua port is checked against this
 * function in test/integration/coord-store.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Interval } from "../../functions/core/intervals.js";
import { emptyPartition, registerRange, type PartitionState } from "../../functions/core/partition-state.js";
import { seededRandom } from "../../cli/sources/synthetic.js";

/** Registers ranges in order, returning the final state and each registration's keep. */
function run(ranges: [number, number, number?][], maxRanges = 4, maxGaps = 8, start: PartitionState = emptyPartition()) {
  let state = start;
  const keeps: Interval[][] = [];
  for (const [first, last, ts = 1000] of ranges) {
    const r = registerRange(state, first, last, ts, ts, maxRanges, maxGaps);
    expect(r.reset).toBeUndefined();
    state = r.state;
    keeps.push(r.keep);
  }
  return { state, keeps };
}

const offsetsOf = (list: Interval[]) => list.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));

describe("registerRange", () => {
  it("moves the watermark over consecutive batches and keeps every offset of each", () => {
    const { state, keeps } = run([[0, 99], [100, 199], [200, 349]]);
    expect(keeps).toEqual([[[0, 99]], [[100, 199]], [[200, 349]]]);
    expect(state).toEqual({ hw: 350, ranges: [], gaps: [], maxTs: 1000, incarnation: 0 });
  });

  it("keeps a registered range above the watermark while a gap before it may still come", () => {
    const { state, keeps } = run([[0, 99], [101, 199]]);
    expect(keeps).toEqual([[[0, 99]], [[101, 199]]]);
    expect(state.hw).toBe(100);
    expect(state.ranges).toEqual([[101, 199]]);
    // the missing offset arrives late: kept, and the watermark closes over everything
    const late = registerRange(state, 100, 100, 1000, 1000, 4, 8);
    expect(late.keep).toEqual([[100, 100]]);
    expect(late.state).toMatchObject({ hw: 200, ranges: [], gaps: [] });
  });

  it("accepts batches out of order within maxRanges and drops their redelivery", () => {
    const { state, keeps } = run([[0, 99], [200, 299], [300, 399], [100, 199], [150, 350]]);
    expect(keeps).toEqual([[[0, 99]], [[200, 299]], [[300, 399]], [[100, 199]], []]);
    expect(state).toMatchObject({ hw: 400, ranges: [], gaps: [] });
  });

  it("keeps only the new offsets of a redelivery with shifted boundaries", () => {
    const { keeps } = run([[0, 99], [101, 199], [50, 250]]);
    // 100 was never staged, 200..250 are beyond everything staged
    expect(keeps[2]).toEqual([[100, 100], [200, 250]]);
  });

  it("moves the oldest gaps out of the ranges once more than maxRanges pile up, and still accepts them", () => {
    // one offset missing before every batch: 9, 19, 29, ...
    const batches: [number, number][] = Array.from({ length: 6 }, (_, i) => [i * 10, i * 10 + 8]);
    const { state } = run(batches, 2, 8);
    expect(state.ranges).toEqual([[40, 48], [50, 58]]);
    expect(state.hw).toBe(39);
    expect(state.gaps).toEqual([[9, 9], [19, 19], [29, 29]]);
    // an offset of a remembered gap arrives: new; a redelivery around it keeps only the gap
    const r = registerRange(state, 15, 25, 1000, 1000, 2, 8);
    expect(r.keep).toEqual([[19, 19]]);
    expect(r.state.gaps).toEqual([[9, 9], [29, 29]]);
    // offsets between the watermark and the first range are still open
    expect(registerRange(r.state, 39, 39, 1000, 1000, 2, 8).keep).toEqual([[39, 39]]);
  });

  it("forgets the oldest gaps beyond maxGaps: an offset that old counts as staged", () => {
    const batches: [number, number][] = Array.from({ length: 8 }, (_, i) => [i * 10, i * 10 + 8]);
    const { state } = run(batches, 1, 2);
    expect(state.gaps).toHaveLength(2);
    expect(state.gaps).toEqual([[49, 49], [59, 59]]);
    expect(registerRange(state, 9, 9, 1000, 1000, 1, 2).keep).toEqual([]);
    expect(registerRange(state, 49, 49, 1000, 1000, 1, 2).keep).toEqual([[49, 49]]);
  });

  it("detects a topic reset: offsets below the watermark with records newer than anything staged", () => {
    const { state } = run([[0, 999, 5000]]);
    const r = registerRange(state, 0, 99, 6000, 6100, 4, 8);
    expect(r.reset).toEqual({ previousHw: 1000, incarnation: 1 });
    expect(r.keep).toEqual([[0, 99]]);
    expect(r.state).toEqual({ hw: 100, ranges: [], gaps: [], maxTs: 6100, incarnation: 1 });
  });

  it("does not take a redelivery (old timestamps) or records without timestamps for a reset", () => {
    const { state } = run([[0, 999, 5000]]);
    const redelivered = registerRange(state, 0, 99, 4000, 5000, 4, 8);
    expect(redelivered.reset).toBeUndefined();
    expect(redelivered.keep).toEqual([]);
    const untimed = registerRange(state, 0, 99, 0, 0, 4, 8);
    expect(untimed.reset).toBeUndefined();
    expect(untimed.keep).toEqual([]);
    // newer records continuing above the watermark are no reset either
    expect(registerRange(state, 1000, 1099, 9000, 9000, 4, 8).reset).toBeUndefined();
  });

  it("never keeps an offset twice, and loses none while within maxRanges (random deliveries)", () => {
    const rnd = seededRandom(42);
    for (const [maxRanges, maxGaps] of [[1000, 1000], [3, 4], [1, 1]] as const) {
      let state = emptyPartition();
      const kept = new Set<number>();
      let next = 0;
      const held: [number, number][] = [];
      for (let i = 0; i < 400; i++) {
        let range: [number, number];
        const x = rnd();
        if (x < 0.1 && held.length > 0) range = held.shift()!; // out of order
        else if (x < 0.2 && next > 20) {
          const a = Math.floor(rnd() * next);
          range = [a, Math.min(next + 5, a + Math.floor(rnd() * 30))]; // redelivery, shifted
          next = Math.max(next, range[1] + 1);
        } else {
          const first = next + (rnd() < 0.1 ? 1 : 0); // one gap in ten
          range = [first, first + Math.floor(rnd() * 20)];
          next = range[1] + 1;
          if (rnd() < 0.1) {
            held.push(range);
            continue;
          }
        }
        const r = registerRange(state, range[0], range[1], 1000, 1000, maxRanges, maxGaps);
        state = r.state;
        for (const o of offsetsOf(r.keep)) {
          expect(kept.has(o)).toBe(false);
          expect(o >= range[0] && o <= range[1]).toBe(true);
          kept.add(o);
        }
        if (maxRanges === 1000) {
          // nothing aged out: keep is exactly the offsets never kept before
          for (let o = range[0]; o <= range[1]; o++) expect(kept.has(o)).toBe(true);
        }
        expect(state.ranges.length).toBeLessThanOrEqual(maxRanges);
        expect(state.gaps.length).toBeLessThanOrEqual(maxGaps);
      }
    }
  });
});

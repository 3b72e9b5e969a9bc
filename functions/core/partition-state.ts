/**
 * Per (topic, partition) dedup state, bounded: a watermark `hw` (every offset below it was
 * staged, or is a remembered gap, or does not exist), at most `maxRanges` registered ranges above
 * it and at most `maxGaps` never-registered gaps below it. A partition is delivered in order, so
 * in steady state this is one range; gaps between batches (transaction markers, compaction) move
 * into `gaps` once more than `maxRanges` ranges pile up, and the oldest gaps are forgotten (an
 * offset that old is assumed never to come: the trigger does not deliver a partition that far
 * out of order). Pure: the memory store calls it, and the Redis store's Lua is the same logic
 * (test/unit/partition-state.test.ts checks both against the same cases).
 */
import { intersect, subtract, union, type Interval } from "./intervals.js";

export interface PartitionState {
  hw: number;
  ranges: Interval[];
  gaps: Interval[];
  maxTs: number;
  incarnation: number;
}

export const emptyPartition = (): PartitionState => ({ hw: 0, ranges: [], gaps: [], maxTs: 0, incarnation: 0 });

export interface RangeRegistration {
  state: PartitionState;
  /** offsets of [first, last] not staged before */
  keep: Interval[];
  reset?: { previousHw: number; incarnation: number };
}

export function registerRange(s: PartitionState, first: number, last: number, minTs: number, maxTs: number, maxRanges: number, maxGaps: number): RangeRegistration {
  let state: PartitionState = { ...s, ranges: s.ranges.map((r) => [r[0], r[1]] as Interval), gaps: s.gaps.map((g) => [g[0], g[1]] as Interval) };
  let reset: RangeRegistration["reset"];
  // Offsets below the watermark whose records are all newer than anything staged: the topic was
  // recreated (or moved) and its offsets restarted, not a redelivery (a redelivered record was
  // staged before, so it cannot be newer than every staged record).
  if (first < state.hw && minTs > 0 && state.maxTs > 0 && minTs > state.maxTs) {
    reset = { previousHw: state.hw, incarnation: state.incarnation + 1 };
    state = { ...emptyPartition(), incarnation: state.incarnation + 1 };
  }
  const range: Interval[] = [[first, last]];
  const open: Interval[] = union(state.gaps, [[state.hw, Number.MAX_SAFE_INTEGER]]);
  const keep = subtract(intersect(range, open), state.ranges);
  state.ranges = union(state.ranges, intersect(range, [[state.hw, Number.MAX_SAFE_INTEGER]]));
  state.gaps = subtract(state.gaps, range);
  while (state.ranges.length > 0 && state.ranges[0]![0] <= state.hw) {
    state.hw = Math.max(state.hw, state.ranges[0]![1] + 1);
    state.ranges.shift();
  }
  while (state.ranges.length > maxRanges) {
    const r = state.ranges.shift()!;
    state.gaps.push([state.hw, r[0] - 1]);
    state.hw = r[1] + 1;
  }
  while (state.gaps.length > maxGaps) state.gaps.shift();
  state.maxTs = Math.max(state.maxTs, maxTs);
  return { state, keep, reset };
}

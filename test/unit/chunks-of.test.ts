/** chunksOf: how a drain is cut into Redis scripts (redis-coord-store.ts). */
import { describe, expect, it } from "vitest";
import { chunksOf } from "../../functions/adapters/redis-coord-store.js";

describe("chunksOf", () => {
  it("keeps order and cuts before the item that would pass the limit", () => {
    expect(chunksOf([1, 2, 3, 4, 5], 5, (n) => n)).toEqual([[1, 2], [3], [4], [5]]);
    expect(chunksOf(["a", "b", "c"], 2, () => 1)).toEqual([["a", "b"], ["c"]]);
  });

  it("puts an item heavier than the limit alone, never drops it, and returns nothing for nothing", () => {
    expect(chunksOf([1, 9, 1], 5, (n) => n)).toEqual([[1], [9], [1]]);
    expect(chunksOf([], 5, () => 1)).toEqual([]);
  });
});

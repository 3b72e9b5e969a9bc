/**
 * Upload paces its OSS requests: each starts at least 1/rate after the one before, whatever the
 * concurrency, with the clock injected (real time in a handler, the bench's virtual clock).
 */
import { describe, expect, it } from "vitest";
import { RequestPacer } from "../../functions/core/request-pacer.js";
import { virtualClock } from "../support/virtual-clock.js";

describe("RequestPacer", () => {
  it("starts requests asked for together one interval apart", async () => {
    // Arrange
    const clock = virtualClock();
    const pacer = new RequestPacer(100, clock); // 10 ms apart
    // Act
    await Promise.all(Array.from({ length: 5 }, () => pacer.acquire()));
    // Assert: the first goes at once, each next waits one more interval
    expect(clock.sleeps).toEqual([10, 20, 30, 40]);
  });

  it("does not bank turns during a quiet spell: the next burst is paced again", async () => {
    const clock = virtualClock();
    const pacer = new RequestPacer(100, clock);
    await pacer.acquire();
    await clock.sleep(1000); // a quiet second on the virtual clock (no real time passes)
    clock.sleeps.length = 0;
    await Promise.all(Array.from({ length: 3 }, () => pacer.acquire()));
    expect(clock.sleeps).toEqual([10, 20]);
  });

  it("keeps the average rate when turns are under a millisecond apart (no sub-millisecond sleeps)", async () => {
    const clock = virtualClock();
    const pacer = new RequestPacer(4000, clock); // 0.25 ms apart
    await Promise.all(Array.from({ length: 9 }, () => pacer.acquire()));
    // turns at 0, 0.25, 0.5, 0.75 go at once; 1, 1.25, … wait their offset
    expect(clock.sleeps).toEqual([1, 1.25, 1.5, 1.75, 2]);
  });

  it("rejects a rate that is not a positive number, naming it", () => {
    expect(() => new RequestPacer(0)).toThrow(/requests per second must be a positive number, got 0/);
    expect(() => new RequestPacer(Number.NaN)).toThrow(/requests per second/);
  });
});

import { describe, expect, it } from "vitest";
import { BufferPool } from "../../functions/core/buffer-pool.js";
import { settleAll } from "../../functions/core/deps.js";

const MB = 1024 * 1024;

describe("BufferPool", () => {
  it("hands a given-back buffer to the next take that fits, without allocating", () => {
    // Arrange
    const pool = new BufferPool(16 * MB);
    const first = pool.take(3 * MB + 5);
    // Act
    pool.give(first.subarray(0, 10)); // a view gives the whole buffer back
    const again = pool.take(2 * MB);
    // Assert
    expect(again.buffer).toBe(first.buffer);
    expect(again.length).toBe(4 * MB); // whole MBs, so batches of slightly different sizes fit
    expect(pool.allocatedBytes).toBe(4 * MB);
  });

  it("never hands one buffer to two takers at once", () => {
    const pool = new BufferPool(16 * MB);
    const a = pool.take(MB);
    const b = pool.take(MB);
    pool.give(a);
    const c = pool.take(MB);
    const d = pool.take(MB);
    expect(new Set([a.buffer, b.buffer, d.buffer]).size).toBe(3);
    expect(c.buffer).toBe(a.buffer);
    pool.give(a); // given twice: the second is ignored (c still holds it)
    pool.give(c);
    expect(pool.keptBytes()).toBe(MB);
  });

  it("ignores buffers it did not hand out, and keeps no more than its budget", () => {
    const pool = new BufferPool(5 * MB);
    pool.give(Buffer.alloc(2 * MB));
    expect(pool.keptBytes()).toBe(0);
    const bufs = [pool.take(3 * MB), pool.take(2 * MB), pool.take(MB)];
    for (const b of bufs) pool.give(b);
    // the largest that fit the budget stay: 3 + 2 MB; the 1 MB one would exceed it
    expect(pool.keptBytes()).toBe(5 * MB);
  });

  it("with a fit bound, spends no large buffer on a small take, and keeps the most recently given back", () => {
    // Arrange: compress's kind of pool; a sweep left a 32 MB buffer, then a task takes two 1 MB reads
    const pool = new BufferPool(40 * MB, 32 * 1024, 2);
    const big = pool.take(32 * MB);
    pool.give(big);
    // Act
    const a = pool.take(MB);
    const b = pool.take(MB);
    const large = pool.take(20 * MB);
    // Assert: the reads got buffers of their size; the 32 MB one waited for the take it fits
    expect([a.length, b.length]).toEqual([MB, MB]);
    expect(large.buffer).toBe(big.buffer);
    // over the budget (32 + 1 + 1 + a new 8 MB), what goes is the least recently given back
    pool.give(large);
    pool.give(a);
    pool.give(b);
    const eight = pool.take(8 * MB);
    expect(eight.buffer).not.toBe(big.buffer); // 32 MB is over 2 × 8 MB: a new one
    pool.give(eight);
    expect(pool.keptBytes()).toBe(MB + MB + 8 * MB);
    expect(pool.take(MB).buffer).toBe(a.buffer);
  });

  it("leaves small buffers to Node's allocator", () => {
    const pool = new BufferPool(16 * MB);
    const small = pool.take(1000);
    expect(small.length).toBe(1000);
    pool.give(small);
    expect(pool.keptBytes()).toBe(0);
  });

  it("sizes buffers under 1 MB in 64 KB steps, so the next take of about that size reuses one", () => {
    // Arrange: a pool that keeps buffers from 32 KB (compress's: staging ranges of small apps)
    const pool = new BufferPool(16 * MB, 32 * 1024);
    // Act
    const first = pool.take(90_000);
    pool.give(first.subarray(0, 90_000));
    const again = pool.take(100_000);
    const large = pool.take(MB + 1);
    // Assert
    expect(first.length).toBe(128 * 1024);
    expect(again.buffer).toBe(first.buffer);
    expect(large.length).toBe(2 * MB);
    expect(pool.allocatedBytes).toBe(128 * 1024 + 2 * MB);
  });
});

describe("settleAll (work on pooled buffers settles before a failure is thrown)", () => {
  it("waits for the slow work before throwing the first failure", async () => {
    // Arrange: one failure at once, one piece of work that ends when the test says so
    let finishSlow!: (v: number) => void;
    const slow = new Promise<number>((resolve) => (finishSlow = resolve));
    let settled = false;
    // Act
    const outcome = settleAll([Promise.reject(new Error("read failed")), slow]).catch((e: Error) => e).finally(() => (settled = true));
    await new Promise((r) => setImmediate(r)); // the failure has been seen by now
    const settledBeforeSlow = settled;
    finishSlow(2);
    // Assert
    expect(settledBeforeSlow).toBe(false);
    expect(((await outcome) as Error).message).toBe("read failed");
  });

  it("returns the values in order when nothing fails", async () => {
    let finishSecond!: (v: number) => void;
    const result = settleAll([Promise.resolve(1), new Promise<number>((r) => (finishSecond = r)), Promise.resolve(3)]);
    finishSecond(2);
    expect(await result).toEqual([1, 2, 3]);
  });
});

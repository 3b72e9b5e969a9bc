/**
 * The coordination contract, run against the real Redis store (private redis-server) and the
 * in-process store: both must behave the same, since `logpipe local` falls back to the latter.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { CoordStore } from "../../functions/adapters/coord-store.js";
import { MemoryCoordStore } from "../../functions/adapters/memory-coord-store.js";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";

const redisUrl = process.env.LOGPIPE_TEST_REDIS_URL!;
const stores: { name: string; make: () => CoordStore }[] = [
  { name: "redis", make: () => new RedisCoordStore({ url: redisUrl, keyPrefix: `t-${randomUUID()}` }) },
  { name: "memory", make: () => new MemoryCoordStore() },
];
const opened: CoordStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(stores)("coord store contract: $name", ({ make }) => {
  const open = () => {
    const s = make();
    opened.push(s);
    return s;
  };
  const order = [0, 1, 2];

  it("gives each writer its own slot and never more than the slots offered", async () => {
    const s = open();
    const got = await Promise.all(Array.from({ length: 5 }, () => s.tryAcquireSlot("app", order, randomUUID(), 10_000, "")));
    const slots = got.filter(Boolean).map((g) => g!.slot).sort();
    expect(slots).toEqual([0, 1, 2]);
    expect(got.filter((g) => g === null)).toHaveLength(2);
  });

  it("lets a lock expire after its TTL and reports remaining time only to its holder", async () => {
    const s = open();
    const a = (await s.tryAcquireSlot("exp", [0], "tok-a", 150, ""))!;
    expect(await s.lockRemainingMs("exp", 0, "tok-a")).toBeGreaterThan(50);
    expect(await s.lockRemainingMs("exp", 0, "tok-b")).toBeLessThanOrEqual(0);
    expect(await s.tryAcquireSlot("exp", [0], "tok-b", 10_000, "")).toBeNull();
    await sleep(250);
    expect(await s.lockRemainingMs("exp", 0, "tok-a")).toBeLessThanOrEqual(0);
    const b = await s.tryAcquireSlot("exp", [0], "tok-b", 10_000, "");
    expect(b?.slot).toBe(a.slot);
  });

  it("commits length and offsets atomically, and rejects a writer whose lock was taken over", async () => {
    const s = open();
    await s.tryAcquireSlot("fence", [0], "old", 100, "t/0");
    await sleep(180);
    const fresh = (await s.tryAcquireSlot("fence", [0], "new", 10_000, "t/0"))!;
    const stale = await s.commit("fence", 0, "old", { gen: 0, expectLen: 0, addLen: 99, now: 1, offsetsField: "t/0", claim: [[0, 9]], maxIntervals: 100 });
    expect(stale).toEqual({ ok: false, reason: "lost-lock" });
    const ok = await s.commit("fence", 0, "new", { gen: fresh.state.gen, expectLen: 0, addLen: 10, now: 1234, offsetsField: "t/0", claim: [[0, 9]], maxIntervals: 100 });
    expect(ok).toEqual({ ok: true, state: { gen: 0, len: 10, t0: 1234 } });
    expect(await s.readCommitted("fence", "t/0")).toEqual([[0, 9]]);
    expect(await s.readSlotState("fence", 0)).toEqual({ gen: 0, len: 10, t0: 1234 });
  });

  it("refuses a claim that overlaps committed offsets (another slot won) and returns them", async () => {
    const s = open();
    await s.tryAcquireSlot("dup", [0], "w0", 10_000, "t/1");
    await s.tryAcquireSlot("dup", [1], "w1", 10_000, "t/1");
    const first = await s.commit("dup", 0, "w0", { gen: 0, expectLen: 0, addLen: 5, now: 1, offsetsField: "t/1", claim: [[100, 199]], maxIntervals: 100 });
    expect(first.ok).toBe(true);
    const second = await s.commit("dup", 1, "w1", { gen: 0, expectLen: 0, addLen: 5, now: 1, offsetsField: "t/1", claim: [[150, 249]], maxIntervals: 100 });
    expect(second).toEqual({ ok: false, reason: "conflict", committed: [[100, 199]] });
    expect(await s.readSlotState("dup", 1)).toEqual({ gen: 0, len: 0, t0: 0 });
    const retry = await s.commit("dup", 1, "w1", { gen: 0, expectLen: 0, addLen: 5, now: 1, offsetsField: "t/1", claim: [[200, 249]], maxIntervals: 100 });
    expect(retry.ok).toBe(true);
    expect(await s.readCommitted("dup", "t/1")).toEqual([[100, 249]]);
  });

  it("rejects a commit based on a stale length", async () => {
    const s = open();
    await s.tryAcquireSlot("stale", [0], "w", 10_000, "");
    await s.commit("stale", 0, "w", { gen: 0, expectLen: 0, addLen: 7, now: 1, offsetsField: "", claim: [], maxIntervals: 10 });
    expect(await s.commit("stale", 0, "w", { gen: 0, expectLen: 0, addLen: 7, now: 1, offsetsField: "", claim: [], maxIntervals: 10 })).toEqual({ ok: false, reason: "stale-state" });
  });

  it("gives the lock back with a committing release, so the next holder's generation is not tainted", async () => {
    const s = open();
    await s.tryAcquireSlot("rel", [0], "w1", 10_000, "t/0");
    const r = await s.commit("rel", 0, "w1", { gen: 0, expectLen: 0, addLen: 3, now: 1, offsetsField: "t/0", claim: [[0, 2]], maxIntervals: 10, release: true });
    expect(r.ok).toBe(true);
    expect(await s.lockRemainingMs("rel", 0, "w1")).toBeLessThanOrEqual(0);
    const next = (await s.tryAcquireSlot("rel", [0], "w2", 10_000, "t/0"))!;
    expect(next.slot).toBe(0);
    expect(next.state.tainted).toBeFalsy();
    expect(next.state.len).toBe(3);
  });

  it("keeps the lock when a committing release fails", async () => {
    const s = open();
    await s.tryAcquireSlot("relf", [0], "w1", 10_000, "");
    const r = await s.commit("relf", 0, "w1", { gen: 0, expectLen: 5, addLen: 3, now: 1, offsetsField: "", claim: [], maxIntervals: 10, release: true });
    expect(r).toEqual({ ok: false, reason: "stale-state" });
    expect(await s.lockRemainingMs("relf", 0, "w1")).toBeGreaterThan(0);
  });

  it("ages out the oldest intervals beyond the cap", async () => {
    const s = open();
    await s.tryAcquireSlot("cap", [0], "w", 10_000, "");
    let len = 0;
    for (let i = 0; i < 5; i++) {
      const r = await s.commit("cap", 0, "w", { gen: 0, expectLen: len, addLen: 1, now: 1, offsetsField: "t/0", claim: [[i * 10, i * 10]], maxIntervals: 3 });
      expect(r.ok).toBe(true);
      len++;
    }
    expect(await s.readCommitted("cap", "t/0")).toEqual([[20, 20], [30, 30], [40, 40]]);
  });

  it("records a seal, hands an unfinished seal to the next holder, then bumps the generation", async () => {
    const s = open();
    await s.tryAcquireSlot("seal", [0], "w", 10_000, "");
    await s.commit("seal", 0, "w", { gen: 0, expectLen: 0, addLen: 42, now: 5, offsetsField: "", claim: [], maxIntervals: 10 });
    expect(await s.beginSeal("seal", 0, "w", 0, "logs/seal/k")).toBe(true);
    // a writer crashes here; its commit attempts on a sealing slot are refused
    expect(await s.commit("seal", 0, "w", { gen: 0, expectLen: 42, addLen: 1, now: 5, offsetsField: "", claim: [], maxIntervals: 10 })).toEqual({ ok: false, reason: "stale-state" });
    await s.release("seal", 0, "w");
    const next = (await s.tryAcquireSlot("seal", [0], "w2", 10_000, ""))!;
    expect(next.state).toEqual({ gen: 0, len: 42, t0: 5, sealing: { gen: 0, key: "logs/seal/k" } });
    expect(await s.finishSeal("seal", 0, "other", 0)).toBe(false);
    expect(await s.finishSeal("seal", 0, "w2", 0)).toBe(true);
    expect(await s.readSlotState("seal", 0)).toEqual({ gen: 1, len: 0, t0: 0 });
    expect(await s.finishSeal("seal", 0, "w2", 0)).toBe(false); // idempotent: no double bump
  });

  it("admits apps up to the cap, permanently, so routing stays deterministic", async () => {
    const s = open();
    expect([...(await s.admitApps(["a", "b", "c"], 2))].sort()).toEqual(["a", "b"]);
    expect([...(await s.admitApps(["c", "a", "d"], 2))].sort()).toEqual(["a"]);
    expect([...(await s.admitApps(["b"], 100))]).toEqual(["b"]);
  });

  it("gives a lease to one holder at a time and lets it renew", async () => {
    const s = open();
    expect(await s.acquireLease("up", "x", 10_000)).toBe(true);
    expect(await s.acquireLease("up", "y", 10_000)).toBe(false);
    expect(await s.acquireLease("up", "x", 10_000)).toBe(true);
    await s.releaseLease("up", "y");
    expect(await s.acquireLease("up", "y", 10_000)).toBe(false);
    await s.releaseLease("up", "x");
    expect(await s.acquireLease("up", "y", 10_000)).toBe(true);
  });
});

describe("redis store specifics", () => {
  it("hash-tags every key of an app so one cluster slot holds them", async () => {
    const prefix = `ht-${randomUUID()}`;
    const s = new RedisCoordStore({ url: redisUrl, keyPrefix: prefix });
    opened.push(s);
    await s.tryAcquireSlot("pay-gw", [0], "w", 10_000, "t/0");
    await s.commit("pay-gw", 0, "w", { gen: 0, expectLen: 0, addLen: 1, now: 1, offsetsField: "t/0", claim: [[1, 1]], maxIntervals: 10 });
    const keys = await s.redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThanOrEqual(3);
    for (const k of keys) expect(k).toContain("{pay-gw}");
  });
  it("makes one round trip per acquire and per commit", async () => {
    const s = new RedisCoordStore({ url: redisUrl, keyPrefix: `rt-${randomUUID()}` });
    opened.push(s);
    const before = s.roundTrips;
    await s.tryAcquireSlot("a", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "w", 10_000, "t/0");
    await s.commit("a", 0, "w", { gen: 0, expectLen: 0, addLen: 1, now: 1, offsetsField: "t/0", claim: [[0, 99]], maxIntervals: 10 });
    expect(s.roundTrips - before).toBe(2);
  });
});

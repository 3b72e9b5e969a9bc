import { describe, expect, it } from "vitest";
import { encodePointer, MAX_POINTER_BYTES, packPointers } from "../../functions/adapters/fc-invoker.js";
import { MAX_POINTERS_PER_INVOCATION, type ChunkPointer } from "../../functions/core/deps.js";

const pointer = (i: number, app = `app-${i}`): ChunkPointer => ({ v: 1, chunk: `staging/${app}/logs.3.1000-5999.chunk`, app, records: 100, bytes: 20_000 });

describe("compress payloads", () => {
  it("a pointer is tiny: far under FC's 128 KB async limit", () => {
    expect(encodePointer(pointer(1)).length).toBeLessThan(200);
  });
  it("packs a batch's chunks into few invocations, each under the payload limit", () => {
    const pointers = Array.from({ length: 900 }, (_, i) => pointer(i, `a-very-long-application-identifier-${String(i).padStart(20, "0")}`));
    const tasks = packPointers(pointers);
    expect(tasks.length).toBe(Math.ceil(900 / MAX_POINTERS_PER_INVOCATION));
    expect(tasks.flatMap((t) => t.pointers)).toEqual(pointers);
    for (const t of tasks) expect(encodePointer(t).length).toBeLessThanOrEqual(MAX_POINTER_BYTES);
  });
  it("splits by size before count when pointers are large", () => {
    const big = Array.from({ length: 64 }, (_, i) => ({ ...pointer(i), chunk: `staging/x/${"t".repeat(400)}.${i}.chunk` }));
    const tasks = packPointers(big);
    expect(tasks.length).toBeGreaterThan(1);
    for (const t of tasks) expect(encodePointer(t).length).toBeLessThanOrEqual(MAX_POINTER_BYTES);
  });
});

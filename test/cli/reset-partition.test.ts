/**
 * `logpipe reset-partition`: an operator forgets a partition's dedup state after recreating a
 * topic by hand; the reset is audited in the archive and the next records at low offsets are
 * archived instead of being dropped as redeliveries.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import type { RegisterFile } from "../../functions/adapters/coord-store.js";
import { cli } from "./helpers.js";

const redisUrl = process.env.LOGPIPE_TEST_REDIS_URL!;
const keyPrefix = `reset-${process.pid}`;
let coord: RedisCoordStore;
let dir: string;
const file = (id: string, first: number, last: number, ts: number): RegisterFile => ({
  file: id, topic: "orders", partition: 3, first, last, minTs: ts, maxTs: ts, sections: [{ app: "pay", off: 100, len: 10, records: last - first + 1, minTs: ts }],
});
const opts = { now: Date.now(), drainBytes: 1 << 30, scheduleTtlMs: 1000, maxRanges: 64, maxGaps: 256 };

beforeAll(async () => {
  coord = new RedisCoordStore({ url: redisUrl, keyPrefix });
  dir = await mkdtemp(path.join(os.tmpdir(), "lp-reset-"));
});
afterAll(async () => {
  await coord.close();
  await rm(dir, { recursive: true, force: true });
});

describe("logpipe reset-partition", () => {
  test("without --reason it refuses (exit 2) and changes nothing", async () => {
    await coord.registerFiles([file("orders.3/0-999.aa", 0, 999, 1000)], opts);
    const r = await cli("reset-partition", "--redis", redisUrl, "--key-prefix", keyPrefix, "--topic", "orders", "--partition", "3", "--out", dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reason: required/);
    expect((await coord.readPartition("orders", 3)).hw).toBe(1000);
  });

  test("--dry-run shows the state and writes nothing", async () => {
    const r = await cli("reset-partition", "--redis", redisUrl, "--key-prefix", keyPrefix, "--topic", "orders", "--partition", "3", "--dry-run", "--json", "--out", dir);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dryRun: true, before: { watermark: 1000 }, after: { watermark: 1000 } });
    expect(await readdir(dir)).toEqual([]);
  });

  test("a reset forgets the watermark, starts a new incarnation and writes an audit entry; low offsets are new again", async () => {
    // before: a redelivery of offsets 0–499 is recognised as such
    const before = await coord.registerFiles([file("orders.3/0-499.bb", 0, 499, 500)], opts);
    expect(before.results[0]!.status).toBe("duplicate");
    const r = await cli("reset-partition", "--redis", redisUrl, "--key-prefix", keyPrefix, "--topic", "orders", "--partition", "3", "--reason", "topic recreated by hand (INC-42)", "--json", "--out", dir);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.out) as { after: { watermark: number; incarnation: number }; audit: string };
    expect(out.after).toEqual({ watermark: 0, incarnation: 1 });
    const entry = JSON.parse(await readFile(path.join(dir, "objects", out.audit), "utf8")) as Record<string, unknown>;
    expect(entry).toMatchObject({ action: "reset-partition", reason: "topic recreated by hand (INC-42)", topic: "orders", partition: 3, before: { hw: 1000 } });
    expect(out.audit).toMatch(/^logs\/_audit\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/reset-partition-/);
    // after: the same offsets are archived (a new incarnation's records)
    const after = await coord.registerFiles([file("orders.3/0-499.cc", 0, 499, 500)], opts);
    expect(after.results[0]!.status).toBe("registered");
  });

  test("an unreachable Redis fails fast with exit 1 and the error", async () => {
    const started = Date.now();
    const r = await cli("reset-partition", "--redis", "redis://127.0.0.1:1", "--topic", "orders", "--partition", "3", "--dry-run");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reset-partition: .*(ECONNREFUSED|connect|Connection)/i);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

/**
 * Hostile input, end to end (split → compress → seal → upload → read back): a corpus of nasty
 * batches and records with asserted outcomes. Every record is archived exactly once under a
 * safe app segment, or dead-lettered whole with its reason; nothing is thrown away silently and
 * nothing is written outside the NAS root or the archive prefix.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, test } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { ExpectedRecords, verifyArchive } from "../../cli/local/verify.js";
import type { SourceRecord } from "../../cli/sources/types.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { MemoryCoordStore } from "../../functions/adapters/memory-coord-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import { compressTask } from "../../functions/core/compress.js";
import { loadConfig } from "../../functions/core/config.js";
import type { PipelineDeps } from "../../functions/core/deps.js";
import { parseArchiveKey } from "../../functions/core/layout.js";
import { silentLogger } from "../../functions/core/logger.js";
import { appIdFromSegment, createRouter, isSafeSegment, OVERFLOW_APP, routeSegment } from "../../functions/core/routing.js";
import { splitBatch, type SplitResult } from "../../functions/core/split.js";
import { runUpload } from "../../functions/core/upload.js";
import { Summary } from "./support/harness.js";

const summary = new Summary("hostile input");
afterAll(() => summary.flush());

interface DeadLetterDoc { kind: string; reason: string; encoding: string; payload: string; details?: unknown }

/** Runs payloads through the whole pipeline in process; returns split results, the archive report and the dead letters. */
async function pipeline(payloads: (Buffer | string)[], expectedRecords: SourceRecord[], env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lp-fault-hostile-"));
  try {
    const config = loadConfig({ LOGPIPE_NAS_ROOT: path.join(dir, "nas"), LOGPIPE_INVOKE_MODE: "inline", LOGPIPE_FSYNC: "false", LOGPIPE_LOG_LEVEL: "silent", ...env });
    const objects = new LocalObjectStore(path.join(dir, "objects"), { fsync: false });
    const nas = new NasDir(config.nasRoot, false);
    const pending: Promise<unknown>[] = [];
    const deps: PipelineDeps = { config, nas, coord: new MemoryCoordStore(), objects, logger: silentLogger, appCache: new Map() };
    deps.invoker = { invokeCompress: async (p) => void pending.push(compressTask(deps, p)) };
    const splits: SplitResult[] = [];
    for (const p of payloads) {
      splits.push(await splitBatch(deps, p));
      await Promise.all(pending.splice(0));
    }
    // sweep everything pending, let the drains run, then seal and upload what they wrote
    const swept = await runUpload(deps, { sealAll: true, sweepAll: true, redriveAll: true, skipLease: true });
    await Promise.all(pending.splice(0));
    const up = await runUpload(deps, { sealAll: true, sweepAll: true, redriveAll: true, skipLease: true });
    expect(pending).toEqual([]);
    expect(swept.failed + up.failed, [...swept.errors, ...up.errors].join("; ")).toBe(0);

    const expected = new ExpectedRecords();
    const router = createRouter(config.appIdSources);
    for (const r of expectedRecords) {
      const seg = r.value.length > config.maxRecordBytes ? "_deadletter" : routeSegment(router, { key: r.key?.toString() ?? null, headers: r.headers, value: r.value });
      expected.add(r.value, seg);
    }
    const report = await verifyArchive(objects, config.prefix, expected);
    const deadLetters: DeadLetterDoc[] = [];
    const keys: string[] = [];
    for await (const o of objects.list("")) {
      keys.push(o.key);
      if (o.key.includes("/_deadletter/")) deadLetters.push(JSON.parse(gunzipSync(await objects.getBuffer(o.key)).toString()) as DeadLetterDoc);
    }
    const left = [...(await nas.walk("staging")), ...(await nas.walk("outbox")), ...(await nas.walk("outbox-flat")), ...(await nas.walk("active")).filter((f) => f.size > 0)];
    summary.add(expected.total, report.lost, report.duplicated);
    return { splits, report, deadLetters, keys, left, config };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rec = (offset: number, value: Buffer | string, partition = 0, extra: Partial<SourceRecord> = {}): SourceRecord => ({
  topic: "logs", partition, offset, timestamp: 1_767_225_600_000 + offset, key: null, headers: {}, value: Buffer.isBuffer(value) ? value : Buffer.from(value), ...extra,
});
const json = (o: unknown) => JSON.stringify(o);

function expectExactlyOnce(r: Awaited<ReturnType<typeof pipeline>>) {
  expect(r.report.lost, r.report.examples.join("\n")).toBe(0);
  expect(r.report.duplicated, r.report.examples.join("\n")).toBe(0);
  expect(r.report.misrouted).toBe(0);
  expect(r.left).toEqual([]);
  for (const k of r.keys) {
    expect(k.split("/").some((s) => s === ".." || s === "." || s === "")).toBe(false);
    const parsed = parseArchiveKey(k);
    if (parsed) expect(isSafeSegment(parsed.app)).toBe(true);
  }
}

describe("hostile batches", () => {
  test.each([
    ["not JSON", Buffer.from("hello, world")],
    ["truncated JSON", Buffer.from('[{"specversion":"1.0","data":{"topic":"t"')],
    ["binary with invalid UTF-8", Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]), randomBytes(2000)])],
    ["a JSON number", Buffer.from("42")],
    ["an empty payload", Buffer.from("   ")],
  ])("%s → the whole payload is dead-lettered with its reason, nothing archived", async (_name, payload) => {
    const r = await pipeline([payload], []);
    expect(r.splits[0]!.records).toBe(0);
    expect(r.deadLetters).toHaveLength(1);
    const dl = r.deadLetters[0]!;
    expect(dl.kind).toBe("batch");
    expect(dl.reason).toMatch(/JSON|empty|expected an array/);
    expect(Buffer.from(dl.payload, dl.encoding === "base64" ? "base64" : "utf8").equals(payload)).toBe(true);
    expectExactlyOnce(r);
  });

  test("an empty batch ([]) → nothing archived, nothing dead-lettered", async () => {
    const r = await pipeline(["[]"], []);
    expect(r.splits[0]).toMatchObject({ records: 0, files: 0, rejected: 0 });
    expect(r.keys).toEqual([]);
    expectExactlyOnce(r);
  });

  test("malformed elements beside good ones → the good ones archived, the bad ones dead-lettered as elements", async () => {
    const good = [rec(0, json({ appId: "pay", msg: "ok" })), rec(1, json({ appId: "pay", msg: "ok2" }))];
    const events = JSON.parse(toCloudEventsBatch(good).toString()) as unknown[];
    const bad = [null, 7, "not an event", { specversion: "1.0", data: { topic: "logs", partition: -1, offset: 2, value: "x" } }, { specversion: "1.0", data: { topic: "logs", partition: 0, offset: 3 } }, [1, 2]];
    const r = await pipeline([Buffer.from(JSON.stringify([...events, ...bad]))], good);
    expect(r.splits[0]!.rejected).toBe(bad.length);
    const dl = r.deadLetters.find((d) => d.kind === "elements")!;
    expect(JSON.parse(dl.payload)).toHaveLength(bad.length);
    expectExactlyOnce(r);
  });
});

describe("hostile records", () => {
  test("invalid UTF-8, newlines, CR, NUL, record-separator bytes and empty values come back byte for byte", async () => {
    const values = [
      Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from([0xc3, 0x28]), Buffer.from([0x80]), Buffer.from("line1\nline2"), Buffer.from("crlf\r\n"),
      Buffer.from([0x1e, 0x41]), Buffer.from([0x00, 0x00]), Buffer.alloc(0), Buffer.from('{"appId":"pay","msg":"\\n"}'), randomBytes(5000),
      Buffer.concat([Buffer.from('{"appId":"pay","b":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    ];
    const records = values.map((v, i) => rec(i, v));
    const r = await pipeline([toCloudEventsBatch(records)], records);
    expect(r.splits[0]!.records).toBe(values.length);
    expectExactlyOnce(r);
  });

  test("a 5 MB record is archived whole; over LOGPIPE_MAX_RECORD_BYTES it is dead-lettered whole", async () => {
    const big = Buffer.from(json({ appId: "big", blob: randomBytes(3_800_000).toString("base64") }));
    expect(big.length).toBeGreaterThan(5_000_000);
    const records = [rec(0, big), rec(1, json({ appId: "big", msg: "small" }))];
    const kept = await pipeline([toCloudEventsBatch(records)], records);
    expectExactlyOnce(kept);
    expect(kept.report.archived).toBe(2);
    const dl = await pipeline([toCloudEventsBatch(records)], records, { LOGPIPE_MAX_RECORD_BYTES: "1MB" });
    expectExactlyOnce(dl);
    expect(dl.report.deadLettered).toBe(1);
    expect(dl.deadLetters.find((d) => d.kind === "records")!.reason).toMatch(/over LOGPIPE_MAX_RECORD_BYTES/);
  });

  test("deeply nested JSON (100k levels) is routed by its top-level appId and archived", async () => {
    const deep = `{"appId":"deep","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const deepObj = `{"appId":"deep2","x":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}`;
    const records = [rec(0, deep), rec(1, deepObj), rec(2, "[".repeat(200_000))];
    const r = await pipeline([toCloudEventsBatch(records)], records);
    expectExactlyOnce(r);
    const apps = r.report.apps.map((a) => a.app).sort();
    expect(apps).toEqual(["_unrouted", "deep", "deep2"]);
  });

  test("path-like app ids (../, absolute, dots, separators, reserved names) are encoded, never used as paths", async () => {
    const ids = ["../../etc", "/etc/passwd", "..", ".", "a/b", "C:\\Windows\\x", "_overflow", "_unrouted", "x\u0000y", "日本", "%2e%2e", "a".repeat(65), "a".repeat(300)];
    const records = ids.map((id, i) => rec(i, json({ appId: id, msg: i })));
    const r = await pipeline([toCloudEventsBatch(records)], records);
    expectExactlyOnce(r);
    const segs = r.report.apps.map((a) => a.app);
    for (const s of segs) expect(isSafeSegment(s)).toBe(true);
    const decoded = new Set(segs.map(appIdFromSegment));
    for (const id of ids.filter((x) => Buffer.byteLength(x) <= 40)) expect(decoded.has(id)).toBe(true);
    expect(segs).toContain("_invalid"); // too long to encode in 64 characters
  });

  test("10k distinct apps over a cap of 2000 → 2000 apps, the rest under _overflow, none lost", async () => {
    const records = Array.from({ length: 20_000 }, (_, i) => rec(i >> 2, json({ appId: `svc-${i % 10_000}`, n: i }), i & 3));
    const r = await pipeline([toCloudEventsBatch(records.slice(0, 10_000)), toCloudEventsBatch(records.slice(10_000))], records, { LOGPIPE_MAX_APPS: "2000" });
    expectExactlyOnce(r);
    const apps = r.report.apps.map((a) => a.app);
    expect(apps).toContain(OVERFLOW_APP);
    expect(apps.length).toBe(2001);
    expect(r.splits.reduce((n, s) => n + s.overflowed, 0)).toBe(16_000);
  });

  test("a 32 MB batch", async () => {
    const records: SourceRecord[] = [];
    let bytes = 0;
    for (let i = 0; bytes < 31 * 1024 * 1024; i++) {
      const v = json({ appId: `app-${i % 7}`, i, pad: "y".repeat(300 + (i % 200)) });
      records.push(rec(i, v, i % 3));
      bytes += v.length + 380; // + the CloudEvents envelope
    }
    const batch = toCloudEventsBatch(records);
    expect(batch.length).toBeGreaterThan(32 * 1024 * 1024 * 0.95);
    const r = await pipeline([batch], records);
    expectExactlyOnce(r);
    expect(r.report.archived).toBe(records.length);
  });
});

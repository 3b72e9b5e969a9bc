/**
 * `logpipe local --input` on a file full of trouble: every kind of bad record has a defined
 * outcome, the run finishes, and the verification still proves nothing was lost or duplicated.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { appSegment, INVALID_APP, OVERFLOW_APP, UNROUTED_APP } from "../../functions/core/routing.js";
import { runLocal } from "../../cli/local/run.js";
import { fileSource } from "../../cli/sources/file.js";

describe("logpipe local with hostile input", () => {
  it("gives every bad record a defined place and loses nothing", async () => {
    // Arrange
    const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-bad-"));
    const lines: Buffer[] = [
      Buffer.from('{"appId":"good","msg":"fine"}'),
      Buffer.from("this is not json at all"),
      Buffer.from('{"msg":"no app id"}'),
      Buffer.from('{"appId":"","msg":"empty id"}'),
      Buffer.from('{"appId":"../../etc","msg":"path traversal"}'),
      Buffer.from('{"appId":"/etc/passwd"}'),
      Buffer.from('{"appId":"日本語アプリ"}'),
      Buffer.from(`{"appId":"${"x".repeat(100)}"}`),
      Buffer.from('{"appId":"crlf","msg":"windows line"}\r'),
      Buffer.concat([Buffer.from('{"appId":"good","bytes":"'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('"}')]),
      Buffer.from(`{"appId":"big","blob":"${"b".repeat(5 * 1024 * 1024)}"}`),
      Buffer.from(`{"appId":"huge","blob":"${"h".repeat(9 * 1024 * 1024)}"}`),
      Buffer.from('{"appId":"good","msg":"\\"appId\\":\\"spoof\\""}'),
      Buffer.from('{"appId":"good"'), // truncated JSON
    ];
    for (let i = 0; i < 10_000; i++) lines.push(Buffer.from(`{"appId":"tenant-${i}","i":${i}}`));
    const file = path.join(dir, "input.ndjson");
    writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")])));

    // Act
    const objects = new LocalObjectStore(path.join(dir, "objects"));
    const report = await runLocal({
      source: fileSource(file),
      outDir: dir,
      objects,
      redisUrl: process.env.LOGPIPE_TEST_REDIS_URL,
      keyPrefix: `bad-${Date.now()}`,
      env: { LOGPIPE_MAX_APPS: "1000", LOGPIPE_MAX_RECORD_BYTES: "8MB" },
      trigger: { batchRecords: 1000 },
      compressWorkers: 1,
    });

    // Assert: nothing lost or duplicated, the run finished
    const v = report.verify!;
    expect({ lost: v.lost, duplicated: v.duplicated, misrouted: v.misrouted }).toEqual({ lost: 0, duplicated: 0, misrouted: 0 });
    expect(v.archived + v.deadLettered).toBe(lines.length);
    expect(report.ok).toBe(true);
    const apps = new Map(v.apps.map((a) => [a.app, a.records]));
    // no id, not JSON, empty id, truncated JSON → _unrouted
    expect(apps.get(UNROUTED_APP)).toBe(4);
    // hostile ids are encoded, never used as paths; too long → _invalid
    expect(apps.get(appSegment("../../etc"))).toBe(1);
    expect(appSegment("../../etc")).toMatch(/^_b64\./);
    expect(apps.get(appSegment("/etc/passwd"))).toBe(1);
    expect(apps.get(appSegment("日本語アプリ"))).toBe(1);
    expect(apps.get(INVALID_APP)).toBe(1);
    // a field name inside a string is not the field; invalid UTF-8 and CR survive in "good"/"crlf"
    expect(apps.get("good")).toBe(3);
    expect(apps.get("crlf")).toBe(1);
    // a 5 MB record is archived; one over LOGPIPE_MAX_RECORD_BYTES is dead-lettered with its reason
    expect(apps.get("big")).toBe(1);
    expect(v.deadLettered).toBe(1);
    const deadLetterKeys: string[] = [];
    for await (const o of objects.list("logs/_deadletter/")) deadLetterKeys.push(o.key);
    expect(deadLetterKeys).toHaveLength(1);
    const doc = JSON.parse(gunzipSync(await objects.getBuffer(deadLetterKeys[0]!)).toString()) as { reason: string };
    expect(doc.reason).toMatch(/over LOGPIPE_MAX_RECORD_BYTES/);
    // 10k tenants over a cap of 1000 apps: the rest overflow, all archived
    const tenants = [...apps.keys()].filter((a) => a.startsWith("tenant-")).length;
    expect(tenants).toBeLessThanOrEqual(1000);
    expect(tenants).toBeGreaterThan(900); // the cap counts every admitted app, the dozen above included
    expect(apps.get(OVERFLOW_APP)).toBe(10_000 - tenants);
    expect(apps.get(OVERFLOW_APP)).toBeGreaterThan(0);
    // no object key ever escapes the store
    for await (const o of objects.list("")) expect(path.resolve(dir, "objects", o.key).startsWith(path.join(dir, "objects") + path.sep)).toBe(true);
  }, 180_000);
});

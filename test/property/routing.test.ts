/**
 * Property tests (fast-check) for app-id routing: the single-pass JSON scanner must give exactly
 * the answer of the reference (JSON.parse + path walk, `referenceJsonField`) on any input, and
 * no app id — whatever its bytes — may become a path outside the NAS root or the archive prefix.
 * Run by `npm test` and by `npm run test:faults`.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NasDir } from "../../functions/adapters/nas.js";
import { validateObjectKey } from "../../functions/adapters/local-object-store.js";
import { activeFilePath, archiveObjectKey, parseArchiveKey, STAGING_DIR, topicSegment } from "../../functions/core/layout.js";
import { encodeStagingFile, stagingIdOf, stagingPath } from "../../functions/core/staging.js";
import {
  appIdFromSegment, appSegment, compileFieldPath, createRouter, extractJsonField, INVALID_APP, isSafeSegment, referenceJsonField, RESERVED_APPS, routeSegment,
} from "../../functions/core/routing.js";

const RUNS = Number(process.env.LOGPIPE_PROPERTY_RUNS ?? "400");
const KEYS = ["appId", "app", "ctx", "k", "é", "a b", "\u0000x", "日本"];
const keyArb = fc.constantFrom(...KEYS);
const pathArb = fc.array(keyArb, { minLength: 1, maxLength: 3 });

/** JSON-ish values, biased toward what app ids look like (strings, numbers, nesting on the path). */
const leafArb = fc.oneof(
  fc.string(), fc.string({ unit: "binary", maxLength: 12 }), fc.constantFrom("", "pay-gw", "../etc", "/abs", "a\"b", "\\", "\u2028"),
  fc.integer(), fc.double({ noNaN: true }), fc.constantFrom(1e400, -0, 0.1, 1e21, 123456789012345680000),
  fc.boolean(), fc.constant(null),
);
const valueArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small", withCrossShrink: true }, leafArb, fc.array(tie("v"), { maxLength: 3 }), fc.dictionary(keyArb, tie("v"), { maxKeys: 4 })),
})).v;

/** JSON text where keys repeat (JSON.stringify never writes duplicates) and whitespace/escapes vary. */
const jsonTextArb: fc.Arbitrary<string> = fc.letrec((tie) => ({
  obj: fc.array(fc.tuple(keyArb, fc.boolean(), tie("val"), fc.constantFrom("", " ", "\n\t")), { maxLength: 5 }).map((entries) =>
    `{${entries.map(([k, escape, v, ws]) => `${ws}${escape ? escapeAll(k) : JSON.stringify(k)}${ws}:${ws}${v}`).join(",")}}`,
  ),
  val: fc.oneof({ depthSize: "small" }, leafArb.map((v) => JSON.stringify(v) ?? "null"), tie("obj"), fc.array(tie("val"), { maxLength: 3 }).map((a) => `[${a.join(",")}]`)),
})).obj as fc.Arbitrary<string>;

function escapeAll(s: string): string {
  return `"${[...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")}"`;
}

/** Byte-level damage to a valid document: delete, insert or replace bytes. */
const mutatedArb = fc.tuple(jsonTextArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom("del", "ins", "rep"), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
  const b = [...Buffer.from(text)];
  for (const [pos, op, byte] of edits) {
    const i = b.length ? pos % b.length : 0;
    if (op === "del") b.splice(i, 1);
    else if (op === "ins") b.splice(i, 0, byte);
    else b[i] = byte;
  }
  return Buffer.from(b);
});

const scannerAgrees = (buf: Buffer, keys: string[]) => {
  const got = extractJsonField(buf, compileFieldPath(keys));
  const want = referenceJsonField(buf.toString("utf8"), keys);
  expect(got).toBe(want);
};

describe("extractJsonField equals the reference JSON parse", () => {
  it("on JSON.stringify of arbitrary objects", () => {
    fc.assert(fc.property(fc.dictionary(keyArb, valueArb, { maxKeys: 6 }), pathArb, (obj, keys) => scannerAgrees(Buffer.from(JSON.stringify(obj)), keys)), { numRuns: RUNS });
  });
  it("on hand-built JSON with duplicate keys, escaped keys and odd whitespace", () => {
    fc.assert(fc.property(jsonTextArb, pathArb, (text, keys) => scannerAgrees(Buffer.from(text), keys)), { numRuns: RUNS * 2 });
  });
  it("on damaged JSON (bytes deleted, inserted, replaced)", () => {
    fc.assert(fc.property(mutatedArb, pathArb, (buf, keys) => scannerAgrees(buf, keys)), { numRuns: RUNS * 2 });
  });
  it("on arbitrary bytes and strings", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), pathArb, (bytes, keys) => scannerAgrees(Buffer.from(bytes), keys)), { numRuns: RUNS });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 64 }), pathArb, (s, keys) => scannerAgrees(Buffer.from(s), keys)), { numRuns: RUNS });
  });
  it("on deeply nested documents without blowing the stack", () => {
    for (const depth of [1_000, 100_000]) {
      const text = `{"appId":"deep",${`"x":[`.repeat(1)}${"[".repeat(depth)}${"]".repeat(depth)}]}`;
      expect(extractJsonField(Buffer.from(text), compileFieldPath(["appId"]))).toBe("deep");
      const objs = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      expect(() => extractJsonField(Buffer.from(objs), compileFieldPath(["a", "a", "a"]))).not.toThrow();
    }
  });
});

describe("app ids never become paths outside the store", () => {
  const root = path.resolve("/tmp/logpipe-property-root");
  const nas = new NasDir(root);
  const idArb = fc.oneof(
    fc.string({ unit: "binary", maxLength: 80 }),
    fc.constantFrom(".", "..", "../..", "../etc/passwd", "/etc/passwd", "a/b", "a\\b", "C:\\x", "\u0000", "_unrouted", "_invalid", "_overflow", "_b64.Li4", " ", "a".repeat(64), "a".repeat(65)),
    fc.array(fc.constantFrom("..", "/", ".", "a", "\\", "%2e"), { maxLength: 12 }).map((a) => a.join("")),
  );

  it("appSegment gives a safe, reversible segment (or _invalid) that stays inside the NAS root and is a valid object key", () => {
    fc.assert(
      fc.property(idArb, fc.string({ unit: "binary", maxLength: 40 }), fc.nat(), (id, topic, partition) => {
        const seg = appSegment(id);
        expect(isSafeSegment(seg)).toBe(true);
        expect(seg === id || seg.startsWith("_")).toBe(true);
        if (seg !== INVALID_APP) expect(appIdFromSegment(seg)).toBe(id);
        if (id.startsWith("_") || !isSafeSegment(id)) expect(RESERVED_APPS.has(seg) && seg !== INVALID_APP).toBe(false);
        const active = activeFilePath(seg, 0, 0);
        expect(nas.abs(active).startsWith(root + path.sep)).toBe(true);
        expect(path.relative(root, nas.abs(active)).split(path.sep)[1]).toBe(seg);
        // staging files are per (topic, partition), all apps: whatever the topic's bytes, the file
        // is one directory below staging/, in the topic's safe segment, and its name maps back to its id
        const staged = encodeStagingFile({ topic, partition, first: 0, last: 9, minTs: 0, maxTs: 0 }, [{ app: seg, records: 1, minTs: 0, bytes: Buffer.from("x") }]);
        expect(staged.path).toBe(stagingPath(staged.id));
        expect(stagingIdOf(staged.path)).toBe(staged.id);
        expect(nas.abs(staged.path).startsWith(root + path.sep)).toBe(true);
        const parts = path.relative(root, nas.abs(staged.path)).split(path.sep);
        expect(parts).toHaveLength(3);
        expect(parts[0]).toBe(STAGING_DIR);
        expect(parts[1]).toBe(`${topicSegment(topic)}.${partition}`);
        expect(parts[1]).toMatch(/^[A-Za-z0-9._-]+$/);
        expect(parts[2]).toMatch(/^0-9\.[0-9a-f]{8}\.batch$/);
        const digest = createHash("sha1").update(seg).digest("hex");
        const key = archiveObjectKey("logs", seg, 0, 0, 0, "UTC", digest);
        expect(() => validateObjectKey(key)).not.toThrow();
        expect(key.endsWith(`/${seg}-0-0-${digest.slice(0, 12)}.log.gz`)).toBe(true);
        expect(parseArchiveKey(key)?.app).toBe(seg);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("different ids never share a segment (except the _invalid bucket)", () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const sa = appSegment(a), sb = appSegment(b);
        if (a !== b && sa !== INVALID_APP) expect(sa).not.toBe(sb);
      }),
      { numRuns: RUNS },
    );
  });

  it("routing by field, key or header always yields a safe segment", () => {
    const router = createRouter([{ kind: "field", path: ["appId"] }, { kind: "header", name: "X-App" }, { kind: "key" }]);
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)), fc.dictionary(keyArb, valueArb).map((o) => Buffer.from(JSON.stringify(o))), idArb.map((id) => Buffer.from(JSON.stringify({ appId: id })))),
        fc.option(idArb, { nil: null }),
        fc.dictionary(fc.constantFrom("x-app", "X-App", "X-APP", "other"), idArb),
        (value, key, headers) => {
          const seg = routeSegment(router, { key, headers, value });
          expect(isSafeSegment(seg)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

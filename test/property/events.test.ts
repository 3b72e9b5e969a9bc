/**
 * Property tests (fast-check) for event parsing and split: any bytes in → either records and
 * rejected elements that account for every element, or an UnreadableEventError (which split
 * dead-letters) — never another exception, never a lost element; what the trigger emulator
 * encodes comes back byte for byte; split files every record it accepts once, in a safe app's
 * section of a staging file inside the NAS root, or dead-letters it. Run by `npm test` and `npm run test:faults`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { toCloudEventsBatch, toRawDataBatch } from "../../cli/local/cloudevents.js";
import { tailShardOf } from "../../functions/adapters/coord-store.js";
import { MemoryCoordStore } from "../../functions/adapters/memory-coord-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import { decodeChunk } from "../../functions/core/chunk.js";
import { loadConfig } from "../../functions/core/config.js";
import type { DrainTask, PipelineDeps } from "../../functions/core/deps.js";
import { parseKafkaBatch, UnreadableEventError } from "../../functions/core/events.js";
import { silentLogger } from "../../functions/core/logger.js";
import { isSafeSegment } from "../../functions/core/routing.js";
import { STAGING_DIR, topicSegment } from "../../functions/core/layout.js";
import { splitBatch } from "../../functions/core/split.js";
import { decodeStagingIndex, stagingIdOf, tailChunkBytes, tailChunks } from "../../functions/core/staging.js";

const RUNS = Number(process.env.LOGPIPE_PROPERTY_RUNS ?? "300");

function parseOrUnreadable(input: unknown): ReturnType<typeof parseKafkaBatch> | "unreadable" {
  try {
    return parseKafkaBatch(input);
  } catch (e) {
    if (e instanceof UnreadableEventError) return "unreadable";
    throw e;
  }
}

const anyJson = fc.jsonValue({ maxDepth: 4 });
/** Elements that look like CloudEvents / RawData with every field possibly wrong. */
const eventishArb = fc.record(
  {
    specversion: fc.constant("1.0"),
    id: fc.string(),
    source: fc.constant("acs:alikafka"),
    subject: fc.oneof(fc.string(), fc.constant("acs:alikafka:x:topic:t1")),
    data: fc.oneof(
      anyJson,
      fc.string(),
      fc.record(
        {
          topic: fc.oneof(fc.string(), anyJson),
          partition: fc.oneof(fc.nat(), fc.integer(), fc.string(), fc.double(), anyJson),
          offset: fc.oneof(fc.nat(), fc.integer(), fc.stringMatching(/^\d{1,20}$/), fc.double(), anyJson),
          value: fc.oneof(fc.string({ unit: "binary" }), anyJson),
          valueBase64: fc.oneof(fc.base64String(), fc.string()),
          key: fc.oneof(fc.string(), anyJson),
          headers: fc.oneof(anyJson, fc.array(fc.record({ key: fc.oneof(fc.string(), anyJson), value: fc.oneof(fc.string(), fc.array(fc.integer({ min: 0, max: 255 })), anyJson) }))),
          timestamp: fc.oneof(fc.integer(), fc.string()),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
const elementArb = fc.oneof(eventishArb, anyJson, eventishArb.map((e) => JSON.stringify(e)));

describe("parseKafkaBatch never throws anything but UnreadableEventError, and accounts for every element", () => {
  it("on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => void parseOrUnreadable(Buffer.from(b))), { numRuns: RUNS });
  });
  it("on arbitrary strings and JSON texts", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json()), (s) => void parseOrUnreadable(s)), { numRuns: RUNS });
  });
  it("on arrays of malformed and well-formed events (as text and as parsed objects)", () => {
    fc.assert(
      fc.property(fc.array(elementArb, { maxLength: 12 }), fc.boolean(), (elements, asText) => {
        const r = parseOrUnreadable(asText ? Buffer.from(JSON.stringify(elements)) : elements);
        expect(r).not.toBe("unreadable");
        if (r === "unreadable") return;
        expect(r.records.length + r.rejected.length).toBe(elements.length);
        const idx = r.rejected.map((x) => x.index);
        expect(new Set(idx).size).toBe(idx.length);
        for (const rec of r.records) {
          expect(Number.isSafeInteger(rec.partition) && rec.partition >= 0).toBe(true);
          expect(Number.isSafeInteger(rec.offset) && rec.offset >= 0).toBe(true);
          expect(typeof rec.topic === "string" && rec.topic.length > 0).toBe(true);
          expect(Buffer.isBuffer(rec.value)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });
  it("round-trips what the trigger emulator encodes, as CloudEvents and as RawData: values (any bytes), keys, headers, offsets", () => {
    const recordArb = fc.record({
      topic: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
      partition: fc.nat({ max: 1000 }),
      offset: fc.oneof(fc.nat({ max: 2 ** 40 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      timestamp: fc.nat({ max: 2 ** 41 }),
      key: fc.option(fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)), { nil: null }),
      headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
      value: fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ unit: "binary" }).map((s) => Buffer.from(s))),
    });
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 10 }), fc.boolean(), (records, raw) => {
        const r = parseKafkaBatch(raw ? toRawDataBatch(records) : toCloudEventsBatch(records));
        expect(r.rejected).toEqual([]);
        expect(r.records.map((x) => [x.topic, x.partition, x.offset, x.key, x.headers, x.value.toString("base64")])).toEqual(
          records.map((x) => [x.topic, x.partition, x.offset, x.key?.toString("utf8") ?? null, x.headers, x.value.toString("base64")]),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe("split on hostile batches", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "lp-prop-split-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let run = 0;

  it("files every accepted record once in a safe app's section of a staging file, or dead-letters it; nothing escapes the NAS root", async () => {
    const idArb = fc.oneof(fc.constantFrom("pay", "../x", "/etc", ".", "..", "_overflow", "a/b", ""), fc.string({ unit: "binary", maxLength: 70 }));
    const recArb = fc.record({
      appId: fc.option(idArb, { nil: undefined }),
      partition: fc.nat({ max: 3 }),
      body: fc.oneof(fc.string({ unit: "binary", maxLength: 50 }), fc.constant("x".repeat(300))),
      raw: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(recArb, { maxLength: 25 }), fc.array(elementArb, { maxLength: 3 }), fc.boolean(), fc.boolean(), fc.boolean(), async (recs, junk, hot, rawData, tail) => {
        const dir = path.join(root, String(run++));
        // hot: every app with a section of its own crosses the drain threshold, so split asks
        // compress for it at once; tail: small sections go to their tail shard's region instead
        const config = loadConfig({
          LOGPIPE_NAS_ROOT: dir, LOGPIPE_INVOKE_MODE: "inline", LOGPIPE_MAX_RECORD_BYTES: "256", LOGPIPE_MAX_APPS: "4", LOGPIPE_TAIL_SHARDS: "3",
          ...(hot ? { LOGPIPE_DRAIN_BYTES: "1" } : {}), ...(tail ? { LOGPIPE_TAIL_SECTION_BYTES: "300B" } : { LOGPIPE_TAIL_SECTION_BYTES: "0" }),
        });
        const tasks: DrainTask[] = [];
        const nas = new NasDir(dir, false);
        const deps: PipelineDeps = { config, nas, coord: new MemoryCoordStore(), logger: silentLogger, invoker: { invokeCompress: async (t) => void tasks.push(t) } };
        const elements = [
          ...recs.map((r, i) => {
            const data = { topic: "t-main", partition: r.partition, offset: i, value: r.raw ? r.body : JSON.stringify({ appId: r.appId, msg: r.body }) };
            // the trigger's two schemas: CloudEvents, or RawData (the record's data only)
            return rawData ? data : { specversion: "1.0", id: String(i), source: "acs:alikafka", type: "alikafka:Topic:Message", data };
          }),
          ...junk,
        ];
        const result = await splitBatch(deps, Buffer.from(JSON.stringify(elements)));
        const parsed = parseKafkaBatch(Buffer.from(JSON.stringify(elements)));
        let inChunks = 0;
        const stagedApps = new Set<string>();
        const sectionApps = new Set<string>();
        const files = await nas.walk(STAGING_DIR);
        expect(files.length).toBe(result.files);
        for (const f of files) {
          expect(f.rel).toMatch(/^staging\/[A-Za-z0-9._-]+\/\d+-\d+\.[0-9a-f]{8}\.batch$/);
          expect(stagingIdOf(f.rel)).toBeDefined();
          expect(nas.abs(f.rel).startsWith(path.resolve(dir) + path.sep)).toBe(true);
          const bytes = (await nas.read(f.rel))!;
          const index = decodeStagingIndex(bytes);
          expect(f.rel.split("/")[1]).toBe(`${topicSegment(index.topic)}.${index.partition}`);
          for (const s of index.sections) {
            expect(isSafeSegment(s.app)).toBe(true);
            stagedApps.add(s.app);
            sectionApps.add(s.app);
            const chunk = decodeChunk(bytes.subarray(s.off, s.off + s.len));
            expect(chunk.offsets.length).toBe(s.records);
            expect(chunk.offsets.every((o) => o >= index.first && o <= index.last)).toBe(true);
            inChunks += chunk.offsets.length;
          }
          for (const t of index.tails ?? []) {
            const chunks = tailChunks(bytes.subarray(t.off, t.off + t.len));
            expect(chunks.length).toBe(t.apps);
            for (const c of chunks) {
              expect(isSafeSegment(c.app)).toBe(true);
              expect(tailShardOf(c.app, 3)).toBe(t.shard);
              expect(sectionApps.has(c.app)).toBe(false);
              stagedApps.add(c.app);
              const chunk = decodeChunk(tailChunkBytes(c));
              expect(chunk.offsets.every((o) => o >= index.first && o <= index.last)).toBe(true);
              inChunks += chunk.offsets.length;
            }
          }
          if (!tail) expect(index.tails).toBeUndefined();
        }
        // drain tasks name safe app directories, only apps that were staged, each once
        const asked = tasks.flatMap((t) => t.apps);
        expect(asked.every((a) => isSafeSegment(a) && sectionApps.has(a))).toBe(true);
        expect(new Set(asked).size).toBe(asked.length);
        expect(asked.length).toBe(result.hot);
        if (hot) expect(new Set(asked)).toEqual(sectionApps);
        // records of the same (topic, partition, offset) count once; oversize ones are dead letters
        const unique = new Set(parsed.records.map((r) => `${r.topic}\u0000${r.partition}\u0000${r.offset}`)).size;
        expect(inChunks + result.oversize).toBe(unique);
        expect(result.rejected).toBe(parsed.rejected.length);
      }),
      // a failing case is reported at once with its seed and path (shrinking an async case that
      // writes files can outlast the test's timeout, which hid the counterexample once in CI)
      { numRuns: Math.max(50, RUNS / 3), endOnFailure: true },
    );
  });
});

/**
 * The split fast path (scanKafkaBatch, extractJsonFieldRange, encodeChunkRows) must give exactly
 * the answers of the reference path (parseKafkaBatch, extractJsonField, encodeChunk).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeChunk, encodeChunkRows } from "../../functions/core/chunk.js";
import { parseKafkaBatch, recordAt, scanKafkaBatch, UnreadableEventError, type RecordTable } from "../../functions/core/events.js";
import { compileFieldPath, extractJsonField, extractJsonFieldRange } from "../../functions/core/routing.js";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";

function reference(payload: Buffer) {
  try {
    return parseKafkaBatch(payload);
  } catch (e) {
    if (e instanceof UnreadableEventError) return "unreadable";
    throw e;
  }
}

function scanned(payload: Buffer) {
  try {
    const s = scanKafkaBatch(payload);
    return { records: Array.from({ length: s.table.count }, (_, i) => recordAt(s.table, i)), rejected: s.rejected, path: s.path };
  } catch (e) {
    if (e instanceof UnreadableEventError) return "unreadable";
    throw e;
  }
}

const norm = (r: ReturnType<typeof reference>) =>
  r === "unreadable" ? r : { records: r.records.map((x) => ({ ...x, value: x.value.toString("hex") })), rejected: r.rejected };

function same(payload: Buffer) {
  const a = reference(payload);
  const b = scanned(payload);
  expect(norm(b === "unreadable" ? b : { records: b.records, rejected: b.rejected })).toEqual(norm(a));
  return b;
}

const value = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }), // lone surrogates, control characters
  fc.json(),
  fc.constantFrom('{"appId":"pay-gw","msg":"a\\nb"}', "\u001eleading marker", "line\nbreak", "", "caf\u00e9 \u4e2d\u6587 \ud83d\ude00"),
);

const record = fc.record({
  topic: fc.constantFrom("t", "app-logs", "t\u00e9"),
  partition: fc.nat(1000),
  offset: fc.nat(1_000_000),
  timestamp: fc.nat(),
  key: fc.option(fc.string(), { nil: null }),
  headers: fc.constantFrom<Record<string, string>[]>({}, { app: "x" }, { "X-App": "y", other: "z" }),
  value: value.map((s) => Buffer.from(s, "utf8")),
});

describe("scanKafkaBatch", () => {
  it("equals parseKafkaBatch on emulator batches (and takes the fast path)", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (recs) => {
        const payload = toCloudEventsBatch(recs.map((r) => ({ ...r, key: r.key === null ? null : Buffer.from(r.key) })));
        const b = same(payload);
        if (b !== "unreadable") expect(b.path).toBe("scan");
      }),
      { numRuns: 300 },
    );
  });

  it("equals parseKafkaBatch on hand-written JSON: escapes, whitespace, odd shapes, invalid input", () => {
    const el = (data: string, extra = "") => `{"specversion":"1.0","id":"1","source":"s"${extra},"data":${data}}`;
    const cases = [
      "", "  ", "[]", " [ ] ", "[", "[1]", "null", "{}", "[{}]", '"x"', "[\"x\"]",
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"v"}')}]`,
      `[ ${el('{ "topic" : "t" , "partition" : 0 , "offset" : 1 , "value" : "a\\u00e9\\ud83d\\ude00\\ud800x\\udc00\\/\\b\\f\\r\\t\\n" }')} ]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"v","value":"w"}')}]`,
      `[${el('{"topic":"t","partition":"7","offset":"8","value":"v"}')}]`,
      `[${el('{"topic":"t","partition":1.0,"offset":1e2,"timestamp":-1.5e3,"value":"v"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":{"a":1}}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":null}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"valueBase64":"AAEC/w==","value":"x"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x","valueBase64":"AAEC"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"key":5,"value":"x"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"key":"k\\"q","headers":[{"key":"a","value":"b"}],"value":"x"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"headers":{"headers":[{"key":"a","value":[104,105]}],"isReadOnly":true},"value":"x"}')}]`,
      `[${el('{"partition":0,"offset":1,"value":"x"}', ',"subject":"acs:alikafka:i:topic:fromsubject"')}]`,
      `[${el('"{\\"topic\\":\\"t\\",\\"partition\\":0,\\"offset\\":1,\\"value\\":\\"x\\"}"')}]`,
      `[{"topic":"t","partition":0,"offset":1,"value":"raw"}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x"}')},1,"s",null]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x"}')}] x`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x\ty"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"bad \\x escape"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":01,"value":"x"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x","nested":{"a":[1,{"b":[true,false,null]}],"c":-0.5e-3}}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"x"}', ',"data":{}')}]`,
    ];
    for (const c of cases) same(Buffer.from(c, "utf8"));
    // raw invalid UTF-8 inside the value string and elsewhere
    const bad = Buffer.concat([Buffer.from(`[${el('{"topic":"t","partition":0,"offset":1,"value":"a')}`.slice(0, -3)), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}}]')]);
    same(bad);
  });

  it("equals parseKafkaBatch on arbitrary mutations of a valid batch", () => {
    const base = toCloudEventsBatch([
      { topic: "t", partition: 1, offset: 5, timestamp: 1, key: Buffer.from("k"), headers: { a: "b" }, value: Buffer.from('{"appId":"x","m":"\\u00e9"}') },
      { topic: "t", partition: 1, offset: 6, timestamp: 2, key: null, headers: {}, value: Buffer.from("plain\nline") },
    ]);
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.boolean(), (at, byte, insert) => {
        const p = insert ? Buffer.concat([base.subarray(0, at), Buffer.from([byte]), base.subarray(at)]) : Buffer.from(base);
        if (!insert) p[at] = byte;
        same(p);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("extractJsonFieldRange and encodeChunkRows", () => {
  it("give extractJsonField's answer on a range ended by a 0x00 byte", () => {
    const path = compileFieldPath(["appId"]);
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.constantFrom('{"appId":"a"}', '{"appId":"a"} ', '{"appId":1e2}', '{"appId":"a"', '{"appId":tru')), fc.string(), (doc, after) => {
        const d = Buffer.from(doc);
        const buf = Buffer.concat([Buffer.from("xx"), d, Buffer.from([0]), Buffer.from(after)]);
        expect(extractJsonFieldRange(buf, 2, 2 + d.length, path)).toBe(extractJsonField(d, path));
      }),
      { numRuns: 1000 },
    );
  });

  it("encodeChunkRows writes encodeChunk's bytes", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 15 }), (recs) => {
        const payload = toCloudEventsBatch(recs.map((r) => ({ ...r, key: null })));
        const t: RecordTable = scanKafkaBatch(payload).table;
        const rows = Array.from({ length: t.count }, (_, i) => i).filter((i) => i % 3 !== 1);
        const meta = { app: "a", topic: "t", partition: 0, covered: [[0, 10]] as [number, number][] };
        const ref = encodeChunk(meta, rows.map((i) => ({ offset: t.offset[i]!, value: recordAt(t, i).value })));
        expect(encodeChunkRows(meta, t, rows).equals(ref)).toBe(true);
        // built in a reused (dirty, larger) buffer: the same bytes
        const scratch = Buffer.alloc(ref.length + 100, 0xee);
        expect(encodeChunkRows(meta, t, rows, rows.length, () => scratch).equals(ref)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * The split fast path (scanKafkaBatch, extractJsonFieldRange, encodeChunkRows) must give exactly
 * the answers of the reference path (parseKafkaBatch, extractJsonField, encodeChunk), for both
 * trigger schemas (CloudEvents and RawData).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeChunk, encodeChunkRows, layoutChunkRows, writeChunkRows } from "../../functions/core/chunk.js";
import { encodeStagingFile } from "../../functions/core/staging.js";
import { parseKafkaBatch, recordAt, scanKafkaBatch, UnreadableEventError, type RecordTable } from "../../functions/core/events.js";
import { compileFieldPath, extractJsonField, extractJsonFieldRange } from "../../functions/core/routing.js";
import { toCloudEventsBatch, toRawDataBatch } from "../../cli/local/cloudevents.js";
import type { SourceRecord } from "../../cli/sources/types.js";

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
    const t = s.table;
    const records = Array.from({ length: t.count }, (_, i) => recordAt(t, i));
    // the table's own promises: a 0x00 stop byte after each value, hasNewline exactly when the value has one
    records.forEach((r, i) => {
      expect(t.values[t.valueEnd[i]!]).toBe(0);
      expect(t.hasNewline[i]).toBe(r.value.includes(0x0a) ? 1 : 0);
    });
    return { records, rejected: s.rejected, path: s.path };
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

/** Offsets up to the largest one JSON carries exactly (2^53 - 1, 16 digits). */
const offsetArb = fc.oneof(fc.nat(1_000_000), fc.integer({ min: 2 ** 49, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 999_999_999_999_999, 10 ** 15));

const record = fc.record({
  topic: fc.constantFrom("t", "app-logs", "t\u00e9"),
  partition: fc.nat(1000),
  offset: offsetArb,
  timestamp: fc.nat(),
  key: fc.option(fc.string(), { nil: null }),
  headers: fc.constantFrom<Record<string, string>[]>({}, { app: "x" }, { "X-App": "y", other: "z" }),
  value: value.map((s) => Buffer.from(s, "utf8")),
});

/** JSON text of a string: as JSON.stringify writes it, with every character but digits as a \\u escape, or with "\\/" for "/". */
const jsonStr = fc.tuple(fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("t", "", "caf\u00e9", "a/b")), fc.nat(2)).map(([s, how]) =>
  how === 0
    ? JSON.stringify(s)
    : how === 1
      ? `"${Array.from({ length: s.length }, (_, i) => s.charCodeAt(i)).map((c) => (c >= 0x30 && c <= 0x39 ? String.fromCharCode(c) : `\\u${c.toString(16).padStart(4, "0")}`)).join("")}"`
      : JSON.stringify(s).replaceAll("/", "\\/"),
);
const anyJsonText = fc.json({ maxDepth: 3 });
const intText = fc.oneof(
  fc.nat(1000).map(String),
  fc.constantFrom("0", "-0", "-1", "1.0", "1e2", "1E+2", "0.5", "9007199254740991", "9007199254740992", "9007199254740993", "12345678901234567", "999999999999999"),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.bigInt({ min: 2n ** 52n, max: 2n ** 54n }).map(String), // around the largest safe integer
);
/** One field of a Kafka record as JSON text: right or wrong type. */
const fieldText: Record<string, fc.Arbitrary<string>> = {
  topic: fc.oneof(jsonStr, fc.constantFrom('"t"', '"app-logs"', '""', "null", "5", "{}")),
  partition: fc.oneof(intText, jsonStr, fc.constantFrom('"7"', "null", "[]")),
  offset: fc.oneof(intText, jsonStr, fc.constantFrom('"8"', '"9007199254740993"', "null", "true")),
  timestamp: fc.oneof(intText, fc.constantFrom("-1.5e3", "1e400", '"1700000000000"', '"x"', "null")),
  key: fc.oneof(jsonStr, fc.constantFrom("null", "5", "[1]", '{"k":1}')),
  headers: fc.oneof(
    fc.constantFrom('{"headers":[],"isReadOnly":false}', '{"headers":[{"key":"app","value":"x"}],"isReadOnly":true}', '[{"key":"b","value":[104,105]}]', '{"app":"y","isReadOnly":true}', '"h"', "5", "null"),
    anyJsonText,
  ),
  value: fc.oneof(jsonStr, jsonStr, anyJsonText, fc.constantFrom("null", "5", "[]", '{"appId":"a","n":[1.0,1e2]}', '"{\\"appId\\":\\"a\\"}"')),
  valueBase64: fc.oneof(fc.base64String().map((x) => JSON.stringify(x)), jsonStr, fc.constantFrom("5", "null")),
};
/** A record as one RawData element's JSON text. */
const rawDataText = (r: typeof record extends fc.Arbitrary<infer R> ? R : never) => toRawDataBatch([{ ...r, key: r.key === null ? null : Buffer.from(r.key) }]).toString("utf8").slice(1, -1);
const fieldName = fc.constantFrom(...Object.keys(fieldText));
const sp = fc.constantFrom("", " ", "\n", " \t\r\n ");
/** A member `"name": value`: a record field, a duplicate, an escaped spelling, CloudEvents attributes, data, anything else. */
const member = fc.oneof(
  { weight: 8, arbitrary: fieldName.chain((k) => fc.tuple(fc.constant(JSON.stringify(k)), fieldText[k]!)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('"\\u0074opic"', '"offs\\u0065t"', '"specversion"', '"id"', '"subject"', '"data"', '"x"'), fc.oneof(jsonStr, anyJsonText)) },
  { weight: 1, arbitrary: fc.tuple(jsonStr, anyJsonText) },
  { weight: 1, arbitrary: record.map((r): [string, string] => ['"data"', rawDataText(r)]) }, // a record in `data` too (with or without CloudEvents attributes)
);
const objectText = (members: [string, string][], s: string) => `{${s}${members.map(([k, v]) => `${k}${s}:${s}${v}`).join(`${s},${s}`)}${s}}`;
/** A well-formed record's members, as the emulator writes them. */
const recordMembers = (r: typeof record extends fc.Arbitrary<infer R> ? R : never): [string, string][] => [
  ['"topic"', JSON.stringify(r.topic)], ['"partition"', String(r.partition)], ['"offset"', String(r.offset)], ['"timestamp"', String(r.timestamp)],
  ...(r.key === null ? [] : [['"key"', JSON.stringify(r.key)] as [string, string]]),
  ['"headers"', JSON.stringify({ headers: Object.entries(r.headers).map(([key, v]) => ({ key, value: v })), isReadOnly: false })],
  ['"value"', JSON.stringify(r.value.toString("utf8"))],
];
/** A well-formed record with one or two members replaced or added (so: doubled) by hostile ones. */
const nearlyRecord = fc.tuple(record, fc.array(fc.tuple(fc.nat(), fc.boolean(), member), { minLength: 1, maxLength: 2 }), sp).map(([r, edits, s]) => {
  const m = recordMembers(r);
  for (const [pos, replace, [k, v]] of edits) {
    const at = m.findIndex(([x]) => x === k);
    if (replace && at >= 0) m[at] = [k, v];
    else m.splice(pos % (m.length + 1), 0, [k, v]);
  }
  return objectText(m, s);
});
/** A RawData element written by hand: mostly the record's fields (some missing, some doubled, some wrong), sometimes junk. */
const rawDataElement: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: nearlyRecord },
  { weight: 3, arbitrary: fc.tuple(fc.shuffledSubarray(Object.keys(fieldText), { minLength: 3 }).chain((ks) => fc.tuple(...ks.map((k) => fc.tuple(fc.constant(JSON.stringify(k)), fieldText[k]!)))), sp).map(([m, s]) => objectText(m as [string, string][], s)) },
  { weight: 3, arbitrary: fc.tuple(fc.array(member, { maxLength: 10 }), sp).map(([m, s]) => objectText(m, s)) },
  { weight: 3, arbitrary: record.map(rawDataText) }, // well-formed, as the emulator writes it
  { weight: 1, arbitrary: record.map(rawDataText).map((t) => JSON.stringify(t)) }, // an element that is the JSON string of a record
  { weight: 1, arbitrary: fc.tuple(fc.array(member, { maxLength: 6 }), sp).map(([m, s]) => JSON.stringify(objectText(m, s))) },
  { weight: 1, arbitrary: anyJsonText },
);

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

  it("equals parseKafkaBatch on RawData emulator batches (and takes the fast path)", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (recs) => {
        const sources = recs.map((r) => ({ ...r, key: r.key === null ? null : Buffer.from(r.key) }));
        const b = same(toRawDataBatch(sources));
        expect(b).not.toBe("unreadable");
        if (b === "unreadable") return;
        expect(b.path).toBe("scan");
        expect(b.records).toHaveLength(recs.length);
        // the same records as their CloudEvents batch gives
        const c = scanned(toCloudEventsBatch(sources));
        expect(c !== "unreadable" && norm(c)).toEqual(norm(b));
      }),
      { numRuns: 300 },
    );
  });

  it("equals parseKafkaBatch on hostile RawData: missing fields, wrong types, duplicate keys, escapes, nested values, huge offsets", () => {
    let scannedBatches = 0;
    fc.assert(
      // any elements, or elements that are all records or nearly (so that the batch can take the fast path)
      fc.property(fc.oneof(fc.array(rawDataElement, { maxLength: 8 }), fc.array(fc.oneof(record.map(rawDataText), nearlyRecord), { maxLength: 4 })), sp, (els, gap) => {
        const b = same(Buffer.from(`${gap}[${gap}${els.join(`${gap},${gap}`)}${gap}]${gap}`, "utf8"));
        if (b !== "unreadable" && b.path === "scan" && b.records.length > 0) scannedBatches++;
      }),
      { numRuns: 3000 },
    );
    // the generator reaches the fast path too (not only the fallback, which is the reference itself)
    expect(scannedBatches).toBeGreaterThan(100);
  });

  it("takes the fast path for well-formed RawData however it is written", () => {
    const cases = [
      "[]",
      ' [ { "topic" : "t" , "partition" : 0 , "offset" : 1 , "value" : "v" } ] ',
      '[{"topic":"t","partition":0,"offset":9007199254740991,"timestamp":-1.5e3,"value":"a\\u00e9\\ud83d\\ude00\\ud800x\\udc00\\/\\b\\f\\r\\t\\n\\u0000"}]',
      '[{"topic":"t\\u00e9","partition":3,"offset":0,"key":"k\\"q","headers":{"headers":[{"key":"app","value":"x"}],"isReadOnly":false},"value":"caf\u00e9 \u4e2d \ud83d\ude00"}]',
      '[{"other":{"a":[1,{"b":[true,false,null]}],"c":-0.5e-3},"topic":"t","partition":0,"offset":1,"key":null,"headers":[],"valueBase64":"AAEC/w=="}]',
      '[{"topic":"t","partition":0,"offset":1,"value":"x","specversion":"1.0","id":"1","source":"s"}]',
      '[{"topic":"t","partition":0,"offset":1,"value":"x"},{"topic":"u","partition":1,"offset":1,"value":"y"},{"topic":"t","partition":0,"offset":2,"value":"z"}]',
    ];
    for (const c of cases) {
      const b = same(Buffer.from(c, "utf8"));
      expect(b !== "unreadable" && b.path).toBe("scan");
    }
  });

  it("equals parseKafkaBatch on hand-written JSON: escapes, whitespace, odd shapes, invalid input", () => {
    const el = (data: string, extra = "") => `{"specversion":"1.0","id":"1","source":"s"${extra},"data":${data}}`;
    const cases = [
      "", "  ", "[]", " [ ] ", "[", "[1]", "null", "{}", "[{}]", '"x"', "[\"x\"]",
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"v"}')}]`,
      `[ ${el('{ "topic" : "t" , "partition" : 0 , "offset" : 1 , "value" : "a\\u00e9\\ud83d\\ude00\\ud800x\\udc00\\/\\b\\f\\r\\t\\n" }')} ]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"v","value":"w"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"v\\n","value":"w"}')}]`,
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
      // RawData next to CloudEvents: which object is the record decides (data wins only with CloudEvents attributes)
      `[{"topic":"t","partition":0,"offset":1,"value":"raw"},${el('{"topic":"t","partition":0,"offset":2,"value":"ce"}')}]`,
      `[${el('{"topic":"t","partition":0,"offset":1,"value":"in data"}', ',"topic":"top","partition":5,"offset":6,"value":"top"')}]`,
      `[{"data":{"topic":"t","partition":0,"offset":1,"value":"in data"},"topic":"top","partition":5,"offset":6,"value":"top"}]`,
      `[{"data":{"topic":"t","partition":0,"offset":1,"value":"in data"},"partition":5}]`,
      `[{"data":{"topic":"t","partition":0,"offset":1,"value":"in data"}}]`,
      `[{"data":"x","topic":"t","partition":0,"offset":1,"value":"top"}]`,
      `[{"topic":"t","partition":0,"offset":1,"value":"a\\nb","value":"c"}]`,
      `[{"topic":"t","partition":0,"offset":1,"value":"c","value":"a\\nb"}]`,
      `[{"topic":"t","partition":0,"offset":9007199254740992,"value":"v"}]`,
      `[{"topic":"t","partition":0,"offset":12345678901234567,"value":"v"}]`,
      `[{"topic":"t","partition":0,"offset":"9","value":"v"}]`,
      `[{"topic":"t","partition":0,"offset":1,"value":{"appId":"a","n":[1.0,1e2,"\\u00e9"]}}]`,
      `[{"\\u0074opic":"t","partition":0,"offset":1,"value":"v"}]`,
      `[{"topic":"","partition":0,"offset":1,"value":"v"}]`,
      `[{"partition":0,"offset":1,"value":"v","subject":"acs:alikafka:i:topic:fromsubject"}]`,
      `[{"topic":"t","partition":0,"offset":1}]`,
      `[${JSON.stringify('{"topic":"t","partition":0,"offset":1,"value":"v"}')}]`,
      `[{"topic":"t","partition":0,"offset":1,"value":"v"},{}]`,
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

  it.each([
    ["CloudEvents", (r: SourceRecord[]) => toCloudEventsBatch(r)],
    ["RawData", toRawDataBatch],
  ] as const)("equals parseKafkaBatch on arbitrary mutations of a valid %s batch", (_schema, build) => {
    const base = build([
      { topic: "t", partition: 1, offset: 2 ** 53 - 1, timestamp: 1, key: Buffer.from("k"), headers: { a: "b" }, value: Buffer.from('{"appId":"x","m":"\\u00e9"}') },
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
        const meta = { app: "a" };
        const ref = encodeChunk(meta, rows.map((i) => ({ offset: t.offset[i]!, value: recordAt(t, i).value })));
        expect(encodeChunkRows(meta, t, rows).equals(ref)).toBe(true);
        // built in a reused (dirty, larger) buffer: the same bytes
        const scratch = Buffer.alloc(ref.length + 100, 0xee);
        expect(encodeChunkRows(meta, t, rows, rows.length, () => scratch).equals(ref)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("a staging file of sections written in place (split's way) has the bytes of one built from encoded sections", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), fc.integer({ min: 1, max: 4 }), (recs, apps) => {
        const payload = toCloudEventsBatch(recs.map((r) => ({ ...r, key: null })));
        const t: RecordTable = scanKafkaBatch(payload).table;
        const meta = { topic: "t", partition: 3, first: 0, last: 99, minTs: 0, maxTs: 0 };
        const rowsOf = (a: number) => Array.from({ length: t.count }, (_, i) => i).filter((i) => i % apps === a);
        const chunkMeta = (a: number) => ({ app: `app-${a}` });
        const apps_ = Array.from({ length: apps }, (_, a) => a);
        const encoded = apps_.map((a) => ({ app: `app-${a}`, records: rowsOf(a).length, minTs: a, bytes: encodeChunkRows(chunkMeta(a), t, rowsOf(a)) }));
        const inPlace = apps_.map((a) => {
          const layout = layoutChunkRows(chunkMeta(a), t, rowsOf(a));
          return { app: `app-${a}`, records: rowsOf(a).length, minTs: a, size: layout.size, writeAt: (out: Buffer, at: number) => writeChunkRows(out, at, layout, t, rowsOf(a)) };
        });
        const ref = encodeStagingFile(meta, encoded);
        const got = encodeStagingFile(meta, inPlace);
        expect(got.bytes.equals(ref.bytes)).toBe(true);
        expect([got.id, got.index]).toEqual([ref.id, ref.index]);
      }),
      { numRuns: 200 },
    );
  });
});

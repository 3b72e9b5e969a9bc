import { describe, expect, it } from "vitest";
import { decodeChunk, encodeChunk, selectLines, CorruptChunkError } from "../../functions/core/chunk.js";
import { frameRecords, unframeRecords } from "../../functions/core/framing.js";
import {
  contains, decodeIntervals, encodeIntervals, intersect, intervalsFromSorted, normalize, overlaps, subtract, union, type Interval,
} from "../../functions/core/intervals.js";

const toSet = (list: Interval[]) => {
  const s = new Set<number>();
  for (const [a, b] of list) for (let i = a; i <= b; i++) s.add(i);
  return s;
};

describe("intervals", () => {
  it("merges sorted offsets into runs", () => {
    expect(intervalsFromSorted([1, 2, 3, 3, 5, 7, 8])).toEqual([[1, 3], [5, 5], [7, 8]]);
  });
  it("unions, intersects, subtracts and detects overlap like sets do", () => {
    const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const r = rand(7);
    for (let t = 0; t < 300; t++) {
      const mk = () => intervalsFromSorted(Array.from({ length: 12 }, () => Math.floor(r() * 60)).sort((a, b) => a - b));
      const a = mk(), b = mk();
      const A = toSet(a), B = toSet(b);
      expect(toSet(union(a, b))).toEqual(new Set([...A, ...B]));
      expect(toSet(subtract(a, b))).toEqual(new Set([...A].filter((x) => !B.has(x))));
      const both = intersect(a, b);
      expect(toSet(both)).toEqual(new Set([...A].filter((x) => B.has(x))));
      expect(intersect(b, a)).toEqual(both);
      // already sorted and merged (what the Redis scripts store)
      expect(normalize(both)).toEqual(both);
      expect(overlaps(a, b)).toBe([...A].some((x) => B.has(x)));
      for (let x = 0; x < 60; x++) expect(contains(a, x)).toBe(A.has(x));
    }
  });
  it("intersects at shared ends, with an open-ended range, and with nothing", () => {
    expect(intersect([[0, 9], [20, 29]], [[9, 20]])).toEqual([[9, 9], [20, 20]]);
    expect(intersect([[5, 10], [40, 50]], [[8, Number.MAX_SAFE_INTEGER]])).toEqual([[8, 10], [40, 50]]);
    expect(intersect([[0, 3]], [[4, 9]])).toEqual([]);
    expect(intersect([], [[0, 9]])).toEqual([]);
  });
  it("round-trips the text encoding used in Redis", () => {
    const list: Interval[] = [[0, 9], [20, 20], [2 ** 52, 2 ** 52 + 5]];
    expect(decodeIntervals(encodeIntervals(list))).toEqual(list);
    expect(decodeIntervals("")).toEqual([]);
    expect(() => decodeIntervals("1-2,x")).toThrow(/bad interval/);
  });
});

describe("framing", () => {
  it("round-trips any bytes, one record per line", () => {
    const records = [
      Buffer.from('{"appId":"a"}'), Buffer.from("line\nwith newline"), Buffer.from("crlf\r"), Buffer.alloc(0),
      Buffer.from([0x1e, 0x41]), Buffer.from([0xff, 0xfe, 0x00, 0x0a]), Buffer.from("x".repeat(100_000)),
    ];
    const framed = frameRecords(records);
    const back = [...unframeRecords(framed)];
    expect(back.length).toBe(records.length);
    back.forEach((b, i) => expect(b.equals(records[i]!)).toBe(true));
    expect(framed.toString("latin1").split("\n").length - 1).toBe(records.length);
  });
  it("keeps plain records greppable as-is", () => {
    expect(frameRecords([Buffer.from("hello")]).toString()).toBe("hello\n");
  });
  it("rejects a truncated object", () => {
    expect(() => [...unframeRecords(Buffer.from("a\nb"))]).toThrow(/without a newline/);
  });
});

describe("staging chunk", () => {
  const records = [{ offset: 10, value: Buffer.from("a") }, { offset: 12, value: Buffer.from("b\nb") }, { offset: 15, value: Buffer.from("c") }];
  const meta = { app: "pay" };
  it("round-trips header, offsets and framed body", () => {
    const c = decodeChunk(encodeChunk(meta, records));
    expect(c.header).toMatchObject({ ...meta, count: 3 });
    expect(c.offsets).toEqual([10, 12, 15]);
    expect([...unframeRecords(c.body)].map((b) => b.toString())).toEqual(["a", "b\nb", "c"]);
  });
  it("selects a subset of lines without re-framing", () => {
    const c = decodeChunk(encodeChunk(meta, records));
    expect([...unframeRecords(selectLines(c, (i) => i !== 1))].map(String)).toEqual(["a", "c"]);
  });
  it("is deterministic: same input, same bytes", () => {
    expect(encodeChunk(meta, records).equals(encodeChunk(meta, records))).toBe(true);
  });
  it("detects corruption and truncation", () => {
    const buf = encodeChunk(meta, records);
    expect(() => decodeChunk(buf.subarray(0, buf.length - 1))).toThrow(CorruptChunkError);
    expect(() => decodeChunk(Buffer.from("garbage!garbage!"))).toThrow(CorruptChunkError);
  });
  it("rejects a header that is JSON but not an object as corrupt (not a TypeError that would fail the drain again and again)", () => {
    for (const text of ["null", "7", '"x"']) {
      const header = Buffer.from(text);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(header.length);
      expect(() => decodeChunk(Buffer.concat([Buffer.from("LPCHUNK1"), len, header]))).toThrow(CorruptChunkError);
    }
  });
});

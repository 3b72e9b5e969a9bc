/**
 * The two on-disk formats of data path v2: the staging file (one batch-partition, every app's
 * section, indexed) and the self-describing gzip member compress appends to slot files.
 */
import { spawnSync } from "node:child_process";
import { crc32, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { chunkHeaderJson, CorruptChunkError, decodeChunk, encodeChunk } from "../../functions/core/chunk.js";
import { frameRecords, unframeRecords } from "../../functions/core/framing.js";
import { STAGING_DIR, topicSegment } from "../../functions/core/layout.js";
import { randomBytes } from "node:crypto";
import { buildMember, readMemberHeader, scanMembers, type MemberMeta } from "../../functions/core/members.js";
import {
  decodeStagingIndex, encodeStagingFile, indexLengthOf, indexRecords, isWholeStagingFile, registrationOf, sectionLines, STAGING_SUFFIX, stagingIdOf, stagingPath, tailChunks, tailLines,
} from "../../functions/core/staging.js";
import { parseTailRef, tailRef, tailShardOf } from "../../functions/adapters/coord-store.js";

const TOPIC = "app-logs";
const PARTITION = 7;

/** One app's section in the chunk layout, records at the given offsets. */
function section(app: string, offsets: number[], body = (o: number) => `{"appId":"${app}","o":${o}}`) {
  const records = offsets.map((o) => ({ offset: o, value: Buffer.from(body(o)) }));
  return { app, records: offsets.length, minTs: 1_714_532_400_000 + offsets[0]!, bytes: encodeChunk({ app }, records) };
}

function sampleFile(mutate?: (o: number) => string) {
  const sections = [section("pay", [100, 103, 104]), section("order", [101, 105], mutate), section("user", [102])];
  return { sections, file: encodeStagingFile({ topic: TOPIC, partition: PARTITION, first: 100, last: 105, minTs: 1_714_532_400_100, maxTs: 1_714_532_400_105 }, sections) };
}

const values = (lines: Buffer) => [...unframeRecords(lines)].map((b) => b.toString());

describe("staging file", () => {
  it("encodes an index that decodes back, from the head of the file alone", () => {
    const { file } = sampleFile();
    const headLength = indexLengthOf(file.bytes);
    expect(file.index).toMatchObject({ v: 1, topic: TOPIC, partition: PARTITION, first: 100, last: 105, minTs: 1_714_532_400_100, maxTs: 1_714_532_400_105 });
    expect(file.index.sections.map((s) => [s.app, s.records])).toEqual([["pay", 3], ["order", 2], ["user", 1]]);
    expect(decodeStagingIndex(file.bytes)).toEqual(file.index);
    expect(decodeStagingIndex(file.bytes.subarray(0, headLength))).toEqual(file.index);
    expect(() => decodeStagingIndex(file.bytes.subarray(0, headLength - 1))).toThrow(CorruptChunkError);
    expect(() => decodeStagingIndex(Buffer.from("LPCHUNK1 something else entirely"))).toThrow(/bad magic/);
  });

  it("tells a whole file from one torn mid-write by the CRC-32 in its name", () => {
    const { file } = sampleFile();
    const torn = Buffer.concat([file.bytes.subarray(0, file.bytes.length >> 1), Buffer.alloc(file.bytes.length - (file.bytes.length >> 1))]);
    expect(isWholeStagingFile(file.id, file.bytes)).toBe(true);
    expect(isWholeStagingFile(file.id, file.bytes.subarray(0, file.bytes.length >> 1))).toBe(false);
    // a full-length file with a hole where a write never landed (NFS can flush pages out of order)
    expect(isWholeStagingFile(file.id, torn)).toBe(false);
    // a name without a CRC is not judged
    expect(isWholeStagingFile("logs.0/100-105", torn)).toBe(true);
  });

  it("the index is JSON.stringify of { v: 1, ...meta, sections }, padded with spaces to its length with 15-digit quoted offsets (the format a redelivery must reproduce byte for byte)", () => {
    // Arrange: names JSON must escape, multi-byte UTF-8, and offsets of several widths
    const sections = [section("pay", [100, 103]), section("ordér-\"q\"", [101]), section("日本", [102])];
    const meta = { topic: "app-logs", partition: 12, first: 100, last: 103, minTs: 1_714_532_400_100, maxTs: 1_714_532_400_103 };
    // Act
    const file = encodeStagingFile(meta, sections);
    // Assert
    const placeholder = JSON.stringify({ v: 1, ...meta, sections: file.index.sections.map((e) => ({ ...e, off: e.off.toString().padStart(15, "0") })) });
    const headerLength = indexLengthOf(file.bytes);
    expect(headerLength).toBe(8 + 4 + Buffer.byteLength(placeholder));
    const text = file.bytes.toString("utf8", 12, headerLength);
    expect(text.trimEnd()).toBe(JSON.stringify({ v: 1, ...meta, sections: file.index.sections }));
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(encodeStagingFile(meta, []).index.sections).toEqual([]);
    expect(decodeStagingIndex(encodeStagingFile(meta, []).bytes)).toEqual({ v: 1, ...meta, sections: [] });
  });

  it("a chunk header is JSON.stringify of { app, count, bodyLength }, in that key order", () => {
    for (const app of ["pay", "ordér-\"q\"\n", "日本", ""]) {
      expect(chunkHeaderJson({ app }, 7, 1234)).toBe(JSON.stringify({ app, count: 7, bodyLength: 1234 }));
    }
  });

  it("a chunk's header reads back as JSON.parse reads it, with or without escapes in the app id", () => {
    for (const app of ["pay", "ordér-\"q\"\n", "日本-app", "a\\b", "x".repeat(300)]) {
      const bytes = encodeChunk({ app }, [{ offset: 9_007_199_254_740_000, value: Buffer.from("v") }]);
      expect(decodeChunk(bytes).header).toEqual({ app, count: 1, bodyLength: 2 });
      // what a reader of an earlier release does with it: JSON.parse, then app, count and bodyLength
      const headerLength = bytes.readUInt32LE(8);
      expect(JSON.parse(bytes.toString("utf8", 12, 12 + headerLength))).toEqual({ app, count: 1, bodyLength: 2 });
    }
  });

  it("reads a chunk written before 2026-12-04, whose header also names the topic, partition and covered offsets", () => {
    // Arrange: the earlier layout, byte for byte (header keys app, topic, partition, covered, count, bodyLength)
    const now = encodeChunk({ app: "pay" }, [{ offset: 100, value: Buffer.from("a") }, { offset: 101, value: Buffer.from("b\nb") }]);
    const tables = now.subarray(12 + now.readUInt32LE(8));
    const header = Buffer.from(JSON.stringify({ app: "pay", topic: TOPIC, partition: PARTITION, covered: [], count: 2, bodyLength: decodeChunk(now).body.length }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    const before = Buffer.concat([Buffer.from("LPCHUNK1"), length, header, tables]);
    // Act
    const chunk = decodeChunk(before);
    const tail = tailChunks(Buffer.concat([before, now]));
    // Assert
    expect(chunk.header).toMatchObject({ app: "pay", count: 2 });
    expect(chunk.offsets).toEqual([100, 101]);
    expect(chunk.body.equals(decodeChunk(now).body)).toBe(true);
    expect(tail.map((c) => [c.app, c.records])).toEqual([["pay", 2], ["pay", 2]]);
  });

  it("a header that only looks like split's is parsed as JSON, and what is not JSON is corrupt", () => {
    const withHeader = (text: string) => {
      const h = Buffer.from(text);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(h.length);
      return Buffer.concat([Buffer.from("LPCHUNK1"), length, h]);
    };
    expect(decodeChunk(withHeader('{"app":"a","count":0,"bodyLength":0}')).header).toEqual({ app: "a", count: 0, bodyLength: 0 });
    expect(decodeChunk(withHeader('{"app":"a", "count":0,"bodyLength":0}')).header).toEqual({ app: "a", count: 0, bodyLength: 0 });
    expect(() => decodeChunk(withHeader('{"app":"a","count":0,"bodyLength":0'))).toThrow(/not JSON/);
    expect(() => decodeChunk(withHeader('{"app":"a","count":1,"bodyLength":0}'))).toThrow(CorruptChunkError);
    expect(() => decodeChunk(withHeader('{"app":"a","count":-1,"bodyLength":0}'))).toThrow(CorruptChunkError);
    expect(() => decodeChunk(withHeader('{"app":"a","count":1e400,"bodyLength":0}'))).toThrow(CorruptChunkError);
  });

  it("section offsets are absolute: each (off, len) is exactly that app's section, back to back after the index", () => {
    // a big first section moves the later offsets to more digits than the placeholder pass saw
    const big = section("big", Array.from({ length: 20_000 }, (_, i) => 1000 + i), (o) => `${o}:${"x".repeat(50)}`);
    const small = section("small", [30_000]);
    const file = encodeStagingFile({ topic: TOPIC, partition: 0, first: 1000, last: 30_000, minTs: 1, maxTs: 2 }, [big, small]);
    const [a, b] = file.index.sections;
    expect(a!.off).toBe(indexLengthOf(file.bytes));
    expect(b!.off).toBe(a!.off + a!.len);
    expect(b!.off + b!.len).toBe(file.bytes.length);
    expect(b!.off).toBeGreaterThan(1_000_000);
    expect(file.bytes.subarray(a!.off, a!.off + a!.len).equals(big.bytes)).toBe(true);
    expect(file.bytes.subarray(b!.off, b!.off + b!.len).equals(small.bytes)).toBe(true);
    expect(decodeChunk(file.bytes.subarray(b!.off, b!.off + b!.len)).offsets).toEqual([30_000]);
    expect(registrationOf(file)).toEqual({
      file: file.id, topic: TOPIC, partition: 0, first: 1000, last: 30_000, minTs: 1, maxTs: 2,
      sections: file.index.sections.map((s) => ({ app: s.app, off: s.off, len: s.len, records: s.records, minTs: s.minTs })),
    });
  });

  it("is named by topic, partition, offsets and the CRC-32 of its bytes: stable for the same bytes, different for different bytes", () => {
    const one = sampleFile().file;
    const same = sampleFile().file;
    const other = sampleFile((o) => `{"appId":"order","o":${o},"changed":true}`).file;
    expect(one.bytes.equals(same.bytes)).toBe(true);
    expect(same.id).toBe(one.id);
    expect(one.id).toBe(`${TOPIC}.${PARTITION}/100-105.${crc32(one.bytes).toString(16).padStart(8, "0")}`);
    expect(one.path).toBe(`${STAGING_DIR}/${one.id}${STAGING_SUFFIX}`);
    expect(stagingPath(one.id)).toBe(one.path);
    expect(stagingIdOf(one.path)).toBe(one.id);
    expect(stagingIdOf(`active/pay/slot-0.gen-0.log.gz`)).toBeUndefined();
    expect(stagingIdOf(`${STAGING_DIR}/${one.id}.tmp`)).toBeUndefined();
    // the same boundaries with other bytes (a recreated topic reusing offsets) never share a name
    expect(other.id).not.toBe(one.id);
    expect(other.id.startsWith(`${TOPIC}.${PARTITION}/100-105.`)).toBe(true);
  });

  it("a topic name that is not a safe path segment is encoded, so the file stays one directory below staging/", () => {
    const f = encodeStagingFile({ topic: "../../etc", partition: 1, first: 0, last: 0, minTs: 0, maxTs: 0 }, [section("pay", [0])]);
    expect(topicSegment("../../etc")).not.toContain("/");
    expect(f.path.startsWith(`${STAGING_DIR}/${topicSegment("../../etc")}.1/0-0.`)).toBe(true);
    expect(f.path.split("/")).toHaveLength(3);
    expect(f.index.topic).toBe("../../etc"); // the index keeps the real name
  });

  it("sectionLines gives a section's framed lines, all of them or only the offsets to keep", () => {
    const { file } = sampleFile();
    const pay = file.index.sections[0]!;
    const bytes = file.bytes.subarray(pay.off, pay.off + pay.len);
    const all = sectionLines(bytes, []);
    expect(all.records).toBe(3);
    expect(values(all.lines)).toEqual([100, 103, 104].map((o) => `{"appId":"pay","o":${o}}`));
    const kept = sectionLines(bytes, [[101, 103]]);
    expect(kept.records).toBe(1);
    expect(values(kept.lines)).toEqual([`{"appId":"pay","o":103}`]);
    const none = sectionLines(bytes, [[200, 300]]);
    expect(none).toEqual({ lines: Buffer.alloc(0), records: 0 });
    expect(() => sectionLines(bytes.subarray(0, bytes.length - 1), [])).toThrow(CorruptChunkError);
  });
});

describe("staging file tail regions", () => {
  const meta = { topic: TOPIC, partition: PARTITION, first: 100, last: 112, minTs: 1_714_532_400_100, maxTs: 1_714_532_400_112 };
  const tails = () => [
    { shard: 1, sections: [section("a-small", [106]), section("b-small", [107, 108])] },
    { shard: 5, sections: [section("c-small", [109, 110, 111])] },
  ];

  it("lays each shard's small sections out back to back after the sections, one index entry per region", () => {
    // Arrange
    const sections = [section("pay", [100, 103, 104]), section("order", [101, 105])];
    // Act
    const file = encodeStagingFile(meta, sections, tails());
    // Assert: the index decodes back with its regions, whose ranges follow the last section
    expect(decodeStagingIndex(file.bytes)).toEqual(file.index);
    const [r1, r5] = file.index.tails!;
    expect(r1).toMatchObject({ shard: 1, records: 3, apps: 2, minTs: 1_714_532_400_106 });
    expect(r5).toMatchObject({ shard: 5, records: 3, apps: 1, minTs: 1_714_532_400_109 });
    const last = file.index.sections[1]!;
    expect(r1!.off).toBe(last.off + last.len);
    expect(r5!.off).toBe(r1!.off + r1!.len);
    expect(r5!.off + r5!.len).toBe(file.bytes.length);
    expect(indexRecords(file.index)).toBe(11);
    expect(registrationOf(file).tails).toEqual(file.index.tails);
  });

  it("a region reads back as its apps' chunks, each with all its lines or only the offsets to keep", () => {
    // Arrange
    const file = encodeStagingFile(meta, [], tails());
    const r1 = file.index.tails![0]!;
    // Act
    const chunks = tailChunks(file.bytes.subarray(r1.off, r1.off + r1.len));
    // Assert
    expect(chunks.map((c) => [c.app, c.records])).toEqual([["a-small", 1], ["b-small", 2]]);
    const part = (c: (typeof chunks)[number], keep: [number, number][]) => ({ ...c, entry: { keep } });
    const taken: Buffer[] = [];
    const take = (size: number) => taken[taken.push(Buffer.alloc(size + 7, 0x23)) - 1]!; // larger than asked, as a pool's are
    const lines = (ps: Parameters<typeof tailLines>[0]) => tailLines(ps, take).lines;
    expect(values(lines([part(chunks[1]!, [])]))).toEqual(['{"appId":"b-small","o":107}', '{"appId":"b-small","o":108}']);
    expect(tailLines([part(chunks[1]!, [[108, 200]])], take)).toMatchObject({ records: 1 });
    expect(values(lines([part(chunks[1]!, [[108, 200]])]))).toEqual(['{"appId":"b-small","o":108}']);
    // an app's chunks of several regions become one run of lines in one buffer, each filtered by its own keep
    const all = [part(chunks[0]!, []), part(chunks[1]!, [[108, 200]]), part(chunks[1]!, [])];
    const gathered = tailLines(all, take);
    expect(gathered.records).toBe(4);
    expect(taken.at(-1)!.length).toBe(gathered.lines.length + 7);
    expect(gathered.lines.buffer).toBe(taken.at(-1)!.buffer); // the lines are in the buffer taken, not a copy
    expect(values(gathered.lines)).toEqual(['{"appId":"a-small","o":106}', '{"appId":"b-small","o":108}', '{"appId":"b-small","o":107}', '{"appId":"b-small","o":108}']);
  });

  it("a region cut short or overwritten is corrupt as a whole", () => {
    const file = encodeStagingFile(meta, [], tails());
    const r1 = file.index.tails![0]!;
    const region = Buffer.from(file.bytes.subarray(r1.off, r1.off + r1.len));
    expect(() => tailChunks(region.subarray(0, region.length - 1))).toThrow(CorruptChunkError);
    region.fill(0x41, 0, 8);
    expect(() => tailChunks(region)).toThrow(/bad magic/);
  });

  it("a file without small sections has no tails key, as files written before tail regions", () => {
    const file = encodeStagingFile(meta, [section("pay", [100])]);
    expect("tails" in file.index).toBe(false);
    expect(decodeStagingIndex(file.bytes).tails).toBeUndefined();
  });

  it("an app's tail shard is stable and spread; a tail ref names shard and claim and nothing else parses as one", () => {
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[tailShardOf(`app-${i}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(tailShardOf("pay-gw", 8)).toBe(tailShardOf("pay-gw", 8));
    expect(parseTailRef(tailRef(3, "17"))).toEqual({ shard: 3, id: "17" });
    expect(parseTailRef("app-logs.7/100-105.0badf00d#3")).toBeUndefined();
    expect(parseTailRef("app-logs.7/100-105.0badf00d#t3")).toBeUndefined();
  });
});

describe("gzip members", () => {
  const lines = (n: number, tag: string) => frameRecords(Array.from({ length: n }, (_, i) => Buffer.from(`{"appId":"pay","tag":"${tag}","i":${i}}`)));
  const meta = (k: number): Omit<MemberMeta, "v" | "z"> => ({ n: 10 + k, r: [`app-logs.7/100-199.0000abc${k}#0`, `app-logs.7/200-299.0000abc${k}#2`], t: 1_714_532_400_000 + k, s: 1_714_532_401_000 + k });
  const bodies = [lines(10, "a"), lines(11, "b"), lines(12, "c")];
  const members = bodies.map((b, k) => buildMember(b, meta(k), 6));
  const file = Buffer.concat(members);

  it("a member gunzips to exactly its lines", () => {
    for (const [k, m] of members.entries()) expect(gunzipSync(m).equals(bodies[k]!)).toBe(true);
  });

  it("is written into the buffer it is given, and lines that do not compress (more than gzip's sized output buffer) still make a whole member", () => {
    // Arrange: a pooled-style buffer larger than the member, and random lines (deflate cannot shrink them)
    const given = Buffer.alloc(1 << 20, 0xee);
    const random = frameRecords(Array.from({ length: 400 }, () => randomBytes(300)));
    // Act
    const inGiven = buildMember(bodies[1]!, meta(1), 1, () => given);
    const incompressible = buildMember(random, meta(2), 1);
    // Assert
    expect(inGiven.buffer).toBe(given.buffer);
    expect(gunzipSync(inGiven).equals(bodies[1]!)).toBe(true);
    expect(readMemberHeader(inGiven, 0)!.meta.z).toBe(inGiven.length - readMemberHeader(inGiven, 0)!.headerLength);
    expect(incompressible.length).toBeGreaterThan(random.length / 6);
    expect(gunzipSync(incompressible).equals(random)).toBe(true);
  });

  it("concatenated members are one gzip stream to zcat, gzip -t and Node", () => {
    const all = Buffer.concat(bodies);
    expect(gunzipSync(file).equals(all)).toBe(true);
    const zcat = spawnSync("zcat", { input: file });
    expect(zcat.status, zcat.stderr?.toString()).toBe(0);
    expect(zcat.stdout.equals(all)).toBe(true);
    expect(spawnSync("gzip", ["-t"], { input: file }).status).toBe(0);
  });

  it("carries its metadata in FEXTRA: read back from the header, with its own length", () => {
    expect(members[0]![3]).toBe(0x04); // FLG.FEXTRA, nothing else
    let pos = 0;
    for (const [k, m] of members.entries()) {
      const h = readMemberHeader(file, pos)!;
      expect(h).toBeDefined();
      expect(h.meta).toEqual({ v: 1, ...meta(k), z: m.length - h.headerLength });
      pos += h.headerLength + h.meta.z;
    }
    expect(pos).toBe(file.length);
    expect(readMemberHeader(gzipSync(bodies[0]!), 0)).toBeUndefined(); // a plain gzip member is not ours
    // refs that do not compress (random names): over 64 KB even deflated
    expect(() => buildMember(bodies[0]!, { ...meta(0), r: Array.from({ length: 6000 }, (_, i) => `${randomBytes(15).toString("hex")}#${i}`) }, 6)).toThrow(/FEXTRA limit/);
  });

  it("keeps a small app's header small (deflated refs) and still reads members whose header is plain JSON", () => {
    const refs = Array.from({ length: 60 }, (_, i) => `app-logs.${i % 4}/${1_000_000 + i * 10_000}-${1_009_999 + i * 10_000}.${(0xabc00000 + i).toString(16)}#${i % 7}`);
    const m = buildMember(bodies[0]!, { ...meta(0), r: refs }, 6);
    const h = readMemberHeader(m, 0)!;
    expect(h.meta.r).toEqual(refs);
    const plain = Buffer.byteLength(JSON.stringify({ v: 1, n: h.meta.n, r: refs, t: h.meta.t, s: h.meta.s, z: h.meta.z }));
    expect(h.headerLength - 16).toBeLessThan(plain / 2.5);
    // a member written with the JSON as it is (before the deflated encoding)
    const json = Buffer.from(JSON.stringify(h.meta));
    const old = Buffer.concat([m.subarray(0, 10), Buffer.alloc(6), json, m.subarray(h.headerLength)]);
    old.writeUInt16LE(4 + json.length, 10);
    old.write("LP", 12, "latin1");
    old.writeUInt16LE(json.length, 14);
    expect(readMemberHeader(old, 0)?.meta).toEqual(h.meta);
    expect(scanMembers(Buffer.concat([old, m])).members.map((x) => x.meta.r.length)).toEqual([60, 60]);
  });

  it("scanMembers returns every complete member and where they end", () => {
    const { members: found, end } = scanMembers(file);
    expect(end).toBe(file.length);
    expect(found.map((m) => [m.pos, m.size, m.meta.n, m.meta.r])).toEqual(
      members.map((m, k) => [members.slice(0, k).reduce((n, x) => n + x.length, 0), m.length, meta(k).n, meta(k).r]),
    );
    expect(scanMembers(Buffer.alloc(0))).toEqual({ members: [], end: 0 });
  });

  it("scanMembers stops at a torn member: its header alone, or half its bytes", () => {
    const fourth = buildMember(lines(50, "d"), meta(3), 6);
    const complete = file.length;
    for (const cut of [5, 20, fourth.length >> 1, fourth.length - 1]) {
      const torn = Buffer.concat([file, fourth.subarray(0, cut)]);
      const r = scanMembers(torn);
      expect(r.end, `cut at ${cut}`).toBe(complete);
      expect(r.members).toHaveLength(3);
    }
    expect(scanMembers(Buffer.concat([file, fourth])).end).toBe(complete + fourth.length);
  });

  it("rejects a member whose CRC-32 does not match its data, and everything after it", () => {
    const bad = Buffer.from(file);
    const second = members[0]!.length;
    const crcAt = second + members[1]!.length - 8; // first byte of member 2's CRC-32 trailer
    bad[crcAt] = bad[crcAt]! ^ 0xff;
    const r = scanMembers(bad);
    expect(r.members).toHaveLength(1);
    expect(r.end).toBe(second);
    // the structure alone still looks complete: it is the CRC check that refuses it
    expect(scanMembers(bad, false).members).toHaveLength(3);
  });
});

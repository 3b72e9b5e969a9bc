/**
 * Staging file: one trigger batch's records of one (topic, partition), all apps, grouped by app.
 * split writes it once, in place under its name (create + write + fsync: the name is derived
 * from the bytes, see below), and registers it in one coord-store round trip;
 * compress drains each app's section, possibly from many staging files at once.
 *
 *   "LPBATCH1" | u32 indexLength | index JSON | section 0 | section 1 | …
 *
 * Each section is one app's records in the staging-chunk layout of chunk.ts (offsets, line ends,
 * framed body), so a drain reads a section with one positional read and gzips its body as is.
 * The name derives from (topic, partition, first offset, last offset, CRC-32 of the bytes): a
 * redelivery with the same boundaries rewrites the same name with the same bytes, a recreated
 * topic that reuses offsets can never overwrite a file still waiting to be drained, and a file
 * torn by a crash mid-write is told from a whole one (isWholeStagingFile).
 */
import { crc32 } from "node:zlib";
import type { RegisterFile, StagedTail } from "../adapters/coord-store.js";
import { chunkBody, chunkSpanAt, CorruptChunkError, decodeChunk, selectLines, type DecodedChunk } from "./chunk.js";
import { contains, type Interval } from "./intervals.js";
import { STAGING_DIR, topicSegment } from "./layout.js";
import { splitBuffers } from "./buffer-pool.js";

const MAGIC = Buffer.from("LPBATCH1");
export const STAGING_SUFFIX = ".batch";

/** The file's index: what its registration carries (sections with absolute byte ranges), versioned. */
export interface StagingIndex extends Omit<RegisterFile, "file"> {
  v: 1;
}

export interface StagingFile {
  /** id = path below staging/ without the suffix */
  id: string;
  path: string;
  bytes: Buffer;
  index: StagingIndex;
}

export function stagingPath(id: string): string {
  return `${STAGING_DIR}/${id}${STAGING_SUFFIX}`;
}

/** The id of a staging file path (`staging/<id>.batch`), or undefined for anything else. */
export function stagingIdOf(rel: string): string | undefined {
  if (!rel.startsWith(STAGING_DIR + "/") || !rel.endsWith(STAGING_SUFFIX)) return undefined;
  return rel.slice(STAGING_DIR.length + 1, -STAGING_SUFFIX.length);
}

/**
 * A section of a staging file (one app's chunk): its bytes, or its size and how to write them in
 * place — split builds the whole file in one buffer, not a buffer per app and then a copy of all.
 */
export type StagedSection = { app: string; records: number; minTs: number } & ({ bytes: Buffer } | { size: number; writeAt: (out: Buffer, at: number) => void });

const sectionSize = (s: StagedSection) => ("bytes" in s ? s.bytes.length : s.size);

/** A tail region to write: one shard's small sections (one chunk per app, by app name). */
export interface TailRegion {
  shard: number;
  sections: StagedSection[];
}

/**
 * Builds the file from its sections (one per app, chunk layout), then its tail regions (each the
 * small sections of one tail shard's apps, one after another: see StagedTail). Section offsets in
 * the index are absolute, so the index length is settled first: it is the JSON of
 * `{ v: 1, ...meta, sections, tails }` with every offset written as a 15-digit quoted placeholder,
 * and the real index (offsets as plain numbers) is padded with spaces up to it. Each entry's text
 * is made once around its offset, not by stringifying the whole index twice: at 3,000 apps a
 * batch's index had ~1,500 entries before tail regions.
 */
export function encodeStagingFile(meta: Omit<StagingIndex, "v" | "sections" | "tails">, sections: StagedSection[], tails: TailRegion[] = []): StagingFile {
  const head = JSON.stringify({ v: 1, ...meta, sections: [] }).slice(0, -2); // without "]}"
  const before: string[] = new Array(sections.length);
  const after: string[] = new Array(sections.length);
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i]!;
    before[i] = `${i === 0 ? "" : ","}{"app":${JSON.stringify(s.app)},"off":`;
    after[i] = `,"len":${sectionSize(s)},"records":${JSON.stringify(s.records)},"minTs":${JSON.stringify(s.minTs)}}`;
  }
  const regions = tails.filter((t) => t.sections.length > 0).map((t) => {
    let len = 0, records = 0, minTs = 0;
    for (const x of t.sections) {
      len += sectionSize(x);
      records += x.records;
      if (x.minTs > 0 && (minTs === 0 || x.minTs < minTs)) minTs = x.minTs;
    }
    return { shard: t.shard, len, records, minTs, apps: t.sections.length, sections: t.sections };
  });
  const tailBefore = regions.map((t, i) => `${i === 0 ? "" : ","}{"shard":${t.shard},"off":`);
  const tailAfter = regions.map((t) => `,"len":${t.len},"records":${t.records},"minTs":${t.minTs},"apps":${t.apps}}`);
  const tailsOpen = regions.length > 0 ? '],"tails":[' : "";
  const indexLength = Buffer.byteLength(head + before.join("") + after.join("") + tailsOpen + tailBefore.join("") + tailAfter.join("") + "]}") + (sections.length + regions.length) * (OFFSET_WIDTH + 2);
  const headerLength = MAGIC.length + 4 + indexLength;
  const entries: StagingIndex["sections"] = new Array(sections.length);
  const text: string[] = [head];
  let pos = headerLength;
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i]!;
    const len = sectionSize(s);
    entries[i] = { app: s.app, off: pos, len, records: s.records, minTs: s.minTs };
    text.push(before[i]!, String(pos), after[i]!);
    pos += len;
  }
  const tailEntries: StagedTail[] = [];
  const tailAt: number[] = [];
  if (regions.length > 0) text.push(tailsOpen);
  regions.forEach((t, i) => {
    tailEntries.push({ shard: t.shard, off: pos, len: t.len, records: t.records, minTs: t.minTs, apps: t.apps });
    tailAt.push(pos);
    text.push(tailBefore[i]!, String(pos), tailAfter[i]!);
    pos += t.len;
  });
  text.push("]}");
  const index: StagingIndex = { v: 1, ...meta, sections: entries };
  if (tailEntries.length > 0) index.tails = tailEntries;
  // split's pool: the file is written, then given back (splitTable), and the next batch reuses it
  const bytes = splitBuffers.take(pos).subarray(0, pos);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt32LE(indexLength, MAGIC.length);
  const written = bytes.write(text.join(""), MAGIC.length + 4, "utf8");
  bytes.fill(0x20, MAGIC.length + 4 + written, headerLength);
  const put = (s: StagedSection, at: number) => {
    if ("bytes" in s) s.bytes.copy(bytes, at);
    else s.writeAt(bytes, at);
  };
  sections.forEach((s, i) => put(s, entries[i]!.off));
  regions.forEach((t, i) => {
    let at = tailAt[i]!;
    for (const x of t.sections) {
      put(x, at);
      at += sectionSize(x);
    }
  });
  const id = `${topicSegment(meta.topic)}.${meta.partition}/${meta.first}-${meta.last}.${crc32(bytes).toString(16).padStart(8, "0")}`;
  return { id, path: stagingPath(id), bytes, index };
}

/** Digits an offset's placeholder has in the measured index (quoted, so 2 more bytes). */
const OFFSET_WIDTH = 15;

/** Reads the index from the first bytes of a staging file (`head` must hold the whole index). */
export function decodeStagingIndex(head: Buffer): StagingIndex {
  if (head.length < MAGIC.length + 4 || !head.subarray(0, MAGIC.length).equals(MAGIC)) throw new CorruptChunkError("not a staging file (bad magic)");
  const n = head.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + n > head.length) throw new CorruptChunkError("staging index runs past the bytes read");
  try {
    const index = JSON.parse(head.toString("utf8", MAGIC.length + 4, MAGIC.length + 4 + n)) as StagingIndex;
    if (index.v !== 1 || !Array.isArray(index.sections) || (index.tails !== undefined && !Array.isArray(index.tails))) throw new Error("bad version");
    return index;
  } catch {
    throw new CorruptChunkError("staging index is not valid JSON");
  }
}

export function indexLengthOf(head: Buffer): number {
  return MAGIC.length + 4 + head.readUInt32LE(MAGIC.length);
}

/**
 * Whether `bytes` are the whole file `id` names: an id ends with the CRC-32 of its file's bytes
 * (encodeStagingFile). A file split did not finish writing — it is written in place under its
 * name (NasDir.writeNamedByContent), so a crash mid-write leaves it torn — does not match. An id
 * without a CRC (not split's) is not judged here: its index is read as it is.
 */
export function isWholeStagingFile(id: string, bytes: Buffer): boolean {
  const crc = /\.([0-9a-f]{8})$/.exec(id)?.[1];
  return crc === undefined || parseInt(crc, 16) === crc32(bytes);
}

/** The registration of a staging file: its index's own section entries (no copy per section: ~1,500 a batch at 3,000 apps). */
export function registrationOf(file: StagingFile | { id: string; index: StagingIndex }): RegisterFile {
  const x = file.index;
  return { file: file.id, topic: x.topic, partition: x.partition, first: x.first, last: x.last, minTs: x.minTs, maxTs: x.maxTs, sections: x.sections, tails: x.tails };
}

/** A section's framed lines, keeping only offsets in `keep` (all when empty), and how many records. */
export function sectionLines(section: Buffer, keep: Interval[]): { lines: Buffer; records: number } {
  if (keep.length === 0) {
    const { header, body } = chunkBody(section);
    return { lines: body, records: header.count };
  }
  const chunk: DecodedChunk = decodeChunk(section);
  let records = 0;
  const lines = selectLines(chunk, (i) => (contains(keep, chunk.offsets[i]!) ? (records++, true) : false));
  return { lines, records };
}

/** Records in a staging file: its sections' and its tail regions'. */
export function indexRecords(index: Pick<StagingIndex, "sections" | "tails">): number {
  let n = 0;
  for (const s of index.sections) n += s.records;
  for (const t of index.tails ?? []) n += t.records;
  return n;
}

/**
 * The chunks of a tail region, one per app, in the order split wrote them: positions in `region`,
 * no Buffer views (a region holds ~170 chunks at 3,000 apps, ~680 k per GB, and each view is an
 * object the garbage collector has to trace). A region that does not parse into whole chunks is
 * corrupt: nothing of it is returned.
 */
export function tailChunks(region: Buffer): TailChunk[] {
  const out: TailChunk[] = [];
  for (let at = 0; at < region.length; ) {
    const c = chunkSpanAt(region, at);
    if (typeof c.header.app !== "string") throw new CorruptChunkError(`tail chunk at ${at} names no app`);
    out.push({ app: c.header.app, region, start: at, bodyStart: c.bodyStart, end: c.end, records: c.header.count });
    at = c.end;
  }
  return out;
}

/** A tail chunk where it lies: region[start, end), its framed lines (all records) region[bodyStart, end). */
export interface TailSpan {
  region: Buffer;
  start: number;
  bodyStart: number;
  end: number;
  records: number;
}

export interface TailChunk extends TailSpan {
  app: string;
}

/** The whole chunk's bytes (for a keep filter or a dead letter). */
export const tailChunkBytes = (c: TailSpan): Buffer => c.region.subarray(c.start, c.end);

/**
 * The framed lines of an app's tail chunks, each keeping only offsets in its entry's `keep` (all
 * when empty), copied into one buffer from `take` (compress: a pooled one, given back once the
 * member is built — the long tail builds thousands of small members per GB); no view per chunk.
 * Returns the lines (a view of that buffer) and how many records.
 */
export function tailLines(parts: readonly (TailSpan & { entry: { keep: Interval[] } })[], take: (size: number) => Buffer): { lines: Buffer; records: number } {
  let records = 0, size = 0;
  let kept: (Buffer | undefined)[] | undefined; // the lines of chunks with a keep filter (rare: a redelivery's overlap)
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.entry.keep.length === 0) {
      size += p.end - p.bodyStart;
      records += p.records;
    } else {
      const x = sectionLines(tailChunkBytes(p), p.entry.keep);
      (kept ??= new Array(parts.length))[i] = x.lines;
      size += x.lines.length;
      records += x.records;
    }
  }
  const buffer = take(size);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const k = kept?.[i];
    if (k) at += k.copy(buffer, at);
    else {
      const p = parts[i]!;
      at += p.region.copy(buffer, at, p.bodyStart, p.end);
    }
  }
  return { lines: buffer.subarray(0, size), records };
}

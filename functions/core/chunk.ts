/**
 * Staging chunk: one app's records of one (topic, partition) from one trigger batch, written by
 * split and consumed by compress. Binary layout (little-endian):
 *
 *   "LPCHUNK1" | u32 headerLength | header JSON | f64 offset × count | u32 lineEnd × count | body
 *
 * The body is the records already framed as lines (see framing.ts), so compress can gzip it in
 * one call when nothing is deduplicated. The header names the app and sizes the tables and body;
 * the topic and partition are the staging file's (its index), and a redelivery is recognised by
 * the partition's offsets (coord store), not by the chunk.
 *
 * Headers written before 2026-12-04 also carry `topic`, `partition` and `covered` (always empty);
 * readers ignore them, and a reader of that time reads today's headers, since it used only these
 * three keys: the two versions share staging files during a canary.
 */
import { createHash } from "node:crypto";
import { plainInt } from "./events.js";
import { ENCODED_LINE_MARK, framedLength, writeFramed } from "./framing.js";

const MAGIC = Buffer.from("LPCHUNK1");

export interface ChunkHeader {
  app: string;
  count: number;
  bodyLength: number;
}

/** What a chunk is written for: its app (the rest of the header is measured from its records). */
export interface ChunkMeta {
  app: string;
}

export interface ChunkRecordInput {
  offset: number;
  value: Buffer;
}

export interface DecodedChunk {
  header: ChunkHeader;
  offsets: number[];
  /** lineEnds[i] = end (exclusive) of record i's line within body */
  lineEnds: Uint32Array;
  body: Buffer;
}

export class CorruptChunkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorruptChunkError";
  }
}

/**
 * `JSON.stringify(header)` with the keys in ChunkHeader's order, written as a template: split
 * writes one header per app section (~1,500 per batch at 3,000 apps), and spreading the meta into
 * a new object and stringifying it cost ~10× as much (3.6 vs 0.4 µs per section in a micro-benchmark, 2026-12-02).
 */
export function chunkHeaderJson(meta: ChunkMeta, count: number, bodyLength: number): string {
  return `{"app":${JSON.stringify(meta.app)},"count":${count},"bodyLength":${bodyLength}}`;
}

export function encodeChunk(meta: ChunkMeta, records: ChunkRecordInput[]): Buffer {
  let bodyLength = 0;
  for (const r of records) bodyLength += framedLength(r.value);
  const headerBytes = Buffer.from(chunkHeaderJson(meta, records.length, bodyLength), "utf8");
  const tableStart = MAGIC.length + 4 + headerBytes.length;
  const bodyStart = tableStart + records.length * 12;
  const out = Buffer.allocUnsafe(bodyStart + bodyLength);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(headerBytes.length, MAGIC.length);
  headerBytes.copy(out, MAGIC.length + 4);
  let pos = bodyStart;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    out.writeDoubleLE(r.offset, tableStart + i * 8);
    pos = writeFramed(out, pos, r.value);
    out.writeUInt32LE(pos - bodyStart, tableStart + records.length * 8 + i * 4);
  }
  return out;
}

/** The records of an encodeChunk call given as rows of a RecordTable (values in its arena). */
export interface ChunkRows {
  offset: Float64Array;
  values: Buffer;
  valueStart: Uint32Array;
  valueEnd: Uint32Array;
  /** 1 when the value contains a newline (framing encodes it); a leading 0x1E is checked here. */
  hasNewline: Uint8Array;
}

/**
 * A chunk of table rows measured before it is written: its header's text and UTF-8 length, and its
 * size. The header stays a string until it is written in place: a Buffer per section was ~a third
 * of the garbage split made per section at 3,000 apps (heap sampling, 2026-12-03).
 */
export interface ChunkRowsLayout {
  header: string;
  headerLength: number;
  count: number;
  bodyLength: number;
  size: number;
}

/** Measures the chunk encodeChunkRows writes (so a caller can place several chunks in one buffer). */
export function layoutChunkRows(meta: ChunkMeta, t: ChunkRows, rows: ArrayLike<number>, count = rows.length): ChunkRowsLayout {
  let bodyLength = 0;
  for (let k = 0; k < count; k++) {
    const i = rows[k]!;
    const len = t.valueEnd[i]! - t.valueStart[i]!;
    bodyLength += t.hasNewline[i] || (len > 0 && t.values[t.valueStart[i]!] === ENCODED_LINE_MARK) ? 2 + Math.ceil(len / 3) * 4 : len + 1;
  }
  const header = chunkHeaderJson(meta, count, bodyLength);
  const headerLength = Buffer.byteLength(header, "utf8");
  return { header, headerLength, count, bodyLength, size: MAGIC.length + 4 + headerLength + count * 12 + bodyLength };
}

/** Writes the chunk `layout` measured into `out` at `at` (layout.size bytes), copying each value once from the arena. */
export function writeChunkRows(out: Buffer, at: number, layout: ChunkRowsLayout, t: ChunkRows, rows: ArrayLike<number>): void {
  const { header, headerLength, count } = layout;
  const tableStart = at + MAGIC.length + 4 + headerLength;
  const endsStart = tableStart + count * 8;
  const bodyStart = tableStart + count * 12;
  MAGIC.copy(out, at);
  out.writeUInt32LE(headerLength, at + MAGIC.length);
  out.write(header, at + MAGIC.length + 4, headerLength, "utf8");
  const values = t.values;
  let pos = bodyStart;
  for (let k = 0; k < count; k++) {
    const i = rows[k]!;
    const s = t.valueStart[i]!, e = t.valueEnd[i]!;
    out.writeDoubleLE(t.offset[i]!, tableStart + k * 8);
    if (t.hasNewline[i] || (e > s && values[s] === ENCODED_LINE_MARK)) pos = writeFramed(out, pos, values.subarray(s, e));
    else {
      pos += values.copy(out, pos, s, e);
      out[pos++] = 0x0a;
    }
    out.writeUInt32LE(pos - bodyStart, endsStart + k * 4);
  }
}

/**
 * Same bytes as `encodeChunk(meta, rows.map(i => ({ offset, value })))`, copying each value once
 * from the arena into the chunk. With `scratch`, the chunk is built in `scratch()` (called with
 * the size needed; it returns a buffer at least that large) and the result is a view of it.
 */
export function encodeChunkRows(meta: ChunkMeta, t: ChunkRows, rows: ArrayLike<number>, count = rows.length, scratch?: (size: number) => Buffer): Buffer {
  const layout = layoutChunkRows(meta, t, rows, count);
  const out = scratch ? scratch(layout.size).subarray(0, layout.size) : Buffer.allocUnsafe(layout.size);
  writeChunkRows(out, 0, layout, t, rows);
  return out;
}

/**
 * Whether `lit` is in `buf` at `at`, byte by byte: `Buffer.compare` with offsets is a native call
 * whose overhead was 1.5 % of a 3,000-app pipeline's CPU profile (~680 k tail chunks per GB).
 */
function hasAt(buf: Buffer, at: number, lit: Buffer): boolean {
  for (let i = 0; i < lit.length; i++) if (buf[at + i] !== lit[i]) return false;
  return true;
}

const APP_KEY = Buffer.from('{"app":"');
const COUNT_KEY = Buffer.from(',"count":');
const BODY_KEY = Buffer.from(',"bodyLength":');

/**
 * The header in buf[start, end) when it is exactly what chunkHeaderJson writes for an app id
 * without escapes — every header split writes — read without JSON.parse: a sweep reads ~680 k
 * tail chunks per GB at 3,000 apps, and parsing their headers was the drain's largest cost
 * after zlib and the file system (3.4 % of compress's CPU in a 3,000-app steady-state profile,
 * 2026-12-04). Anything else (an escaped app id, a header written before 2026-12-04 with its
 * topic and partition) is undefined here and parsed as JSON.
 */
function writtenHeaderAt(buf: Buffer, start: number, end: number): ChunkHeader | undefined {
  if (!hasAt(buf, start, APP_KEY)) return undefined;
  const appStart = start + APP_KEY.length;
  let q = appStart;
  while (q < end && buf[q] !== 0x22) {
    if (buf[q] === 0x5c) return undefined; // an escape: JSON.parse decodes it
    q++;
  }
  if (q >= end || !hasAt(buf, q + 1, COUNT_KEY)) return undefined;
  const countStart = q + 1 + COUNT_KEY.length;
  let countEnd = countStart;
  while (countEnd < end && buf[countEnd] !== 0x2c) countEnd++;
  const bodyStart = countEnd + BODY_KEY.length;
  if (buf[end - 1] !== 0x7d || bodyStart >= end || !hasAt(buf, countEnd, BODY_KEY)) return undefined;
  const count = plainInt(buf, countStart, countEnd);
  const bodyLength = plainInt(buf, bodyStart, end - 1);
  if (count < 0 || bodyLength < 0) return undefined;
  return { app: buf.toString("utf8", appStart, q), count, bodyLength };
}

function parsedHeader(buf: Buffer, start: number, end: number): ChunkHeader {
  let header: ChunkHeader;
  try {
    header = JSON.parse(buf.toString("utf8", start, end)) as ChunkHeader;
  } catch {
    throw new CorruptChunkError("chunk header is not JSON");
  }
  if (typeof header !== "object" || header === null) throw new CorruptChunkError("chunk header is not a JSON object");
  return header;
}

/**
 * The chunk that starts at `at` in `buf` (possibly followed by others: a tail region), its header
 * checked, where its body starts and where it ends — positions, not a view of the body (a tail
 * region's reader finds ~680 k chunks per GB at 3,000 apps, and each view is an object to
 * collect). Throws CorruptChunkError when it does not fit in `buf`.
 */
export function chunkSpanAt(buf: Buffer, at: number): { header: ChunkHeader; headerEnd: number; bodyStart: number; end: number } {
  if (buf.length - at < MAGIC.length + 4 || !hasAt(buf, at, MAGIC)) throw new CorruptChunkError("not a staging chunk (bad magic)");
  const headerLength = buf.readUInt32LE(at + MAGIC.length);
  const headerEnd = at + MAGIC.length + 4 + headerLength;
  if (headerEnd > buf.length) throw new CorruptChunkError("chunk header runs past the end of the file");
  const header = writtenHeaderAt(buf, at + MAGIC.length + 4, headerEnd) ?? parsedHeader(buf, at + MAGIC.length + 4, headerEnd);
  const n = header.count;
  const bodyStart = headerEnd + n * 12;
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(header.bodyLength) || header.bodyLength < 0 || bodyStart + header.bodyLength > buf.length) {
    throw new CorruptChunkError(`chunk at ${at} runs past the end of its bytes (${buf.length}; count ${n}, body ${header.bodyLength})`);
  }
  return { header, headerEnd, bodyStart, end: bodyStart + header.bodyLength };
}

/**
 * A chunk's header and body, checked as decodeChunk checks them, without its per-record tables:
 * what a drain that keeps every record needs (most sections hold a few records of a small app).
 */
export function chunkBody(buf: Buffer): { header: ChunkHeader; headerEnd: number; body: Buffer } {
  const c = chunkSpanAt(buf, 0);
  if (c.end !== buf.length) {
    throw new CorruptChunkError(`chunk length ${buf.length} does not match its header (count ${c.header.count}, body ${c.header.bodyLength})`);
  }
  return { header: c.header, headerEnd: c.headerEnd, body: buf.subarray(c.bodyStart, c.end) };
}

export function decodeChunk(buf: Buffer): DecodedChunk {
  const { header, headerEnd, body } = chunkBody(buf);
  const n = header.count;
  const offsets = new Array<number>(n);
  const lineEnds = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    offsets[i] = buf.readDoubleLE(headerEnd + i * 8);
    lineEnds[i] = buf.readUInt32LE(headerEnd + n * 8 + i * 4);
  }
  return { header, offsets, lineEnds, body };
}

/** The framed lines of the records whose index passes `keep`, concatenated. */
export function selectLines(chunk: DecodedChunk, keep: (index: number) => boolean): Buffer {
  const parts: Buffer[] = [];
  let runStart = -1;
  let prevEnd = 0;
  let size = 0;
  for (let i = 0; i < chunk.offsets.length; i++) {
    const start = i === 0 ? 0 : chunk.lineEnds[i - 1]!;
    const end = chunk.lineEnds[i]!;
    if (keep(i)) {
      if (runStart === -1) runStart = start;
      prevEnd = end;
    } else if (runStart !== -1) {
      parts.push(chunk.body.subarray(runStart, prevEnd));
      size += prevEnd - runStart;
      runStart = -1;
    }
  }
  if (runStart !== -1) {
    parts.push(chunk.body.subarray(runStart, prevEnd));
    size += prevEnd - runStart;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

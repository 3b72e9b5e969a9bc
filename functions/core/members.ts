/**
 * Self-describing gzip members. Every member compress appends to a slot file carries, in a gzip
 * FEXTRA subfield "LP" (RFC 1952 §2.3.1.1), which staging sections it holds and its own length:
 *
 *   {"v":1,"n":<records>,"r":[<section refs>],"t":<oldest Kafka timestamp>,"s":<oldest staging time>,"z":<bytes after the header>}
 *
 * stored as "Z" + raw deflate of that JSON (refs share long prefixes, so a small app's member
 * does not carry a header as large as its records); a subfield starting with "{" is the JSON as
 * it is (members written before this encoding), and both are read.
 *
 * So the file itself says what was written: a repair after Redis forgot a commit walks the
 * members past the length Redis knows, adopts every complete one (gunzip checks its CRC-32 and
 * size) and cuts only a torn, incomplete tail. gzip readers ignore FEXTRA: `zcat`, `gzip -t`
 * and Node's gunzip read the concatenated members as one stream.
 */
import { deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";

export interface MemberMeta {
  v: 1;
  /** records in the member */
  n: number;
  /** section refs (`<staging file id>#<index>`) the member holds */
  r: string[];
  /** oldest Kafka timestamp of its records (ms), 0 if unknown */
  t: number;
  /** when split staged the oldest of its sections (ms): freshness is measured from here */
  s: number;
  /** bytes of the member after its header (deflate data + 8-byte trailer) */
  z: number;
}

export interface ScannedMember {
  pos: number;
  size: number;
  meta: MemberMeta;
}

const FEXTRA = 0x04;
const SUBFIELD = [0x4c, 0x50]; // "LP"
/** FEXTRA holds at most 65535 bytes; refs are capped well below (see compress's maxRefs). */
const MAX_META = 65535 - 4;
/** marks a deflated metadata subfield (plain JSON starts with "{") */
const DEFLATED = Buffer.from("Z");
/**
 * zlib's default level: on a tail app's member (~360 refs, 15 KB of JSON) it gives the bytes of
 * level 9 (4,328) in a quarter of the time (256 vs 919 µs, 2026-12-02) — at 3,000 apps there are
 * ~4,000 such members per GB.
 */
const META_DEFLATE_LEVEL = 6;
/** inflating a subfield of at most 64 KB may not yield more than this (a hostile header cannot balloon) */
const MAX_META_TEXT = 4 * 1024 * 1024;

/**
 * gzip's output buffer for `bytes` of input: a sixth of them (log lines compress to ~0.15 at level
 * 1), so a member's deflate data is one buffer zlib allocates, not 16 KB pieces and their
 * concatenation — each byte allocated outside V8's heap counts toward the next full collection
 * (docs/bench.md, "A staging file written in place; compress's pool keeps what its tasks
 * take"). Less compressible input takes more pieces, as before.
 */
const gzipChunkFor = (bytes: number): number => Math.max(1024, Math.ceil(bytes / 6));
/**
 * zlib's output buffer for a member's metadata (deflated or inflated): about its size, not zlib's
 * 16 KB default — a tail app's metadata is ~100 bytes, and at 3,000 apps there are ~4,000 such
 * members per GB to write and to read back (upload reads each object's member headers for the
 * records' ages). Under 4 KB it comes from Node's shared pool, not an allocation of its own.
 */
const metaChunkFor = (bytes: number): number => Math.max(1024, bytes);

/**
 * The member of `lines`: gzip with our FEXTRA subfield. `take` gives the buffer the member is
 * written into (compress: its task's pooled buffers, given back when the task ends).
 */
export function buildMember(lines: Buffer, meta: Omit<MemberMeta, "v" | "z">, level: number, take: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
  const gz = gzipSync(lines, { level, chunkSize: gzipChunkFor(lines.length) });
  if (gz[3] !== 0) throw new Error("unexpected gzip header flags from zlib");
  const text = Buffer.from(JSON.stringify({ v: 1, n: meta.n, r: meta.r, t: meta.t, s: meta.s, z: gz.length - 10 } satisfies MemberMeta));
  const json = Buffer.concat([DEFLATED, deflateRawSync(text, { level: META_DEFLATE_LEVEL, chunkSize: metaChunkFor(text.length) })]);
  if (json.length > MAX_META) throw new Error(`member metadata is ${json.length} bytes, over the gzip FEXTRA limit`);
  const size = 10 + 2 + 4 + json.length + gz.length - 10;
  const out = take(size).subarray(0, size);
  gz.copy(out, 0, 0, 10);
  out[3] = FEXTRA;
  out.writeUInt16LE(4 + json.length, 10);
  out[12] = SUBFIELD[0]!;
  out[13] = SUBFIELD[1]!;
  out.writeUInt16LE(json.length, 14);
  json.copy(out, 16);
  gz.copy(out, 16 + json.length, 10);
  return out;
}

/** Header length and metadata of the member starting at `pos`, if its header is complete and ours. */
export function readMemberHeader(buf: Buffer, pos: number): { headerLength: number; meta: MemberMeta } | undefined {
  if (pos + 12 > buf.length || buf[pos] !== 0x1f || buf[pos + 1] !== 0x8b || buf[pos + 2] !== 8 || buf[pos + 3] !== FEXTRA) return undefined;
  const xlen = buf.readUInt16LE(pos + 10);
  const headerLength = 12 + xlen;
  if (pos + headerLength > buf.length || xlen < 4 || buf[pos + 12] !== SUBFIELD[0] || buf[pos + 13] !== SUBFIELD[1]) return undefined;
  const len = buf.readUInt16LE(pos + 14);
  if (16 + len > headerLength) return undefined;
  try {
    const raw = buf.subarray(pos + 16, pos + 16 + len);
    const text = raw[0] === DEFLATED[0] ? inflateRawSync(raw.subarray(1), { maxOutputLength: MAX_META_TEXT, chunkSize: metaChunkFor(4 * raw.length) }) : raw;
    const meta = JSON.parse(text.toString("utf8")) as MemberMeta;
    if (meta.v !== 1 || !Array.isArray(meta.r) || !Number.isInteger(meta.z)) return undefined;
    return { headerLength, meta };
  } catch {
    return undefined;
  }
}

/**
 * Walks the members of `buf` from its start: each complete member (header ours, all bytes
 * present, and — with `verify` — gunzip accepts its CRC-32 and length) is returned; `end` is the
 * byte after the last complete member. Anything after `end` is a torn tail.
 */
export function scanMembers(buf: Buffer, verify = true): { members: ScannedMember[]; end: number } {
  const members: ScannedMember[] = [];
  let pos = 0;
  for (;;) {
    const h = readMemberHeader(buf, pos);
    if (!h) break;
    const size = h.headerLength + h.meta.z;
    if (pos + size > buf.length) break;
    if (verify) {
      try {
        gunzipSync(buf.subarray(pos, pos + size));
      } catch {
        break;
      }
    }
    members.push({ pos, size, meta: h.meta });
    pos += size;
  }
  return { members, end: pos };
}

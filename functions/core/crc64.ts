/**
 * CRC-64/XZ, the checksum OSS returns in `x-oss-hash-crc64ecma` (as a decimal string):
 * ECMA-182 polynomial 0x42F0E1EBA9EA3693, reflected input and output, init and xor-out
 * all ones. Check value: crc64("123456789") === 0x995DC9BBDF1939FAn (11051210869376104954n).
 *
 * Speed matters (sealed files are hundreds of MB), so the 64-bit state is kept as two
 * 32-bit halves and the input is consumed eight bytes at a time with slicing-by-8 tables
 * (eight 256-entry tables, each split into a low and a high Uint32Array). No BigInt is
 * touched per byte; BigInt only appears in `digest()`.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

/** ECMA-182 polynomial, bit-reflected: 0xC96C5795D7870F42. */
const POLY_REFLECTED_HI = 0xc96c5795;
const POLY_REFLECTED_LO = 0xd7870f42;

const SLICES = 8;
/** TLO[k * 256 + n] / THI[k * 256 + n]: low / high 32 bits of slicing table k, entry n. */
const TLO = new Uint32Array(SLICES * 256);
const THI = new Uint32Array(SLICES * 256);

(function buildTables() {
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) {
        lo = (lo ^ POLY_REFLECTED_LO) >>> 0;
        hi = (hi ^ POLY_REFLECTED_HI) >>> 0;
      }
    }
    TLO[n] = lo;
    THI[n] = hi;
  }
  for (let k = 1; k < SLICES; k++) {
    for (let n = 0; n < 256; n++) {
      const plo = TLO[(k - 1) * 256 + n]!;
      const phi = THI[(k - 1) * 256 + n]!;
      const idx = plo & 0xff;
      TLO[k * 256 + n] = (((plo >>> 8) | (phi << 24)) ^ TLO[idx]!) >>> 0;
      THI[k * 256 + n] = ((phi >>> 8) ^ THI[idx]!) >>> 0;
    }
  }
})();

const MASK64 = (1n << 64n) - 1n;

/** Incremental CRC-64/XZ. `update` as often as needed, then `digest` (which does not reset). */
export class Crc64 {
  /** Internal state (already xored with init = all ones), low and high halves. */
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(buf: Uint8Array): this {
    let lo = this.lo;
    let hi = this.hi;
    const len = buf.length;
    let i = 0;
    const end8 = len - (len % 8);
    while (i < end8) {
      lo ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
      hi ^= buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
      const a = 7 * 256 + (lo & 0xff);
      const b = 6 * 256 + ((lo >>> 8) & 0xff);
      const c = 5 * 256 + ((lo >>> 16) & 0xff);
      const d = 4 * 256 + (lo >>> 24);
      const e = 3 * 256 + (hi & 0xff);
      const f = 2 * 256 + ((hi >>> 8) & 0xff);
      const g = 256 + ((hi >>> 16) & 0xff);
      const h = hi >>> 24;
      lo = TLO[a]! ^ TLO[b]! ^ TLO[c]! ^ TLO[d]! ^ TLO[e]! ^ TLO[f]! ^ TLO[g]! ^ TLO[h]!;
      hi = THI[a]! ^ THI[b]! ^ THI[c]! ^ THI[d]! ^ THI[e]! ^ THI[f]! ^ THI[g]! ^ THI[h]!;
      i += 8;
    }
    while (i < len) {
      const idx = (lo ^ buf[i]!) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TLO[idx]!;
      hi = (hi >>> 8) ^ THI[idx]!;
      i++;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  /** The CRC of everything passed to `update` so far, as an unsigned 64-bit bigint. */
  digest(): bigint {
    const lo = (this.lo ^ 0xffffffff) >>> 0;
    const hi = (this.hi ^ 0xffffffff) >>> 0;
    return ((BigInt(hi) << 32n) | BigInt(lo)) & MASK64;
  }
}

/** One-shot CRC-64/XZ of a buffer. */
export function crc64(buf: Uint8Array): bigint {
  return new Crc64().update(buf).digest();
}

/** The decimal form OSS uses in `x-oss-hash-crc64ecma`. */
export function crc64ToOssString(crc: bigint): string {
  return crc.toString(10);
}

/**
 * Parses an `x-oss-hash-crc64ecma` header value (decimal, unsigned 64-bit); undefined when
 * absent or malformed.
 */
export function parseOssCrc64(value: string | string[] | undefined | null): bigint | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== "string" || !/^\d{1,20}$/.test(v.trim())) return undefined;
  const n = BigInt(v.trim());
  return n > MASK64 ? undefined : n;
}

const READ_CHUNK = 1024 * 1024;

/** CRC-64/XZ of a file, streamed (constant memory). */
export async function crc64File(path: string): Promise<bigint> {
  const crc = new Crc64();
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK })) {
    crc.update(chunk as Buffer);
  }
  return crc.digest();
}

export interface FileDigests {
  size: number;
  /** raw 16-byte MD5 digest */
  md5: Buffer;
  crc64: bigint;
}

/**
 * Size, MD5 and CRC-64/XZ of a file (or of its first `length` bytes): a file under READ_CHUNK
 * (most objects of small apps) in one read into a buffer of its size, a larger one streamed.
 */
export async function md5AndCrc64File(path: string, length?: number): Promise<FileDigests> {
  const crc = new Crc64();
  const md5 = createHash("md5");
  let size = 0;
  if (length === 0) return { size: 0, md5: md5.digest(), crc64: crc.digest() };
  if (length === undefined || length < READ_CHUNK) {
    // not a stream with a READ_CHUNK buffer per file: thousands of small files a tick would
    // allocate (and collect) a MB each
    const fh = await open(path, "r");
    try {
      const want = length ?? (await fh.stat()).size;
      if (want < READ_CHUNK) {
        // one byte more than the size found, so a file that grew since its stat is not cut short
        const buf = Buffer.allocUnsafe(want + (length === undefined ? 1 : 0));
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        if (length !== undefined && bytesRead !== length) throw new Error(`md5AndCrc64File: ${path} has only ${bytesRead} of the ${length} bytes requested`);
        if (bytesRead <= want) return md5AndCrc64(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }
  const stream = createReadStream(path, {
    highWaterMark: READ_CHUNK,
    ...(length !== undefined ? { start: 0, end: length - 1 } : {}),
  });
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    crc.update(b);
    md5.update(b);
    size += b.length;
  }
  if (length !== undefined && size !== length) {
    throw new Error(`md5AndCrc64File: ${path} has only ${size} of the ${length} bytes requested`);
  }
  return { size, md5: md5.digest(), crc64: crc.digest() };
}

/** MD5 and CRC-64/XZ of an in-memory buffer. */
export function md5AndCrc64(buf: Uint8Array): FileDigests {
  return {
    size: buf.length,
    md5: createHash("md5").update(buf).digest(),
    crc64: crc64(buf),
  };
}

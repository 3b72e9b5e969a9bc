import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Crc64, crc64, crc64File, md5AndCrc64File, parseOssCrc64 } from "../../functions/core/crc64.js";

/** Slow, obviously correct CRC-64/XZ: reflected ECMA-182, bit by bit, in BigInt. */
function referenceCrc64(buf: Uint8Array): bigint {
  const poly = 0xc96c5795d7870f42n; // 0x42F0E1EBA9EA3693 bit-reversed
  const mask = (1n << 64n) - 1n;
  let crc = mask;
  for (const byte of buf) {
    crc ^= BigInt(byte);
    for (let i = 0; i < 8; i++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ mask;
}

describe("crc64 (CRC-64/XZ, OSS x-oss-hash-crc64ecma)", () => {
  it("gives the catalogue check value for '123456789'", () => {
    expect(crc64(Buffer.from("123456789"))).toBe(11051210869376104954n);
    expect(crc64(Buffer.from("123456789"))).toBe(0x995dc9bbdf1939fan);
  });

  it("the reference implementation agrees with the check value (so the cross-check means something)", () => {
    expect(referenceCrc64(Buffer.from("123456789"))).toBe(11051210869376104954n);
  });

  it("is 0 for empty input, and an empty update changes nothing", () => {
    expect(crc64(new Uint8Array(0))).toBe(0n);
    const c = new Crc64().update(Buffer.from("abc"));
    const before = c.digest();
    expect(c.update(new Uint8Array(0)).digest()).toBe(before);
  });

  it("matches the bit-by-bit reference on random buffers of every length around the 8-byte stride", () => {
    for (let len = 0; len < 70; len++) {
      const b = randomBytes(len);
      expect(crc64(b)).toBe(referenceCrc64(b));
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), (b) => crc64(b) === referenceCrc64(b)),
      { numRuns: 200 },
    );
  });

  it("incremental updates over any split equal the one-shot value", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 2000 }),
        fc.array(fc.nat(2000), { maxLength: 6 }),
        (b, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
          const c = new Crc64();
          let prev = 0;
          for (const p of [...points, b.length]) {
            c.update(b.subarray(prev, p));
            prev = p;
          }
          return c.digest() === crc64(b);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("works on unaligned subarrays (byteOffset not a multiple of 8)", () => {
    const big = randomBytes(1000);
    const view = big.subarray(3, 997);
    expect(crc64(view)).toBe(referenceCrc64(Buffer.from(view)));
  });

  it("parses OSS's decimal header and rejects junk", () => {
    expect(parseOssCrc64("11051210869376104954")).toBe(11051210869376104954n);
    expect(parseOssCrc64(["18446744073709551615"])).toBe(18446744073709551615n);
    expect(parseOssCrc64("18446744073709551616")).toBeUndefined();
    expect(parseOssCrc64("-1")).toBeUndefined();
    expect(parseOssCrc64("0x12")).toBeUndefined();
    expect(parseOssCrc64(undefined)).toBeUndefined();
  });

  it("is fast: at least 150 MB/s on 32 MiB (aim is 300+; CI machines vary)", () => {
    const b = randomBytes(32 * 1024 * 1024);
    crc64(b.subarray(0, 1 << 20)); // warm up
    const t0 = performance.now();
    crc64(b);
    const mbps = 32 / ((performance.now() - t0) / 1000);
    expect(mbps).toBeGreaterThan(150);
  });
});

describe("crc64File / md5AndCrc64File", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "crc64-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("streams a multi-chunk file to the same CRC and MD5 as in-memory hashing", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 12345);
    const p = join(dir, "f.bin");
    await writeFile(p, data);
    expect(await crc64File(p)).toBe(crc64(data));
    const d = await md5AndCrc64File(p);
    expect(d.size).toBe(data.length);
    expect(d.crc64).toBe(crc64(data));
    expect(d.md5.equals(createHash("md5").update(data).digest())).toBe(true);
  });

  it("hashes a small file whole without a length, in one read (the same digests as a stream)", async () => {
    const data = randomBytes(70_000);
    const p = join(dir, "s.bin");
    await writeFile(p, data);
    const d = await md5AndCrc64File(p);
    expect(d.size).toBe(data.length);
    expect(d.crc64).toBe(crc64(data));
    expect(d.md5.equals(createHash("md5").update(data).digest())).toBe(true);
  });

  it("hashes only a prefix when given a length, and handles empty files", async () => {
    const data = randomBytes(5000);
    const p = join(dir, "g.bin");
    await writeFile(p, data);
    const d = await md5AndCrc64File(p, 1234);
    expect(d.size).toBe(1234);
    expect(d.crc64).toBe(crc64(data.subarray(0, 1234)));
    await expect(md5AndCrc64File(p, 9999)).rejects.toThrow(/only 5000/);
    const e = join(dir, "empty");
    await writeFile(e, "");
    expect((await md5AndCrc64File(e)).crc64).toBe(0n);
    expect(await crc64File(e)).toBe(0n);
  });
});

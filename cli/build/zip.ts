/**
 * Deterministic zip: the same files give the same bytes on any machine and at any time, so the
 * sha256 of the archive identifies the code (`sha256:<hex>`, the digest stacks pin).
 * Entries are sorted by name, every timestamp is 1980-01-01 00:00 (DOS epoch, no extended
 * timestamp field), every mode is 0644, and deflate runs at a fixed level.
 */
import { createHash } from "node:crypto";
import yazl from "yazl";
import { crc64, crc64ToOssString } from "../../functions/core/crc64.js";

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** DOS time is written from local-time getters, so build the date from local components. */
const FIXED_MTIME = () => new Date(1980, 0, 1, 0, 0, 0);

export async function deterministicZip(entries: ZipEntry[]): Promise<Buffer> {
  const names = new Set<string>();
  for (const e of entries) {
    if (!e.name || e.name.startsWith("/") || e.name.split("/").includes("..")) throw new Error(`zip entry name "${e.name}" must be a relative path`);
    if (names.has(e.name)) throw new Error(`zip entry "${e.name}" appears twice`);
    names.add(e.name);
  }
  const zip = new yazl.ZipFile();
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    zip.addBuffer(e.data, e.name, { mtime: FIXED_MTIME(), mode: 0o100644, compress: true, compressionLevel: 9, forceDosTimestamp: true });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** `sha256:<64 hex>` of the bytes. */
export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** CRC-64/XZ as a decimal string: FC's `code.checksum` and OSS's `x-oss-hash-crc64ecma`. "123456789" → 11051210869376104954. */
export function crc64Decimal(bytes: Uint8Array): string {
  return crc64ToOssString(crc64(bytes));
}

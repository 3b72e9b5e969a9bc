/** Helpers for the infra tests: stack files as raw config, a minimal zip reader. */
import { inflateRawSync } from "node:zlib";
import { loadStackFile } from "../../cli/plan/stack-file.js";

export const STACKS = ["dev", "staging", "prod"] as const;

export function rawStack(stack: string): Record<string, unknown> {
  return structuredClone(loadStackFile(stack));
}

export interface ZipEntryInfo {
  name: string;
  data: Buffer;
  /** DOS date/time words as stored */
  dosDate: number;
  dosTime: number;
  externalAttrs: number;
  extraLength: number;
}

/** Reads every entry of a zip through its central directory (stored or deflated entries). */
export function readZip(buf: Buffer): ZipEntryInfo[] {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error("no end of central directory");
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: ZipEntryInfo[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error("bad central directory entry");
    const method = buf.readUInt16LE(p + 10);
    const dosTime = buf.readUInt16LE(p + 12);
    const dosDate = buf.readUInt16LE(p + 14);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const externalAttrs = buf.readUInt32LE(p + 38);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString("utf8");
    const lNameLen = buf.readUInt16LE(local + 26);
    const lExtraLen = buf.readUInt16LE(local + 28);
    const start = local + 30 + lNameLen + lExtraLen;
    const raw = buf.subarray(start, start + csize);
    out.push({ name, data: method === 8 ? inflateRawSync(raw) : Buffer.from(raw), dosDate, dosTime, externalAttrs, extraLength: extraLen + lExtraLen });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

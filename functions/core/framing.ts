/**
 * How records are laid out inside archived objects (after gunzip): one record per line, so
 * `zcat | grep` works. A record that contains a newline byte, or that starts with the marker
 * byte 0x1E (ASCII "record separator"), is written as 0x1E followed by its base64 — so every
 * record, whatever its bytes (invalid UTF-8, CR, LF), comes back exactly and as one record.
 */
export const ENCODED_LINE_MARK = 0x1e;
const NEWLINE = 0x0a;

export function needsEncoding(record: Uint8Array): boolean {
  return record[0] === ENCODED_LINE_MARK || record.indexOf(NEWLINE) !== -1;
}

/** Byte length of the framed line (including its newline). */
export function framedLength(record: Uint8Array): number {
  return needsEncoding(record) ? 1 + Math.ceil(record.length / 3) * 4 + 1 : record.length + 1;
}

/** Writes the framed line at `pos` in `out`; returns the position after it. */
export function writeFramed(out: Buffer, pos: number, record: Buffer): number {
  if (needsEncoding(record)) {
    out[pos++] = ENCODED_LINE_MARK;
    pos += out.write(record.toString("base64"), pos, "latin1");
  } else {
    pos += record.copy(out, pos);
  }
  out[pos++] = NEWLINE;
  return pos;
}

export function frameRecords(records: Buffer[]): Buffer {
  let total = 0;
  for (const r of records) total += framedLength(r);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const r of records) pos = writeFramed(out, pos, r);
  return out;
}

/** Splits framed text (already decompressed) back into records. A trailing partial line is an error. */
export function* unframeRecords(data: Buffer): Generator<Buffer> {
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(NEWLINE, start);
    if (nl === -1) throw new Error(`framed data ends without a newline at byte ${start} (truncated object?)`);
    const line = data.subarray(start, nl);
    yield line[0] === ENCODED_LINE_MARK ? Buffer.from(line.subarray(1).toString("latin1"), "base64") : line;
    start = nl + 1;
  }
}

/**
 * Replays a file: NDJSON (one record per line, bytes kept exactly — CR, invalid UTF-8 and all;
 * only the LF separates records) or captured FC trigger batches (`--input-format fc-event`:
 * a file holding one JSON array of CloudEvents, or one such array per line).
 */
import { createReadStream } from "node:fs";
import { parseKafkaBatch } from "../../functions/core/events.js";
import type { RecordSource, SourceRecord } from "./types.js";
import { UsageError } from "../ops/errors.js";

export type InputFormat = "ndjson" | "fc-event";

function chunks(path: string): AsyncIterable<Buffer> {
  return (path === "-" ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 })) as AsyncIterable<Buffer>;
}

async function* lines(path: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks(path)) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl === -1) break;
      yield data.subarray(start, nl);
      start = nl + 1;
    }
    rest = Buffer.from(data.subarray(start));
    data = rest;
  }
  if (rest.length > 0) yield rest; // last line without a newline is still a record
}

export function fileSource(path: string, opts: { format?: InputFormat; topic?: string } = {}): RecordSource {
  const topic = opts.topic ?? "file";
  return {
    description: `${opts.format === "fc-event" ? "fc-event file" : "NDJSON file"} ${path === "-" ? "(stdin)" : path}`,
    async *batches({ maxRecords }) {
      let batch: SourceRecord[] = [];
      if (opts.format === "fc-event") {
        // one JSON array (pretty-printed or not), or one array per line
        const parts: Buffer[] = [];
        for await (const c of chunks(path)) parts.push(c);
        const whole = Buffer.concat(parts);
        let events: Buffer[];
        try {
          JSON.parse(whole.toString("utf8"));
          events = [whole];
        } catch {
          events = whole.toString("utf8").split("\n").map((l) => Buffer.from(l));
        }
        for (const [i, event] of events.entries()) {
          if (event.toString().trim() === "") continue;
          let parsed;
          try {
            parsed = parseKafkaBatch(event);
          } catch (e) {
            const where = events.length > 1 ? ` line ${i + 1}` : "";
            throw new UsageError(`--input ${path}${where}: not a Kafka-trigger batch (--input-format fc-event expects a JSON array of CloudEvents, or one per line): ${(e as Error).message}`);
          }
          for (const r of parsed.records) {
            batch.push({ topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key === null ? null : Buffer.from(r.key), headers: r.headers, value: r.value });
            if (batch.length >= maxRecords) {
              yield { records: batch, ack: async () => {} };
              batch = [];
            }
          }
        }
      } else {
        let offset = 0;
        for await (const line of lines(path)) {
          batch.push({ topic, partition: 0, offset: offset++, timestamp: Date.now(), key: null, headers: {}, value: Buffer.from(line) });
          if (batch.length >= maxRecords) {
            yield { records: batch, ack: async () => {} };
            batch = [];
          }
        }
      }
      if (batch.length > 0) yield { records: batch, ack: async () => {} };
    },
    async close() {},
  };
}

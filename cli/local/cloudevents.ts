/**
 * Wraps source records in the FC Kafka trigger's envelope: a JSON array of CloudEvents (event
 * format: https://help.aliyun.com/en/functioncompute/fc/user-guide/apsaramq-for-kafka-triggers,
 * checked 2026-12-01), or of the records' data objects only (RawData). A value that is not valid UTF-8 cannot travel in a JSON
 * string, so the emulator sends it as `data.valueBase64` (a logpipe extension split accepts).
 */
import { createHash, randomUUID } from "node:crypto";
import type { SourceRecord } from "../sources/types.js";

/** True when `text` (decoded from `buf`) encodes back to exactly `buf`, i.e. buf is valid UTF-8. */
function roundTrips(buf: Buffer, text: string): boolean {
  if (Buffer.byteLength(text) !== buf.length) return false;
  // invalid bytes decode to U+FFFD; only when one is present can the round trip differ
  return !text.includes("\uFFFD") || Buffer.from(text).equals(buf);
}

/** A UUID-shaped id derived from the record's coordinates (same record → same id). */
export function deterministicEventId(r: Pick<SourceRecord, "topic" | "partition" | "offset">): string {
  const h = createHash("sha1").update(`${r.topic}\u0000${r.partition}\u0000${r.offset}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface CloudEventsOptions {
  instanceId?: string;
  accountId?: string;
  /** Event ids from the record's coordinates instead of random UUIDs (reproducible payloads, benchmarks). */
  deterministicIds?: boolean;
}

/**
 * The Kafka record as the trigger's JSON object: a CloudEvent's `data`, or one RawData element.
 * A value that is not valid UTF-8 travels as `valueBase64`.
 */
function kafkaDataJson(r: SourceRecord): string {
  const text = r.value.toString("utf8");
  const valueField = roundTrips(r.value, text) ? `"value":${JSON.stringify(text)}` : `"valueBase64":"${r.value.toString("base64")}"`;
  const headers = Object.entries(r.headers).map(([key, value]) => ({ key, value }));
  return (
    `{"topic":${JSON.stringify(r.topic)},"partition":${r.partition},"offset":${r.offset},"timestamp":${r.timestamp},` +
    `"headers":{"headers":${JSON.stringify(headers)},"isReadOnly":false},` +
    (r.key === null ? "" : `"key":${JSON.stringify(r.key.toString("utf8"))},`) +
    `${valueField}}`
  );
}

export function toCloudEventsBatch(records: SourceRecord[], opts: CloudEventsOptions = {}): Buffer {
  const instance = opts.instanceId ?? "alikafka_local-emulator";
  const parts: string[] = [];
  for (const r of records) {
    parts.push(
      `{"specversion":"1.0","id":"${opts.deterministicIds ? deterministicEventId(r) : randomUUID()}","source":"acs:alikafka","type":"alikafka:Topic:Message",` +
        `"subject":${JSON.stringify(`acs:alikafka:${instance}:topic:${r.topic}`)},"datacontenttype":"application/json; charset=utf-8",` +
        `"time":"${new Date(r.timestamp || Date.now()).toISOString()}","aliyunaccountid":"${opts.accountId ?? "0000000000000000"}",` +
        `"data":${kafkaDataJson(r)}}`,
    );
  }
  return Buffer.from(`[${parts.join(",")}]`);
}

/**
 * The same records as the trigger delivers them with `eventSchema: RawData`: a JSON array of the
 * records' data objects only, without the CloudEvents attributes (FC 3.0 DeliveryOption:
 * https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-deliveryoption,
 * checked 2026-12-01). Each element is exactly the `data` that toCloudEventsBatch writes.
 */
export function toRawDataBatch(records: SourceRecord[]): Buffer {
  return Buffer.from(`[${records.map(kafkaDataJson).join(",")}]`);
}

/**
 * Parsing of what FC hands the functions (see shared/reference/fc-events.md). Defensive by
 * design: every element of a batch either becomes a record or a rejected element with a reason,
 * and a payload that cannot be read at all is reported as such — the caller dead-letters it.
 */

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  headers: Record<string, string>;
  /** The record's bytes exactly as produced (UTF-8 of the JSON string, or base64-decoded). */
  value: Buffer;
}

export interface RejectedElement {
  index: number;
  reason: string;
  /** The element as received (JSON text), so a dead letter keeps it whole. */
  raw: string;
}

export interface ParsedBatch {
  records: KafkaRecord[];
  rejected: RejectedElement[];
}

export class UnreadableEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableEventError";
  }
}

export interface TimerEvent {
  triggerTime?: string;
  triggerName?: string;
  payload?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function toText(event: Buffer | string | unknown): string | undefined {
  if (typeof event === "string") return event;
  if (Buffer.isBuffer(event)) return event.toString("utf8");
  if (event instanceof Uint8Array) return Buffer.from(event).toString("utf8");
  return undefined;
}

/** Headers arrive as `{headers: [...], isReadOnly}`, a plain array of {key,value}, or a plain object. */
export function normalizeHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: unknown, v: unknown) => {
    if (typeof k !== "string") return;
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v) && v.every((b) => typeof b === "number")) out[k] = Buffer.from(v as number[]).toString("utf8");
    else if (v !== undefined && v !== null) out[k] = typeof v === "object" ? JSON.stringify(v) : String(v);
  };
  const fromList = (list: unknown[]) => {
    for (const item of list) if (isObject(item)) put(item.key ?? item.name, item.value);
  };
  if (Array.isArray(h)) fromList(h);
  else if (isObject(h)) {
    if (Array.isArray(h.headers)) fromList(h.headers);
    else for (const [k, v] of Object.entries(h)) if (k !== "isReadOnly") put(k, v);
  }
  return out;
}

function toInt(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === "string" && /^\d{1,15}$/.test(v)) return Number(v);
  return undefined;
}

/** `data` of a CloudEvent, or a RawData element. Returns a record or the reason it is not one. */
function recordFromData(data: unknown, subject?: unknown): KafkaRecord | string {
  if (!isObject(data)) return "event has no data object";
  const partition = toInt(data.partition);
  const offset = toInt(data.offset);
  if (partition === undefined) return "data.partition is missing or not a non-negative integer";
  if (offset === undefined) return "data.offset is missing or not a non-negative integer";
  let topic = typeof data.topic === "string" && data.topic !== "" ? data.topic : undefined;
  if (!topic && typeof subject === "string") topic = /:topic:([^:]+)$/.exec(subject)?.[1];
  if (!topic) return "data.topic is missing";
  let value: Buffer;
  if (typeof data.valueBase64 === "string") value = Buffer.from(data.valueBase64, "base64");
  else if (typeof data.value === "string") value = Buffer.from(data.value, "utf8");
  else if (data.value === undefined || data.value === null) return "data.value is missing";
  else value = Buffer.from(JSON.stringify(data.value), "utf8"); // an already-decoded JSON value: keep its JSON text
  const key = typeof data.key === "string" ? data.key : data.key == null ? null : JSON.stringify(data.key);
  const timestamp = typeof data.timestamp === "number" ? data.timestamp : Number(data.timestamp) || 0;
  return { topic, partition, offset, timestamp, key, headers: normalizeHeaders(data.headers), value };
}

function parseElement(el: unknown): KafkaRecord | string {
  if (typeof el === "string") {
    let inner: unknown;
    try {
      inner = JSON.parse(el);
    } catch {
      return "element is a string that is not JSON";
    }
    if (typeof inner === "string") return "element is a doubly encoded string";
    return parseElement(inner);
  }
  if (!isObject(el)) return `element is ${el === null ? "null" : Array.isArray(el) ? "an array" : typeof el}, not an event object`;
  // CloudEvents envelope: has `data` plus CloudEvents attributes; RawData: the data part itself.
  if ("data" in el && ("specversion" in el || "source" in el || "type" in el || "id" in el)) {
    const data = typeof el.data === "string" ? safeJson(el.data) : el.data;
    return recordFromData(data, el.subject);
  }
  if ("partition" in el && "offset" in el) return recordFromData(el);
  if ("data" in el) return recordFromData(el.data, el.subject);
  return "element is neither a CloudEvent nor a Kafka record";
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * Parses a Kafka-trigger payload: a JSON array of CloudEvents (or of JSON strings of them), a
 * RawData array, or one event object. Throws UnreadableEventError only when nothing can be read.
 */
export function parseKafkaBatch(event: Buffer | string | unknown): ParsedBatch {
  let doc: unknown;
  const text = toText(event);
  if (text === undefined) {
    doc = event; // already-parsed object (in-process callers)
  } else {
    if (text.trim() === "") throw new UnreadableEventError("event payload is empty");
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new UnreadableEventError(`event payload is not JSON: ${(e as Error).message}`);
    }
  }
  const elements = Array.isArray(doc) ? doc : isObject(doc) ? [doc] : undefined;
  if (!elements) throw new UnreadableEventError(`event payload is JSON ${typeof doc}, expected an array of events`);
  const records: KafkaRecord[] = [];
  const rejected: RejectedElement[] = [];
  elements.forEach((el, index) => {
    const r = parseElement(el);
    if (typeof r === "string") rejected.push({ index, reason: r, raw: typeof el === "string" ? el : JSON.stringify(el) ?? String(el) });
    else records.push(r);
  });
  return { records, rejected };
}

/** Timer trigger payload; anything else (empty, manual invoke) is accepted as "run now". */
export function parseTimerEvent(event: Buffer | string | unknown): TimerEvent {
  const text = toText(event);
  if (text === undefined) return isObject(event) ? (event as TimerEvent) : {};
  if (text.trim() === "") return {};
  const doc = safeJson(text);
  if (!isObject(doc)) return {};
  return {
    triggerTime: typeof doc.triggerTime === "string" ? doc.triggerTime : undefined,
    triggerName: typeof doc.triggerName === "string" ? doc.triggerName : undefined,
    payload: typeof doc.payload === "string" ? doc.payload : undefined,
  };
}

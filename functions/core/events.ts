/**
 * Parsing of what FC hands the functions: the Kafka trigger's batches, CloudEvents or RawData
 * (https://help.aliyun.com/en/functioncompute/fc/user-guide/apsaramq-for-kafka-triggers and
 * https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-deliveryoption,
 * checked 2026-12-01), and timer events. Defensive by
 * design: every element of a batch either becomes a record or a rejected element with a reason,
 * and a payload that cannot be read at all is reported as such — the caller dead-letters it.
 */
import { skipWs } from "./routing.js";
import { splitBuffers } from "./buffer-pool.js";

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

// ---------------------------------------------------------------------------------------------
// Columnar batch scan (split's hot path)
//
// `scanKafkaBatch` returns the same records as `parseKafkaBatch`, as columns: no object per
// record, and every value's bytes written once into one arena. A single validating pass over the
// payload handles both shapes the FC Kafka trigger delivers: a JSON array of CloudEvents objects
// whose `data` is an object, and (`eventSchema: RawData`) a JSON array of those data objects
// themselves. Anything else — invalid JSON, JSON-string elements, an element with record fields
// both at its top level and in `data`, duplicate keys of interest, odd number forms, values that
// are not strings, elements that would be rejected — falls back to `parseKafkaBatch`, so the
// answer is always exactly its answer.

export interface RecordTable {
  count: number;
  /** Distinct topics; `topicOf[i]` indexes this list. */
  topics: string[];
  topicOf: Uint32Array;
  partition: Float64Array;
  offset: Float64Array;
  timestamp: Float64Array;
  /** Keys, or undefined when every key is null. */
  keys: (string | null)[] | undefined;
  /** Normalized headers, or undefined when every record's headers are empty (entries may be undefined = {}). */
  headers: (Record<string, string> | undefined)[] | undefined;
  /**
   * Record i's value is `values[valueStart[i], valueEnd[i])`. The byte at `valueEnd[i]` is 0x00
   * (a stop byte for range scanners: it is neither JSON whitespace nor a token).
   */
  values: Buffer;
  valueStart: Uint32Array;
  valueEnd: Uint32Array;
  /** 1 when record i's value contains a newline byte (framing must encode it). */
  hasNewline: Uint8Array;
}

export interface ScannedBatch {
  table: RecordTable;
  rejected: RejectedElement[];
  /** "scan" when the single-pass scanner read the payload, "parse" when it fell back to parseKafkaBatch. */
  path: "scan" | "parse";
}

const EMPTY_FC_HEADERS = Buffer.from(`{"headers":[],"isReadOnly":false}`);

/**
 * Gives a table's value arena back to split's buffer pool once nothing reads the table (or a
 * record of it) any more; the next batch's scan reuses it.
 */
export function releaseTable(t: RecordTable): void {
  splitBuffers.give(t.values);
}

/** A KafkaRecord for row i (the value is a view into the table's arena). */
export function recordAt(t: RecordTable, i: number): KafkaRecord {
  return {
    topic: t.topics[t.topicOf[i]!]!,
    partition: t.partition[i]!,
    offset: t.offset[i]!,
    timestamp: t.timestamp[i]!,
    key: t.keys ? (t.keys[i] ?? null) : null,
    headers: t.headers?.[i] ?? {},
    value: t.values.subarray(t.valueStart[i]!, t.valueEnd[i]!),
  };
}

/** Columns from parsed records (the fallback path). */
export function tableFromRecords(records: KafkaRecord[]): RecordTable {
  const n = records.length;
  let size = 0;
  for (const r of records) size += r.value.length + 1;
  const t = emptyTable(n, size);
  const topicIndex = new Map<string, number>();
  let w = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    let ti = topicIndex.get(r.topic);
    if (ti === undefined) topicIndex.set(r.topic, (ti = t.topics.push(r.topic) - 1));
    t.topicOf[i] = ti;
    t.partition[i] = r.partition;
    t.offset[i] = r.offset;
    t.timestamp[i] = r.timestamp;
    if (r.key !== null) (t.keys ??= new Array<string | null>(n).fill(null))[i] = r.key;
    if (Object.keys(r.headers).length > 0) (t.headers ??= new Array(n))[i] = r.headers;
    t.valueStart[i] = w;
    w += r.value.copy(t.values, w);
    t.valueEnd[i] = w;
    t.hasNewline[i] = r.value.indexOf(0x0a) === -1 ? 0 : 1;
    t.values[w++] = 0;
  }
  t.count = n;
  return t;
}

function emptyTable(capacity: number, arenaBytes: number): RecordTable {
  return {
    count: 0, topics: [], topicOf: new Uint32Array(capacity), partition: new Float64Array(capacity), offset: new Float64Array(capacity),
    timestamp: new Float64Array(capacity), keys: undefined, headers: undefined, values: Buffer.allocUnsafe(Math.max(16, arenaBytes)),
    valueStart: new Uint32Array(capacity), valueEnd: new Uint32Array(capacity), hasNewline: new Uint8Array(capacity),
  };
}

function growTable(t: RecordTable): void {
  const cap = t.topicOf.length * 2 + 16;
  const g = <T extends Uint32Array | Float64Array | Uint8Array>(a: T): T => {
    const b = new (a.constructor as new (n: number) => T)(cap);
    b.set(a);
    return b;
  };
  t.topicOf = g(t.topicOf); t.partition = g(t.partition); t.offset = g(t.offset); t.timestamp = g(t.timestamp);
  t.valueStart = g(t.valueStart); t.valueEnd = g(t.valueEnd); t.hasNewline = g(t.hasNewline);
}

/**
 * Same answer as `parseKafkaBatch` (records in order, rejected elements, UnreadableEventError),
 * as a RecordTable.
 */
export function scanKafkaBatch(event: Buffer | string | unknown): ScannedBatch {
  if (Buffer.isBuffer(event) || event instanceof Uint8Array) {
    const b = Buffer.isBuffer(event) ? event : Buffer.from(event.buffer, event.byteOffset, event.byteLength);
    const t = scanFast(b);
    if (t) return { table: t, rejected: [], path: "scan" };
  }
  const parsed = parseKafkaBatch(event);
  return { table: tableFromRecords(parsed.records), rejected: parsed.rejected, path: "parse" };
}

// Scanner state (module-level, like routing.ts: the scanner is synchronous and not re-entrant).
let S_buf: Buffer = Buffer.alloc(0);
let S_n = 0;
let S_out: Buffer = Buffer.alloc(0);
let S_w = 0;
let S_newline = 0;
const FAIL = -1;
const SLOW = -2;
const MAX_DEPTH = 512;
const depthStack = new Uint8Array(MAX_DEPTH);

const ws = skipWs; // shared JSON whitespace rule (routing.ts)

function hexVal(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function hex4(b: Buffer, i: number): number {
  const a = hexVal(b[i]), c = hexVal(b[i + 1]), d = hexVal(b[i + 2]), e = hexVal(b[i + 3]);
  return a < 0 || c < 0 || d < 0 || e < 0 ? -1 : (a << 12) | (c << 8) | (d << 4) | e;
}

/** i at the opening quote; index after the closing quote, or FAIL. Sets `strEscaped`. */
let strEscaped = false;
function skipString(b: Buffer, i: number, n: number): number {
  strEscaped = false;
  i++;
  for (;;) {
    if (i >= n) return FAIL;
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c === 0x5c) {
      strEscaped = true;
      const e = b[i + 1];
      if (e === 0x75) {
        if (hex4(b, i + 2) < 0) return FAIL;
        i += 6;
      } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
      else return FAIL;
    } else if (c < 0x20) return FAIL;
    else i++;
  }
}

function skipNumber(b: Buffer, i: number): number {
  if (b[i] === 0x2d) i++;
  let c = b[i];
  if (c === 0x30) i++;
  else if (c !== undefined && c >= 0x31 && c <= 0x39) {
    do c = b[++i];
    while (c !== undefined && c >= 0x30 && c <= 0x39);
  } else return FAIL;
  if (b[i] === 0x2e) {
    const s = ++i;
    while ((c = b[i]) !== undefined && c >= 0x30 && c <= 0x39) i++;
    if (i === s) return FAIL;
  }
  c = b[i];
  if (c === 0x65 || c === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    const s = i;
    while ((c = b[i]) !== undefined && c >= 0x30 && c <= 0x39) i++;
    if (i === s) return FAIL;
  }
  return i;
}

function skipLiteral(b: Buffer, i: number): number {
  const c = b[i];
  if (c === 0x74) return b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65 ? i + 4 : FAIL;
  if (c === 0x66) return b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65 ? i + 5 : FAIL;
  if (c === 0x6e) return b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c ? i + 4 : FAIL;
  return FAIL;
}

/** Validates and skips any JSON value starting at i (whitespace already skipped). */
function skipValue(b: Buffer, i: number, n: number): number {
  let depth = 0;
  for (;;) {
    const c = b[i];
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_DEPTH) return FAIL;
      depthStack[depth++] = c;
      i = ws(b, i + 1);
      if (b[i] === (c === 0x7b ? 0x7d : 0x5d)) {
        depth--;
        i++;
      } else {
        if (c === 0x7b) {
          if (b[i] !== 0x22) return FAIL;
          i = skipString(b, i, n);
          if (i === FAIL) return FAIL;
          i = ws(b, i);
          if (b[i] !== 0x3a) return FAIL;
          i = ws(b, i + 1);
        }
        continue;
      }
    } else if (c === 0x22) i = skipString(b, i, n);
    else if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) i = skipNumber(b, i);
    else i = skipLiteral(b, i);
    if (i === FAIL) return FAIL;
    // after a value: close containers or go to the next member
    for (;;) {
      if (depth === 0) return i;
      i = ws(b, i);
      const d = b[i];
      const top = depthStack[depth - 1];
      if (d === 0x2c) {
        i = ws(b, i + 1);
        if (top === 0x7b) {
          if (b[i] !== 0x22) return FAIL;
          i = skipString(b, i, n);
          if (i === FAIL) return FAIL;
          i = ws(b, i);
          if (b[i] !== 0x3a) return FAIL;
          i = ws(b, i + 1);
        }
        break;
      }
      if ((top === 0x7b && d === 0x7d) || (top === 0x5b && d === 0x5d)) {
        depth--;
        i++;
        continue;
      }
      return FAIL;
    }
  }
}

function ensureOut(extra: number): void {
  if (S_w + extra <= S_out.length) return;
  const next = splitBuffers.take(Math.max(S_out.length * 2, S_w + extra + 1024));
  S_out.copy(next, 0, 0, S_w);
  splitBuffers.give(S_out);
  S_out = next;
}

function putCodePoint(cp: number): void {
  const o = S_out;
  if (cp < 0x80) o[S_w++] = cp;
  else if (cp < 0x800) {
    o[S_w++] = 0xc0 | (cp >> 6);
    o[S_w++] = 0x80 | (cp & 0x3f);
  } else if (cp < 0x10000) {
    o[S_w++] = 0xe0 | (cp >> 12);
    o[S_w++] = 0x80 | ((cp >> 6) & 0x3f);
    o[S_w++] = 0x80 | (cp & 0x3f);
  } else {
    o[S_w++] = 0xf0 | (cp >> 18);
    o[S_w++] = 0x80 | ((cp >> 12) & 0x3f);
    o[S_w++] = 0x80 | ((cp >> 6) & 0x3f);
    o[S_w++] = 0x80 | (cp & 0x3f);
  }
}

/** Length of the valid UTF-8 sequence starting at i (lead byte ≥ 0x80), or 0 when invalid. */
function utf8SeqLen(b: Buffer, i: number): number {
  const c = b[i]!;
  const c1 = b[i + 1] ?? 0;
  if (c >= 0xc2 && c <= 0xdf) return c1 >= 0x80 && c1 <= 0xbf ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80, hi = c === 0xed ? 0x9f : 0xbf;
    const c2 = b[i + 2] ?? 0;
    return c1 >= lo && c1 <= hi && c2 >= 0x80 && c2 <= 0xbf ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80, hi = c === 0xf4 ? 0x8f : 0xbf;
    const c2 = b[i + 2] ?? 0, c3 = b[i + 3] ?? 0;
    return c1 >= lo && c1 <= hi && c2 >= 0x80 && c2 <= 0xbf && c3 >= 0x80 && c3 <= 0xbf ? 4 : 0;
  }
  return 0;
}

/**
 * Decodes the JSON string at i (opening quote) into S_out as UTF-8, exactly as
 * Buffer.from(JSON.parse(text)) would (lone surrogates become U+FFFD). Returns the index after the
 * closing quote, FAIL for invalid JSON, SLOW when raw bytes are not valid UTF-8.
 */
function decodeString(b: Buffer, i: number, n: number): number {
  i++;
  const o = S_out;
  let w = S_w;
  for (;;) {
    if (i >= n) return FAIL;
    const c = b[i]!;
    if (c === 0x22) {
      S_w = w;
      return i + 1;
    }
    if (c === 0x5c) {
      const e = b[i + 1];
      if (e === 0x22 || e === 0x5c || e === 0x2f) o[w++] = e;
      else if (e === 0x6e) {
        o[w++] = 0x0a;
        S_newline = 1;
      } else if (e === 0x74) o[w++] = 0x09;
      else if (e === 0x72) o[w++] = 0x0d;
      else if (e === 0x62) o[w++] = 0x08;
      else if (e === 0x66) o[w++] = 0x0c;
      else if (e === 0x75) {
        let cp = hex4(b, i + 2);
        if (cp < 0) return FAIL;
        i += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          const lo = b[i] === 0x5c && b[i + 1] === 0x75 ? hex4(b, i + 2) : -1;
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          } else cp = 0xfffd;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) cp = 0xfffd;
        if (cp === 0x0a) S_newline = 1;
        S_w = w;
        putCodePoint(cp);
        w = S_w;
        continue;
      } else return FAIL;
      i += 2;
    } else if (c < 0x80) {
      if (c < 0x20) return FAIL;
      o[w++] = c;
      i++;
    } else {
      const len = utf8SeqLen(b, i);
      if (len === 0) return SLOW;
      for (let k = 0; k < len; k++) o[w++] = b[i + k]!;
      i += len;
    }
  }
}

/** Digits-only non-negative safe integer token (at most 16 digits), else -1. */
export function plainInt(b: Buffer, s: number, e: number): number {
  if (e - s < 1 || e - s > 16 || (b[s] === 0x30 && e - s > 1)) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  // exact up to 2^53; a 16-digit token above it computes to at least 2^53 (rounding is monotonic)
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

const lit = (s: string) => Buffer.from(s, "latin1");
const L_topic = lit("topic"), L_value = lit("value");
const L_offset = lit("offset"), L_headers = lit("headers"), L_partition = lit("partition"), L_timestamp = lit("timestamp"), L_valueBase64 = lit("valueBase64");
/** The caller has checked the length. */
function eqLit(b: Buffer, s: number, l: Buffer): boolean {
  for (let k = 1; k < l.length; k++) if (b[s + k] !== l[k]) return false;
  return true;
}

const enum K { Other, Data, Topic, Partition, Offset, Timestamp, Key, Headers, Value, ValueBase64 }

/**
 * The member name at [s, e): `data` only at an element's top level; the Kafka record's fields at
 * either level (a CloudEvent has them in `data`, a RawData element at its top level).
 */
function keyKind(b: Buffer, s: number, e: number, top: boolean): K {
  const c = b[s];
  switch (e - s) {
    case 3: return c === 0x6b && b[s + 1] === 0x65 && b[s + 2] === 0x79 ? K.Key : K.Other;
    case 4: return top && c === 0x64 && b[s + 1] === 0x61 && b[s + 2] === 0x74 && b[s + 3] === 0x61 ? K.Data : K.Other;
    case 5: return c === 0x74 && eqLit(b, s, L_topic) ? K.Topic : c === 0x76 && eqLit(b, s, L_value) ? K.Value : K.Other;
    case 6: return c === 0x6f && eqLit(b, s, L_offset) ? K.Offset : K.Other;
    case 7: return c === 0x68 && eqLit(b, s, L_headers) ? K.Headers : K.Other;
    case 9: return c === 0x70 && eqLit(b, s, L_partition) ? K.Partition : c === 0x74 && eqLit(b, s, L_timestamp) ? K.Timestamp : K.Other;
    case 11: return c === 0x76 && eqLit(b, s, L_valueBase64) ? K.ValueBase64 : K.Other;
    default: return K.Other;
  }
}

function scanFast(b: Buffer): RecordTable | undefined {
  const n = b.length;
  S_buf = b;
  S_n = n;
  S_out = splitBuffers.take(n + 16);
  S_w = 0;
  let done = false;
  const t = emptyTable(Math.max(16, Math.ceil(n / 512)), 0);
  try {
    let i = ws(b, 0);
    if (b[i] !== 0x5b) return undefined;
    i = ws(b, i + 1);
    let count = 0;
    let lastTopicStart = -1, lastTopicEnd = -1, lastTopicIndex = -1;
    if (b[i] === 0x5d) i++;
    else {
      for (;;) {
        // ---- one element: a CloudEvent (the record's fields in its `data` object) or a RawData
        // element (the record's fields at its top level). One loop reads both levels: `level` is 1
        // inside `data`.
        if (b[i] !== 0x7b) return undefined;
        if (count === t.topicOf.length) growTable(t);
        let seenData = false, topFields = false, level = 0, seen = 0;
        // the record's fields
        let topicS = -1, topicE = -1, topicEsc = false;
        let partition = -1, offset = -1, timestamp = 0, hasTs = false;
        let keyS = -1, keyE = -1, keyKindTok = 0; // 0 missing, 1 string, 2 null, 3 string escaped
        let headersS = -1, headersE = -1;
        let valStart = -1, valEnd = -1, hasValue = false, b64S = -1, b64E = -1;
        S_newline = 0;
        i = ws(b, i + 1);
        if (b[i] === 0x7d) return undefined; // {}: rejected by the reference path
        members: for (;;) {
          if (b[i] !== 0x22) return undefined;
          const ks = i + 1;
          i = skipString(b, i, n);
          if (i === FAIL || strEscaped) return undefined;
          const dk = keyKind(b, ks, i - 1, level === 0);
          i = ws(b, i);
          if (b[i] !== 0x3a) return undefined;
          i = ws(b, i + 1);
          if (dk === K.Data) {
            if (seenData || b[i] !== 0x7b) return undefined;
            seenData = true;
            i = ws(b, i + 1);
            if (b[i] !== 0x7d) {
              level = 1;
              continue;
            }
            i++;
          } else if (dk === K.Other) {
            i = skipValue(b, i, n);
          } else {
            if (level === 0) topFields = true;
            if (seen & (1 << dk)) return undefined; // duplicate key: leave it to JSON.parse's last-wins
            seen |= 1 << dk;
            const vs = i;
            const c = b[i];
            if (dk === K.Value) {
              if (c !== 0x22) return undefined;
              if (b64S >= 0) {
                i = skipString(b, i, n);
              } else {
                ensureOut(0);
                valStart = S_w;
                const r = decodeString(b, i, n);
                if (r === SLOW) {
                  const e = skipString(b, i, n);
                  if (e === FAIL) return undefined;
                  const bytes = Buffer.from(JSON.parse(b.toString("utf8", i, e)) as string, "utf8");
                  S_w = valStart;
                  ensureOut(bytes.length + 1);
                  bytes.copy(S_out, S_w);
                  S_w += bytes.length;
                  if (bytes.indexOf(0x0a) !== -1) S_newline = 1;
                  i = e;
                } else i = r;
                valEnd = S_w;
                hasValue = true;
              }
            } else if (dk === K.ValueBase64) {
              if (c !== 0x22) return undefined;
              i = skipString(b, i, n);
              b64S = vs;
              b64E = i;
            } else if (c === 0x22) {
              i = skipString(b, i, n);
              if (dk === K.Topic) {
                topicS = vs + 1; topicE = i - 1; topicEsc = strEscaped;
              } else if (dk === K.Key) {
                keyS = vs; keyE = i; keyKindTok = strEscaped ? 3 : 1;
              } else return undefined; // partition, offset, timestamp or headers as a string: JSON.parse decides
            } else if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
              i = skipNumber(b, i);
              if (i === FAIL) return undefined;
              if (dk === K.Partition) {
                if ((partition = plainInt(b, vs, i)) < 0) return undefined;
              } else if (dk === K.Offset) {
                if ((offset = plainInt(b, vs, i)) < 0) return undefined;
              } else if (dk === K.Timestamp) {
                const v = plainInt(b, vs, i);
                timestamp = v >= 0 ? v : Number(b.toString("latin1", vs, i));
                hasTs = true;
              } else return undefined;
            } else if (c === 0x6e && dk === K.Key) {
              i = skipLiteral(b, i);
              keyKindTok = 2;
            } else if (dk === K.Headers) {
              i = skipValue(b, i, n);
              if (i === FAIL) return undefined;
              headersS = vs; headersE = i;
            } else return undefined; // a field of interest with an unusual type: JSON.parse decides
          }
          if (i === FAIL) return undefined;
          // after a member's value: the next member, or the end of `data` / of the element
          for (;;) {
            i = ws(b, i);
            if (b[i] === 0x2c) {
              i = ws(b, i + 1);
              continue members;
            }
            if (b[i] !== 0x7d) return undefined;
            i++;
            if (level === 0) break members;
            level = 0;
          }
        }
        // ---- the record (or leave the element to the reference path). Exactly one of: a `data`
        // object (a CloudEvent: its `data` is the record, whatever else is at the top level) or the
        // record's fields at the top level (RawData). Both, or neither: JSON.parse decides.
        if (seenData === topFields || partition < 0 || offset < 0 || topicS < 0 || topicE === topicS) return undefined;
        if (b64S >= 0) {
          const bytes = Buffer.from(JSON.parse(b.toString("utf8", b64S, b64E)) as string, "base64");
          S_w = valStart >= 0 ? valStart : S_w;
          ensureOut(bytes.length + 1);
          valStart = S_w;
          bytes.copy(S_out, S_w);
          S_w += bytes.length;
          valEnd = S_w;
          S_newline = bytes.indexOf(0x0a) !== -1 ? 1 : 0;
        } else if (!hasValue) return undefined;
        ensureOut(1);
        S_out[S_w++] = 0;
        // topic: interned, compared by bytes with the previous record's
        let ti = lastTopicIndex;
        if (lastTopicStart < 0 || topicE - topicS !== lastTopicEnd - lastTopicStart || b.compare(b, lastTopicStart, lastTopicEnd, topicS, topicE) !== 0) {
          const topic = topicEsc ? (JSON.parse(b.toString("utf8", topicS - 1, topicE + 1)) as string) : b.toString("utf8", topicS, topicE);
          if (topic === "") return undefined;
          ti = t.topics.indexOf(topic);
          if (ti < 0) ti = t.topics.push(topic) - 1;
          lastTopicStart = topicS; lastTopicEnd = topicE; lastTopicIndex = ti;
        }
        t.topicOf[count] = ti;
        t.partition[count] = partition;
        t.offset[count] = offset;
        t.timestamp[count] = hasTs ? timestamp : 0;
        if (keyKindTok === 1 || keyKindTok === 3) {
          const key = keyKindTok === 1 ? b.toString("utf8", keyS + 1, keyE - 1) : (JSON.parse(b.toString("utf8", keyS, keyE)) as string);
          (t.keys ??= new Array<string | null>(t.topicOf.length).fill(null))[count] = key;
        }
        if (headersS >= 0 && !(headersE - headersS === EMPTY_FC_HEADERS.length && b.compare(EMPTY_FC_HEADERS, 0, EMPTY_FC_HEADERS.length, headersS, headersE) === 0)) {
          const h = normalizeHeaders(JSON.parse(b.toString("utf8", headersS, headersE)));
          if (Object.keys(h).length > 0) (t.headers ??= [])[count] = h;
        }
        t.valueStart[count] = valStart;
        t.valueEnd[count] = valEnd;
        t.hasNewline[count] = S_newline;
        count++;
        // ---- next element
        i = ws(b, i);
        if (b[i] === 0x2c) {
          i = ws(b, i + 1);
          continue;
        }
        if (b[i] === 0x5d) {
          i++;
          break;
        }
        return undefined;
      }
    }
    if (ws(b, i) !== n) return undefined;
    t.count = count;
    t.values = S_out;
    if (t.keys && t.keys.length < count) t.keys.length = count;
    done = true;
    return t;
  } finally {
    if (!done) splitBuffers.give(S_out); // the reference path decodes it
    S_buf = S_out = Buffer.alloc(0);
    S_n = 0;
  }
}

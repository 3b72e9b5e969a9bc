/**
 * App-id extraction and the mapping from app id to a safe path segment.
 *
 * The JSON field lookup is a single-pass validating scanner over the record's bytes: it gives
 * exactly the answer of `JSON.parse` + walking the path (last duplicate key wins, escapes
 * decoded, invalid JSON → no id) without allocating the parsed object. The property tests
 * compare it with that reference on arbitrary input.
 */
import type { AppIdSource } from "./config.js";
import type { KafkaRecord } from "./events.js";

/** Reserved app names; real app ids starting with "_" are encoded so they can never collide. */
export const UNROUTED_APP = "_unrouted";
export const INVALID_APP = "_invalid";
export const OVERFLOW_APP = "_overflow";
export const RESERVED_APPS = new Set([UNROUTED_APP, INVALID_APP, OVERFLOW_APP]);

const SAFE_SEGMENT = /^[A-Za-z0-9._-]{1,64}$/;
const ENCODED_PREFIX = "_b64.";

/**
 * The app's directory/key segment. Safe ids are used as they are; anything else is encoded
 * reversibly as `_b64.<base64url of UTF-8>` when that fits in 64 characters, else `_invalid`.
 */
export function appSegment(appId: string): string {
  if (SAFE_SEGMENT.test(appId) && appId !== "." && appId !== ".." && !appId.startsWith("_")) return appId;
  const encoded = ENCODED_PREFIX + Buffer.from(appId, "utf8").toString("base64url");
  return encoded.length <= 64 ? encoded : INVALID_APP;
}

/** Inverse of appSegment for display (`_b64.Li4vZXRj` → `../etc`). */
export function appIdFromSegment(segment: string): string {
  return segment.startsWith(ENCODED_PREFIX) ? Buffer.from(segment.slice(ENCODED_PREFIX.length), "base64url").toString("utf8") : segment;
}

export function isSafeSegment(s: string): boolean {
  return SAFE_SEGMENT.test(s) && s !== "." && s !== "..";
}

// ---------------------------------------------------------------------------------------------
// JSON field scanner

const enum Ch {
  Quote = 0x22, Backslash = 0x5c, Comma = 0x2c, Colon = 0x3a,
  LBrace = 0x7b, RBrace = 0x7d, LBracket = 0x5b, RBracket = 0x5d,
  Minus = 0x2d, Plus = 0x2b, Dot = 0x2e, Zero = 0x30, Nine = 0x39, LowerE = 0x65, UpperE = 0x45,
}

const INVALID = -1;

export function skipWs(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

/** Bytes that end a plain run inside a string: the quote, the backslash, control characters. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[Ch.Quote] = 1;
STRING_STOP[Ch.Backslash] = 1;

/** i at the opening quote; returns index after the closing quote or INVALID. Sets `sawEscape`. */
let sawEscape = false;
function scanString(b: Uint8Array, i: number, n: number): number {
  sawEscape = false;
  i++;
  while (i < n) {
    // one table load per plain byte: the common case in log records
    while (STRING_STOP[b[i]!] === 0) i++;
    if (i >= n) break;
    const c = b[i]!;
    if (c === Ch.Quote) return i + 1;
    if (c === Ch.Backslash) {
      sawEscape = true;
      const e = b[i + 1];
      if (e === 0x75 /* u */) {
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return INVALID;
        i += 6;
      } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
      } else return INVALID;
    } else return INVALID; // a control character (0x00 included: the arena's stop byte)
  }
  return INVALID;
}

function scanDigits(b: Uint8Array, i: number): number {
  while (b[i]! >= Ch.Zero && b[i]! <= Ch.Nine) i++;
  return i;
}

function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === Ch.Minus) i++;
  const c = b[i];
  if (c === Ch.Zero) i++;
  else if (c !== undefined && c >= 0x31 && c <= Ch.Nine) i = scanDigits(b, i + 1);
  else return INVALID;
  if (b[i] === Ch.Dot) {
    const j = scanDigits(b, i + 1);
    if (j === i + 1) return INVALID;
    i = j;
  }
  if (b[i] === Ch.LowerE || b[i] === Ch.UpperE) {
    i++;
    if (b[i] === Ch.Plus || b[i] === Ch.Minus) i++;
    const j = scanDigits(b, i);
    if (j === i) return INVALID;
    i = j;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, lit: Uint8Array): number {
  for (let k = 0; k < lit.length; k++) if (b[i + k] !== lit[k]) return INVALID;
  return i + lit.length;
}
const TRUE = Buffer.from("true"), FALSE = Buffer.from("false"), NULL = Buffer.from("null");

function bytesEqual(b: Uint8Array, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (b[start + k] !== key[k]) return false;
  return true;
}

/** A compiled field path: the key names and their UTF-8 bytes. */
export interface FieldPath {
  keys: string[];
  keyBytes: Buffer[];
}

export function compileFieldPath(keys: string[]): FieldPath {
  return { keys, keyBytes: keys.map((k) => Buffer.from(k, "utf8")) };
}

/**
 * The app id at `path` in the JSON document `b`, as JSON.parse would see it: a non-empty
 * string, or a finite number rendered with String(); anything else (absent, null, boolean,
 * object, array, empty string, invalid JSON) is undefined.
 */
export function extractJsonField(b: Uint8Array, path: FieldPath): string | undefined {
  return extractJsonFieldRange(b, 0, b.length, path);
}

// Scanner state kept between calls, so a lookup allocates nothing: the container stack (1 =
// object, 2 = array), whether each open container lies on the path, and the matched leaf.
let containerKind = new Uint8Array(64);
let containerOnPath = new Uint8Array(64);
const enum LeafKind { None, String, Number, Other }
let leafKind = LeafKind.None;
let leafStart = 0;
let leafEnd = 0;
let leafEscaped = false;

function pushContainer(depth: number, kind: number, onPath: boolean): void {
  if (depth === containerKind.length) {
    const k = new Uint8Array(depth * 2), o = new Uint8Array(depth * 2);
    k.set(containerKind);
    o.set(containerOnPath);
    containerKind = k;
    containerOnPath = o;
  }
  containerKind[depth] = kind;
  containerOnPath[depth] = onPath ? 1 : 0;
}

/**
 * extractJsonField on the document `b[start, end)` without copying it. `b[end]` must not
 * continue a JSON token: either `end === b.length` or the byte there is 0x00 (as in a
 * RecordTable's value arena), so every scan stops at `end`.
 */
export function extractJsonFieldRange(b: Uint8Array, start: number, end: number, path: FieldPath): string | undefined {
  const n = end;
  const depthLimit = path.keys.length;
  let i = skipWs(b, start);
  if (b[i] !== Ch.LBrace) return undefined; // not an object (or not JSON): no field to find
  let depth = 0; // open containers
  leafKind = LeafKind.None;
  let pendingLeaf = false;
  let pendingPush = false;
  let expectKey = false;

  for (;;) {
    if (expectKey) {
      // i at a key's opening quote (whitespace skipped)
      if (b[i] !== Ch.Quote) return undefined;
      const keyStart = i + 1;
      const after = scanString(b, i, n);
      if (after === INVALID) return undefined;
      const escaped = sawEscape;
      i = skipWs(b, after);
      if (b[i] !== Ch.Colon) return undefined;
      i = skipWs(b, i + 1);
      const level = depth - 1;
      if (containerOnPath[level] === 1 && level < depthLimit) {
        const match = escaped
          ? JSON.parse(Buffer.from(b.buffer, b.byteOffset + keyStart - 1, after - keyStart + 1).toString("utf8")) === path.keys[level]
          : bytesEqual(b, keyStart, after - 1, path.keyBytes[level]!);
        if (match) {
          leafKind = LeafKind.None; // a later duplicate key replaces the earlier value (JSON.parse semantics)
          if (level === depthLimit - 1) pendingLeaf = true;
          else pendingPush = true;
        }
      }
      expectKey = false;
    }

    // a value starts at i
    const c = b[i];
    if (c === Ch.LBrace) {
      if (pendingLeaf) leafKind = LeafKind.Other;
      pushContainer(depth, 1, depth === 0 ? depthLimit > 0 : pendingPush);
      depth++;
      pendingLeaf = pendingPush = false;
      i = skipWs(b, i + 1);
      if (b[i] === Ch.RBrace) {
        depth--;
        i++;
      } else {
        expectKey = true;
        continue;
      }
    } else if (c === Ch.LBracket) {
      if (pendingLeaf) leafKind = LeafKind.Other;
      pushContainer(depth, 2, false);
      depth++;
      pendingLeaf = pendingPush = false;
      i = skipWs(b, i + 1);
      if (b[i] === Ch.RBracket) {
        depth--;
        i++;
      } else continue;
    } else if (c === Ch.Quote) {
      const after = scanString(b, i, n);
      if (after === INVALID) return undefined;
      if (pendingLeaf) {
        leafKind = LeafKind.String;
        leafStart = i + 1;
        leafEnd = after - 1;
        leafEscaped = sawEscape;
      }
      i = after;
    } else if (c === Ch.Minus || (c !== undefined && c >= Ch.Zero && c <= Ch.Nine)) {
      const after = scanNumber(b, i);
      if (after === INVALID) return undefined;
      if (pendingLeaf) {
        leafKind = LeafKind.Number;
        leafStart = i;
        leafEnd = after;
      }
      i = after;
    } else {
      const after = c === 0x74 ? scanLiteral(b, i, TRUE) : c === 0x66 ? scanLiteral(b, i, FALSE) : c === 0x6e ? scanLiteral(b, i, NULL) : INVALID;
      if (after === INVALID) return undefined;
      if (pendingLeaf) leafKind = LeafKind.Other;
      i = after;
    }
    pendingLeaf = pendingPush = false;

    // after a value: close containers / move to the next element
    for (;;) {
      i = skipWs(b, i);
      if (depth === 0) return i === n ? leafToId(b) : undefined;
      const top = containerKind[depth - 1];
      const d = b[i];
      if (d === Ch.Comma) {
        i = skipWs(b, i + 1);
        if (top === 1) expectKey = true;
        break;
      }
      if ((top === 1 && d === Ch.RBrace) || (top === 2 && d === Ch.RBracket)) {
        depth--;
        i++;
        continue;
      }
      return undefined;
    }
  }
}

/**
 * App ids repeat from record to record: the id of plain (unescaped) string bytes is looked up by
 * a hash of the bytes and checked byte for byte, so a warm lookup allocates no string. The table
 * is open-addressed in typed arrays (hashes, the ids' bytes end to end) rather than a Map of
 * objects: with thousands of apps a Map's entries lie all over the heap and each lookup missed
 * the CPU's caches (split alone on 3,000 apps spent ~3.7× as long per lookup as on 50).
 */
export class IdTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly hashes: Int32Array;
  /** entry e's bytes are pool[starts[e], starts[e + 1]) */
  private readonly starts: Int32Array;
  private readonly pool: Uint8Array;
  private readonly ids: string[] = [];

  /** `maxEntries` ids, `poolBytes` of their bytes; when either is full the table starts over. */
  constructor(readonly maxEntries = 4096, poolBytes = 256 * 1024) {
    let slots = 2;
    while (slots < maxEntries * 2) slots *= 2; // at most half full: short probe runs
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    this.hashes = new Int32Array(maxEntries);
    this.starts = new Int32Array(maxEntries + 1);
    this.pool = new Uint8Array(poolBytes);
  }

  get size(): number {
    return this.ids.length;
  }

  /** The id of the UTF-8 bytes `b[start, end)`, decoded once and then found by hash and bytes. */
  idOf(b: Uint8Array, start: number, end: number): string {
    const len = end - start;
    let h = 0x811c9dc5 ^ len; // FNV-1a
    for (let k = start; k < end; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
    const { slots, mask, hashes, starts, pool } = this;
    let s = h & mask;
    for (let e = slots[s]!; e !== 0; s = (s + 1) & mask, e = slots[s]!) {
      if (hashes[e - 1] !== h) continue;
      const at = starts[e - 1]!;
      if (starts[e]! - at !== len) continue;
      let k = 0;
      while (k < len && pool[at + k] === b[start + k]) k++;
      if (k === len) return this.ids[e - 1]!;
    }
    const id = utf8At(b, start, end);
    if (len > pool.length) return id;
    let e = this.ids.length;
    if (e === this.maxEntries || starts[e]! + len > pool.length) {
      this.clear();
      e = 0;
      s = h & mask;
    }
    hashes[e] = h;
    pool.set(b.subarray(start, end), starts[e]!);
    starts[e + 1] = starts[e]! + len;
    this.ids.push(id);
    slots[s] = e + 1; // s: the empty slot the probe stopped at
    return id;
  }

  clear(): void {
    this.slots.fill(0);
    this.ids.length = 0;
  }
}

const idTable = new IdTable();
const MAX_CACHED_ID_BYTES = 256;

const utf8At = (b: Uint8Array, start: number, end: number) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("utf8", start, end);

function plainStringId(b: Uint8Array, start: number, end: number): string {
  return end - start > MAX_CACHED_ID_BYTES ? utf8At(b, start, end) : idTable.idOf(b, start, end);
}

function leafToId(b: Uint8Array): string | undefined {
  if (leafKind === LeafKind.None || leafKind === LeafKind.Other) return undefined;
  if (leafKind === LeafKind.Number) {
    const v = Number(Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1", leafStart, leafEnd));
    return Number.isFinite(v) ? String(v) : undefined;
  }
  if (!leafEscaped) return leafEnd === leafStart ? undefined : plainStringId(b, leafStart, leafEnd);
  const s = JSON.parse(utf8At(b, leafStart - 1, leafEnd + 1)) as string;
  return s === "" ? undefined : s;
}

/** The reference semantics the scanner must equal (used by tests, and documented behaviour). */
export function referenceJsonField(text: string, keys: string[]): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  for (const k of keys) {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  if (typeof v === "string") return v === "" ? undefined : v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Router

type CompiledSource = { kind: "field"; path: FieldPath } | { kind: "key" } | { kind: "header"; name: string; lower: string };

export interface Router {
  /** The app id of a record, or undefined when no source yields one. */
  appIdOf(record: Pick<KafkaRecord, "key" | "headers" | "value">): string | undefined;
  /** appIdOf for a record whose value is `values[start, end)` (see extractJsonFieldRange for `values[end]`). */
  appIdAt?(values: Uint8Array, start: number, end: number, key: string | null, headers: Record<string, string> | undefined): string | undefined;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function createRouter(sources: AppIdSource[]): Router {
  const compiled: CompiledSource[] = sources.map((s) =>
    s.kind === "field" ? { kind: "field", path: compileFieldPath(s.path) } : s.kind === "header" ? { kind: "header", name: s.name, lower: s.name.toLowerCase() } : s,
  );
  const appIdAt = (values: Uint8Array, start: number, end: number, key: string | null, headers: Record<string, string> = NO_HEADERS): string | undefined => {
    for (const s of compiled) {
      let id: string | undefined;
      if (s.kind === "field") id = extractJsonFieldRange(values, start, end, s.path);
      else if (s.kind === "key") id = key ?? undefined;
      else {
        id = headers[s.name];
        if (id === undefined) {
          for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === s.lower) { id = v; break; }
        }
      }
      if (id !== undefined && id !== "") return id;
    }
    return undefined;
  };
  return {
    appIdOf: (record) => appIdAt(record.value, 0, record.value.length, record.key, record.headers),
    appIdAt,
  };
}

const segmentCache = new Map<string, string>();
/** appSegment, memoized (ids repeat across records). */
export function cachedAppSegment(id: string): string {
  let seg = segmentCache.get(id);
  if (seg === undefined) {
    if (segmentCache.size >= 10_000) segmentCache.clear();
    segmentCache.set(id, (seg = appSegment(id)));
  }
  return seg;
}

/** routeSegment for a record whose value is `values[start, end)`. */
export function routeSegmentAt(router: Router, values: Buffer, start: number, end: number, key: string | null, headers: Record<string, string> | undefined): string {
  const id = router.appIdAt ? router.appIdAt(values, start, end, key, headers) : router.appIdOf({ key, headers: headers ?? {}, value: values.subarray(start, end) });
  return id === undefined ? UNROUTED_APP : cachedAppSegment(id);
}

/** The app segment a record is filed under before the app-count cap is applied. */
export function routeSegment(router: Router, record: Pick<KafkaRecord, "key" | "headers" | "value">): string {
  const id = router.appIdOf(record);
  return id === undefined ? UNROUTED_APP : appSegment(id);
}

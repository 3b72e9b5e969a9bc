/**
 * Reads one app's archived records back from the object store (`logpipe logs`).
 *
 * 1. Only the app's keys are listed: `<prefix>/<segment>/dt=<day>/` for each day the range
 *    touches (or `<prefix>/<segment>/` once for ranges over a month), where the segment is
 *    `appSegment(appId)` — the same mapping split uses, so hostile ids never become paths.
 * 2. Partitions (`dt=/hour=`, in LOGPIPE_TIMEZONE) are chosen when their hour overlaps
 *    [since − 1 h, until]: an object is keyed by the hour its oldest record was staged and sealed
 *    up to LOGPIPE_SEAL_MAX_AGE (≤ 1 h) later, so the hour before `since` can hold records from
 *    inside the range.
 *    The range therefore selects archive hours, not individual records (logpipe treats records
 *    as opaque bytes and does not read timestamps out of them).
 * 3. Objects are decompressed as they stream in (concatenated gzip members = one gzip stream),
 *    unframed (framing.ts: a 0x1E line is base64 of a record containing a newline), filtered
 *    with the regex, and written out.
 * Order: partitions oldest → newest, within an hour objects by upload time then key, within an
 * object commit order; `newestFirst` reverses all three (holding one object's matching records
 * in memory at a time).
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { unframeRecords } from "../../functions/core/framing.js";
import { appPrefix, DEADLETTER_APP, parseArchiveKey } from "../../functions/core/layout.js";
import { appIdFromSegment, appSegment, RESERVED_APPS } from "../../functions/core/routing.js";
import { HOUR_MS, partitionStart, zonedDays } from "../support/time.js";

export interface ArchiveObject {
  key: string;
  dt: string;
  hour: string;
  /** Epoch ms the partition's hour starts at. */
  start: number;
  size: number;
  lastModified?: Date;
}

export interface LogsQuery {
  /** The app id as users know it (mapped to its key segment here). */
  app: string;
  /** Key prefix (LOGPIPE_OSS_PREFIX, default `logs`). */
  prefix: string;
  since: number;
  /** Default: now (open-ended with follow). */
  until?: number;
  timeZone: string;
  grep?: RegExp;
  limit?: number;
  json?: boolean;
  newestFirst?: boolean;
  /** Poll for new objects until the signal aborts. */
  follow?: { intervalMs: number; signal: AbortSignal; lookbackMs?: number };
  /** Objects downloaded ahead of the one being decoded (remote stores). Default 3. */
  prefetch?: number;
}

export interface LogsProgress {
  objectsDone: number;
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  records: number;
}

export interface LogsStats {
  app: string;
  segment: string;
  since: number;
  until: number;
  /** Partitions (`dt=…/hour=…`) read, in read order. */
  partitions: string[];
  objects: number;
  compressedBytes: number;
  recordsRead: number;
  recordsMatched: number;
  /** Objects that could not be read (`key: reason`); the rest were still printed. */
  errors: string[];
  limitReached: boolean;
}

export interface LogsOutput {
  /** Writes output bytes; may return a promise to apply backpressure. */
  write(chunk: Buffer): void | Promise<void>;
  /** True once the reader of our output went away (EPIPE): stop quietly. */
  closed?(): boolean;
}

/** The key segment of an app id; the reserved buckets (`_unrouted`, `_invalid`, `_overflow`) are named as they are. */
export function segmentFor(app: string): string {
  return RESERVED_APPS.has(app) ? app : appSegment(app);
}

export function isDeadLetterApp(app: string): boolean {
  return app === DEADLETTER_APP;
}

function comparePartitions(a: ArchiveObject, b: ArchiveObject): number {
  if (a.start !== b.start) return a.start - b.start;
  const ta = a.lastModified?.getTime() ?? 0;
  const tb = b.lastModified?.getTime() ?? 0;
  return ta !== tb ? ta - tb : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The app's archive objects whose partition hour overlaps [from − 1 h, to], sorted oldest first
 * (then by upload time, then key).
 */
export async function listPartitionObjects(store: ObjectStore, prefix: string, segment: string, from: number, to: number, tz: string): Promise<ArchiveObject[]> {
  const base = appPrefix(prefix, segment);
  const lo = from - 2 * HOUR_MS; // partition start > since − 2 h ⇔ its hour ends after since − 1 h
  const days = zonedDays(lo, to, tz);
  const listPrefixes = days.length > 31 ? [base] : days.map((d) => `${base}dt=${d}/`);
  const out: ArchiveObject[] = [];
  for (const p of listPrefixes) {
    for await (const o of store.list(p)) {
      const parsed = parseArchiveKey(o.key);
      if (!parsed || parsed.app !== segment || !o.key.startsWith(base) || !parsed.file.endsWith(".log.gz")) continue;
      const start = partitionStart(parsed.dt, parsed.hour, tz);
      if (start > lo && start <= to) out.push({ key: o.key, dt: parsed.dt, hour: parsed.hour, start, size: o.size, lastModified: o.lastModified });
    }
  }
  return out.sort(comparePartitions);
}

/** What the archive holds for an app at all (for the "nothing matched" message). */
export async function describeApp(store: ObjectStore, prefix: string, segment: string, maxKeys = 200_000): Promise<{ objects: number; oldest?: string; newest?: string; truncated: boolean }> {
  const base = appPrefix(prefix, segment);
  let objects = 0;
  let oldest: string | undefined;
  let newest: string | undefined;
  for await (const o of store.list(base)) {
    const p = parseArchiveKey(o.key);
    if (!p || p.app !== segment) continue;
    const part = `dt=${p.dt}/hour=${p.hour}`;
    oldest ??= part;
    if (!newest || part > newest) newest = part;
    if (++objects >= maxKeys) return { objects, oldest, newest, truncated: true };
  }
  return { objects, oldest, newest, truncated: false };
}

export interface ArchivedApp {
  /** The app id as records carry it (decoded from the key segment). */
  app: string;
  segment: string;
  objects: number;
  bytes: number;
  newest: string;
}

/** Every app with archived objects under `prefix` (listing stops after `maxKeys` keys: `truncated`). */
export async function listApps(store: ObjectStore, prefix: string, maxKeys = 200_000): Promise<{ apps: ArchivedApp[]; truncated: boolean }> {
  const bySegment = new Map<string, ArchivedApp>();
  let keys = 0;
  let truncated = false;
  for await (const o of store.list(prefix ? `${prefix}/` : "")) {
    if (++keys > maxKeys) {
      truncated = true;
      break;
    }
    const p = parseArchiveKey(o.key);
    if (!p || p.app === DEADLETTER_APP) continue;
    const part = `dt=${p.dt}/hour=${p.hour}`;
    const a = bySegment.get(p.app);
    if (a) {
      a.objects++;
      a.bytes += o.size;
      if (part > a.newest) a.newest = part;
    } else bySegment.set(p.app, { app: appIdFromSegment(p.app), segment: p.app, objects: 1, bytes: o.size, newest: part });
  }
  return { apps: [...bySegment.values()].sort((x, y) => (x.app < y.app ? -1 : x.app > y.app ? 1 : 0)), truncated };
}

/** Up to `n` app ids closest to `wanted` (edit distance, case-insensitive; substrings count as close). */
export function closestApps(wanted: string, apps: string[], n = 3): string[] {
  const w = wanted.toLowerCase();
  const scored = apps.map((a) => {
    const l = a.toLowerCase();
    return { a, d: l.includes(w) || w.includes(l) ? 0 : editDistance(w, l) };
  });
  const limit = Math.max(2, Math.floor(w.length / 3));
  return scored.filter((x) => x.d <= limit).sort((x, y) => x.d - y.d || (x.a < y.a ? -1 : 1)).slice(0, n).map((x) => x.a);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** A readable of an object's compressed bytes: streamed from disk for the local store, else fetched whole (CRC64-verified by the store). */
async function openCompressed(store: ObjectStore, key: string): Promise<Readable> {
  if (store instanceof LocalObjectStore) {
    const stream = createReadStream(store.pathOf(key));
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", reject);
    });
    return stream;
  }
  return Readable.from([await store.getBuffer(key)]);
}

/** Records of one object, decompressed and unframed as the bytes arrive. */
export async function* objectRecords(source: Readable): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const piping = pipeline(source, gunzip);
  piping.catch(() => {}); // surfaced through the iteration below
  let pending: Buffer[] = [];
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const nl = chunk.lastIndexOf(0x0a);
      if (nl === -1) {
        pending.push(chunk);
        continue;
      }
      const complete = pending.length ? Buffer.concat([...pending, chunk.subarray(0, nl + 1)]) : chunk.subarray(0, nl + 1);
      pending = nl + 1 < chunk.length ? [chunk.subarray(nl + 1)] : [];
      yield* unframeRecords(complete);
    }
    await piping;
  } finally {
    if (!gunzip.destroyed) gunzip.destroy();
    if (!source.destroyed) source.destroy();
  }
  if (pending.some((b) => b.length > 0)) throw new Error("object ends without a newline (truncated?)");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function isUtf8(b: Buffer): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * How one record is printed. Text mode: the record's bytes as they are, one line — except a
 * record containing a newline, which is printed as a JSON string literal ("…\n…") so that one
 * line is always one record. JSON mode: one object per line with the record as a string (or
 * `recordBase64` when it is not valid UTF-8).
 */
export function formatRecord(rec: Buffer, obj: ArchiveObject, app: string, json: boolean): Buffer {
  if (json) {
    const doc: Record<string, unknown> = { app, key: obj.key, partition: `dt=${obj.dt}/hour=${obj.hour}` };
    if (isUtf8(rec)) doc.record = rec.toString("utf8");
    else doc.recordBase64 = rec.toString("base64");
    return Buffer.from(JSON.stringify(doc) + "\n");
  }
  if (rec.indexOf(0x0a) !== -1) return Buffer.from(JSON.stringify(rec.toString("utf8")) + "\n");
  return Buffer.concat([rec, NEWLINE]);
}
const NEWLINE = Buffer.from("\n");

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** Streams the app's records in the range to `out`; returns what it did. Throws only when listing fails. */
export async function readAppLogs(store: ObjectStore, q: LogsQuery, out: LogsOutput, onProgress?: (p: LogsProgress) => void): Promise<LogsStats> {
  const segment = segmentFor(q.app);
  const until = q.until ?? Date.now();
  const stats: LogsStats = {
    app: q.app, segment, since: q.since, until, partitions: [], objects: 0, compressedBytes: 0, recordsRead: 0, recordsMatched: 0, errors: [], limitReached: false,
  };
  const seen = new Set<string>();
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  const flush = async () => {
    if (bufferedBytes === 0) return;
    const chunk = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, bufferedBytes);
    buffered = [];
    bufferedBytes = 0;
    await out.write(chunk);
  };
  const stopped = () => stats.limitReached || (out.closed?.() ?? false);

  const readObjects = async (objects: ArchiveObject[]) => {
    const progress: LogsProgress = { objectsDone: 0, objectsTotal: objects.length, bytesDone: 0, bytesTotal: objects.reduce((s, o) => s + o.size, 0), records: stats.recordsMatched };
    onProgress?.(progress);
    const ahead = store instanceof LocalObjectStore ? 0 : Math.max(0, q.prefetch ?? 3);
    const opened = new Map<number, Promise<Readable>>();
    const open = (i: number) => {
      let p = opened.get(i);
      if (!p) {
        p = openCompressed(store, objects[i]!.key);
        p.catch(() => {});
        opened.set(i, p);
      }
      return p;
    };
    for (let i = 0; i < objects.length && !stopped(); i++) {
      for (let j = i + 1; j <= i + ahead && j < objects.length; j++) open(j);
      const obj = objects[i]!;
      seen.add(obj.key);
      const part = `dt=${obj.dt}/hour=${obj.hour}`;
      if (stats.partitions[stats.partitions.length - 1] !== part && !stats.partitions.includes(part)) stats.partitions.push(part);
      try {
        const source = await open(i);
        opened.delete(i);
        /** Writes one matching record; true when the output should stop (limit reached or reader gone). */
        const emit = async (line: Buffer): Promise<boolean> => {
          stats.recordsMatched++;
          buffered.push(line);
          bufferedBytes += line.length;
          if (bufferedBytes >= 64 * 1024) await flush();
          if (q.limit !== undefined && stats.recordsMatched >= q.limit) {
            stats.limitReached = true;
            return true;
          }
          return out.closed?.() ?? false;
        };
        // newest first: an object's matching records are held, then written last to first
        const held: Buffer[] | undefined = q.newestFirst ? [] : undefined;
        for await (const rec of objectRecords(source)) {
          stats.recordsRead++;
          if (q.grep && !q.grep.test(rec.toString("utf8"))) continue;
          const line = formatRecord(rec, obj, q.app, q.json ?? false);
          if (held) held.push(line);
          else if (await emit(line)) break;
        }
        for (let k = (held?.length ?? 0) - 1; k >= 0; k--) if (await emit(held![k]!)) break;
        stats.objects++;
        stats.compressedBytes += obj.size;
      } catch (e) {
        stats.errors.push(`${obj.key}: ${(e as Error).message}`);
      }
      await flush();
      progress.objectsDone++;
      progress.bytesDone += obj.size;
      progress.records = stats.recordsMatched;
      onProgress?.(progress);
    }
    for (const p of opened.values()) p.then((s) => s.destroy(), () => {});
    await flush();
  };

  const initial = await listPartitionObjects(store, q.prefix, segment, q.since, until, q.timeZone);
  if (q.newestFirst) initial.sort((a, b) => -comparePartitions(a, b));
  await readObjects(initial);

  if (q.follow) {
    const { intervalMs, signal } = q.follow;
    const lookback = q.follow.lookbackMs ?? 3 * HOUR_MS;
    while (!signal.aborted && !stopped()) {
      await sleep(intervalMs, signal);
      if (signal.aborted) break;
      const now = Date.now();
      const fresh = (await listPartitionObjects(store, q.prefix, segment, Math.max(q.since, now - lookback), now, q.timeZone)).filter((o) => !seen.has(o.key));
      stats.until = now;
      if (fresh.length > 0) await readObjects(fresh);
    }
  }
  return stats;
}

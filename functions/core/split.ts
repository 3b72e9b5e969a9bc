/**
 * split: one trigger batch → one staging chunk per (app, topic, partition) on NAS → one async
 * compress invocation per chunk with a pointer payload. Idempotent: a redelivered batch with
 * the same boundaries rewrites the same chunk names with the same bytes.
 */
import pLimit from "p-limit";
import { encodeChunkRows } from "./chunk.js";
import { crashPoint } from "./crash-points.js";
import { writeDeadLetter } from "./dead-letter.js";
import { invokeCompressAll, type ChunkPointer, type PipelineDeps } from "./deps.js";
import { recordAt, scanKafkaBatch, UnreadableEventError, type RecordTable } from "./events.js";
import { intervalsFromSorted, type Interval } from "./intervals.js";
import { stagingChunkPath } from "./layout.js";
import { createRouter, OVERFLOW_APP, RESERVED_APPS, routeSegmentAt, type Router } from "./routing.js";

export interface SplitResult {
  records: number;
  apps: number;
  chunks: number;
  bytesIn: number;
  chunkBytes: number;
  rejected: number;
  oversize: number;
  overflowed: number;
  deadLetters: string[];
  durationMs: number;
}

interface PartitionGroup {
  topic: string;
  partition: number;
  offsets: number[];
  /** Row indexes of the table, per app. */
  byApp: Map<string, number[]>;
}

/** Chunk files written at the same time by one split invocation. */
const CHUNK_WRITE_CONCURRENCY = 4;

/**
 * Buffers chunks are encoded into, one per write in flight, kept by a warm instance: no fresh
 * allocation per chunk (peak memory and GC stay flat however many apps a batch has).
 */
const chunkBuffers: Buffer[] = [];
const CHUNK_BUFFER_ROUND = 64 * 1024;
async function withChunkBuffer<T>(use: (scratch: (size: number) => Buffer) => Promise<T>): Promise<T> {
  let buf = chunkBuffers.pop();
  try {
    return await use((size) => {
      if (!buf || buf.length < size) buf = Buffer.allocUnsafeSlow(Math.ceil(size / CHUNK_BUFFER_ROUND) * CHUNK_BUFFER_ROUND);
      return buf;
    });
  } finally {
    if (buf && chunkBuffers.length < CHUNK_WRITE_CONCURRENCY) chunkBuffers.push(buf);
  }
}

/** Rows whose offset was not seen earlier in the list (a batch can repeat a record); in order. */
function firstOfEachOffset(offsets: Float64Array, rows: number[]): number[] {
  let increasing = true;
  for (let k = 1; k < rows.length && increasing; k++) increasing = offsets[rows[k]!]! > offsets[rows[k - 1]!]!;
  if (increasing) return rows; // the common case: no repeats possible
  const seen = new Set<number>();
  return rows.filter((i) => (seen.has(offsets[i]!) ? false : (seen.add(offsets[i]!), true)));
}

const routers = new WeakMap<object, Router>();
function routerFor(deps: PipelineDeps): Router {
  let r = routers.get(deps.config.appIdSources);
  if (!r) {
    r = createRouter(deps.config.appIdSources);
    routers.set(deps.config.appIdSources, r);
  }
  return r;
}

/** Maps candidate app segments to themselves or `_overflow`, past the configured cap. */
async function admit(deps: PipelineDeps, segments: Iterable<string>): Promise<Map<string, string>> {
  const cache = (deps.appCache ??= new Map());
  const unknown = [...segments].filter((s) => !RESERVED_APPS.has(s) && !cache.has(s));
  if (unknown.length > 0) {
    const admitted = await deps.coord.admitApps(unknown, deps.config.maxApps);
    for (const s of unknown) cache.set(s, admitted.has(s));
  }
  const out = new Map<string, string>();
  for (const s of segments) out.set(s, RESERVED_APPS.has(s) || cache.get(s) ? s : OVERFLOW_APP);
  return out;
}

export async function splitBatch(deps: PipelineDeps, payload: unknown, meta: { requestId?: string } = {}): Promise<SplitResult> {
  const started = performance.now();
  const bytesIn = Buffer.isBuffer(payload) ? payload.length : typeof payload === "string" ? Buffer.byteLength(payload) : 0;
  const result: SplitResult = { records: 0, apps: 0, chunks: 0, bytesIn, chunkBytes: 0, rejected: 0, oversize: 0, overflowed: 0, deadLetters: [], durationMs: 0 };

  let table: RecordTable;
  try {
    const parsed = scanKafkaBatch(payload);
    table = parsed.table;
    if (parsed.rejected.length > 0) {
      result.rejected = parsed.rejected.length;
      result.deadLetters.push(
        await writeDeadLetter(deps, {
          kind: "elements",
          reason: `${parsed.rejected.length} element(s) are not Kafka events`,
          payload: JSON.stringify(parsed.rejected.map((r) => r.raw)),
          details: parsed.rejected.map(({ index, reason }) => ({ index, reason })),
          requestId: meta.requestId,
        }),
      );
    }
  } catch (e) {
    if (!(e instanceof UnreadableEventError)) throw e;
    const raw = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === "string" ? payload : String(payload));
    result.deadLetters.push(await writeDeadLetter(deps, { kind: "batch", reason: e.message, payload: raw, requestId: meta.requestId }));
    result.durationMs = performance.now() - started;
    return result; // acknowledged: retrying an unreadable payload can only fail again
  }

  return splitTable(deps, table, result, meta, started);
}

/**
 * The part of split after the trigger envelope is decoded: route, group, write chunks, hand them
 * to compress. `result` carries what decoding already counted (bytes in, rejected elements).
 */
export async function splitTable(
  deps: PipelineDeps,
  table: RecordTable,
  result: SplitResult = { records: 0, apps: 0, chunks: 0, bytesIn: 0, chunkBytes: 0, rejected: 0, oversize: 0, overflowed: 0, deadLetters: [], durationMs: 0 },
  meta: { requestId?: string } = {},
  started = performance.now(),
): Promise<SplitResult> {
  // Route every record (no per-record objects: the table's columns and value arena are read in place).
  const router = routerFor(deps);
  const n = table.count;
  const { values, valueStart, valueEnd, keys, headers } = table;
  const maxBytes = deps.config.maxRecordBytes;
  const segmentOf = new Array<string>(n);
  const candidates = new Set<string>();
  for (let i = 0; i < n; i++) {
    const s = valueStart[i]!, e = valueEnd[i]!;
    const seg = e - s > maxBytes ? "" : routeSegmentAt(router, values, s, e, keys ? (keys[i] ?? null) : null, headers?.[i]);
    segmentOf[i] = seg;
    if (seg !== "") candidates.add(seg);
  }
  const admitted = await admit(deps, candidates);

  // Group per partition, then per app. Offsets of every record (all apps) form the partition's coverage.
  const groups = new Map<string, PartitionGroup>();
  const oversize: number[] = [];
  let g: PartitionGroup | undefined;
  for (let i = 0; i < n; i++) {
    const topic = table.topics[table.topicOf[i]!]!;
    const partition = table.partition[i]!;
    if (!g || g.topic !== topic || g.partition !== partition) {
      const gk = `${topic}\u0000${partition}`;
      g = groups.get(gk);
      if (!g) groups.set(gk, (g = { topic, partition, offsets: [], byApp: new Map() }));
    }
    const offset = table.offset[i]!;
    g.offsets.push(offset);
    const seg = segmentOf[i]!;
    if (seg === "") {
      oversize.push(i);
      continue;
    }
    const app = admitted.get(seg)!;
    if (app === OVERFLOW_APP && seg !== OVERFLOW_APP) result.overflowed++;
    let list = g.byApp.get(app);
    if (!list) g.byApp.set(app, (list = []));
    list.push(i);
  }

  if (oversize.length > 0) {
    result.oversize = oversize.length;
    for (const i of oversize) {
      const r = recordAt(table, i);
      result.deadLetters.push(
        await writeDeadLetter(deps, {
          kind: "records",
          reason: `record is ${r.value.length} bytes, over LOGPIPE_MAX_RECORD_BYTES (${deps.config.maxRecordBytes})`,
          payload: r.value,
          details: { topic: r.topic, partition: r.partition, offset: r.offset, key: r.key },
          requestId: meta.requestId,
        }),
      );
    }
  }

  // One chunk per (app, topic, partition), written a few at a time (each write is several
  // file-system round trips; overlapping them matters far more on NAS than locally). A chunk is
  // encoded only when its write starts, so few chunk buffers are alive at once.
  const jobs: { app: string; g: PartitionGroup; covered: Interval[]; first: number; last: number; rows: number[] }[] = [];
  const apps = new Set<string>();
  for (const g of groups.values()) {
    const sorted = Float64Array.from(g.offsets).sort();
    const covered = intervalsFromSorted(sorted);
    const first = covered[0]![0];
    const last = covered[covered.length - 1]![1];
    for (const [app, list] of g.byApp) {
      apps.add(app);
      jobs.push({ app, g, covered, first, last, rows: firstOfEachOffset(table.offset, list) });
    }
  }
  const pointers = new Array<ChunkPointer>(jobs.length);
  const writeLimit = pLimit(CHUNK_WRITE_CONCURRENCY);
  await Promise.all(
    jobs.map((job, k) =>
      writeLimit(() =>
        withChunkBuffer(async (scratch) => {
          const { app, g, covered, first, last, rows } = job;
          const chunk = stagingChunkPath(app, g.topic, g.partition, first, last);
          const buf = encodeChunkRows({ app, topic: g.topic, partition: g.partition, covered }, table, rows, rows.length, scratch);
          await deps.nas.writeAtomic(chunk, buf, () => crashPoint("split.after-temp-write"));
          crashPoint("split.after-rename");
          pointers[k] = { v: 1, chunk, app, records: rows.length, bytes: buf.length };
          result.records += rows.length;
          result.chunkBytes += buf.length;
        }),
      ),
    ),
  );
  result.chunks = pointers.length;
  result.apps = apps.size;

  if (pointers.length > 0) {
    if (!deps.invoker) throw new Error("split needs a compress invoker");
    await invokeCompressAll(deps.invoker, pointers);
  }
  result.durationMs = performance.now() - started;
  return result;
}

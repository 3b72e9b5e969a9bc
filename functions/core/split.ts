/**
 * split: one trigger batch → one staging file per (topic, partition) on NAS, all apps' records
 * grouped by app with an index (core/staging.ts), fsynced once → one coord-store round trip that
 * dedups it by offsets per partition and registers its sections as pending → compress invoked
 * only for apps whose pending bytes crossed the drain threshold (the rest wait for the sweep).
 * Idempotent: a redelivered batch with the same boundaries rewrites the same file with the same
 * bytes (registration answers "known"); with other boundaries only its new offsets are kept.
 */
import pLimit from "p-limit";
import { layoutChunkRows, writeChunkRows, type ChunkRowsLayout } from "./chunk.js";
import { crashPoint, crashPointsEnabled } from "./crash-points.js";
import { writeDeadLetter } from "./dead-letter.js";
import { invokeDrains, nowOf, PARTITION_MAX_GAPS, PARTITION_MAX_RANGES, reportReconcile, settleAll, type PipelineDeps } from "./deps.js";
import { splitBuffers } from "./buffer-pool.js";
import { recordAt, releaseTable, scanKafkaBatch, UnreadableEventError, type RecordTable } from "./events.js";
import { createRouter, OVERFLOW_APP, RESERVED_APPS, UNROUTED_APP, routeSegmentAt, type Router } from "./routing.js";
import { tailShardOf } from "../adapters/coord-store.js";
import { encodeStagingFile, indexRecords, registrationOf, type StagingFile } from "./staging.js";

export interface SplitResult {
  records: number;
  apps: number;
  /** staging files written (one per topic-partition of the batch) */
  files: number;
  bytesIn: number;
  stagedBytes: number;
  /** records dropped because their offsets were already staged (redelivery) */
  duplicates: number;
  /** apps split asked compress to drain now */
  hot: number;
  rejected: number;
  oversize: number;
  overflowed: number;
  /** records routed to `_unrouted` (no app id): a pipeline signal the canary gate compares */
  unrouted: number;
  deadLetters: string[];
  durationMs: number;
}

export const emptySplitResult = (): SplitResult => ({
  records: 0, apps: 0, files: 0, bytesIn: 0, stagedBytes: 0, duplicates: 0, hot: 0, rejected: 0, oversize: 0, overflowed: 0, unrouted: 0, deadLetters: [], durationMs: 0,
});

interface PartitionGroup {
  /** its place in the batch's list of partitions */
  no: number;
  topic: string;
  partition: number;
  offsets: number[];
  /** records of the partition per app (by the app's number in the batch, see stageTable) */
  count: Int32Array;
  /** the apps' numbers in the order of their first record in the partition */
  order: number[];
  /** the partition's row indexes grouped by app, in `order` (filled by a counting sort) */
  rows: Int32Array;
  /** where each app's rows end in `rows` once they are filled */
  end: Int32Array;
}

/** Staging files written at the same time (a batch usually holds one or a few partitions). */
const FILE_WRITE_CONCURRENCY = 4;
/** A section under this size is laid out by app name, after the large ones (see the staging loop). */
const SMALL_SECTION_BYTES = 64 * 1024;

const EMPTY_ROWS = new Int32Array(0);

const byApp = (a: { app: string }, b: { app: string }): number => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0);

/**
 * One app's rows of the batch as a staging section, written in place by encodeStagingFile. A class,
 * not an object with an arrow function: a batch has ~1,500 sections at 3,000 apps, and the
 * deployed bundle keeps function names (esbuild `keepNames`), which names every such closure as it
 * is made (an `Object.defineProperty` per section: 2.0 % of split's CPU at 3,000 apps in a
 * keepNames build, docs/bench.md "Scratch buffers kept").
 */
class TableSection {
  constructor(
    readonly app: string,
    readonly records: number,
    readonly minTs: number,
    readonly size: number,
    private readonly layout: ChunkRowsLayout,
    private readonly table: RecordTable,
    private readonly rows: Int32Array,
  ) {}

  writeAt(out: Buffer, at: number): void {
    writeChunkRows(out, at, this.layout, this.table, this.rows);
  }
}

/** Rows whose offset was not seen earlier in the list (a batch can repeat a record); in order. */
function firstOfEachOffset(offsets: Float64Array, rows: Int32Array): Int32Array {
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

/**
 * Maps candidate app segments to themselves or `_overflow`. The decision is durable (coord
 * store): once made it holds for every instance and version until the app is unused for
 * LOGPIPE_APP_TTL, so routing is a pure function of the record and that state. Only "admitted"
 * is cached per instance (it cannot change while the app is in use); an overflowed app is
 * asked again, so a raised cap or an aged-out app takes effect everywhere at once.
 */
async function admit(deps: PipelineDeps, segments: Iterable<string>): Promise<Map<string, string>> {
  const cache = (deps.appCache ??= new Map());
  const now = nowOf(deps);
  const refreshBefore = now - deps.config.appTtlMs / 4;
  const ask = [...segments].filter((s) => !RESERVED_APPS.has(s) && !((cache.get(s) ?? 0) > refreshBefore));
  if (ask.length > 0) {
    const decided = await deps.coord.admitApps(ask, deps.config.maxApps, now, deps.config.appTtlMs);
    for (const s of ask) {
      if (decided.get(s)) cache.set(s, now);
      else cache.delete(s);
    }
  }
  const out = new Map<string, string>();
  for (const s of segments) out.set(s, RESERVED_APPS.has(s) || cache.has(s) ? s : OVERFLOW_APP);
  return out;
}

export async function splitBatch(deps: PipelineDeps, payload: unknown, meta: { requestId?: string } = {}): Promise<SplitResult> {
  const started = performance.now();
  const bytesIn = Buffer.isBuffer(payload) ? payload.length : typeof payload === "string" ? Buffer.byteLength(payload) : 0;
  const result: SplitResult = { ...emptySplitResult(), bytesIn };

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

  try {
    return await splitTable(deps, table, result, meta, started);
  } finally {
    releaseTable(table); // nothing reads the batch's records after its split
  }
}

/**
 * The part of split after the trigger envelope is decoded: route, group, write chunks, hand them
 * to compress. `result` carries what decoding already counted (bytes in, rejected elements).
 */
export async function splitTable(
  deps: PipelineDeps,
  table: RecordTable,
  result: SplitResult = emptySplitResult(),
  meta: { requestId?: string } = {},
  started = performance.now(),
): Promise<SplitResult> {
  const files: StagingFile[] = [];
  try {
    return await stageTable(deps, table, result, meta, started, files);
  } finally {
    // written (or failed): their buffers serve the next batch
    for (const f of files) splitBuffers.give(f.bytes);
  }
}

/** splitTable's work; `files` collects the staging files it builds, for splitTable to give their buffers back. */
async function stageTable(deps: PipelineDeps, table: RecordTable, result: SplitResult, meta: { requestId?: string }, started: number, files: StagingFile[]): Promise<SplitResult> {
  // Route every record (no per-record objects: the table's columns and value arena are read in place).
  const router = routerFor(deps);
  const n = table.count;
  const { values, valueStart, valueEnd, keys, headers } = table;
  const maxBytes = deps.config.maxRecordBytes;
  // Each record's app segment is numbered once (segNo), so the loops below index arrays instead
  // of looking strings up in maps: with thousands of apps a batch has ~1,500 of them, and each
  // record's lookups in maps that size missed the CPU's caches.
  const segNo = new Int32Array(n);
  const segNumbers = new Map<string, number>();
  const segs: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = valueStart[i]!, e = valueEnd[i]!;
    if (e - s > maxBytes) {
      segNo[i] = -1;
      continue;
    }
    const seg = routeSegmentAt(router, values, s, e, keys ? (keys[i] ?? null) : null, headers?.[i]);
    let k = segNumbers.get(seg);
    if (k === undefined) segNumbers.set(seg, (k = segs.push(seg) - 1));
    segNo[i] = k;
  }
  const admitted = await admit(deps, segs);
  // the app each segment is filed under (several overflowed segments share `_overflow`), numbered
  // (every app numbered here has records: `result.apps` is their count)
  const apps: string[] = [];
  const appNumbers = new Map<string, number>();
  const appNoOfSeg = new Int32Array(segs.length);
  const overflowedSeg = new Uint8Array(segs.length);
  for (const [k, seg] of segs.entries()) {
    const app = admitted.get(seg)!;
    let a = appNumbers.get(app);
    if (a === undefined) appNumbers.set(app, (a = apps.push(app) - 1));
    appNoOfSeg[k] = a;
    if (app === OVERFLOW_APP && seg !== OVERFLOW_APP) overflowedSeg[k] = 1;
  }

  // Group per partition, then per app. Offsets of every record (all apps) form the partition's
  // coverage. Each app's rows are found by a counting sort into one array per partition, not
  // pushed into an array per app: with thousands of apps a batch has ~1,500 of them, and their
  // growth was split's largest source of garbage after the batch itself.
  const groups = new Map<string, PartitionGroup>();
  const groupList: PartitionGroup[] = [];
  const groupOf = new Int32Array(n);
  const appOf = new Int32Array(n);
  const oversize: number[] = [];
  let g: PartitionGroup | undefined;
  for (let i = 0; i < n; i++) {
    const topic = table.topics[table.topicOf[i]!]!;
    const partition = table.partition[i]!;
    if (!g || g.topic !== topic || g.partition !== partition) {
      const gk = `${topic}\u0000${partition}`;
      g = groups.get(gk);
      if (!g) {
        groups.set(gk, (g = { no: groupList.length, topic, partition, offsets: [], count: new Int32Array(apps.length), order: [], rows: EMPTY_ROWS, end: EMPTY_ROWS }));
        groupList.push(g);
      }
    }
    groupOf[i] = g.no;
    g.offsets.push(table.offset[i]!);
    const k = segNo[i]!;
    if (k < 0) {
      appOf[i] = -1;
      oversize.push(i);
      continue;
    }
    if (overflowedSeg[k]) result.overflowed++;
    const a = appNoOfSeg[k]!;
    appOf[i] = a;
    if (g.count[a]++ === 0) g.order.push(a);
  }
  for (const grp of groupList) {
    let at = 0;
    grp.end = new Int32Array(apps.length);
    for (const a of grp.order) {
      grp.end[a] = at; // each app's start until the rows are placed, then its end
      at += grp.count[a]!;
    }
    grp.rows = new Int32Array(at);
  }
  for (let i = 0; i < n; i++) {
    const a = appOf[i]!;
    if (a < 0) continue;
    const grp = groupList[groupOf[i]!]!;
    grp.rows[grp.end[a]!++] = i;
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

  // One staging file per (topic, partition): every app's rows as one chunk each. Rows of an app
  // keep the batch's order; a record repeated within the batch is kept once. Large sections come
  // first, in the batch's order (the busiest apps, drained often, lie together), then the small
  // ones by app name (drained by sweep tasks of neighbouring names: invokeDrains), then the
  // smallest — under LOGPIPE_TAIL_SECTION_BYTES — in one region per tail shard, by app name: each
  // region is one coord-store entry, drained by its shard's sweep task with the other files'.
  for (const g of groupList) {
    let first = Infinity, last = -Infinity, minTs = Infinity, maxTs = 0;
    for (const o of g.offsets) {
      if (o < first) first = o;
      if (o > last) last = o;
    }
    const sections: TableSection[] = [];
    for (const a of g.order) {
      const app = apps[a]!, end = g.end[a]!;
      const rows = firstOfEachOffset(table.offset, g.rows.subarray(end - g.count[a]!, end));
      let appMin = Infinity;
      for (const r of rows) {
        const ts = table.timestamp[r]!;
        if (ts > 0 && ts < appMin) appMin = ts;
        if (ts > maxTs) maxTs = ts;
      }
      if (appMin < minTs) minTs = appMin;
      const layout = layoutChunkRows({ app }, table, rows);
      sections.push(new TableSection(app, rows.length, Number.isFinite(appMin) ? appMin : 0, layout.size, layout, table, rows));
      result.records += rows.length;
      if (app === UNROUTED_APP) result.unrouted += rows.length;
    }
    if (g.offsets.length === 0) continue;
    // the smallest go to their tail shard's region (one coord-store entry per region, not per app)
    const { tailSectionBytes, tailShards } = deps.config;
    const large: typeof sections = [], small: typeof sections = [];
    const tails = new Map<number, typeof sections>();
    for (const x of sections) {
      if (x.size < tailSectionBytes) {
        const shard = tailShardOf(x.app, tailShards);
        const list = tails.get(shard);
        if (list) list.push(x);
        else tails.set(shard, [x]);
      } else if (x.size >= SMALL_SECTION_BYTES) large.push(x);
      else small.push(x);
    }
    small.sort(byApp);
    const regions = [...tails].sort((a, b) => a[0] - b[0]).map(([shard, list]) => ({ shard, sections: list.sort(byApp) }));
    files.push(encodeStagingFile({ topic: g.topic, partition: g.partition, first, last, minTs: Number.isFinite(minTs) ? minTs : 0, maxTs }, [...large, ...small], regions));
  }
  result.apps = apps.length;
  result.files = files.length;

  const writeLimit = pLimit(FILE_WRITE_CONCURRENCY);
  // every write settles before any failure is thrown: the files' buffers go back to the pool
  // after this, and none may still be in a write then
  await settleAll(
    files.map((f) =>
      writeLimit(async () => {
        await deps.nas.writeNamedByContent(f.path, f.bytes, crashPointsEnabled() ? () => crashPoint("split.mid-write") : undefined);
        result.stagedBytes += f.bytes.length;
      }),
    ),
  );
  crashPoint("split.after-write");
  if (files.length === 0) {
    result.durationMs = performance.now() - started;
    return result;
  }

  const { config } = deps;
  const reg = await deps.coord.registerFiles(files.map(registrationOf), {
    now: nowOf(deps), drainBytes: config.drainBytes, scheduleTtlMs: config.functionTimeoutMs,
    maxRanges: PARTITION_MAX_RANGES, maxGaps: PARTITION_MAX_GAPS,
  });
  for (const [k, r] of reg.results.entries()) {
    const f = files[k]!;
    if (r.reset) {
      reportReconcile(deps, {
        kind: "topic-reset", possibleDuplicates: 0,
        detail: { topic: f.index.topic, partition: f.index.partition, previousWatermark: r.reset.previousHw, incarnation: r.reset.incarnation, firstOffset: f.index.first },
      });
    }
    if (r.status === "duplicate") {
      result.duplicates += indexRecords(f.index);
      await deps.nas.remove(f.path); // nothing new in it: every offset was staged before
    } else if (r.status === "partial") {
      result.duplicates += countOutside(f, table, r.keep);
    }
  }
  crashPoint("split.after-register");
  result.hot = reg.hot.length;
  if (reg.hot.length > 0) {
    if (!deps.invoker) throw new Error("split needs a compress invoker");
    await invokeDrains(deps.invoker, reg.hot, config.sweepAppsPerTask, "hot");
  }
  result.durationMs = performance.now() - started;
  return result;
}

/** Records of a partially new staging file whose offsets were staged before (reporting only). */
function countOutside(f: StagingFile, table: RecordTable, keep: [number, number][]): number {
  let n = 0;
  const topic = f.index.topic, partition = f.index.partition;
  for (let i = 0; i < table.count; i++) {
    if (table.partition[i] !== partition || table.topics[table.topicOf[i]!] !== topic) continue;
    const o = table.offset[i]!;
    if (!keep.some(([a, b]) => o >= a && o <= b)) n++;
  }
  return n;
}

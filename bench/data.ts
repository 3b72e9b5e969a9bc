/**
 * Deterministic benchmark data, generated once under bench/data/ (gitignored) and reused while
 * the generator's parameters and DATA_VERSION are unchanged:
 *
 *   ndjson  — N bytes of realistic JSON log lines over A Zipf-skewed apps (SyntheticGenerator,
 *             seeded; the app-count axis generates the same N bytes for each A)
 *   event   — one FC Kafka trigger payload (JSON array of CloudEvents) of ~M bytes, built from
 *             the first lines of the same NDJSON (same bytes as the baselines)
 *   batches — the whole NDJSON cut into trigger batches of R records, one CloudEvents file each,
 *             partitions taken in turn like the FC Kafka trigger's shards (end-to-end input)
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { toCloudEventsBatch } from "../cli/local/cloudevents.js";
import { SyntheticGenerator } from "../cli/sources/synthetic.js";
import type { SourceRecord } from "../cli/sources/types.js";

/** Bump when the generator or the layout of the files changes, so stale data is not reused. */
export const DATA_VERSION = 2;
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DATA_DIR = path.join(BENCH_DIR, "data");
export const TOPIC = "app-logs";
export const START_TIME = Date.UTC(2026, 10, 25, 3, 0, 0);
/**
 * Kafka timestamps are this many ms apart: 1,000 records/s, about 23 GB/day of ~270-byte lines.
 * The pipeline runs on this simulated clock (drain age, upload ticks, seal age), so the ingest
 * rate sets how many sweeps a GB pays for.
 */
export const RECORD_INTERVAL_MS = 1;

export interface DataSpec {
  ndjsonBytes: number;
  eventBytes: number;
  batchRecords: number;
  partitions: number;
  apps: number;
  seed: number;
}

export interface NdjsonInfo {
  path: string;
  bytes: number;
  records: number;
}

export interface EventInfo {
  path: string;
  bytes: number;
  records: number;
  /** Bytes of the records' values (what ends up archived). */
  valueBytes: number;
}

export interface BatchesInfo {
  dir: string;
  files: string[];
  records: number;
  valueBytes: number;
  eventBytes: number;
  batchRecords: number;
  partitions: number;
}

export interface BenchData {
  ndjson: NdjsonInfo;
  /** absent when not asked for (the app-count axis needs only the NDJSON and the batches) */
  event: EventInfo;
  batches: BatchesInfo;
  generatedSeconds: number;
  reused: boolean;
}

const mb = (n: number) => (n % (1 << 20) === 0 ? `${n >> 20}m` : `${n}b`);

function readMeta<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function writeMeta(file: string, meta: unknown): void {
  writeFileSync(file + ".tmp", JSON.stringify(meta, null, 2));
  renameSync(file + ".tmp", file);
}

function ensureNdjson(spec: DataSpec): { info: NdjsonInfo; reused: boolean } {
  const file = path.join(DATA_DIR, `v${DATA_VERSION}-ndjson-${mb(spec.ndjsonBytes)}-a${spec.apps}-s${spec.seed}.ndjson`);
  const metaFile = file + ".meta.json";
  const meta = readMeta<NdjsonInfo>(metaFile);
  if (meta && existsSync(file)) return { info: { ...meta, path: file }, reused: true };
  const gen = new SyntheticGenerator({ apps: spec.apps, seed: spec.seed, startTime: START_TIME });
  const fd = openSync(file + ".tmp", "w");
  const buf = Buffer.allocUnsafe(8 << 20);
  let pos = 0;
  let bytes = 0;
  let records = 0;
  try {
    while (bytes < spec.ndjsonBytes) {
      const { value } = gen.next();
      if (pos + value.length + 1 > buf.length) {
        writeSync(fd, buf, 0, pos);
        pos = 0;
      }
      pos += value.copy(buf, pos);
      buf[pos++] = 0x0a;
      bytes += value.length + 1;
      records++;
    }
    writeSync(fd, buf, 0, pos);
  } finally {
    closeSync(fd);
  }
  renameSync(file + ".tmp", file);
  const info = { path: file, bytes, records };
  writeMeta(metaFile, info);
  return { info, reused: false };
}

/** Yields the NDJSON lines as SourceRecords: partitions in turn per `perPartitionRun` records. */
function* recordsOf(ndjson: Buffer, spec: Pick<DataSpec, "partitions">, perPartitionRun: number): Generator<SourceRecord> {
  const offsets = new Array<number>(spec.partitions).fill(0);
  let start = 0;
  let i = 0;
  while (start < ndjson.length) {
    let nl = ndjson.indexOf(0x0a, start);
    if (nl === -1) nl = ndjson.length;
    const partition = Math.floor(i / perPartitionRun) % spec.partitions;
    yield { topic: TOPIC, partition, offset: offsets[partition]!++, timestamp: START_TIME + i * RECORD_INTERVAL_MS, key: null, headers: {}, value: ndjson.subarray(start, nl) };
    start = nl + 1;
    i++;
  }
}

function ensureEvent(spec: DataSpec, ndjson: NdjsonInfo): { info: EventInfo; reused: boolean } {
  const file = path.join(DATA_DIR, `v${DATA_VERSION}-event-${mb(spec.eventBytes)}-a${spec.apps}-s${spec.seed}.json`);
  const metaFile = file + ".meta.json";
  const meta = readMeta<EventInfo>(metaFile);
  if (meta && existsSync(file)) return { info: { ...meta, path: file }, reused: true };
  // Take the first lines of the NDJSON until the CloudEvents payload would pass eventBytes.
  const data = readFileSync(ndjson.path);
  const records: SourceRecord[] = [];
  let size = 2;
  for (const r of recordsOf(data, { partitions: 1 }, Number.MAX_SAFE_INTEGER)) {
    const one = toCloudEventsBatch([r], { deterministicIds: true }).length - 2 + 1;
    if (size + one > spec.eventBytes) break;
    size += one;
    records.push(r);
  }
  const event = toCloudEventsBatch(records, { deterministicIds: true });
  writeFileSync(file + ".tmp", event);
  renameSync(file + ".tmp", file);
  const info: EventInfo = { path: file, bytes: event.length, records: records.length, valueBytes: records.reduce((s, r) => s + r.value.length, 0) };
  writeMeta(metaFile, info);
  return { info, reused: false };
}

function ensureBatches(spec: DataSpec, ndjson: NdjsonInfo): { info: BatchesInfo; reused: boolean } {
  const dir = path.join(DATA_DIR, `v${DATA_VERSION}-batches-${mb(spec.ndjsonBytes)}-a${spec.apps}-s${spec.seed}-r${spec.batchRecords}-p${spec.partitions}`);
  const metaFile = path.join(dir, "meta.json");
  const meta = readMeta<BatchesInfo>(metaFile);
  if (meta) return { info: { ...meta, dir, files: meta.files }, reused: true };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const data = readFileSync(ndjson.path);
  const files: string[] = [];
  let records = 0, valueBytes = 0, eventBytes = 0;
  let batch: SourceRecord[] = [];
  const flush = () => {
    if (batch.length === 0) return;
    const name = `batch-${String(files.length).padStart(5, "0")}.json`;
    const event = toCloudEventsBatch(batch, { deterministicIds: true });
    writeFileSync(path.join(dir, name), event);
    files.push(name);
    eventBytes += event.length;
    batch = [];
  };
  for (const r of recordsOf(data, spec, spec.batchRecords)) {
    batch.push(r);
    records++;
    valueBytes += r.value.length;
    if (batch.length === spec.batchRecords) flush();
  }
  flush();
  const info: BatchesInfo = { dir, files, records, valueBytes, eventBytes, batchRecords: spec.batchRecords, partitions: spec.partitions };
  writeMeta(metaFile, info);
  return { info, reused: false };
}

export function ensureBenchData(spec: DataSpec, opts: { event?: boolean } = {}): BenchData {
  mkdirSync(DATA_DIR, { recursive: true });
  const t0 = performance.now();
  const n = ensureNdjson(spec);
  const e = opts.event === false ? { info: { path: "", bytes: 0, records: 0, valueBytes: 0 }, reused: true } : ensureEvent(spec, n.info);
  const b = ensureBatches(spec, n.info);
  return {
    ndjson: n.info,
    event: e.info,
    batches: { ...b.info, files: b.info.files.map((f) => path.join(b.info.dir, f)) },
    generatedSeconds: (performance.now() - t0) / 1000,
    reused: n.reused && e.reused && b.reused,
  };
}

/** Removes data files of other versions/sizes (keeps the ones in use). */
export function listDataFiles(): string[] {
  return existsSync(DATA_DIR) ? readdirSync(DATA_DIR) : [];
}

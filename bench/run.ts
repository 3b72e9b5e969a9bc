/**
 * `logpipe bench`: baselines and logpipe measured in one run on the same bytes, each timed step
 * in its own process (pinned to one CPU with taskset when available). The baselines repeat
 * round-robin (medians, min/max, paired ratios); the app-count axis runs the whole data path
 * over the same bytes at each app count, NAS latency model off and on, and reports what a GB
 * costs in FC terms, with the issue-11 targets computed in the same run.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from "../cli/services/redis-server.js";
import { RUNTIME_ENV } from "../infra/runtime-env.js";
import { RUNTIME_BUILD_OPTIONS } from "../cli/build/artifacts.js";
import { OSS_SMALL_OBJECT_LATENCY, type ObjectStoreLatencyModel } from "../functions/adapters/object-store-latency.js";
import { GENERAL_PURPOSE_PERFORMANCE_NAS, NAS_METADATA_KINDS, type NasLatencyModel } from "../functions/adapters/nas-latency.js";
import { loadConfig } from "../functions/core/config.js";
import { functionsSchema } from "../infra/config.js";
import { PROFILE_FORMAT, writeProfile, type UsageProfile } from "../cli/cost/profile.js";
import { loadPriceTable } from "../cli/ops/prices/index.js";
import { taskArgument } from "./task-arg.js";
import type { ChildTask, FunctionName, FunctionStats, LockstepFloor, LockstepResult, LockstepTask, PipelineResult, PipelineTask, PipelineWindow } from "./child.js";
import { BENCH_DIR, DATA_DIR, ensureBenchData, RECORD_INTERVAL_MS, START_TIME, type BenchData, type DataSpec } from "./data.js";
import { spansFileOf, summarizeByHandler, summarizeProfile, type InvocationSpan, type ProfileSummary } from "./profile.js";
import { measureHelpStartup, type HelpStartup } from "./startup.js";
import { chooseWorkDir, FULL_RUN_BYTES, QUICK_RUN_BYTES } from "./work-dir.js";

export interface BenchOptions {
  quick?: boolean;
  reps?: number;
  cpuProf?: boolean;
  /** App counts of the app-count axis (default 50, 500, 3000, 5000; quick 50, 500). */
  apps?: number[];
  /** NDJSON bytes per app count on the axis (default 16 MB; quick 4 MB). */
  axisBytes?: number;
  /**
   * Records per split batch (the trigger's CountBasedWindow; default 10,000, FC's maximum). Fewer
   * records per batch means more (app, batch) sections per GB: run at a stack's own batch size
   * (`logpipe cost` shows it) to measure what that stack gets.
   */
  batchRecords?: number;
  /**
   * Simulated minutes of the steady-state run per app count (default 60; quick 3; 0 skips it).
   * Its per-GB figures come from a window that starts once every app has been through a drain
   * and a seal cycle (the drain max age plus the seal age) and ends with the last batch.
   */
  steadyMinutes?: number;
  /**
   * Runs of the steady state at the full rate per app count (default 2; quick 1). Each function is
   * booked from the run where it used the least CPU: the work is the same in every run (same
   * batches, same clock), and this machine's noise only ever adds time.
   */
  steadyReps?: number;
  /** Where to write the usage profile (default bench/profile.json; quick bench/data/profile-quick.json). */
  profileOut?: string;
  /** Where the NAS directories go (default: /dev/shm when it is tmpfs with room, else bench/data; see bench/work-dir.ts). */
  workDir?: string;
  /** Kept for the command line (the `logpipe local` step was replaced by the app-count axis). */
  skipLocal?: boolean;
  log?: (line: string) => void;
}

export interface Stat {
  unit: string;
  samples: number[];
  median: number;
  min: number;
  max: number;
}

export interface TargetResult {
  id: string;
  description: string;
  target: string;
  value: number | null;
  met: boolean | null;
  note: string;
}

/** One function's share of a pipeline run, per GiB of raw records. */
export interface FunctionPerGb {
  handlerSecondsPerGb: number;
  cpuSecondsPerGb: number;
  invocationsPerGb: number;
  redisRoundTripsPerGb: number;
  nasOpsPerGb: number;
  /** NAS operations and OSS requests booked on the function's overlap clock (0 with the models off) */
  modelledWaitSecondsPerGb: number;
  /** Redis's own time on the function's commands */
  redisServerSecondsPerGb: number;
  /** the garbage collector's pauses within the function's CPU time (bench/child.ts HandlerReply.gcMs) */
  gcSecondsPerGb?: number;
}

/** One pipeline run (an app count, NAS model on or off), per GiB of raw records. */
export interface AxisRun {
  nasModel: boolean;
  seconds: number;
  mbPerSecond: number;
  handlerSecondsPerGb: number;
  cpuSecondsPerGb: number;
  invocationsPerGb: number;
  redisRoundTripsPerGb: number;
  gzipMembersPerGb: number;
  nasOpsPerGb: Record<string, number>;
  /**
   * modelled wait as billed (s/GB): NAS operations and object-store requests, waited or booked on
   * one overlap clock per handler; 0 with the models off
   */
  modelledWaitSecondsPerGb: number;
  /**
   * the same waits booked after the handlers' CPU, never beside it (NasOpCounts.bookedAfterCpuMs:
   * the yardstick until 2026-12-05, an upper bound), and handler s/GB with them
   */
  waitAfterCpuSecondsPerGb?: number;
  handlerSecondsPerGbWaitsAfterCpu?: number;
  /** the NAS operations' modelled time one after another (s/GB): the upper bound of their part */
  nasSerialSecondsPerGb: number;
  /** object-store requests (PutObject, UploadPart, …) per GB, and their modelled time one after another */
  objectRequestsPerGb: number;
  objectRequestSerialSecondsPerGb: number;
  /** the time the handlers' event loops sat idle waiting for the OSS stand-in (another process here): left out of "off" (withoutStandInIdle), never part of "on" */
  standInIdleSecondsPerGb?: number;
  /** Redis's own time executing the handlers' commands and scripts (its main thread's CPU, INFO cpu): the handlers wait for it, so "on" books it */
  redisServerSecondsPerGb: number;
  functions: Record<FunctionName, FunctionPerGb>;
  objects: number;
  objectsPerGb: number;
  objectsPerAppHour: { max: number; median: number };
  compressedBytes: number;
  recordsArchived: number;
  records: number;
  fcCostPerGb: number;
  hotTasks: number;
  sweepTasks: number;
  ageP50Ms?: number;
  ageP99Ms?: number;
  errors: string[];
}

export interface AxisPoint {
  apps: number;
  appsSeen: number;
  ndjsonBytes: number;
  records: number;
  batches: number;
  gzipCliBytes?: number;
  floor: { mbPerSecond: number; decodeMs: number; routeMs: number; gzipMs: number; gzBytes: number };
  off: AxisRun;
  on: AxisRun;
}

/**
 * One steady-state run: an app count's records delivered for `simulatedMinutes` at the bench's
 * ingest rate, per GiB of the records delivered inside the window. `off` is the handlers'
 * measured time (NAS operations and OSS requests counted, not waited: withoutStandInIdle); `on` adds the NAS model's time for each
 * operation, booked on the overlap clock instead of waited (bench/child.ts `nasWait: "overlap"`).
 */
export interface SteadyPoint {
  apps: number;
  simulatedMinutes: number;
  window: { fromMinutes: number; toMinutes: number; records: number; rawBytes: number; batches: number };
  /** wall time of the whole run (warm-up, window, final flush, read-back excluded) */
  seconds: number;
  records: number;
  recordsArchived: number;
  gzipCliBytes?: number;
  compressedBytes: number;
  rawBytes: number;
  /** the floor's speed on the run's booked batches, timed between its steps (lockstep: the same minutes of the machine), in wall time: what "off" (handler wall time) is compared with */
  floorMbPerSecond?: number;
  /** the same floor per second of CPU: what "on" (CPU + modelled waits) is compared with, so that other load on the machine, which inflates wall time only, cannot favour either side */
  floorCpuMbPerSecond?: number;
  objectsPerAppHour: { max: number; median: number };
  off: AxisRun;
  on: AxisRun;
  /** GB of raw records per simulated hour in the window, at the bench's rate and at the slow one */
  rates: { gbPerHour: number; slowGbPerHour: number };
  /** the same simulated hour at 1/SLOW_FACTOR of the rate */
  slow: { off: AxisRun; on: AxisRun; window: { records: number; rawBytes: number } };
  /** handler time = per-GB part + per-hour part ÷ rate, solved from the two rates (NAS model on) */
  model: RateModel;
}

/**
 * What a function costs, split into a part per GB (split's parse, gzip: the same at any rate)
 * and a part per hour (members per drain age, objects per seal age, the tick: the same at any
 * rate), solved from the steady state at two ingest rates. Projected s/GB at R GB/h =
 * perGbSeconds + perHourSeconds ÷ R; likewise for invocations.
 */
export interface RateModel {
  functions: Record<FunctionName, { perGbSeconds: number; perHourSeconds: number; perGbInvocations: number; perHourInvocations: number }>;
  perGbSeconds: number;
  perHourSeconds: number;
}

export interface BenchResults {
  version: 2;
  generatedAt: string;
  quick: boolean;
  machine: { cpu: string; cores: number; memoryGb: number; node: string; os: string; pinned: boolean; loadAvgStart: number[]; loadAvgEnd: number[]; /** where the NAS directories were (bench/work-dir.ts); absent in runs before 2026-12-05 */ nasDirectory?: "tmpfs" | "disk" };
  data: { ndjsonBytes: number; ndjsonRecords: number; eventBytes: number; eventRecords: number; apps: number; seed: number };
  reps: number;
  /** Throughputs (MB/s of NDJSON bytes unless noted) and times, over the repetitions. */
  steps: Record<string, Stat & { label: string; note?: string; skipped?: string }>;
  /** Ratios computed per repetition (paired) and summarized. */
  ratios: Record<string, Stat & { label: string }>;
  resources: {
    /** measured with the split function's deployed runtime settings (`runtimeEnv`); Node's defaults alongside */
    splitPeakRss?: { eventBytes: number; maxRssBytes: number; baseRssBytes: number; ratioToEvent: number; jsonParsePeakRssBytes: number; runtimeEnv: string; nodeDefaultsMaxRssBytes: number; nodeDefaultsRatioToEvent: number };
  };
  /** The app-count axis: the same bytes over each app count, the whole data path with the NAS model off and on. */
  axis: {
    settings: { axisBytes: number; batchRecords: number; recordIntervalMs: number; tickSeconds: number; ingestMBPerSecond: number; nasModel: NasLatencyModel; objectModel: ObjectStoreLatencyModel; uploadConcurrency: number; objectStore: string; coordStore: string; maxWritersPerApp: number; drainBytes: number; drainAgeMs: number; sealAgeMs: number; sealBytes: number; sweepAppsPerTask: number };
    pricing: { table: string; retrieved: string; currency: string; cuPrice: number; functionSizes: Record<FunctionName, { cpu: number; memoryMb: number }>; source: string };
    points: AxisPoint[];
  };
  /** The steady-state run: an hour of traffic per app count, booked after warm-up (see SteadyPoint). */
  steady?: {
    /** processes: "per function" — each function of each app count in a process of its own, with its deployed runtime settings (bench/child.ts hostedHandlers); "shared" — all in one (no Redis to share) */
    settings: { simulatedMinutes: number; windowFromMinutes: number; ingestMBPerSecond: number; reps?: number; processes?: "per function" | "shared"; drainMinBytes: number; drainMaxAgeMs: number; slowFactor: number; projectGbPerDay: number[] };
    points: SteadyPoint[];
  };
  targets: TargetResult[];
  /** `logpipe --help` start-up against a bare `node -e 0`, paired runs (bench/startup.ts) */
  startup?: HelpStartup;
  profileFile?: string;
  profiles?: Record<string, ProfileSummary>;
  notes: string[];
}

/** FC handler sizes as deployed by default (infra/config.ts) and the CU price of the first tier. */
function fcPricing() {
  const table = loadPriceTable("cn");
  const sizes = functionsSchema.parse(undefined);
  const item = (k: string) => {
    const i = table.items[k];
    if (!i) throw new Error(`price table ${table.table} has no ${k}`);
    return i;
  };
  const cu = item("fc.cu");
  const cuPrice = cu.price ?? cu.tiers![0]!.price;
  return {
    table: table.table, retrieved: table.retrieved, currency: table.currency, cuPrice,
    cuPerVcpuSecond: item("fc.cuPerVcpuSecond").price ?? 1,
    cuPerGbSecondMemory: item("fc.cuPerGbSecondMemory").price ?? 0.15,
    cuPer10kInvocations: item("fc.cuPer10kInvocations").price ?? 75,
    functionSizes: Object.fromEntries(FUNCTIONS.map((f) => [f, { cpu: sizes[f].cpu, memoryMb: sizes[f].memorySize }])) as Record<FunctionName, { cpu: number; memoryMb: number }>,
    source: `${cu.source} (first tier, ${cu.asOf})`,
  };
}
type Pricing = ReturnType<typeof fcPricing>;
const FUNCTIONS: FunctionName[] = ["split", "compress", "upload"];

/** FC cost of one GiB: active time × (vCPU + memory) CU + invocations CU, at the first tier's CU price. */
function fcCostPerGb(p: Pricing, fns: Record<FunctionName, FunctionPerGb>): number {
  let cu = 0;
  for (const f of FUNCTIONS) {
    const size = p.functionSizes[f];
    cu += fns[f].handlerSecondsPerGb * (size.cpu * p.cuPerVcpuSecond + (size.memoryMb / 1024) * p.cuPerGbSecondMemory);
    cu += (fns[f].invocationsPerGb * p.cuPer10kInvocations) / 10_000;
  }
  return cu * p.cuPrice;
}

/**
 * The steady window of several runs of the same work: each function's figures from the run where
 * it used the least CPU (the same batches on the same simulated clock: only the machine's noise
 * differs, and noise only adds). Everything else from the first run.
 */
export function leastCpuWindow(runs: readonly Pick<PipelineResult, "window">[]): PipelineWindow {
  const windows = runs.map((r) => r.window);
  if (windows.length === 0 || windows.some((w) => w === undefined)) throw new Error("a steady run returned no window");
  const [first, ...rest] = windows as PipelineWindow[];
  const functions = { ...first!.functions };
  for (const w of rest) for (const f of FUNCTIONS) if (w.functions[f].cpuMs < functions[f].cpuMs) functions[f] = w.functions[f];
  return { ...first!, functions };
}

/**
 * A run's figures without the time its handlers sat idle waiting for the OSS stand-in (another
 * process here doing OSS's side of each request; ObjectRequestCounts.standInIdleMs): "off" counts
 * OSS requests, it does not wait for them, as it does not wait for NAS round trips.
 */
export function withoutStandInIdle(r: PipelineResult): PipelineResult {
  const functions = { ...r.functions };
  for (const f of FUNCTIONS) functions[f] = { ...r.functions[f], ms: offMs(r.functions[f]) };
  return { ...r, ms: r.ms - FUNCTIONS.reduce((t, f) => t + standInIdleMs(r.functions[f]), 0), functions };
}

/** A function's "off" time: its wall time less what it sat idle waiting for the OSS stand-in. */
const offMs = (s: FunctionStats): number => s.ms - standInIdleMs(s);
const standInIdleMs = (s: FunctionStats): number => s.oss.standInIdleMs ?? 0;

function perGb(r: PipelineResult, rawBytes: number, pricing: Pricing, nasModel: boolean, seconds: number): AxisRun {
  const gb = rawBytes / 1024 ** 3;
  const functions = {} as Record<FunctionName, FunctionPerGb>;
  const nasOps: Record<string, number> = {};
  let waitMs = 0, afterCpuMs = 0, serialMs = 0, requests = 0, requestMs = 0, redisMs = 0, standInMs = 0;
  for (const f of FUNCTIONS) {
    const s = r.functions[f];
    const ops = s.nas;
    let total = 0;
    for (const k of [...NAS_METADATA_KINDS, "read", "write", "fsync"] as const) {
      nasOps[k] = (nasOps[k] ?? 0) + ops[k] / gb;
      total += ops[k];
    }
    waitMs += ops.bookedMs;
    afterCpuMs += ops.bookedAfterCpuMs;
    serialMs += ops.modelledMs;
    requests += s.oss.requests;
    requestMs += s.oss.modelledMs;
    standInMs += s.oss.standInIdleMs ?? 0;
    redisMs += s.redisServerMs ?? 0;
    functions[f] = {
      handlerSecondsPerGb: s.ms / 1000 / gb, cpuSecondsPerGb: s.cpuMs / 1000 / gb, invocationsPerGb: s.invocations / gb, redisRoundTripsPerGb: s.roundTrips / gb, nasOpsPerGb: total / gb,
      modelledWaitSecondsPerGb: ops.bookedMs / 1000 / gb, redisServerSecondsPerGb: (s.redisServerMs ?? 0) / 1000 / gb,
      gcSecondsPerGb: (s.gcMs ?? 0) / 1000 / gb,
    };
  }
  nasOps.readMB = FUNCTIONS.reduce((t, f) => t + r.functions[f].nas.readBytes, 0) / MB / gb;
  nasOps.writeMB = FUNCTIONS.reduce((t, f) => t + r.functions[f].nas.writeBytes, 0) / MB / gb;
  const sum = (k: keyof FunctionPerGb) => FUNCTIONS.reduce((t, f) => t + (functions[f][k] ?? 0), 0);
  const handlerSecondsPerGb = sum("handlerSecondsPerGb");
  return {
    nasModel, seconds, mbPerSecond: rawBytes / MB / seconds,
    handlerSecondsPerGb, cpuSecondsPerGb: sum("cpuSecondsPerGb"), invocationsPerGb: sum("invocationsPerGb"),
    redisRoundTripsPerGb: sum("redisRoundTripsPerGb"), gzipMembersPerGb: r.members / gb, nasOpsPerGb: nasOps, modelledWaitSecondsPerGb: waitMs / 1000 / gb,
    waitAfterCpuSecondsPerGb: afterCpuMs / 1000 / gb, handlerSecondsPerGbWaitsAfterCpu: handlerSecondsPerGb + (afterCpuMs - waitMs) / 1000 / gb, nasSerialSecondsPerGb: serialMs / 1000 / gb,
    objectRequestsPerGb: requests / gb, objectRequestSerialSecondsPerGb: requestMs / 1000 / gb, standInIdleSecondsPerGb: standInMs / 1000 / gb, redisServerSecondsPerGb: redisMs / 1000 / gb,
    functions, objects: r.objects, objectsPerGb: r.objects / gb, objectsPerAppHour: r.objectsPerAppHour, compressedBytes: r.objectBytes, recordsArchived: r.recordsArchived, records: r.records,
    fcCostPerGb: fcCostPerGb(pricing, functions), hotTasks: r.hotTasks, sweepTasks: r.sweepTasks, ageP50Ms: r.ageP50Ms, ageP99Ms: r.ageP99Ms, errors: r.errors,
  };
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchResults> {
  const t0 = performance.now();
  const sink = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const log = (l: string) => sink(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${l}`);
  const quick = !!opts.quick;
  const reps = opts.reps ?? (quick ? 3 : 5);
  const batchRecords = opts.batchRecords ?? 10_000;
  const spec: DataSpec = quick
    ? { ndjsonBytes: 16 * MB, eventBytes: 4 * MB, batchRecords, partitions: 4, apps: 50, seed: 42 }
    : { ndjsonBytes: 256 * MB, eventBytes: 32 * MB, batchRecords, partitions: 4, apps: 50, seed: 42 };
  const axisApps = opts.apps ?? (quick ? [50, 500] : [50, 500, 3000, 5000]);
  const axisBytes = opts.axisBytes ?? (quick ? 4 * MB : 16 * MB);
  const loadAvgStart = os.loadavg();
  const notes: string[] = [];
  const pricing = fcPricing();

  log(`bench: ${quick ? "quick" : "full"} run, ${reps} repetitions; generating data under ${path.relative(process.cwd(), DATA_DIR) || DATA_DIR}`);
  const data: BenchData = ensureBenchData(spec);
  log(`bench: data ${data.reused ? "reused" : `generated in ${data.generatedSeconds.toFixed(1)} s`}: ${(data.ndjson.bytes / MB).toFixed(0)} MB NDJSON (${data.ndjson.records} records), ` +
    `${(data.event.bytes / MB).toFixed(1)} MB event (${data.event.records} records)`);
  await buildChild();

  // several runs (e.g. the smoke test) may overlap: one directory per process
  const workChoice = chooseWorkDir({ override: opts.workDir, fallbackRoot: DATA_DIR, name: `logpipe-bench-work-${process.pid}`, needBytes: quick ? QUICK_RUN_BYTES : FULL_RUN_BYTES });
  const work = workChoice.dir;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  notes.push(workChoice.note);
  const hasGzip = tool("gzip");
  const hasZstd = tool("zstd");
  if (!hasGzip) notes.push("gzip CLI not installed: the gzip -1 baseline and the ratios against it are skipped");
  if (!hasZstd) notes.push("zstd CLI not installed: the zstd -1 baseline is skipped");
  if (PINNED) notes.push("every timed step runs under `taskset -c 0` (redis-server unpinned)");
  else notes.push("taskset unavailable or < 2 CPUs: steps are not pinned to a core");
  notes.push(`split alone (time, peak RSS, profile) runs with the split function's deployed runtime settings: ${SPLIT_ENV_TEXT} (infra/runtime-env.ts); the data path's runs with compress's and upload's libuv pool, UV_THREADPOOL_SIZE=${PIPELINE_ENV.UV_THREADPOOL_SIZE}`);

  /** Size of `gzip -1` of a file (the compression baseline), when the gzip CLI is installed. */
  const gzipCliSize = async (file: string): Promise<number | undefined> => {
    if (!hasGzip) return undefined;
    const out = path.join(work, "gzip-baseline.out");
    await runTool(0, "gzip", ["-1", "-c"], file, out);
    const size = statSync(out).size;
    rmSync(out, { force: true });
    return size;
  };

  let redis: RedisServerHandle | undefined;
  if (redisServerAvailable()) redis = await startRedisServer();
  else notes.push("redis-server not installed: the app-count axis runs with the in-process coordination store and reports no Redis round trips");
  let oss: OssServer | undefined;
  try {
    oss = await startOssServerProcess();
  } catch (e) {
    notes.push(`OSS test server did not start (${(e as Error).message}): a local directory stands in for OSS, and its own work is booked as upload's CPU`);
  }
  let prefixSeq = 0;
  /** A pipeline's own Redis key prefix, and its uploads to the OSS test server under the same prefix. */
  const prefixed = (kind: string): Pick<PipelineTask, "keyPrefix" | "oss"> => {
    const prefix = `${kind}${++prefixSeq}`;
    return { keyPrefix: prefix, oss: oss ? { endpoint: oss.endpoint, bucket: oss.bucket, accessKeyId: oss.accessKeyId, accessKeySecret: oss.accessKeySecret, prefix } : undefined };
  };

  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  const ndjsonMB = data.ndjson.bytes / MB;

  try {
    // ---- baselines and split alone, round-robin over the repetitions
    for (let rep = 1; rep <= reps; rep++) {
      log(`bench: baselines, repetition ${rep}/${reps}`);
      if (hasGzip) {
        const out = path.join(work, "gzip.out");
        const ms = await runTool(0, "gzip", ["-1", "-c"], data.ndjson.path, out);
        add("gzipCli", ndjsonMB / (ms / 1000));
        rmSync(out, { force: true });
      }
      if (hasZstd) {
        const out = path.join(work, "zstd.out");
        const ms = await runTool(0, "zstd", ["-1", "--single-thread", "-q", "-c"], data.ndjson.path, out);
        add("zstdCli", ndjsonMB / (ms / 1000));
        rmSync(out, { force: true });
      }
      {
        const r = await runChild<{ ms: number; bytesOut: number }>({ kind: "gzip-node", file: data.ndjson.path, level: 1, warmup: true }, { cpu: 0 });
        add("nodeGzip", ndjsonMB / (r.result.ms / 1000));
      }
      {
        const r = await runChild<{ ms: number; parseMs: number; decodeMs: number }>({ kind: "json-parse", file: data.event.path, warmup: true }, { cpu: 0 });
        add("jsonParse", r.result.ms);
        add("jsonParseOnly", r.result.parseMs);
      }
      {
        const r = await runChild<{ ms: number }>({ kind: "split", file: data.event.path, nasRoot: path.join(work, "split-nas"), warmup: true }, { cpu: 0, env: RUNTIME_ENV.split });
        add("split", r.result.ms);
      }
    }

    // ---- the app-count axis: the same bytes over each app count, NAS model off and on
    const points: AxisPoint[] = [];
    const config = loadConfig({ LOGPIPE_NAS_ROOT: "/unused" });
    for (const apps of axisApps) {
      const axisSpec: DataSpec = { ...spec, ndjsonBytes: axisBytes, apps };
      const d = ensureBenchData(axisSpec, { event: false });
      const rawBytes = d.batches.valueBytes + d.batches.records;
      log(`bench: ${apps} apps: ${(rawBytes / MB).toFixed(0)} MB in ${d.batches.files.length} batches${d.reused ? "" : ` (generated in ${d.generatedSeconds.toFixed(1)} s)`}`);
      const gzipCliBytes = await gzipCliSize(d.ndjson.path);
      const fl = (await runChild<{ decodeMs: number; routeMs: number; gzipMs: number; ms: number; apps: number; gzBytes: number }>({ kind: "floor", files: d.batches.files }, { cpu: 0 })).result;
      const run = async (model: boolean): Promise<AxisRun> => {
        log(`bench: ${apps} apps: data path with the NAS model ${model ? "on" : "off"}`);
        const task: PipelineTask = {
          kind: "pipeline", files: d.batches.files, nasRoot: path.join(work, "axis-nas"), objectsRoot: path.join(work, "axis-objects"),
          redisUrl: redis?.url, ...prefixed("axis"), nasModel: model ? NAS_MODEL : undefined, objectModel: model ? OBJECT_MODEL : undefined,
          startTime: START_TIME, recordIntervalMs: RECORD_INTERVAL_MS, batchRecords: spec.batchRecords, tickMs: TICK_MS,
        };
        const r = await runChild<PipelineResult>(task, { cpu: 0, env: PIPELINE_ENV });
        if (r.result.recordsArchived !== r.result.records) notes.push(`${apps} apps, NAS model ${model ? "on" : "off"}: ${r.result.recordsArchived} records archived of ${r.result.records}`);
        if (r.result.errors.length) notes.push(`${apps} apps, NAS model ${model ? "on" : "off"}: ${r.result.errors.length} error(s), first: ${r.result.errors[0]}`);
        const booked = model ? r.result : withoutStandInIdle(r.result);
        return perGb(booked, rawBytes, pricing, model, booked.ms / 1000);
      };
      const off = await run(false);
      const on = await run(true);
      points.push({
        apps, appsSeen: fl.apps, ndjsonBytes: rawBytes, records: d.batches.records, batches: d.batches.files.length, gzipCliBytes,
        floor: { mbPerSecond: rawBytes / MB / (fl.ms / 1000), decodeMs: fl.decodeMs, routeMs: fl.routeMs, gzipMs: fl.gzipMs, gzBytes: fl.gzBytes },
        off, on,
      });
    }

    // ---- the steady-state run: an hour booked per app count, after a warm-up in which every app
    // went through its longest drain and seal cycle (the long tail's drain at LOGPIPE_DRAIN_MAX_AGE,
    // which seals it, or a small slot's seal at LOGPIPE_SEAL_MAX_AGE, whichever is longer) plus
    // 10 minutes, so the first wave of those (apps whose first records came in the first minutes)
    // falls before the window and the booked hour holds each periodic cost in its proportion
    let steady: BenchResults["steady"];
    /** the steady state's data and window, for --cpu-prof's steady-state profiles */
    let steadyProfileSpec: { bytes: number; windowFromMs: number } | undefined;
    const warmUpMinutes = Math.max(config.drainMaxAgeMs, config.sealAgeMs, config.sealMaxAgeMs) / 60_000 + 10;
    const steadyMinutes = opts.steadyMinutes ?? (quick ? 2 : warmUpMinutes + 60);
    const steadyReps = opts.steadyReps ?? (quick ? 1 : 3);
    if (steadyMinutes > 0 && points.length > 0) {
      const windowFromMinutes = quick ? Math.min(1, steadyMinutes / 2) : Math.min(steadyMinutes / 2, warmUpMinutes);
      const bytesPerRecord = points[0]!.ndjsonBytes / points[0]!.records;
      const steadyBytes = Math.ceil((steadyMinutes * 60_000 / RECORD_INTERVAL_MS) * bytesPerRecord / MB) * MB;
      // the data files are read whole by one process (Node reads at most 2 GiB into a buffer)
      const maxMinutes = Math.floor((2047 * MB) / (bytesPerRecord * (60_000 / RECORD_INTERVAL_MS)));
      if (steadyMinutes > maxMinutes) throw new Error(`--steady-minutes ${steadyMinutes} needs ${(steadyBytes / MB).toFixed(0)} MB of records, over the 2 GiB one bench process reads: use at most ${maxMinutes}`);
      const steadyPoints: SteadyPoint[] = [];
      steadyProfileSpec = { bytes: steadyBytes, windowFromMs: windowFromMinutes * 60_000 };
      /**
       * One steady run of every app count side by side (LockstepTask: a batch of each in turn, and
       * each one's floor between them), each over its `files` at one record per `intervalMs`,
       * booked from the window's start: the counts a target compares see the same minutes of the
       * machine, whose speed drifts by tens of percent between runs made one after the other.
       */
      const runSteady = async (runs: { apps: number; files: string[] }[], intervalMs: number, what: string): Promise<LockstepResult> => {
        const task: LockstepTask = {
          kind: "lockstep",
          // each function in a process of its own, as FC runs it, when Redis can be their shared store
          isolated: redis !== undefined,
          pipelines: runs.map(({ apps, files }): PipelineTask => ({
            kind: "pipeline", files, nasRoot: path.join(work, `steady-nas-${apps}`), objectsRoot: path.join(work, `steady-objects-${apps}`),
            redisUrl: redis?.url, ...prefixed("steady"), nasModel: NAS_MODEL, objectModel: OBJECT_MODEL, nasWait: "overlap", windowFromMs: windowFromMinutes * 60_000,
            startTime: START_TIME, recordIntervalMs: intervalMs, batchRecords: spec.batchRecords, tickMs: TICK_MS,
          })),
        };
        const x = (await runChild<LockstepResult>(task, { cpu: 0, env: PIPELINE_ENV })).result;
        x.results.forEach((r, i) => {
          const apps = runs[i]!.apps;
          if (r.recordsArchived !== r.records) notes.push(`${apps} apps, steady state${what}: ${r.recordsArchived} records archived of ${r.records}`);
          if (r.errors.length) notes.push(`${apps} apps, steady state${what}: ${r.errors.length} error(s), first: ${r.errors[0]}`);
        });
        return x;
      };
      // each app count's data first; then the full-rate runs, every app count side by side
      const prepared = [];
      for (const apps of axisApps) {
        const d = ensureBenchData({ ...spec, ndjsonBytes: steadyBytes, apps }, { event: false });
        const rawBytes = d.batches.valueBytes + d.batches.records;
        const minutes = (d.batches.records * RECORD_INTERVAL_MS) / 60_000;
        log(`bench: ${apps} apps, steady state: ${(rawBytes / MB).toFixed(0)} MB over ${minutes.toFixed(0)} simulated minutes, booked from minute ${windowFromMinutes}` +
          `${d.reused ? "" : ` (generated in ${d.generatedSeconds.toFixed(1)} s)`}`);
        const gzipCliBytes = await gzipCliSize(d.ndjson.path);
        prepared.push({ apps, d, rawBytes, minutes, gzipCliBytes, reps: [] as PipelineResult[], floors: [] as LockstepFloor[] });
      }
      for (let rep = 1; rep <= steadyReps; rep++) {
        log(`bench: steady state, full-rate run ${rep} of ${steadyReps} (${prepared.map((p) => p.apps).join(", ")} apps side by side)`);
        const x = await runSteady(prepared.map((p) => ({ apps: p.apps, files: p.d.batches.files })), RECORD_INTERVAL_MS, "");
        prepared.forEach((p, i) => {
          p.reps.push(x.results[i]!);
          p.floors.push(x.floors[i]!);
        });
      }
      // the same simulated hour at a quarter of the rate (the first quarter of the batches,
      // delivered 4× slower): what is per byte stays, what is per app per time grows 4× per GB
      log(`bench: steady state at 1/${SLOW_FACTOR} of the rate (${prepared.map((p) => p.apps).join(", ")} apps side by side)`);
      const slowRuns = (await runSteady(
        prepared.map((p) => ({ apps: p.apps, files: p.d.batches.files.slice(0, Math.max(1, Math.round(p.d.batches.files.length / SLOW_FACTOR))) })),
        RECORD_INTERVAL_MS * SLOW_FACTOR, ` at 1/${SLOW_FACTOR} rate`,
      )).results;
      for (const [pi, { apps, d, rawBytes, minutes, gzipCliBytes, reps, floors }] of prepared.entries()) {
        /** The steady figures of `runs` (each function booked from its least-CPU run). */
        const book = (runs: PipelineResult[]) => {
          const r = runs[0]!;
          const w = leastCpuWindow(runs);
          const raw = (d.batches.valueBytes + d.batches.records) * (r.records / d.batches.records);
          const winRaw = raw * (w.records / r.records);
          const booked = (withNas: boolean) => {
            const fns = Object.fromEntries(FUNCTIONS.map((f) => {
              const x = w.functions[f];
              // "on" = CPU + the NAS model's time + Redis round trips × REDIS_RTT_MS + Redis's own time
              // on the handler's scripts: what FC would bill, without the local disk's and the
              // loaded machine's waits that wall time carries
              // "off" = wall time, less the time the handler sat idle waiting for the OSS stand-in
              return [f, { ...x, ms: withNas ? x.cpuMs + x.nas.bookedMs + x.roundTrips * REDIS_RTT_MS + x.redisServerMs : offMs(x), nas: withNas ? x.nas : { ...x.nas, modelledMs: 0, bookedMs: 0, bookedAfterCpuMs: 0 }, oss: withNas ? x.oss : { ...x.oss, modelledMs: 0 } }];
            })) as PipelineResult["functions"];
            const billedMs = FUNCTIONS.reduce((t, f) => t + fns[f].ms, 0);
            const wr: PipelineResult = {
              ...r, functions: fns, members: w.members, hotTasks: w.hotTasks, sweepTasks: w.sweepTasks, objects: w.uploaded, objectBytes: r.objectBytes,
              ageP50Ms: w.ageP50Ms, ageP99Ms: w.ageP99Ms,
            };
            return perGb(wr, winRaw, pricing, withNas, billedMs / 1000);
          };
          return { r, w, winRaw, off: booked(false), on: booked(true) };
        };
        const main = book(reps);
        const { r, w, winRaw } = main;
        const slow = book([slowRuns[pi]!]);
        // the floor of the booked batches, timed beside the runs: the fastest repetition's
        const fl = floors.reduce((a, b) => (b.ms / b.recordBytes < a.ms / a.recordBytes ? b : a));
        const flCpu = floors.reduce((a, b) => (b.cpuMs / b.recordBytes < a.cpuMs / a.recordBytes ? b : a));
        const gbPerHour = (x: { winRaw: number; w: { fromMs: number; toMs: number } }) => x.winRaw / 1024 ** 3 / ((x.w.toMs - x.w.fromMs) / 3_600_000);
        steadyPoints.push({
          apps, simulatedMinutes: minutes,
          window: { fromMinutes: w.fromMs / 60_000, toMinutes: w.toMs / 60_000, records: w.records, rawBytes: winRaw, batches: w.batches },
          seconds: r.ms / 1000, records: r.records, recordsArchived: r.recordsArchived, gzipCliBytes, compressedBytes: r.objectBytes, rawBytes,
          floorMbPerSecond: fl.recordBytes / MB / (fl.ms / 1000), floorCpuMbPerSecond: flCpu.recordBytes / MB / (flCpu.cpuMs / 1000), objectsPerAppHour: r.objectsPerAppHour, off: main.off, on: main.on,
          rates: { gbPerHour: gbPerHour(main), slowGbPerHour: gbPerHour(slow) },
          slow: { off: slow.off, on: slow.on, window: { records: slow.w.records, rawBytes: slow.winRaw } },
          model: rateModel(main.on, slow.on, gbPerHour(main), gbPerHour(slow)),
        });
      }
      steady = {
        settings: { simulatedMinutes: steadyMinutes, windowFromMinutes, reps: steadyReps, processes: redis ? "per function" : "shared", ingestMBPerSecond: bytesPerRecord * (1000 / RECORD_INTERVAL_MS) / MB, drainMinBytes: config.drainMinBytes, drainMaxAgeMs: config.drainMaxAgeMs, slowFactor: SLOW_FACTOR, projectGbPerDay: PROJECT_GB_PER_DAY },
        points: steadyPoints,
      };
    }

    // ---- resources
    const resources: BenchResults["resources"] = {};
    log("bench: peak RSS of split");
    {
      // with the split function's deployed runtime settings, and with Node's defaults for comparison;
      // a peak moves by a few MB from run to run, so each is the median of several processes
      type RssRun = { eventBytes: number; maxRssKb: number; baseRssKb: number; vmHwmKb?: number };
      const peakOf = (r: { vmHwmKb?: number; maxRssKb: number }) => (r.vmHwmKb ?? r.maxRssKb) * 1024;
      const medianRun = async (env: Readonly<Record<string, string>> | undefined) => {
        const runs: RssRun[] = [];
        for (let i = 0; i < (quick ? 1 : 3); i++) runs.push((await runChild<RssRun>({ kind: "split-rss", file: data.event.path, nasRoot: path.join(work, "rss-nas") }, { cpu: 0, env })).result);
        return runs.sort((a, b) => peakOf(a) - peakOf(b))[Math.floor(runs.length / 2)]!;
      };
      const rss = await medianRun(RUNTIME_ENV.split);
      const untuned = await medianRun(undefined);
      const jp = await runChild<{ maxRssKb: number; vmHwmKb?: number }>({ kind: "json-parse-rss", file: data.event.path }, { cpu: 0 });
      const peak = peakOf(rss);
      resources.splitPeakRss = {
        eventBytes: rss.eventBytes, maxRssBytes: peak, baseRssBytes: rss.baseRssKb * 1024,
        ratioToEvent: peak / rss.eventBytes, jsonParsePeakRssBytes: peakOf(jp.result),
        runtimeEnv: SPLIT_ENV_TEXT,
        nodeDefaultsMaxRssBytes: peakOf(untuned), nodeDefaultsRatioToEvent: peakOf(untuned) / untuned.eventBytes,
      };
    }

    // ---- profiles (not part of the timings)
    let profiles: Record<string, ProfileSummary> | undefined;
    if (opts.cpuProf) {
      const profApps = axisApps[axisApps.length - 1]!;
      log(`bench: --cpu-prof runs (split of the event; the data path at 50 and ${profApps} apps, NAS model off${steadyProfileSpec ? "; and in the steady state's window, models on, one app count at a time" : ""})`);
      profiles = {};
      const dir = path.join(DATA_DIR, "profiles");
      const tasks: [string, ChildTask][] = [["split", { kind: "split", file: data.event.path, nasRoot: path.join(work, "prof-split"), warmup: true }]];
      for (const apps of new Set([axisApps[0]!, profApps])) {
        const d = ensureBenchData({ ...spec, ndjsonBytes: axisBytes, apps }, { event: false });
        tasks.push([`pipeline-${apps}`, {
          kind: "pipeline", files: d.batches.files, nasRoot: path.join(work, "prof-nas"), objectsRoot: path.join(work, "prof-objects"), redisUrl: redis?.url, ...prefixed("prof"),
          startTime: START_TIME, recordIntervalMs: RECORD_INTERVAL_MS, batchRecords: spec.batchRecords, tickMs: TICK_MS,
        }]);
      }
      // the steady state's window, each app count alone (a lockstep run's handlers would share
      // one profile): where a running pipeline's time goes, the figure target 1 compares
      if (steadyProfileSpec) {
        for (const apps of new Set([axisApps[0]!, profApps])) {
          const d = ensureBenchData({ ...spec, ndjsonBytes: steadyProfileSpec.bytes, apps }, { event: false });
          tasks.push([`steady-${apps}`, {
            kind: "pipeline", files: d.batches.files, nasRoot: path.join(work, "prof-nas"), objectsRoot: path.join(work, "prof-objects"), redisUrl: redis?.url, ...prefixed("prof-steady"),
            nasModel: NAS_MODEL, objectModel: OBJECT_MODEL, nasWait: "overlap", windowFromMs: steadyProfileSpec.windowFromMs,
            startTime: START_TIME, recordIntervalMs: RECORD_INTERVAL_MS, batchRecords: spec.batchRecords, tickMs: TICK_MS,
          }]);
        }
      }
      for (const [name, task] of tasks) {
        const d = path.join(dir, name);
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { recursive: true });
        if (task.kind === "pipeline") await runChild({ ...task, profileTo: path.join(d, "timed.cpuprofile") }, { cpu: 0, env: PIPELINE_ENV });
        else await runChild(task, { cpu: 0, cpuProfDir: d, env: RUNTIME_ENV.split });
        const file = readdirSync(d).find((f) => f.endsWith(".cpuprofile"));
        if (!file) continue;
        const profile = JSON.parse(readFileSync(path.join(d, file), "utf8"));
        const where = path.relative(process.cwd(), path.join(d, file));
        profiles[name] = { ...summarizeProfile(profile), file: where };
        // the data path's handlers run in one process: each one's samples, booked by its invocations
        const spansFile = spansFileOf(path.join(d, file));
        if (existsSync(spansFile)) {
          const byHandler = summarizeByHandler(profile, JSON.parse(readFileSync(spansFile, "utf8")) as InvocationSpan[]);
          for (const [fn, summary] of Object.entries(byHandler)) profiles[`${name} · ${fn}`] = { ...summary, file: where };
        }
      }
    }

    const steps: BenchResults["steps"] = {};
    const S = (key: string, label: string, unit: string, note?: string) => {
      if (samples[key]) steps[key] = { ...stat(samples[key]!, unit), label, note };
    };
    S("gzipCli", "gzip -1 (CLI)", "MB/s");
    S("zstdCli", "zstd -1 --single-thread (CLI)", "MB/s");
    S("nodeGzip", "Node zlib.gzipSync level 1, whole input", "MB/s");
    S("jsonParse", `JSON.parse of the ${(data.event.bytes / MB).toFixed(0)} MB event (incl. UTF-8 decode)`, "ms");
    S("jsonParseOnly", "  of which JSON.parse(string) alone", "ms");
    S("split", `logpipe split of the ${(data.event.bytes / MB).toFixed(0)} MB event (parse, route, write the staging file)`, "ms");
    if (!hasGzip) steps.gzipCli = { ...stat([], "MB/s"), label: "gzip -1 (CLI)", skipped: "gzip not installed" };
    if (!hasZstd) steps.zstdCli = { ...stat([], "MB/s"), label: "zstd -1 --single-thread (CLI)", skipped: "zstd not installed" };

    // Paired ratios: repetition i of one step against repetition i of its baseline.
    const ratios: BenchResults["ratios"] = {};
    const R = (key: string, label: string, num: string, den: string) => {
      const a = samples[num], b = samples[den];
      if (!a || !b) return;
      const r = a.map((x, i) => x / b[i]!).filter((x) => Number.isFinite(x));
      ratios[key] = { ...stat(r, "×"), label };
    };
    R("splitVsJsonParse", "split time ÷ JSON.parse time (incl. decode)", "split", "jsonParse");
    R("splitVsJsonParseOnly", "split time ÷ JSON.parse(string) time (decode excluded)", "split", "jsonParseOnly");

    const axis: BenchResults["axis"] = {
      settings: {
        axisBytes, batchRecords: spec.batchRecords, recordIntervalMs: RECORD_INTERVAL_MS, tickSeconds: TICK_MS / 1000,
        ingestMBPerSecond: points[0] ? points[0].ndjsonBytes / MB / ((points[0].records * RECORD_INTERVAL_MS) / 1000) : NaN,
        nasModel: NAS_MODEL, objectModel: OBJECT_MODEL, uploadConcurrency: config.uploadConcurrency,
        objectStore: oss ? "OSS test server (test/support/oss-server.ts) in its own process, through the real client (ali-oss)" : "a local directory (its work booked as upload's CPU)", coordStore: redis ? "Redis (private redis-server)" : "in-process",
        maxWritersPerApp: config.maxWritersPerApp, drainBytes: config.drainBytes, drainAgeMs: config.drainAgeMs, sealAgeMs: config.sealAgeMs, sealBytes: config.sealBytes, sweepAppsPerTask: config.sweepAppsPerTask,
      },
      pricing: { table: pricing.table, retrieved: pricing.retrieved, currency: pricing.currency, cuPrice: pricing.cuPrice, functionSizes: pricing.functionSizes, source: pricing.source },
      points,
    };
    const targets = evaluateTargets(axis, steady);
    const startup = await measureHelpStartup();
    targets.push({
      id: "cli-help-startup", description: "`logpipe --help` start-up ÷ a bare `node -e 0`", target: "≤ 8×", value: startup.ratio, met: startup.ratio <= 8,
      note: `${startup.helpMs.toFixed(0)} ms vs ${startup.nodeMs.toFixed(0)} ms (median of paired runs)`,
    });
    const results: BenchResults = {
      version: 2,
      generatedAt: new Date().toISOString(),
      quick,
      machine: {
        cpu: os.cpus()[0]?.model ?? "unknown", cores: os.availableParallelism(), memoryGb: Math.round(os.totalmem() / 1024 ** 3),
        node: process.version, os: `${os.type()} ${os.release()}`, pinned: PINNED, loadAvgStart, loadAvgEnd: os.loadavg(), nasDirectory: workChoice.fs,
      },
      data: { ndjsonBytes: data.ndjson.bytes, ndjsonRecords: data.ndjson.records, eventBytes: data.event.bytes, eventRecords: data.event.records, apps: spec.apps, seed: spec.seed },
      reps, steps, ratios, resources, axis, steady, targets, startup, profiles, notes,
    };
    if (points.length > 0) {
      const file = opts.profileOut ?? (quick ? QUICK_PROFILE : DEFAULT_PROFILE);
      writeUsageProfile(results, file);
      results.profileFile = path.relative(process.cwd(), file) || file;
    }
    return results;
  } finally {
    await redis?.stop();
    await oss?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The usage profile `logpipe cost` prices with (cli/cost/profile.ts): NAS model on, as deployed. */
function writeUsageProfile(r: BenchResults, file: string): void {
  // the steady-state run when there is one (what a running pipeline costs), else the cold axis
  const sp = r.steady?.points ?? [];
  const useSteady = sp.length > 0;
  const pts: { apps: number; on: AxisRun }[] = useSteady ? sp : r.axis.points;
  const raw = useSteady ? sp.reduce((t, p) => t + p.rawBytes, 0) : r.axis.points.reduce((t, p) => t + p.ndjsonBytes, 0);
  const gz = useSteady ? sp.reduce((t, p) => t + p.compressedBytes, 0) : r.axis.points.reduce((t, p) => t + p.on.compressedBytes, 0);
  const st = r.steady?.settings;
  mkdirSync(path.dirname(file), { recursive: true });
  writeProfile(file, {
    format: PROFILE_FORMAT,
    source: {
      command: r.quick ? "npm run bench -- --quick" : "npm run bench",
      dataPath: "data path v2 (staging file per batch-partition, app drains, sweep)",
      recordedAt: r.generatedAt,
      machine: `${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}`,
      notes: [
        `handler time with the NAS latency model on (${r.axis.settings.nasModel.name}: ${r.axis.settings.nasModel.source})`,
        useSteady && st
          ? `steady state: ${fmt(st.simulatedMinutes, 0)} simulated minutes per app count at ${fmt(st.ingestMBPerSecond)} MB/s${(st.reps ?? 1) > 1 ? ` (${st.reps} runs, interleaved across app counts, each function booked from its least-CPU run)` : ""}${st.processes === "per function" ? ", each function in a process of its own with its deployed runtime settings" : ""} and at 1/${st.slowFactor} of it, booked from minute ${fmt(st.windowFromMinutes, 0)}; upload tick every ${r.axis.settings.tickSeconds} s; per-GB and per-hour parts solved from the two rates`
          : `ingest ${fmt(r.axis.settings.ingestMBPerSecond)} MB/s simulated; upload tick every ${r.axis.settings.tickSeconds} s; ${fmt(r.axis.settings.axisBytes / MB, 0)} MB per app count (a cold one-minute window: every app pays a drain and a final seal)`,
        ...(r.quick ? ["QUICK run: small data, not for pricing"] : []),
      ],
    },
    compressionRatio: Math.max(1, raw / gz),
    points: pts.map((p) => ({
      apps: p.apps,
      functions: Object.fromEntries(FUNCTIONS.map((f) => {
        const m = "model" in p ? (p as SteadyPoint).model.functions[f] : undefined;
        return [f, {
          handlerSecondsPerGb: p.on.functions[f].handlerSecondsPerGb, invocationsPerGb: p.on.functions[f].invocationsPerGb,
          ...(m ? { ...m, measuredGbPerDay: (p as SteadyPoint).rates.gbPerHour * 24 } : {}),
        }];
      })) as UsageProfile["points"][number]["functions"],
    })),
  });
}

/**
 * The issue-11 targets. With a steady-state run, targets 1–3 are judged on it (a pipeline that
 * has been running for the drain and seal ages, at the bench's ingest rate) and the cold
 * app-count axis is quoted beside; without one, on the axis.
 */
export function evaluateTargets(axis: BenchResults["axis"], steady: BenchResults["steady"]): TargetResult[] {
  const t: TargetResult[] = [];
  const pts = axis.points;
  const sp = steady?.points ?? [];
  const pick = <T extends { apps: number }>(list: T[], apps: number, last: boolean) => list.find((p) => p.apps === apps) ?? (last ? list[list.length - 1] : list[0]);
  const base = pick(pts, 50, false), big = pick(pts, 3000, true);
  const sBase = pick(sp, 50, false), sBig = pick(sp, 3000, true);
  const stand = (p: { apps: number } | undefined) => (p && p.apps !== 3000 ? ` (${p.apps} apps stands in for 3,000: not measured in this run)` : "");
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : null);
  const where = sBase && sBig ? `steady state (minutes ${fmt(steady!.settings.windowFromMinutes, 0)}–${fmt(steady!.settings.simulatedMinutes, 0)} at ${fmt(steady!.settings.ingestMBPerSecond)} MB/s)` : "";
  const cold = (a: number | null) => `; cold one-minute axis: ${fmt(a)}×`;
  {
    const axisV = ratio(big?.on.handlerSecondsPerGb, base?.on.handlerSecondsPerGb);
    const v = sBase && sBig ? ratio(sBig.on.handlerSecondsPerGb, sBase.on.handlerSecondsPerGb) : axisV;
    const note = sBase && sBig
      ? `${where}: ${fmt(sBig.on.handlerSecondsPerGb, 0)} vs ${fmt(sBase.on.handlerSecondsPerGb, 0)} s/GB${stand(sBig)}; NAS model off: ${fmt(ratio(sBig.off.handlerSecondsPerGb, sBase.off.handlerSecondsPerGb))}×` +
        `; every wait booked after the CPU (upper bound): ${fmt(ratio(sBig.on.handlerSecondsPerGbWaitsAfterCpu, sBase.on.handlerSecondsPerGbWaitsAfterCpu))}×${cold(axisV)}`
      : base && big ? `${fmt(big.on.handlerSecondsPerGb, 0)} vs ${fmt(base.on.handlerSecondsPerGb, 0)} s/GB${stand(big)}; NAS model off: ${fmt(ratio(big.off.handlerSecondsPerGb, base.off.handlerSecondsPerGb))}×` : "";
    const proj = sBase && sBig ? steady!.settings.projectGbPerDay.map((g) => `${g} GB/day ${fmt(projectedSecondsPerGb(sBig.model, g) / projectedSecondsPerGb(sBase.model, g))}×`).join(", ") : "";
    t.push({ id: "handler-seconds-vs-apps", description: "handler s/GB at 3,000 apps ÷ at 50 apps, NAS model on", target: "≤ 1.3×", value: v, met: v === null ? null : v <= 1.3, note: note + (proj ? `; projected from the two-rate model: ${proj}` : "") });
  }
  for (const [model, limit] of [["off", 0.8], ["on", 0.6]] as const) {
    const axisV = base ? base[model].mbPerSecond / base.floor.mbPerSecond : null;
    const floor = sBase ? floorOf(sBase, model) : undefined;
    const v = floor ? sBase![model].mbPerSecond / floor : axisV;
    const note = floor
      ? `${where}: ${fmt(sBase![model].mbPerSecond, 1)} MB per billed second vs the floor's ${fmt(floor, 1)} MB per ${model === "on" ? "second of CPU" : "second"} (decode + app-id scan + one gzip -1 per app)${cold(axisV)}`
      : base ? `${fmt(base[model].mbPerSecond, 1)} vs ${fmt(base.floor.mbPerSecond, 1)} MB/s (floor: decode + app-id scan + one gzip -1 per app)` : "";
    t.push({ id: `e2e-vs-floor-nas-${model}`, description: `end-to-end speed ÷ the floor's at 50 apps, NAS model ${model}`, target: `≥ ${limit}×`, value: v, met: v === null ? null : v >= limit, note });
  }
  {
    const axisV = ratio(big?.off.invocationsPerGb, base?.off.invocationsPerGb);
    const v = sBase && sBig ? ratio(sBig.off.invocationsPerGb, sBase.off.invocationsPerGb) : axisV;
    const note = sBase && sBig
      ? `${where}: ${fmt(sBig.off.invocationsPerGb, 0)} vs ${fmt(sBase.off.invocationsPerGb, 0)} per GB${stand(sBig)}${cold(axisV)}`
      : base && big ? `${fmt(big.off.invocationsPerGb, 0)} vs ${fmt(base.off.invocationsPerGb, 0)} per GB${stand(big)}` : "";
    t.push({ id: "invocations-vs-apps", description: "FC invocations/GB at 3,000 apps ÷ at 50 apps", target: "≤ 2×", value: v, met: v === null ? null : v <= 2, note });
  }
  {
    const runs = [
      ...pts.map((p) => ({ what: `${p.apps} apps (axis)`, max: Math.max(p.off.objectsPerAppHour.max, p.on.objectsPerAppHour.max) })),
      ...sp.map((p) => ({ what: `${p.apps} apps (steady)`, max: p.objectsPerAppHour.max })),
    ];
    const worst = Math.max(...runs.map((x) => x.max));
    const limit = axis.settings.maxWritersPerApp;
    t.push({
      id: "objects-per-app-hour", description: "objects per app per hour, every app count", target: `≤ ${limit} (maxWritersPerApp)`, value: runs.length ? worst : null, met: runs.length ? worst <= limit : null,
      note: runs.map((x) => `${x.what}: max ${x.max}`).join(", ") + "; per app and hour= partition of the archive keys, including the final seal of everything",
    });
  }
  {
    const rs = [
      ...pts.filter((p) => p.gzipCliBytes).map((p) => ({ what: `${p.apps} apps (axis)`, r: Math.max(p.off.compressedBytes, p.on.compressedBytes) / p.gzipCliBytes! })),
      ...sp.filter((p) => p.gzipCliBytes).map((p) => ({ what: `${p.apps} apps (steady)`, r: p.compressedBytes / p.gzipCliBytes! })),
    ];
    // judged on the steady state when there is one (a cold minute gives each app one tiny member)
    const judged = sp.some((p) => p.gzipCliBytes) ? rs.filter((x) => x.what.endsWith("(steady)")) : rs;
    const worst = judged.length ? Math.max(...judged.map((x) => x.r)) : null;
    t.push({
      id: "compressed-vs-gzip", description: "compressed bytes ÷ gzip -1 of the raw input, every app count", target: "≤ 1.0×", value: worst, met: worst === null ? null : worst <= 1,
      note: rs.length ? rs.map((x) => `${x.what}: ${fmt(x.r, 3)}×`).join(", ") : "gzip not installed",
    });
  }
  return t;
}

/** Solves handler s/GB = a + b ÷ rate (per function) from the steady state at two rates. */
function rateModel(fast: AxisRun, slow: AxisRun, fastGbPerHour: number, slowGbPerHour: number): RateModel {
  const solve = (yFast: number, ySlow: number) => {
    const b = (ySlow - yFast) / (1 / slowGbPerHour - 1 / fastGbPerHour);
    return { perGb: yFast - b / fastGbPerHour, perHour: b };
  };
  const functions = {} as RateModel["functions"];
  for (const f of FUNCTIONS) {
    const t = solve(fast.functions[f].handlerSecondsPerGb, slow.functions[f].handlerSecondsPerGb);
    const i = solve(fast.functions[f].invocationsPerGb, slow.functions[f].invocationsPerGb);
    functions[f] = { perGbSeconds: t.perGb, perHourSeconds: t.perHour, perGbInvocations: i.perGb, perHourInvocations: i.perHour };
  }
  return {
    functions,
    perGbSeconds: FUNCTIONS.reduce((t, f) => t + functions[f].perGbSeconds, 0),
    perHourSeconds: FUNCTIONS.reduce((t, f) => t + functions[f].perHourSeconds, 0),
  };
}

/** Projected handler s/GB of a rate model at `gbPerDay`. */
export function projectedSecondsPerGb(m: RateModel, gbPerDay: number): number {
  return m.perGbSeconds + m.perHourSeconds / (gbPerDay / 24);
}

/** Ingest rates the report projects to: the prod stack's logpipe:usage.gbPerDay is 800. */
const PROJECT_GB_PER_DAY = [100, 800, 5000];
const SLOW_FACTOR = 4;
/**
 * Redis round trip inside a VPC, for the steady state's billed time: an ASSUMPTION (no published
 * figure for Tair's in-VPC latency was found; same-zone TCP round trips are well under 1 ms), stated
 * like the NAS model's 1 ms per operation; 0.5 ms.
 */
const REDIS_RTT_MS = 0.5;

const MB = 1024 * 1024;
/** Upload timer interval (the timer trigger's default, every minute). */
const TICK_MS = 60_000;
const NAS_MODEL = GENERAL_PURPOSE_PERFORMANCE_NAS;
/** Each OSS request upload makes waits this long, booked with the NAS model (object-store-latency.ts). */
const OBJECT_MODEL = OSS_SMALL_OBJECT_LATENCY;

export function stat(samples: number[], unit: string): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { unit, samples, median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN };
}

function tool(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

const PINNED = process.platform === "linux" && tool("taskset") && os.availableParallelism() >= 2;

function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return PINNED && cpu !== undefined ? ["taskset", ["-c", String(cpu), cmd, ...args]] : [cmd, args];
}

const CHILD_OUT = path.join(DATA_DIR, "build", "child.mjs");
const OSS_SERVER_OUT = path.join(DATA_DIR, "build", "oss-server.mjs");
/** The split function's deployed runtime settings, as they appear in the report. */
const SPLIT_ENV_TEXT = Object.entries(RUNTIME_ENV.split).map(([k, v]) => `${k}=${v}`).join(" ");
/**
 * The data path's runs (all three handlers in one process) get compress's and upload's libuv pool:
 * the overlap clock waits for the real call behind each modelled NAS operation, so a pool smaller
 * than the deployed one would book queueing that FC does not have. split's few file calls (4 at a
 * time) do not need more than Node's default, and are not slowed by more.
 */
const PIPELINE_ENV = { UV_THREADPOOL_SIZE: RUNTIME_ENV.compress.UV_THREADPOOL_SIZE! };

async function buildChild(): Promise<void> {
  mkdirSync(path.dirname(CHILD_OUT), { recursive: true });
  await build({
    entryPoints: [path.join(BENCH_DIR, "child.ts")],
    outfile: CHILD_OUT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
    ...RUNTIME_BUILD_OPTIONS, // timed as deployed (cli/build/artifacts.ts)
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

type OssServer = NonNullable<PipelineTask["oss"]> & { stop(): Promise<void> };

/**
 * The OSS-compatible test server (test/support/oss-server.ts) in a process of its own, for the
 * pipelines' uploads: the handler then pays the real client's CPU (ali-oss: signing, HTTP, the
 * CRC check) and not the store's work, which is OSS's; the request's latency is the OSS model's.
 */
async function startOssServerProcess(): Promise<OssServer> {
  await build({ entryPoints: [path.join(BENCH_DIR, "..", "test", "support", "oss-server.ts")], outfile: OSS_SERVER_OUT, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "error" });
  const child = spawn(process.execPath, [OSS_SERVER_OUT, "--port", "0", "--bucket", "logpipe-bench"], { stdio: ["ignore", "pipe", "pipe"] });
  const info = await new Promise<{ endpoint: string; bucket: string; accessKeyId: string; accessKeySecret: string }>((resolve, reject) => {
    let out = "", err = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => reject(new Error(`OSS test server exited (${code}): ${err.trim().slice(-500)}`)));
  });
  return {
    ...info, prefix: "",
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("close", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}

interface ChildRun<T> {
  result: T;
  wallMs: number;
}

function runChild<T>(task: ChildTask, opts: { cpu?: number; cpuProfDir?: string; onReady?: (go: () => void) => void; env?: Readonly<Record<string, string>> } = {}): Promise<ChildRun<T>> {
  const nodeArgs = [...(opts.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir] : []), "--max-old-space-size=4096", CHILD_OUT, taskArgument(task)];
  const [cmd, args] = pinned(opts.cpu, process.execPath, nodeArgs);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.onReady ? "pipe" : "ignore", "pipe", "pipe"], env: opts.env ? { ...process.env, ...opts.env } : process.env });
    let out = "", err = "";
    let ready = false;
    child.stdout!.on("data", (d) => {
      out += d;
      if (!ready && opts.onReady && out.includes("READY\n")) {
        ready = true;
        opts.onReady(() => child.stdin?.end("GO\n"));
      }
    });
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT:"));
      if (code !== 0 || !line) return reject(new Error(`bench step ${task.kind} failed (exit ${code}): ${err.trim().slice(-2000)}`));
      resolve({ result: JSON.parse(line.slice(7)) as T, wallMs: performance.now() - t0 });
    });
  });
}

/** Runs a compressor CLI over `input`, output to `outFile`; wall time in ms. */
function runTool(cpu: number | undefined, cmd: string, args: string[], input: string, outFile: string): Promise<number> {
  const [c, a] = pinned(cpu, cmd, [...args, input]);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const fd = openSync(outFile, "w");
    const child = spawn(c, a, { stdio: ["ignore", fd, "pipe"] });
    let err = "";
    child.stderr?.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      closeSync(fd);
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${err}`));
      else resolve(ms);
    });
  });
}


export function fmt(n: number | undefined | null, digits = 2): string {
  return n === undefined || n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

function num(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–";
}

/** The tables printed by `logpipe bench` and pasted into docs/bench.md. */
export function formatTable(r: BenchResults): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}${m.pinned ? ", every step pinned to one core with taskset" : ""}; load average ${m.loadAvgStart.map((x) => x.toFixed(1)).join("/")} at start`);
  lines.push(`Baselines: ${(r.data.ndjsonBytes / MB).toFixed(0)} MB NDJSON, ${r.data.ndjsonRecords} records over ${r.data.apps} Zipf apps (seed ${r.data.seed}); ${(r.data.eventBytes / MB).toFixed(0)} MB CloudEvents event (${r.data.eventRecords} records); ${r.reps} repetitions, median (min–max)${r.quick ? "; QUICK run" : ""}`);
  lines.push("");
  lines.push("| step | median | min–max |");
  lines.push("|---|---:|---:|");
  for (const s of Object.values(r.steps)) {
    if (s.skipped) lines.push(`| ${s.label} | skipped: ${s.skipped} | |`);
    else lines.push(`| ${s.label} | ${fmt(s.median, 1)} ${s.unit} | ${fmt(s.min, 1)}–${fmt(s.max, 1)} |`);
  }
  for (const s of Object.values(r.ratios)) lines.push(`| ${s.label} | ${fmt(s.median)}× | ${fmt(s.min)}–${fmt(s.max)} |`);
  const rss = r.resources.splitPeakRss;
  if (rss) {
    lines.push("");
    lines.push(`Split peak RSS: ${(rss.maxRssBytes / MB).toFixed(0)} MB for a ${(rss.eventBytes / MB).toFixed(0)} MB event (${fmt(rss.ratioToEvent)}×) with \`${rss.runtimeEnv}\`; ` +
      `${(rss.nodeDefaultsMaxRssBytes / MB).toFixed(0)} MB (${fmt(rss.nodeDefaultsRatioToEvent)}×) with Node's defaults; the process starts at ${(rss.baseRssBytes / MB).toFixed(0)} MB; a bare JSON.parse peaks at ${(rss.jsonParsePeakRssBytes / MB).toFixed(0)} MB`);
  }
  const a = r.axis;
  if (a.points.length) {
    const st = a.settings;
    lines.push("");
    lines.push(`App-count axis: ${fmt(st.axisBytes / MB, 0)} MB of NDJSON per app count in batches of ${st.batchRecords} records, ${st.coordStore}; simulated clock: ${fmt(st.ingestMBPerSecond)} MB/s ingest ` +
      `(1 record per ${st.recordIntervalMs} ms), upload tick every ${st.tickSeconds} s; drain at ${fmt(st.drainBytes / MB, 0)} MB or ${st.drainAgeMs / 1000} s, seal at ${fmt(st.sealBytes / MB, 0)} MB or ${st.sealAgeMs / 60_000} min, ${st.sweepAppsPerTask} apps per sweep task. ` +
      `NAS model: ${st.nasModel.name}, ${fmt(st.nasModel.metadataMs)} ms per metadata op, ${fmt(st.nasModel.dataCallMs)} ms per data call + ${fmt(st.nasModel.readMsPerMB)}/${fmt(st.nasModel.writeMsPerMB)} ms per MB read/written, ${fmt(st.nasModel.fsyncMs)} ms per fsync. ` +
      `Object store: ${st.objectStore}; OSS model (with the NAS model): ${st.objectModel.requestMs} ms per request (${st.objectModel.source}); upload sends ${st.uploadConcurrency} at a time. ` +
      `FC cost: ${a.pricing.table} prices of ${a.pricing.retrieved}, ${a.pricing.cuPrice} ${a.pricing.currency}/CU; sizes ${FUNCTIONS.map((f) => `${f} ${a.pricing.functionSizes[f].cpu} vCPU/${a.pricing.functionSizes[f].memoryMb} MB`).join(", ")}`);
    lines.push("");
    perGbTable(lines, a.points.map((p) => ({ apps: p.apps, off: p.off, on: p.on, floorMbPerSecond: p.floor.mbPerSecond, gzipCliBytes: p.gzipCliBytes })), a.pricing.currency);
    lines.push("");
    lines.push("| floor (same bytes, same run) | " + a.points.map((p) => `${num(p.apps)} apps`).join(" | ") + " |");
    lines.push("|---|" + a.points.map(() => "---:").join("|") + "|");
    lines.push(`| MB/s | ${a.points.map((p) => num(p.floor.mbPerSecond, 1)).join(" | ")} |`);
    lines.push(`| decode / app-id scan / gzip (ms) | ${a.points.map((p) => `${num(p.floor.decodeMs)} / ${num(p.floor.routeMs)} / ${num(p.floor.gzipMs)}`).join(" | ")} |`);
  }
  const sd = r.steady;
  if (sd?.points.length) {
    const st = sd.settings;
    lines.push("");
    lines.push(`Steady state: ${fmt(st.simulatedMinutes, 0)} simulated minutes per app count at ${fmt(st.ingestMBPerSecond)} MB/s (the axis's clock and settings; the long tail drains at ${fmt(st.drainMinBytes / MB, 0)} MB or ${st.drainMaxAgeMs / 60_000} min), ` +
      `booked from minute ${fmt(st.windowFromMinutes, 0)} (every app has been through a drain and a seal cycle) to the last batch; the final flush runs (every record is read back) but is not booked. ` +
      "Every app count runs side by side, a batch of each in turn, with each one's floor (decode + app-id scan + gzip -1 per app of its booked batches) timed between the steps: the counts and the floor see the same minutes of the machine, whose speed drifts by tens of percent between runs made one after the other. " +
      (st.processes === "per function"
        ? "Each function of each app count runs in a Node.js process of its own, started with that function's deployed runtime settings (infra/runtime-env.ts), as FC runs each function in its own instances: a handler's garbage is collected in its own heap and billed to it, not to whichever handler runs next; the trigger batch is read from its file just before split is invoked (as FC's runtime hands over a body it has just received), and the floor's likewise. "
        : "All handlers share one process (no Redis for separate processes to share). ") +
      ((st.reps ?? 1) > 1 ? `The full-rate run is repeated ${st.reps} times; each function is booked from the run where it used the least CPU (same batches, same clock: this machine's noise only adds), the floor from its fastest run. ` : "") +
      `"off" = measured handler wall time, less the time a handler sat idle waiting for the OSS stand-in (another process on this machine doing OSS's side of each request; its row below) — NAS operations and OSS requests counted, not waited; local disk. "on" = what FC would bill: the handlers' measured CPU time + the NAS model's time per operation and the OSS model's per request, booked on a virtual clock per handler on which operations and requests it has in flight together overlap, and which moves with the handler's CPU, so a wait its work covers is booked once (every wait booked after the CPU, and the serial sums, upper bounds, are the next rows) + ${REDIS_RTT_MS} ms per Redis round trip (assumed) + Redis's own time on their commands and scripts (its main thread's CPU, INFO cpu, read around each invocation) — CPU, not wall, so other load on the machine does not leak in.`);
    lines.push("");
    perGbTable(lines, sd.points.map((p) => ({ apps: p.apps, off: p.off, on: p.on, floorMbPerSecond: p.floorMbPerSecond, floorCpuMbPerSecond: p.floorCpuMbPerSecond, gzipCliBytes: p.gzipCliBytes, compressedBytes: p.compressedBytes })), a.pricing.currency);
    lines.push(`| MB booked (window minutes) | ${sd.points.map((p) => `${num(p.window.rawBytes / MB, 0)} (${fmt(p.window.fromMinutes, 0)}–${fmt(p.window.toMinutes, 0)})`).join(" | | ")} | |`);
    lines.push(`| run wall time s (records archived / delivered) | ${sd.points.map((p) => `${num(p.seconds, 0)} (${p.recordsArchived === p.records ? "all" : `${p.recordsArchived} of ${p.records}`})`).join(" | | ")} | |`);
    lines.push(`| handler s/GB at 1/${st.slowFactor} of the rate | ${sd.points.map((p) => `${num(p.slow.off.handlerSecondsPerGb, 0)} | ${num(p.slow.on.handlerSecondsPerGb, 0)}`).join(" | ")} |`);
    lines.push("");
    lines.push(`Per GB and per hour (NAS model on), solved from the steady state at ${fmt(sd.points[0]!.rates.gbPerHour * 24, 1)} and ${fmt(sd.points[0]!.rates.slowGbPerHour * 24, 1)} GB/day: ` +
      `handler s/GB = per-GB part + per-hour part ÷ GB per hour. The per-hour part is what apps cost by being there (members per drain age, objects per seal age, the tick); ` +
      `projections to other rates assume both parts stay as measured.`);
    lines.push("");
    const base = sd.points[0]!;
    lines.push("| | " + sd.points.map((p) => `${num(p.apps)} apps`).join(" | ") + " |");
    lines.push("|---|" + sd.points.map(() => "---:").join("|") + "|");
    lines.push(`| per-GB part, handler s (split / compress / upload) | ${sd.points.map((p) => `${num(p.model.perGbSeconds, 0)} (${FUNCTIONS.map((f) => num(p.model.functions[f].perGbSeconds, 0)).join(" / ")})`).join(" | ")} |`);
    lines.push(`| per-hour part, handler s per hour | ${sd.points.map((p) => num(p.model.perHourSeconds, 0)).join(" | ")} |`);
    for (const g of st.projectGbPerDay) {
      lines.push(`| projected handler s/GB at ${num(g)} GB/day (÷ ${num(base.apps)} apps) | ${sd.points.map((p) => `${num(projectedSecondsPerGb(p.model, g), 0)} (${fmt(projectedSecondsPerGb(p.model, g) / projectedSecondsPerGb(base.model, g))}×)`).join(" | ")} |`);
    }
  }
  lines.push("");
  lines.push("| target | required | measured | |");
  lines.push("|---|---|---:|---|");
  for (const t of r.targets) lines.push(`| ${t.description} | ${t.target} | ${t.value === null ? "–" : fmt(t.value)} | ${t.met === null ? "not measured" : t.met ? "met" : "MISSED"}${t.note ? ` — ${t.note}` : ""} |`);
  if (r.profiles) {
    for (const [name, p] of Object.entries(r.profiles)) {
      lines.push("");
      const what = p.invocations === undefined ? name : `${name}, ${num(p.invocations)} invocation${p.invocations === 1 ? "" : "s"}`;
      lines.push(`CPU profile (${what}, ${p.file}): total ${fmt(p.totalMs, 0)} ms; top self time:`);
      for (const f of p.top.slice(0, 12)) lines.push(`  ${fmt(f.percent, 1).padStart(5)}%  ${f.name}  ${f.where}`);
    }
  }
  if (r.profileFile) lines.push("", `Usage profile written to ${r.profileFile}`);
  if (r.notes.length) {
    lines.push("");
    for (const n of r.notes) lines.push(`Note: ${n}`);
  }
  return lines.join("\n");
}

/** Per-GB table of pipeline runs, one "off | on" column pair per app count. */
/** The floor a model's figures are compared with: wall time for "off" (handler wall time), CPU time for "on" (booked CPU + modelled waits). */
function floorOf(p: { floorMbPerSecond?: number; floorCpuMbPerSecond?: number }, model: "off" | "on"): number | undefined {
  return model === "on" ? (p.floorCpuMbPerSecond ?? p.floorMbPerSecond) : p.floorMbPerSecond;
}

function perGbTable(lines: string[], cols: { apps: number; off: AxisRun; on: AxisRun; floorMbPerSecond?: number; floorCpuMbPerSecond?: number; gzipCliBytes?: number; compressedBytes?: number }[], currency: string): void {
  lines.push("| per GB of raw records | " + cols.map((p) => `${num(p.apps)} apps off | on`).join(" | ") + " |");
  lines.push("|---|" + cols.map(() => "---:|---:").join("|") + "|");
  type Col = (typeof cols)[number];
  const row = (label: string, get: (x: AxisRun, p: Col) => string) => lines.push(`| ${label} | ${cols.map((p) => `${get(p.off, p)} | ${get(p.on, p)}`).join(" | ")} |`);
  row("handler s (what FC bills)", (x) => num(x.handlerSecondsPerGb, 0));
  for (const f of FUNCTIONS) row(`  ${f}`, (x) => num(x.functions[f].handlerSecondsPerGb, 0));
  row("  of which CPU s", (x) => num(x.cpuSecondsPerGb, 0));
  for (const f of FUNCTIONS) row(`  ${f}: CPU / modelled wait / Redis's time s`, (x) => `${num(x.functions[f].cpuSecondsPerGb, 1)} / ${num(x.functions[f].modelledWaitSecondsPerGb, 1)} / ${num(x.functions[f].redisServerSecondsPerGb, 1)}`);
  row("  garbage-collection pauses within that CPU, split / compress / upload s", (x) => FUNCTIONS.map((f) => num(x.functions[f].gcSecondsPerGb ?? 0, 1)).join(" / "));
  row("  of which modelled wait s (NAS + OSS requests)", (x) => num(x.modelledWaitSecondsPerGb, 0));
  row("  handler s with every wait booked after the CPU (upper bound)", (x) => num(x.handlerSecondsPerGbWaitsAfterCpu ?? x.handlerSecondsPerGb, 0));
  row("  modelled NAS s if nothing overlapped", (x) => num(x.nasSerialSecondsPerGb, 0));
  row("  modelled OSS request s if nothing overlapped", (x) => num(x.objectRequestSerialSecondsPerGb, 0));
  row("  Redis's own time on the handlers' commands s", (x) => num(x.redisServerSecondsPerGb ?? 0, 1));
  row("  idle waiting for the OSS stand-in (another process here), left out s", (x) => num(x.standInIdleSecondsPerGb ?? 0, 1));
  row("FC invocations", (x) => num(x.invocationsPerGb, 0));
  for (const f of FUNCTIONS) row(`  ${f}`, (x) => num(x.functions[f].invocationsPerGb, 0));
  row("NAS metadata ops", (x) => num(NAS_METADATA_KINDS.reduce((t, k) => t + (x.nasOpsPerGb[k] ?? 0), 0), 0));
  for (const k of NAS_METADATA_KINDS) row(`  ${k}`, (x) => num(x.nasOpsPerGb[k] ?? 0, 0));
  row("NAS read / write calls", (x) => `${num(x.nasOpsPerGb.read ?? 0, 0)} / ${num(x.nasOpsPerGb.write ?? 0, 0)}`);
  row("NAS MB read / written", (x) => `${num(x.nasOpsPerGb.readMB ?? 0, 0)} / ${num(x.nasOpsPerGb.writeMB ?? 0, 0)}`);
  row("NAS fsyncs", (x) => num(x.nasOpsPerGb.fsync ?? 0, 0));
  row("Redis round trips", (x) => num(x.redisRoundTripsPerGb, 0));
  row("gzip members", (x) => num(x.gzipMembersPerGb, 0));
  row("objects sealed and uploaded", (x) => num(x.objectsPerGb, 0));
  row("OSS requests", (x) => num(x.objectRequestsPerGb, 0));
  row(`FC cost (${currency})`, (x) => num(x.fcCostPerGb, 3));
  row("objects per app per hour (max / median)", (x) => `${x.objectsPerAppHour.max} / ${x.objectsPerAppHour.median}`);
  row("end-to-end MB/s", (x) => num(x.mbPerSecond, 1));
  row("  ÷ floor (off: wall time, on: CPU time)", (x, p) => {
    const f = floorOf(p, x === p.on ? "on" : "off");
    return f ? `${fmt(x.mbPerSecond / f)}×` : "–";
  });
  row("compressed ÷ gzip -1", (x, p) => (p.gzipCliBytes ? `${fmt((p.compressedBytes ?? x.compressedBytes) / p.gzipCliBytes, 3)}×` : "–"));
  row("record age at upload p50 / p99 (s)", (x) => `${fmt((x.ageP50Ms ?? NaN) / 1000, 0)} / ${fmt((x.ageP99Ms ?? NaN) / 1000, 0)}`);
}

export function writeResults(r: BenchResults, file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
}

export const DEFAULT_RESULTS = path.join(BENCH_DIR, "results.json");
export const QUICK_RESULTS = path.join(DATA_DIR, "results-quick.json");
export const DEFAULT_PROFILE = path.join(BENCH_DIR, "profile.json");
export const QUICK_PROFILE = path.join(DATA_DIR, "profile-quick.json");

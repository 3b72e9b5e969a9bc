/**
 * `logpipe bench`: baselines and logpipe measured in one run on the same bytes, each timed step
 * in its own process (pinned to one CPU with taskset when available), repeated round-robin so
 * machine noise hits every step alike. Reports medians (and min/max) and ratios to baselines.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { LocalObjectStore } from "../functions/adapters/local-object-store.js";
import { parseArchiveKey } from "../functions/core/layout.js";
import { runLocal } from "../cli/local/run.js";
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from "../cli/services/redis-server.js";
import { fileSource } from "../cli/sources/file.js";
import { RUNTIME_ENV } from "../infra/runtime-env.js";
import type { ChildTask } from "./child.js";
import { BENCH_DIR, DATA_DIR, ensureBenchData, type BenchData, type DataSpec } from "./data.js";
import { summarizeProfile, type ProfileSummary } from "./profile.js";

export interface BenchOptions {
  quick?: boolean;
  reps?: number;
  cpuProf?: boolean;
  /** Skip the `logpipe local` run (objects per app). */
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

export interface BenchResults {
  version: 1;
  generatedAt: string;
  quick: boolean;
  machine: { cpu: string; cores: number; memoryGb: number; node: string; os: string; pinned: boolean; loadAvgStart: number[]; loadAvgEnd: number[] };
  data: { ndjsonBytes: number; ndjsonRecords: number; eventBytes: number; eventRecords: number; batchRecords: number; batches: number; batchEventBytes: number; apps: number; seed: number };
  reps: number;
  /** Throughputs (MB/s of NDJSON bytes unless noted) and times, over the repetitions. */
  steps: Record<string, Stat & { label: string; note?: string; skipped?: string }>;
  /** Ratios computed per repetition (paired) and summarized. */
  ratios: Record<string, Stat & { label: string }>;
  resources: {
    /** measured with the split function's deployed runtime settings (`runtimeEnv`); Node's defaults alongside */
    splitPeakRss?: { eventBytes: number; maxRssBytes: number; baseRssBytes: number; ratioToEvent: number; jsonParsePeakRssBytes: number; runtimeEnv: string; nodeDefaultsMaxRssBytes: number; nodeDefaultsRatioToEvent: number };
    compressed?: { logpipeBytes: number; gzipCliBytes: number; zstdCliBytes?: number; nodeGzipBytes: number; ratioToGzipCli: number };
    roundTrips?: { apps: number; recordsPerBatch: number; perBatch: number; chunksPerBatch: number; perChunk: number }[];
    localRun?: { seconds: number; mbPerSecond: number; ok: boolean; records: number; apps: number; objects: number; objectsPerApp: { min: number; median: number; max: number }; objectBytes: { min: number; p50: number; p90: number; max: number; total: number }; perApp: { app: string; objects: number; bytes: number }[] };
  };
  targets: TargetResult[];
  profiles?: Record<string, ProfileSummary>;
  notes: string[];
}

const MB = 1024 * 1024;

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
/** The split function's deployed runtime settings, as they appear in the report. */
const SPLIT_ENV_TEXT = Object.entries(RUNTIME_ENV.split).map(([k, v]) => `${k}=${v}`).join(" ");

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
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

interface ChildRun<T> {
  result: T;
  wallMs: number;
}

function runChild<T>(task: ChildTask, opts: { cpu?: number; cpuProfDir?: string; onReady?: (go: () => void) => void; env?: Readonly<Record<string, string>> } = {}): Promise<ChildRun<T>> {
  const nodeArgs = [...(opts.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir] : []), "--max-old-space-size=4096", CHILD_OUT, JSON.stringify(task)];
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


function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function objectsPerApp(root: string) {
  const store = new LocalObjectStore(root);
  const perApp = new Map<string, { objects: number; bytes: number }>();
  for await (const o of store.list("")) {
    const k = parseArchiveKey(o.key);
    if (!k) continue;
    const e = perApp.get(k.app) ?? { objects: 0, bytes: 0 };
    e.objects++;
    e.bytes += o.size;
    perApp.set(k.app, e);
  }
  return perApp;
}

async function listSizes(root: string): Promise<number[]> {
  const store = new LocalObjectStore(root);
  const sizes: number[] = [];
  for await (const o of store.list("")) if (parseArchiveKey(o.key)) sizes.push(o.size);
  return sizes;
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchResults> {
  const t0 = performance.now();
  const sink = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const log = (l: string) => sink(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${l}`);
  const quick = !!opts.quick;
  const reps = opts.reps ?? (quick ? 3 : 5);
  const spec: DataSpec = quick
    ? { ndjsonBytes: 16 * MB, eventBytes: 4 * MB, batchRecords: 10_000, partitions: 4, apps: 50, seed: 42 }
    : { ndjsonBytes: 256 * MB, eventBytes: 32 * MB, batchRecords: 10_000, partitions: 4, apps: 50, seed: 42 };
  const loadAvgStart = os.loadavg();
  const notes: string[] = [];

  log(`bench: ${quick ? "quick" : "full"} run, ${reps} repetitions; generating data under ${path.relative(process.cwd(), DATA_DIR) || DATA_DIR}`);
  const data: BenchData = ensureBenchData(spec);
  log(`bench: data ${data.reused ? "reused" : `generated in ${data.generatedSeconds.toFixed(1)} s`}: ${(data.ndjson.bytes / MB).toFixed(0)} MB NDJSON (${data.ndjson.records} records), ` +
    `${(data.event.bytes / MB).toFixed(1)} MB event (${data.event.records} records), ${data.batches.files.length} batches of ${spec.batchRecords} records`);
  await buildChild();

  const work = path.join(DATA_DIR, `work-${process.pid}`); // several runs (e.g. the smoke test) may overlap
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const hasGzip = tool("gzip");
  const hasZstd = tool("zstd");
  if (!hasGzip) notes.push("gzip CLI not installed: the gzip -1 baseline and the ratios against it are skipped");
  if (!hasZstd) notes.push("zstd CLI not installed: the zstd -1 baseline is skipped");
  if (PINNED) notes.push("single-core steps run under `taskset -c 0`; the 2-worker step pins its workers to CPUs 0 and 1 (redis-server unpinned)");
  else notes.push("taskset unavailable or < 2 CPUs: steps are not pinned to a core");
  notes.push(`split alone (time, peak RSS, profile) runs with the split function's deployed runtime settings: ${SPLIT_ENV_TEXT} (infra/runtime-env.ts)`);

  let redis: RedisServerHandle | undefined;
  if (redisServerAvailable()) redis = await startRedisServer();
  else notes.push("redis-server not installed: the Redis-store, worker-scaling and round-trip steps are skipped");

  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  const ndjsonMB = data.ndjson.bytes / MB;
  let gzipCliBytes = 0, zstdCliBytes = 0, nodeGzipBytes = 0, logpipeBytes = 0;
  let prefixSeq = 0;
  const batchFiles = data.batches.files;
  // The records' bytes as NDJSON (value + newline), the same bytes the baselines compress.
  const recordMB = (data.batches.valueBytes + data.batches.records) / MB;

  try {
    for (let rep = 1; rep <= reps; rep++) {
      log(`bench: repetition ${rep}/${reps}`);
      if (hasGzip) {
        const out = path.join(work, "gzip.out");
        const ms = await runTool(0, "gzip", ["-1", "-c"], data.ndjson.path, out);
        gzipCliBytes = statSync(out).size;
        add("gzipCli", ndjsonMB / (ms / 1000));
        rmSync(out, { force: true });
      }
      if (hasZstd) {
        const out = path.join(work, "zstd.out");
        const ms = await runTool(0, "zstd", ["-1", "--single-thread", "-q", "-c"], data.ndjson.path, out);
        zstdCliBytes = statSync(out).size;
        add("zstdCli", ndjsonMB / (ms / 1000));
        rmSync(out, { force: true });
      }
      {
        const r = await runChild<{ ms: number; bytesOut: number }>({ kind: "gzip-node", file: data.ndjson.path, level: 1, warmup: true }, { cpu: 0 });
        nodeGzipBytes = r.result.bytesOut;
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
      {
        const nasRoot = path.join(work, `e2e-mem-${rep}`);
        const r = await runChild<{ ms: number; bytesOut: number; cpuMs: number }>({ kind: "e2e", files: batchFiles, nasRoot }, { cpu: 0 });
        logpipeBytes = r.result.bytesOut;
        add("e2eMemory", recordMB / (r.result.ms / 1000));
        add("e2eMemoryCpuShare", r.result.cpuMs / r.result.ms);
        rmSync(nasRoot, { recursive: true, force: true });
      }
      // Diagnostic steps (where the time goes, not targets): once in a quick run, which must stay
      // under a minute, every repetition otherwise.
      if (!quick || rep === 1) {
        // the same batches with the trigger envelope decoded before the clock starts: what
        // logpipe adds to the record bytes, comparable with the baselines' work
        const nasRoot = path.join(work, `e2e-rec-${rep}`);
        const r = await runChild<{ ms: number }>({ kind: "e2e", files: batchFiles, nasRoot, decodedBefore: true }, { cpu: 0 });
        add("e2eRecords", recordMB / (r.result.ms / 1000));
        rmSync(nasRoot, { recursive: true, force: true });
      }
      if (!quick || rep === 1) {
        const r = await runChild<{ routeMs: number; gzipMs: number }>({ kind: "floor", files: batchFiles, nasRoot: path.join(work, `floor-${rep}`) }, { cpu: 0 });
        add("floorRoute", recordMB / (r.result.routeMs / 1000));
        add("floorGzip", recordMB / (r.result.gzipMs / 1000));
        add("floorCeiling", recordMB / ((r.result.routeMs + r.result.gzipMs) / 1000));
      }
      if (!quick || rep === 1) {
        const r = await runChild<{ syncUs: number; asyncUs: number }>({ kind: "fs-ops", dir: path.join(work, "fs-ops"), files: quick ? 300 : 1500, bytes: 50 * 1024 }, { cpu: 0 });
        add("fsOpsSync", r.result.syncUs);
        add("fsOpsAsync", r.result.asyncUs);
      }
      if (redis) {
        const nasRoot = path.join(work, `e2e-redis-${rep}`);
        const r = await runChild<{ ms: number; roundTrips: number; batches: number; cpuMs: number; sysCpuMs: number }>({ kind: "e2e", files: batchFiles, nasRoot, redisUrl: redis.url, keyPrefix: `bench${++prefixSeq}` }, { cpu: 0 });
        add("e2eRedis", recordMB / (r.result.ms / 1000));
        add("workers1UserMsPerMB", (r.result.cpuMs - r.result.sysCpuMs) / recordMB);
        add("workers1SysMsPerMB", r.result.sysCpuMs / recordMB);
        add("workers1Busy", r.result.cpuMs / r.result.ms);
        add("e2eRedisRoundTripsPerBatch", r.result.roundTrips / r.result.batches);
        rmSync(nasRoot, { recursive: true, force: true });

        // Two worker processes, each taking every other batch (so different partitions), one CPU each.
        const nas2 = path.join(work, `e2e-w2-${rep}`);
        const keyPrefix = `bench${++prefixSeq}`;
        const halves = [0, 1].map((w) => batchFiles.filter((_, i) => i % 2 === w));
        // both workers load their batches, report READY, and start on one GO
        const gos: (() => void)[] = [];
        const onReady = (go: () => void) => {
          gos.push(go);
          if (gos.length === 2) for (const g of gos) g();
        };
        const runs = await Promise.all(halves.map((files, w) => runChild<{ startedAt: number; endedAt: number; ms: number; cpuMs: number; sysCpuMs: number }>({ kind: "e2e", files, nasRoot: nas2, redisUrl: redis!.url, keyPrefix, barrier: true }, { cpu: w, onReady })));
        const skew = Math.abs(runs[0]!.result.startedAt - runs[1]!.result.startedAt);
        if (skew > 50) notes.push(`2-worker run ${rep}: the workers started ${skew} ms apart`);
        const wall = Math.max(...runs.map((x) => x.result.endedAt)) - Math.min(...runs.map((x) => x.result.startedAt));
        add("workers2", recordMB / (wall / 1000));
        // where the two workers' time goes, per MB of records (the same work as the 1-worker run's)
        const cpu2 = runs.reduce((t, x) => t + x.result.cpuMs, 0);
        const sys2 = runs.reduce((t, x) => t + x.result.sysCpuMs, 0);
        add("workers2UserMsPerMB", (cpu2 - sys2) / recordMB);
        add("workers2SysMsPerMB", sys2 / recordMB);
        add("workers2Busy", cpu2 / (2 * wall));
        rmSync(nas2, { recursive: true, force: true });
      }
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
    resources.compressed = {
      logpipeBytes, gzipCliBytes, zstdCliBytes: hasZstd ? zstdCliBytes : undefined, nodeGzipBytes,
      ratioToGzipCli: hasGzip ? logpipeBytes / gzipCliBytes : NaN,
    };

    if (redis) {
      log("bench: Redis round trips per batch vs apps and records");
      resources.roundTrips = [];
      const batches = quick ? 3 : 4;
      for (const apps of [5, 50]) {
        for (const records of quick ? [500, 2000] : [2000, 10000]) {
          const r = await runChild<{ perBatch: number[]; chunks: number[] }>({ kind: "roundtrips", redisUrl: redis.url, keyPrefix: `rt${++prefixSeq}`, nasRoot: path.join(work, `rt-${apps}-${records}`), apps, records, batches, seed: 7 });
          // the first batch also registers the apps (one round trip); report the steady state
          const steady = r.result.perBatch.slice(1);
          const chunks = r.result.chunks.slice(1);
          const perBatch = steady.reduce((a, b) => a + b, 0) / steady.length;
          const chunksPerBatch = chunks.reduce((a, b) => a + b, 0) / chunks.length;
          resources.roundTrips.push({ apps, recordsPerBatch: records, perBatch, chunksPerBatch, perChunk: perBatch / chunksPerBatch });
        }
      }
    }

    if (!opts.skipLocal && redis) {
      log("bench: logpipe local run (objects per app)");
      const outDir = path.join(work, "local");
      const report = await runLocal({
        source: fileSource(data.ndjson.path, { topic: "app-logs" }),
        outDir, redisUrl: redis.url, keyPrefix: `local${++prefixSeq}`,
        trigger: { batchRecords: spec.batchRecords, batchWindowMs: 500, maximumTasks: 2 },
        uploadIntervalMs: 500,
        verify: true,
      });
      const perApp = await objectsPerApp(path.join(outDir, "objects"));
      const sizes = (await listSizes(path.join(outDir, "objects"))).sort((a, b) => a - b);
      const counts = [...perApp.values()].map((e) => e.objects).sort((a, b) => a - b);
      resources.localRun = {
        seconds: report.seconds, mbPerSecond: report.mbPerSecond, ok: report.ok, records: report.records,
        apps: perApp.size, objects: sizes.length,
        objectsPerApp: { min: counts[0] ?? 0, median: percentile(counts, 50), max: counts[counts.length - 1] ?? 0 },
        objectBytes: { min: sizes[0] ?? 0, p50: percentile(sizes, 50), p90: percentile(sizes, 90), max: sizes[sizes.length - 1] ?? 0, total: sizes.reduce((a, b) => a + b, 0) },
        perApp: [...perApp].map(([app, e]) => ({ app, ...e })).sort((a, b) => b.bytes - a.bytes),
      };
      if (!report.ok) notes.push(`logpipe local run did not verify: ${JSON.stringify(report.verify)}`);
      rmSync(outDir, { recursive: true, force: true });
    }

    // ---- profiles (not part of the timings)
    let profiles: Record<string, ProfileSummary> | undefined;
    if (opts.cpuProf) {
      log("bench: --cpu-prof runs (split of the event, end-to-end, end-to-end from decoded records)");
      profiles = {};
      const dir = path.join(DATA_DIR, "profiles");
      // split: the whole process (--cpu-prof); end-to-end runs: the timed section only (the
      // child's inspector), so loading and decoding the batches beforehand is left out
      for (const [name, task] of [
        ["split", { kind: "split", file: data.event.path, nasRoot: path.join(work, "prof-split"), warmup: true }],
        ["e2e", { kind: "e2e", files: batchFiles, nasRoot: path.join(work, "prof-e2e") }],
        ["e2e-records", { kind: "e2e", files: batchFiles, nasRoot: path.join(work, "prof-e2e-rec"), decodedBefore: true }],
      ] as [string, ChildTask][]) {
        const d = path.join(dir, name);
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { recursive: true });
        if (task.kind === "e2e") await runChild({ ...task, profileTo: path.join(d, "timed.cpuprofile") }, { cpu: 0 });
        else await runChild(task, { cpu: 0, cpuProfDir: d, env: RUNTIME_ENV.split });
        const file = readdirSync(d).find((f) => f.endsWith(".cpuprofile"));
        if (file) profiles[name] = { ...summarizeProfile(JSON.parse(readFileSync(path.join(d, file), "utf8"))), file: path.relative(process.cwd(), path.join(d, file)) };
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
    S("split", `logpipe split of the ${(data.event.bytes / MB).toFixed(0)} MB event (parse, route, write chunks)`, "ms");
    S("e2eMemory", "logpipe split+compress+append, 1 core, in-process coord store", "MB/s");
    S("e2eRecords", "  the same with the trigger envelope decoded before the clock starts", "MB/s");
    S("e2eMemoryCpuShare", "  CPU time ÷ wall time of that run (how busy the core was)", "fraction");
    S("e2eRedis", "logpipe split+compress+append, 1 core, Redis store (= 1 worker)", "MB/s");
    S("workers2", "logpipe split+compress+append, 2 worker processes, Redis store", "MB/s");
    S("workers1Busy", "  CPU time ÷ wall time of the worker, 1 worker", "fraction");
    S("workers2Busy", "  the same, 2 workers (each worker's CPU ÷ the run's wall time, averaged)", "fraction");
    S("workers1UserMsPerMB", "  user CPU per MB of records, 1 worker", "ms/MB");
    S("workers2UserMsPerMB", "  user CPU per MB of records, 2 workers together", "ms/MB");
    S("workers1SysMsPerMB", "  kernel CPU per MB of records (file calls, page faults), 1 worker", "ms/MB");
    S("workers2SysMsPerMB", "  kernel CPU per MB of records, 2 workers together", "ms/MB");
    S("floorRoute", "  app-id scan of every record alone (validating JSON scanner)", "MB/s");
    S("floorGzip", "  gzip level 1 of the chunk bodies alone, one call per chunk", "MB/s");
    S("floorCeiling", "  ceiling: those two together, with no files, locks or copies", "MB/s");
    S("fsOpsSync", "file operations of one 50 KB chunk's life, blocking calls", "µs");
    S("fsOpsAsync", "  the same with fs/promises calls", "µs");
    S("e2eRedisRoundTripsPerBatch", "Redis round trips per batch (end-to-end run)", "count");
    if (!hasGzip) steps.gzipCli = { ...stat([], "MB/s"), label: "gzip -1 (CLI)", skipped: "gzip not installed" };
    if (!hasZstd) steps.zstdCli = { ...stat([], "MB/s"), label: "zstd -1 --single-thread (CLI)", skipped: "zstd not installed" };

    // Paired ratios: repetition i of one step against repetition i of its baseline.
    const ratios: BenchResults["ratios"] = {};
    const R = (key: string, label: string, num: string, den: string, invert = false) => {
      const a = samples[num], b = samples[den];
      if (!a || !b) return;
      const r = a.map((x, i) => (invert ? b[i]! / x : x / b[i]!)).filter((x) => Number.isFinite(x));
      ratios[key] = { ...stat(r, "×"), label };
    };
    R("e2eVsGzipCli", "end-to-end (in-process store) ÷ gzip -1 CLI speed", "e2eMemory", "gzipCli");
    R("e2eRecordsVsGzipCli", "end-to-end, envelope decoded beforehand ÷ gzip -1 CLI speed", "e2eRecords", "gzipCli");
    R("floorCeilingVsGzipCli", "ceiling (app-id scan + per-chunk gzip only) ÷ gzip -1 CLI speed", "floorCeiling", "gzipCli");
    R("e2eRedisVsGzipCli", "end-to-end (Redis store) ÷ gzip -1 CLI speed", "e2eRedis", "gzipCli");
    R("e2eVsNodeGzip", "end-to-end (in-process store) ÷ Node gzipSync speed", "e2eMemory", "nodeGzip");
    R("e2eVsZstdCli", "end-to-end (in-process store) ÷ zstd -1 CLI speed", "e2eMemory", "zstdCli");
    R("splitVsJsonParse", "split time ÷ JSON.parse time (incl. decode)", "split", "jsonParse");
    R("splitVsJsonParseOnly", "split time ÷ JSON.parse(string) time (decode excluded)", "split", "jsonParseOnly");
    R("fsAsyncVsSync", "fs/promises ÷ blocking calls, time per chunk's file operations", "fsOpsAsync", "fsOpsSync");
    R("workers2VsWorkers1", "2 workers ÷ 1 worker speed (Redis store)", "workers2", "e2eRedis");
    R("workers2UserVsWorkers1", "  user CPU per MB, 2 workers ÷ 1 worker (1.00 = no contention)", "workers2UserMsPerMB", "workers1UserMsPerMB");
    R("workers2SysVsWorkers1", "  kernel CPU per MB, 2 workers ÷ 1 worker", "workers2SysMsPerMB", "workers1SysMsPerMB");

    const targets = evaluateTargets(steps, ratios, resources, hasGzip);
    const results: BenchResults = {
      version: 1,
      generatedAt: new Date().toISOString(),
      quick,
      machine: {
        cpu: os.cpus()[0]?.model ?? "unknown", cores: os.availableParallelism(), memoryGb: Math.round(os.totalmem() / 1024 ** 3),
        node: process.version, os: `${os.type()} ${os.release()}`, pinned: PINNED, loadAvgStart, loadAvgEnd: os.loadavg(),
      },
      data: {
        ndjsonBytes: data.ndjson.bytes, ndjsonRecords: data.ndjson.records, eventBytes: data.event.bytes, eventRecords: data.event.records,
        batchRecords: spec.batchRecords, batches: batchFiles.length, batchEventBytes: data.batches.eventBytes, apps: spec.apps, seed: spec.seed,
      },
      reps, steps, ratios, resources, targets, profiles, notes,
    };
    return results;
  } finally {
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function evaluateTargets(steps: BenchResults["steps"], ratios: BenchResults["ratios"], res: BenchResults["resources"], hasGzip: boolean): TargetResult[] {
  const t: TargetResult[] = [];
  const e2e = ratios.e2eVsGzipCli?.median;
  t.push({
    id: "e2e-vs-gzip", description: "end-to-end split + compress + append vs gzip -1, same bytes", target: "≥ 1.3×",
    value: hasGzip && e2e !== undefined ? e2e : null, met: hasGzip && e2e !== undefined ? e2e >= 1.3 : null,
    note: hasGzip
      ? `median of paired ratios, input = trigger batches in CloudEvents; with the envelope decoded beforehand ${fmt(ratios.e2eRecordsVsGzipCli?.median)}×; Redis store ${fmt(ratios.e2eRedisVsGzipCli?.median)}×; ceiling of app-id scan + per-chunk gzip alone ${fmt(ratios.floorCeilingVsGzipCli?.median)}×`
      : "gzip not installed",
  });
  const sp = ratios.splitVsJsonParse?.median;
  t.push({
    id: "split-vs-json-parse", description: "split of the event vs a bare JSON.parse of it", target: "≤ 1.3×",
    value: sp ?? null, met: sp !== undefined ? sp <= 1.3 : null,
    note: `against JSON.parse(string) with the decode excluded: ${fmt(ratios.splitVsJsonParseOnly?.median)}×`,
  });
  const c = res.compressed;
  t.push({
    id: "compressed-vs-gzip", description: "compressed bytes vs gzip -1 of the raw input", target: "≤ 1.0×",
    value: c && hasGzip ? c.ratioToGzipCli : null, met: c && hasGzip ? c.ratioToGzipCli <= 1.0 : null,
    note: c ? `${(c.logpipeBytes / MB).toFixed(1)} MB vs ${(c.gzipCliBytes / MB).toFixed(1)} MB` : "",
  });
  const rt = res.roundTrips;
  if (rt && rt.length === 4) {
    const [a5r1, a5r2, a50r1, a50r2] = rt as [NonNullable<typeof rt>[number], NonNullable<typeof rt>[number], NonNullable<typeof rt>[number], NonNullable<typeof rt>[number]];
    const recordGrowth = Math.max(a5r2.perBatch / a5r1.perBatch, a50r2.perBatch / a50r1.perBatch);
    const appGrowth = Math.min(a50r1.perBatch / a5r1.perBatch, a50r2.perBatch / a5r2.perBatch);
    t.push({
      id: "roundtrips-scale", description: "Redis round trips per batch grow with apps, not records", target: "records ×N → round trips ≈ same",
      value: recordGrowth, met: recordGrowth <= 1.25 && appGrowth > 1.5,
      note: `×${a5r2.recordsPerBatch / a5r1.recordsPerBatch} records/batch → ×${fmt(recordGrowth)} round trips; ×10 apps → ×${fmt(appGrowth)}; ≈${fmt(a50r2.perChunk)} per chunk`,
    });
  } else t.push({ id: "roundtrips-scale", description: "Redis round trips per batch grow with apps, not records", target: "", value: null, met: null, note: "redis-server not installed" });
  const rss = res.splitPeakRss;
  t.push({
    id: "split-peak-rss", description: "split peak RSS vs event size", target: "≤ 4×",
    value: rss ? rss.ratioToEvent : null, met: rss ? rss.ratioToEvent <= 4 : null,
    note: rss ? `${(rss.maxRssBytes / MB).toFixed(0)} MB peak with split's deployed settings (${rss.runtimeEnv}); ${fmt(rss.nodeDefaultsRatioToEvent)}× (${(rss.nodeDefaultsMaxRssBytes / MB).toFixed(0)} MB) with Node's defaults. The process starts at ${(rss.baseRssBytes / MB).toFixed(0)} MB, so split itself adds ${fmt((rss.maxRssBytes - rss.baseRssBytes) / rss.eventBytes)}×; bare JSON.parse peaks at ${(rss.jsonParsePeakRssBytes / MB).toFixed(0)} MB` : "",
  });
  const w = ratios.workers2VsWorkers1?.median;
  t.push({
    id: "workers-scaling", description: "2 workers vs 1 worker", target: "≥ 1.8×",
    value: w ?? null, met: w !== undefined ? w >= 1.8 : null,
    note: w === undefined ? "redis-server not installed" : `paired per repetition; CPU per MB of records, 2 workers ÷ 1: user ${fmt(ratios.workers2UserVsWorkers1?.median ?? NaN)}×, kernel ${fmt(ratios.workers2SysVsWorkers1?.median ?? NaN)}×`,
  });
  void steps;
  return t;
}

export function fmt(n: number | undefined | null, digits = 2): string {
  return n === undefined || n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

/** The table printed by `logpipe bench` and pasted into docs/bench.md. */
export function formatTable(r: BenchResults): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}${m.pinned ? ", single-core steps pinned with taskset" : ""}; load average ${m.loadAvgStart.map((x) => x.toFixed(1)).join("/")} at start`);
  lines.push(`Data: ${(r.data.ndjsonBytes / MB).toFixed(0)} MB NDJSON, ${r.data.ndjsonRecords} records over ${r.data.apps} Zipf apps (seed ${r.data.seed}); ` +
    `${(r.data.eventBytes / MB).toFixed(0)} MB CloudEvents event (${r.data.eventRecords} records); end-to-end input ${r.data.batches} trigger batches of ${r.data.batchRecords} records (${(r.data.batchEventBytes / MB).toFixed(0)} MB of CloudEvents)`);
  lines.push(`${r.reps} repetitions, median (min–max)${r.quick ? "; QUICK run" : ""}`);
  lines.push("");
  lines.push("| step | median | min–max |");
  lines.push("|---|---:|---:|");
  for (const s of Object.values(r.steps)) {
    if (s.skipped) lines.push(`| ${s.label} | skipped: ${s.skipped} | |`);
    else lines.push(`| ${s.label} | ${fmt(s.median, s.unit === "fraction" ? 2 : 1)} ${s.unit === "fraction" || s.unit === "count" ? "" : s.unit} | ${fmt(s.min, 1)}–${fmt(s.max, 1)} |`);
  }
  lines.push("");
  lines.push("| ratio (paired per repetition) | median | min–max |");
  lines.push("|---|---:|---:|");
  for (const s of Object.values(r.ratios)) lines.push(`| ${s.label} | ${fmt(s.median)}× | ${fmt(s.min)}–${fmt(s.max)} |`);
  lines.push("");
  const res = r.resources;
  if (res.splitPeakRss) {
    const r = res.splitPeakRss;
    lines.push(`Split peak RSS: ${(r.maxRssBytes / MB).toFixed(0)} MB for a ${(r.eventBytes / MB).toFixed(0)} MB event (${fmt(r.ratioToEvent)}×) with the split function's deployed settings \`${r.runtimeEnv}\`; ` +
      `${(r.nodeDefaultsMaxRssBytes / MB).toFixed(0)} MB (${fmt(r.nodeDefaultsRatioToEvent)}×) with Node's defaults. The process starts at ${(r.baseRssBytes / MB).toFixed(0)} MB; a bare JSON.parse peaks at ${(r.jsonParsePeakRssBytes / MB).toFixed(0)} MB`);
  }
  if (res.compressed) lines.push(`Compressed: logpipe ${(res.compressed.logpipeBytes / MB).toFixed(1)} MB, gzip -1 ${(res.compressed.gzipCliBytes / MB).toFixed(1)} MB (${fmt(res.compressed.ratioToGzipCli, 3)}×), Node gzipSync ${(res.compressed.nodeGzipBytes / MB).toFixed(1)} MB${res.compressed.zstdCliBytes ? `, zstd -1 ${(res.compressed.zstdCliBytes / MB).toFixed(1)} MB` : ""}`);
  if (res.roundTrips) {
    lines.push("");
    lines.push("| apps | records/batch | Redis round trips/batch | chunks/batch | per chunk |");
    lines.push("|---:|---:|---:|---:|---:|");
    for (const x of res.roundTrips) lines.push(`| ${x.apps} | ${x.recordsPerBatch} | ${fmt(x.perBatch, 1)} | ${fmt(x.chunksPerBatch, 1)} | ${fmt(x.perChunk, 2)} |`);
  }
  if (res.localRun) {
    const l = res.localRun;
    lines.push("");
    lines.push(`logpipe local (${fmt(l.seconds, 1)} s, ${fmt(l.mbPerSecond, 1)} MB/s, verified ${l.ok ? "exactly once" : "FAILED"}): ${l.objects} objects over ${l.apps} apps; ` +
      `objects per app min/median/max ${l.objectsPerApp.min}/${l.objectsPerApp.median}/${l.objectsPerApp.max}; object size min ${kb(l.objectBytes.min)}, p50 ${kb(l.objectBytes.p50)}, p90 ${kb(l.objectBytes.p90)}, max ${kb(l.objectBytes.max)}`);
  }
  lines.push("");
  lines.push("| target | required | measured | |");
  lines.push("|---|---|---:|---|");
  for (const t of r.targets) lines.push(`| ${t.description} | ${t.target} | ${t.value === null ? "–" : fmt(t.value) + "×"} | ${t.met === null ? "not measured" : t.met ? "met" : "MISSED"}${t.note ? ` — ${t.note}` : ""} |`);
  if (r.profiles) {
    for (const [name, p] of Object.entries(r.profiles)) {
      lines.push("");
      lines.push(`CPU profile (${name}, ${p.file}): total ${fmt(p.totalMs, 0)} ms; top self time:`);
      for (const f of p.top.slice(0, 12)) lines.push(`  ${fmt(f.percent, 1).padStart(5)}%  ${f.name}  ${f.where}`);
    }
  }
  if (r.notes.length) {
    lines.push("");
    for (const n of r.notes) lines.push(`Note: ${n}`);
  }
  return lines.join("\n");
}

function kb(n: number): string {
  return n >= MB ? `${(n / MB).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} KB`;
}

export function writeResults(r: BenchResults, file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
}

export const DEFAULT_RESULTS = path.join(BENCH_DIR, "results.json");
export const QUICK_RESULTS = path.join(DATA_DIR, "results-quick.json");

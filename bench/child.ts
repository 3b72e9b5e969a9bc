/**
 * One measured step, run in its own process (bundled by esbuild like the FC artifacts, so no
 * TypeScript loader skews time or memory). Reads a JSON task from argv[2], prints one JSON line
 * prefixed with RESULT: on stdout. Data loading happens before the clock starts.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { PerformanceObserver } from "node:perf_hooks";
import { readFile } from "node:fs/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { Redis } from "ioredis";
import type { CoordStore } from "../functions/adapters/coord-store.js";
import { LocalObjectStore } from "../functions/adapters/local-object-store.js";
import { OssObjectStore } from "../functions/adapters/oss-store.js";
import { MemoryCoordStore } from "../functions/adapters/memory-coord-store.js";
import { NasDir } from "../functions/adapters/nas.js";
import { addObjectRequestCounts, emptyObjectRequestCounts, LatencyObjectStore, type ObjectRequestCounts, type ObjectStoreLatencyModel } from "../functions/adapters/object-store-latency.js";
import { addNasOpCounts, emptyNasOpCounts, NasLatencyDir, type NasLatencyModel, type NasOpCounts } from "../functions/adapters/nas-latency.js";
import { RedisCoordStore } from "../functions/adapters/redis-coord-store.js";
import { compressTask } from "../functions/core/compress.js";
import { loadConfig } from "../functions/core/config.js";
import type { DrainTask, PipelineDeps } from "../functions/core/deps.js";
import { parseArchiveKey } from "../functions/core/layout.js";
import { silentLogger } from "../functions/core/logger.js";
import { createRouter, routeSegmentAt, type Router } from "../functions/core/routing.js";
import { splitBatch } from "../functions/core/split.js";
import { releaseTable, scanKafkaBatch, type RecordTable } from "../functions/core/events.js";
import { runUpload } from "../functions/core/upload.js";
import { FUNCTION_KINDS } from "../infra/config.js";
import { RUNTIME_ENV } from "../infra/runtime-env.js";
import { floorBatchOf } from "./floor.js";
import { spansFileOf, type InvocationSpan } from "./profile.js";
import { readTaskArgument, taskArgument } from "./task-arg.js";
import type { PacerClock } from "../functions/core/request-pacer.js";
import { redisCpuMs } from "./redis-time.js";

export type ChildTask =
  | { kind: "gzip-node"; file: string; level: number; warmup?: boolean }
  | { kind: "json-parse"; file: string; warmup: boolean }
  | { kind: "split"; file: string; nasRoot: string; warmup: boolean }
  | { kind: "split-rss"; file: string; nasRoot: string }
  | { kind: "json-parse-rss"; file: string }
  | PipelineTask
  | LockstepTask
  | { kind: "host"; pipeline: PipelineTask }
  | { kind: "floor"; files: string[] };

/**
 * Several pipelines (e.g. the same bytes over 50 and over 3,000 apps) run side by side in one
 * process, a batch of each in turn, with the floor of each run's booked batches timed between
 * them: the figures a target compares then come from the same minutes of the machine, whose speed
 * drifts by tens of percent between runs made one after the other.
 */
export interface LockstepTask {
  kind: "lockstep";
  pipelines: PipelineTask[];
  /**
   * Each pipeline's functions in processes of their own, with their deployed runtime settings
   * (hostedHandlers; needs Redis); otherwise every handler of every pipeline shares this process.
   */
  isolated?: boolean;
}

/** The floor of a pipeline's booked batches, timed in lockstep with the pipelines (see floor()). */
export interface LockstepFloor {
  /** wall time of the floor's steps (compared with the pipeline's "off": handler wall time) */
  ms: number;
  /** CPU time of the same steps (compared with "on", which books CPU, not wall time) */
  cpuMs: number;
  decodeMs: number;
  routeMs: number;
  gzipMs: number;
  recordBytes: number;
  records: number;
}

export interface LockstepResult {
  results: PipelineResult[];
  floors: LockstepFloor[];
}

/**
 * The whole data path over trigger batches, on a simulated clock (the records' Kafka
 * timestamps): split each batch, run the compress tasks it invoked, and an upload tick (seal,
 * upload, sweep) every `tickMs`; at the end one tick that sweeps every app and one that seals
 * everything, so every record ends in the object store.
 */
export interface PipelineTask {
  kind: "pipeline";
  files: string[];
  nasRoot: string;
  objectsRoot: string;
  /** the Redis store (round trips counted) when given, else the in-process store */
  redisUrl?: string;
  keyPrefix?: string;
  /** NAS latency model; counted but not delayed when absent */
  nasModel?: NasLatencyModel;
  /**
   * false: the model's time is booked (`nas.bookedMs`) but not waited, so a simulated hour runs at
   * CPU speed; a handler's billed time is then its measured time plus its booked NAS time (serial:
   * an upper bound where a handler overlaps NAS operations). "overlap": booked on the NAS model's
   * virtual clock, where operations a handler has in flight together overlap.
   */
  nasWait?: boolean | "overlap";
  /**
   * Object-store latency model: each OSS request the upload makes is booked on the NAS model's
   * clock (so it needs `nasModel`).
   */
  objectModel?: ObjectStoreLatencyModel;
  /**
   * An OSS-compatible server in another process (the bench starts test/support/oss-server.ts):
   * upload talks to it through the real client (OssObjectStore, ali-oss), so the handler's CPU
   * is the client's — signing, HTTP, the CRC check — and not the store's own work, as with OSS.
   * Each pipeline writes under its own key prefix. Without it, a local directory stands in,
   * without fsync (an object's durability is OSS's work, not the handler's).
   */
  oss?: { endpoint: string; bucket: string; accessKeyId: string; accessKeySecret: string; prefix: string };
  /**
   * Steady state: invocations from this much simulated time after the start until the last
   * batch are also booked in `window` (the warm-up before it and the final flush after it are
   * not), so per-GB figures are those of a pipeline that has been running, not of a cold start.
   */
  windowFromMs?: number;
  startTime: number;
  recordIntervalMs: number;
  batchRecords: number;
  tickMs: number;
  /**
   * a CPU profile of the run goes here, and each handler invocation's span beside it (spansFileOf),
   * to book its samples to handlers; with `windowFromMs`, only the window's invocations have spans
   */
  profileTo?: string;
}

export type FunctionName = "split" | "compress" | "upload";

export interface FunctionStats {
  invocations: number;
  ms: number;
  cpuMs: number;
  /** garbage-collection pauses within that CPU time (HandlerReply.gcMs) */
  gcMs?: number;
  roundTrips: number;
  /** Redis's own time executing this function's commands and scripts (its main thread's CPU, INFO cpu), which the handler waits for */
  redisServerMs: number;
  nas: NasOpCounts;
  /** object-store requests and their modelled time (with `objectModel`) */
  oss: ObjectRequestCounts;
}

export interface PipelineResult {
  ms: number;
  cpuMs: number;
  records: number;
  batches: number;
  functions: Record<FunctionName, FunctionStats>;
  members: number;
  hotTasks: number;
  sweepTasks: number;
  objects: number;
  objectBytes: number;
  apps: number;
  /** objects per (app, hour of the archive key): the most any app got in one hour, and the median */
  objectsPerAppHour: { max: number; median: number };
  /** simulated time the run covered */
  simulatedMs: number;
  /** records read back from the objects (must equal `records`) */
  recordsArchived: number;
  /** freshness: record age at upload, ms */
  ageP50Ms?: number;
  ageP99Ms?: number;
  errors: string[];
  /** what the steady-state window booked (see PipelineTask.windowFromMs) */
  window?: PipelineWindow;
}

export interface PipelineWindow extends Pick<PipelineResult, "records" | "batches" | "functions" | "members" | "hotTasks" | "sweepTasks" | "ageP50Ms" | "ageP99Ms"> {
  fromMs: number;
  toMs: number;
  /** objects sealed and uploaded by the window's upload ticks */
  sealed: number;
  uploaded: number;
  uploadedBytes: number;
}

const rssNowKb = () => Math.round(process.memoryUsage().rss / 1024);
function vmHwmKb(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function configFor(nasRoot: string, objectPrefix?: string) {
  return loadConfig({ LOGPIPE_NAS_ROOT: nasRoot, LOGPIPE_FSYNC: "false", LOGPIPE_LOG_LEVEL: "silent", LOGPIPE_INVOKE_MODE: "inline", ...(objectPrefix ? { LOGPIPE_OSS_PREFIX: objectPrefix } : {}) });
}

async function splitOnce(file: string, nasRoot: string, event: Buffer) {
  rmSync(nasRoot, { recursive: true, force: true });
  mkdirSync(nasRoot, { recursive: true });
  const tasks: DrainTask[] = [];
  const deps: PipelineDeps = {
    config: configFor(nasRoot), nas: new NasDir(nasRoot, false), coord: new MemoryCoordStore(), logger: silentLogger, appCache: new Map(),
    invoker: { invokeCompress: async (t) => void tasks.push(t) },
  };
  const t0 = performance.now();
  const r = await splitBatch(deps, event);
  const ms = performance.now() - t0;
  return { ms, records: r.records, files: r.files, stagedBytes: r.stagedBytes, hot: r.hot, file };
}

/** A V8 CPU profile of this process from now until `stop` (the timed section only, unlike --cpu-prof). */
async function startProfiler(): Promise<{ stop: () => Promise<object> }> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string) => new Promise<T>((resolve, reject) => session.post(method, (e, r) => (e ? reject(e) : resolve(r as T))));
  await post("Profiler.enable");
  await post("Profiler.start");
  return { stop: async () => (await post<{ profile: object }>("Profiler.stop")).profile };
}

function percentileOf(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Handlers run one at a time, as each FC instance runs one request: a handler's measured time
 * is what FC would bill for it (its CPU and its waits on NAS and Redis), with nothing else
 * competing for the core. So the run's wall time is the sum of the handler times plus the
 * harness's own bookkeeping.
 */
async function pipeline(task: PipelineTask): Promise<PipelineResult> {
  const run = await startPipeline(task);
  const profiler = task.profileTo ? await startProfiler() : undefined;
  for (let b = 0; b < run.batches; b++) await run.step(b);
  const result = await run.finish(async () => {
    if (!profiler) return;
    writeFileSync(task.profileTo!, JSON.stringify(await profiler.stop()));
    writeFileSync(spansFileOf(task.profileTo!), JSON.stringify(run.spans));
  });
  return result;
}

/** A pipeline run driven batch by batch (pipeline() runs one; lockstep() runs several side by side). */
interface PipelineRun {
  batches: number;
  /** raw trigger batch b, for the floor step of lockstep() */
  event: (b: number) => Buffer;
  /** each handler invocation's span on the profiler's clock, when the run is profiled (`profileTo`) */
  spans: InvocationSpan[];
  /** whether the window books what runs now (after the warm-up, before the final flush) */
  inWindow: () => boolean;
  /** delivers batch `b` (its upload ticks first, then split and the drains it asked for) */
  step: (b: number) => Promise<void>;
  /** the final flush, then the read-back; `beforeReadBack` runs once the clock has stopped */
  finish: (beforeReadBack?: () => Promise<void>) => Promise<PipelineResult>;
}

/** One handler invocation the driver asks for, at simulated time `now`. */
export type HandlerCall = { now: number } & ({ fn: "split"; batch: number } | { fn: "compress"; task: DrainTask } | { fn: "upload"; opts: { sweepAll?: boolean; sealAll?: boolean } });

/** What an invocation measured where it ran, what it returned, and the compress tasks it invoked. */
export interface HandlerReply {
  ms: number;
  cpuMs: number;
  /** the garbage collector's pauses observed while it ran (PerformanceObserver "gc": a pause reported late counts for the next invocation) */
  gcMs: number;
  roundTrips: number;
  nas: NasOpCounts;
  oss: ObjectRequestCounts;
  tasks: DrainTask[];
  split?: { records: number; deadLetters: string[] };
  compress?: { members: number; errors: string[] };
  upload?: { errors: string[]; ages: { ageMs: number; records: number }[]; sealed: number; uploaded: number; uploadedBytes: number };
}

/** Where a pipeline's handlers run: in this process (one isolate for all), or each function in a process of its own. */
interface HandlerPort {
  run(call: HandlerCall): Promise<HandlerReply>;
  close(): Promise<void>;
}

/** A pacer clock on which no turn takes time (RequestPacer never waits). */
const UNPACED: PacerClock = { now: () => 0, sleep: () => Promise.resolve() };

/**
 * A pipeline's three handlers over its NAS directory, coord store and object store, as one FC
 * instance of each would run them; each invocation is measured here, where it runs (its CPU, time,
 * round trips and NAS and OSS requests). `eventOf(b)` is batch b's trigger payload, handed over
 * before the clock starts.
 */
function pipelineHandlers(task: PipelineTask, eventOf: (b: number) => Buffer): HandlerPort {
  let now = task.startTime;
  const clock = () => now;
  const coord: CoordStore = task.redisUrl ? new RedisCoordStore({ url: task.redisUrl, keyPrefix: task.keyPrefix }) : new MemoryCoordStore(clock);
  // fsync as deployed (on) is counted and charged, but not made on the local disk
  // the overlap clock moves with this process's CPU (what "on" bills beside the booked waits), so
  // a wait the handler's work covers is billed once, as FC's duration bills it
  const nas = new NasLatencyDir(task.nasRoot, false, task.nasModel, { chargeFsync: true, wait: task.nasWait ?? true, busyMs: processCpuMs });
  const queue: DrainTask[] = [];
  // the stand-in store, with its requests counted and the handler's idle time waiting for it
  // measured (not the handler's: "off" leaves it out); with the OSS model, each request booked too
  const objects = new LatencyObjectStore(objectStoreOf(task), task.objectModel, nas);
  const deps: PipelineDeps = {
    config: configFor(task.nasRoot, task.oss?.prefix), nas, coord, logger: silentLogger, appCache: new Map(), now: clock,
    objects,
    // with the OSS model, upload's pace is kept on the clock its requests are booked on; without
    // it ("off"), OSS requests are counted, not waited, and so not paced either
    requestClock: task.objectModel ? nas.requestClock : UNPACED,
    invoker: { invokeCompress: async (t) => void queue.push(t) },
  };
  const roundTrips = () => (coord instanceof RedisCoordStore ? coord.roundTrips : 0);
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  return {
    async run(call) {
      now = call.now;
      const event = call.fn === "split" ? eventOf(call.batch) : undefined;
      nas.resetCounts();
      objects.resetCounts();
      const rt0 = roundTrips();
      const gc0 = gcMs;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const reply = (x: Partial<HandlerReply>): HandlerReply => ({
        ms: performance.now() - t0, cpuMs: cpuMsSince(cpu0), gcMs: gcMs - gc0, roundTrips: roundTrips() - rt0,
        nas: { ...nas.counts }, oss: { ...objects.counts }, tasks: queue.splice(0), ...x,
      });
      if (call.fn === "split") {
        const r = await splitBatch(deps, event!);
        return reply({ split: { records: r.records, deadLetters: r.deadLetters } });
      }
      if (call.fn === "compress") {
        const r = await compressTask(deps, call.task);
        return reply({ compress: { members: r.members, errors: r.errors } });
      }
      const r = await runUpload(deps, { skipLease: true, ...call.opts });
      return reply({ upload: { errors: r.errors, ages: r.ages, sealed: r.sealed, uploaded: r.uploaded, uploadedBytes: r.uploadedBytes } });
    },
    close: () => {
      gcObserver.disconnect();
      return coord.close();
    },
  };
}

/** The pipeline's object store as its upload writes to it (and the driver reads it back). */
function objectStoreOf(task: PipelineTask): OssObjectStore | LocalObjectStore {
  return task.oss
    ? new OssObjectStore({ bucket: task.oss.bucket, endpoint: task.oss.endpoint, accessKeyId: task.oss.accessKeyId, accessKeySecret: task.oss.accessKeySecret, secure: false })
    : new LocalObjectStore(task.objectsRoot, { fsync: false });
}

/**
 * Each function of the pipeline in a Node.js process of its own, started with the function's
 * deployed runtime settings (infra/runtime-env.ts), as FC runs each function in instances of its
 * own: a handler's garbage is collected in its own heap, by its own collector's settings, and is
 * not billed to another function that happens to run next. The coord store must be Redis (shared
 * by the processes, as deployed).
 */
async function hostedHandlers(task: PipelineTask): Promise<HandlerPort> {
  const hosts = new Map<FunctionName, ChildProcess>();
  const pending = new Map<number, { resolve: (r: HandlerReply) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  for (const fn of FUNCTION_KINDS) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.UV_THREADPOOL_SIZE; // each function's own, or Node's default
    const child = fork(process.argv[1]!, [taskArgument({ kind: "host", pipeline: task } satisfies ChildTask)], {
      execArgv: [], env: { ...env, ...RUNTIME_ENV[fn] }, serialization: "advanced", stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child.on("message", (m: { id: number; reply?: HandlerReply; error?: string }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`${fn} host: ${m.error}`));
      else p.resolve(m.reply!);
    });
    child.on("exit", (code) => {
      for (const p of pending.values()) p.reject(new Error(`${fn} host exited (code ${code})`));
      pending.clear();
    });
    hosts.set(fn, child);
  }
  return {
    run: (call) => new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      hosts.get(call.fn)!.send({ id, call });
    }),
    close: async () => {
      await Promise.all([...hosts.values()].map((h) => new Promise<void>((resolve) => {
        if (h.exitCode !== null) return resolve();
        h.once("exit", () => resolve());
        h.send({ close: true });
      })));
    },
  };
}

/** A function's process (hostedHandlers): runs the calls the driver sends, one at a time, until told to close. */
async function host(task: Extract<ChildTask, { kind: "host" }>): Promise<never> {
  const handlers = pipelineHandlers(task.pipeline, (b) => readFileSync(task.pipeline.files[b]!));
  process.on("message", (m: { id: number; call: HandlerCall } | { close: true }) => {
    if ("close" in m) {
      void handlers.close().finally(() => process.exit(0));
      return;
    }
    handlers.run(m.call).then(
      (reply) => process.send!({ id: m.id, reply }),
      (e: Error) => process.send!({ id: m.id, error: e.stack ?? String(e) }),
    );
  });
  // a driver that failed or was killed leaves no process behind (the Redis connection would keep it up)
  process.on("disconnect", () => process.exit(1));
  return new Promise<never>(() => {}); // the IPC channel keeps the process alive until "close"
}

/**
 * `isolated`: each function in a process of its own (hostedHandlers), its trigger payloads read
 * from their files as each is delivered; otherwise all in this process, the payloads read first.
 */
async function startPipeline(task: PipelineTask, isolated = false): Promise<PipelineRun> {
  rmSync(task.nasRoot, { recursive: true, force: true });
  rmSync(task.objectsRoot, { recursive: true, force: true });
  mkdirSync(task.nasRoot, { recursive: true });
  const events = isolated ? [] : await Promise.all(task.files.map((f) => readFile(f)));
  const port = isolated ? await hostedHandlers(task) : pipelineHandlers(task, (b) => events[b]!);
  let now = task.startTime;
  const queue: DrainTask[] = [];
  const baseObjects = objectStoreOf(task);
  const fn = (): FunctionStats => ({ invocations: 0, ms: 0, cpuMs: 0, roundTrips: 0, redisServerMs: 0, nas: emptyNasOpCounts(), oss: emptyObjectRequestCounts() });
  const functions: Record<FunctionName, FunctionStats> = { split: fn(), compress: fn(), upload: fn() };
  // Redis's time on the handler's commands, from its own CPU: in the bench one handler at a time
  // talks to it, so the difference around an invocation is that invocation's
  const stats = task.redisUrl ? new Redis(task.redisUrl) : undefined;
  const redisServerMs = async () => (stats ? redisCpuMs(await stats.info("cpu")) : 0);
  const errors: string[] = [];
  const spans: InvocationSpan[] = [];
  const ages: { ageMs: number; records: number }[] = [];
  let records = 0, members = 0, hotTasks = 0, sweepTasks = 0;
  const win: PipelineWindow | undefined = task.windowFromMs === undefined ? undefined : {
    fromMs: task.windowFromMs, toMs: task.windowFromMs, records: 0, batches: 0, functions: { split: fn(), compress: fn(), upload: fn() },
    members: 0, hotTasks: 0, sweepTasks: 0, sealed: 0, uploaded: 0, uploadedBytes: 0,
  };
  const winAges: { ageMs: number; records: number }[] = [];
  let flushing = false;
  const inWindow = () => win !== undefined && !flushing && now - task.startTime >= win.fromMs;
  let hostedCpuMs = 0;
  /** Runs one handler invocation and books its time, CPU, round trips and NAS operations. */
  const invoke = async (call: HandlerCall): Promise<HandlerReply> => {
    const name = call.fn;
    const f = functions[name];
    const w = inWindow() ? win!.functions[name] : undefined;
    const redis0 = await redisServerMs();
    const startUs = task.profileTo ? monotonicUs() : 0;
    const r = await port.run(call);
    if (task.profileTo && (win === undefined || w !== undefined)) spans.push({ fn: name, startUs, endUs: monotonicUs() });
    const redisMs = (await redisServerMs()) - redis0;
    for (const s of w ? [f, w] : [f]) {
      s.ms += r.ms;
      s.cpuMs += r.cpuMs;
      s.gcMs = (s.gcMs ?? 0) + r.gcMs;
      s.redisServerMs += redisMs;
      s.roundTrips += r.roundTrips;
      s.invocations++;
      addNasOpCounts(s.nas, r.nas);
      addObjectRequestCounts(s.oss, r.oss);
    }
    queue.push(...r.tasks);
    if (isolated) hostedCpuMs += r.cpuMs;
    return r;
  };
  const drainQueue = async () => {
    while (queue.length > 0) {
      const t = queue.shift()!;
      if (t.reason === "hot") hotTasks++;
      else sweepTasks++;
      const booked = inWindow();
      const r = (await invoke({ fn: "compress", task: t, now })).compress!;
      members += r.members;
      errors.push(...r.errors);
      if (booked) {
        win!.members += r.members;
        if (t.reason === "hot") win!.hotTasks++;
        else win!.sweepTasks++;
      }
    }
  };
  const tick = async (opts: { sweepAll?: boolean; sealAll?: boolean } = {}) => {
    const booked = inWindow();
    const r = (await invoke({ fn: "upload", opts, now })).upload!;
    errors.push(...r.errors);
    ages.push(...r.ages);
    if (booked) {
      win!.sealed += r.sealed;
      win!.uploaded += r.uploaded;
      win!.uploadedBytes += r.uploadedBytes;
      winAges.push(...r.ages);
    }
    await drainQueue();
  };

  // the run's own clock: the sum of its steps (in lockstep, other runs' steps fall between them)
  // (the processes of an isolated run's handlers add their invocations' CPU: hostedCpuMs)
  let ms = 0, cpuUsed = 0;
  const timed = async (work: () => Promise<void>) => {
    const c0 = process.cpuUsage();
    const h0 = hostedCpuMs;
    const t = performance.now();
    try {
      await work();
    } finally {
      ms += performance.now() - t;
      cpuUsed += cpuMsSince(c0) + (hostedCpuMs - h0);
    }
  };
  let nextTick = task.startTime + task.tickMs;
  const step = (b: number) => timed(async () => {
    // a batch is delivered once its last record is produced
    now = task.startTime + ((b + 1) * task.batchRecords - 1) * task.recordIntervalMs;
    while (now >= nextTick) {
      const at = now;
      now = nextTick;
      await tick();
      now = at;
      nextTick += task.tickMs;
    }
    const booked = inWindow();
    const s = (await invoke({ fn: "split", batch: b, now })).split!;
    records += s.records;
    if (booked) {
      win!.records += s.records;
      win!.batches++;
      win!.toMs = now - task.startTime;
    }
    errors.push(...s.deadLetters.map((d) => `dead letter ${d}`));
    await drainQueue();
  });
  const finish = async (beforeReadBack?: () => Promise<void>): Promise<PipelineResult> => {
    await timed(async () => {
      flushing = true;
      now = nextTick;
      await tick({ sweepAll: true });
      now += task.tickMs;
      await tick({ sealAll: true });
    });
    await beforeReadBack?.();
    await port.close();
    await stats?.quit();

    // read back what was archived (outside the clock): objects per app per hour, records, bytes
    const perAppHour = new Map<string, number>();
    const apps = new Set<string>();
    let objects = 0, objectBytes = 0, recordsArchived = 0;
    for await (const o of baseObjects.list(task.oss ? `${task.oss.prefix}/` : "")) {
      const k = parseArchiveKey(o.key);
      if (!k) continue;
      objects++;
      objectBytes += o.size;
      apps.add(k.app);
      const bucket = `${k.app}/${k.dt}/${k.hour}`;
      perAppHour.set(bucket, (perAppHour.get(bucket) ?? 0) + 1);
      const text = gunzipSync(await baseObjects.getBuffer(o.key));
      await baseObjects.delete(o.key); // the server holds its objects in memory
      for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, i + 1)) recordsArchived++;
    }
    const counts = [...perAppHour.values()].sort((a, b) => a - b);
    const sortedAges = ages.map((a) => a.ageMs).sort((x, y) => x - y);
    if (win && winAges.length) {
      const w = winAges.map((a) => a.ageMs).sort((x, y) => x - y);
      win.ageP50Ms = percentileOf(w, 50);
      win.ageP99Ms = percentileOf(w, 99);
    }
    rmSync(task.nasRoot, { recursive: true, force: true });
    rmSync(task.objectsRoot, { recursive: true, force: true });
    return {
      ms, cpuMs: cpuUsed, records, batches: events.length, functions, members, hotTasks, sweepTasks,
      objects, objectBytes, apps: apps.size,
      objectsPerAppHour: { max: counts[counts.length - 1] ?? 0, median: percentileOf(counts, 50) },
      simulatedMs: now - task.startTime, recordsArchived,
      ageP50Ms: ages.length ? percentileOf(sortedAges, 50) : undefined,
      ageP99Ms: ages.length ? percentileOf(sortedAges, 99) : undefined,
      errors: errors.slice(0, 20),
      window: win,
    };
  };
  return { batches: task.files.length, event: isolated ? (b) => readFileSync(task.files[b]!) : (b) => events[b]!, spans, inWindow, step, finish };
}

/** Gzips the floor's per-app bytes once this much is gathered (and at the end): few, large members, bounded memory. */
const FLOOR_GZIP_BYTES = 256 * 1024 * 1024;

async function lockstep(task: LockstepTask): Promise<LockstepResult> {
  const runs: PipelineRun[] = [];
  if (task.isolated && task.pipelines.some((t) => !t.redisUrl)) throw new Error("an isolated lockstep run needs Redis (redisUrl): its functions' processes share the coord store");
  for (const t of task.pipelines) runs.push(await startPipeline(t, task.isolated));
  const config = configFor("/nonexistent");
  const router = createRouter(config.appIdSources);
  const floors = runs.map(() => ({ decodeMs: 0, routeMs: 0, gzipMs: 0, cpuMs: 0, recordBytes: 0, records: 0, pending: 0, perApp: new AppLines() }));
  const gzipFloor = (f: (typeof floors)[number]) => {
    const t = performance.now();
    const c0 = process.cpuUsage();
    for (const lines of f.perApp.each()) gzipSync(lines, { level: config.gzipLevel });
    f.cpuMs += cpuMsSince(c0);
    f.gzipMs += performance.now() - t;
    f.perApp.clear();
    f.pending = 0;
  };
  const most = Math.max(...runs.map((r) => r.batches));
  /** each run's first booked batch, once it is known */
  const windowStart: (number | undefined)[] = runs.map(() => undefined);
  for (let b = 0; b < most; b++) {
    // alternate the order, so that neither run always follows the other's garbage
    const order = runs.map((_, i) => i);
    if (b % 2 === 1) order.reverse();
    for (const i of order) {
      const run = runs[i]!;
      if (b >= run.batches) continue;
      await run.step(b);
      if (!run.inWindow()) continue;
      // the floor of one booked batch (floor()'s steps, per batch; which batch: floorBatchOf)
      const fb = floorBatchOf(b, (windowStart[i] ??= b), run.batches);
      const f = floors[i]!;
      const payload = run.event(fb);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const table = scanKafkaBatch(payload).table;
      const t1 = performance.now();
      const n = gatherByApp(table, router, f.perApp);
      releaseTable(table); // its bytes are copied: the arena goes back to the pool, as split's does
      f.cpuMs += cpuMsSince(c0);
      f.recordBytes += n;
      f.pending += n;
      f.records += table.count;
      f.decodeMs += t1 - t0;
      f.routeMs += performance.now() - t1;
      if (f.pending >= FLOOR_GZIP_BYTES) gzipFloor(f);
    }
  }
  for (const f of floors) if (f.pending > 0) gzipFloor(f);
  const results: PipelineResult[] = [];
  for (const run of runs) results.push(await run.finish());
  return { results, floors: floors.map(({ decodeMs, routeMs, gzipMs, cpuMs, recordBytes, records }) => ({ ms: decodeMs + routeMs + gzipMs, cpuMs, decodeMs, routeMs, gzipMs, recordBytes, records })) };
}

/**
 * The floor: what no design can skip, timed on the same trigger batches — decoding the trigger
 * envelope, finding every record's app id (the validating scanner), and one gzip level 1 per app
 * over all of that app's bytes (the fewest, largest members possible).
 */
async function floor(task: Extract<ChildTask, { kind: "floor" }>) {
  const events = task.files.map((f) => readFileSync(f));
  const config = configFor("/nonexistent");
  const router = createRouter(config.appIdSources);
  const t0 = performance.now();
  const perApp = new AppLines();
  const tables = [];
  for (const e of events) tables.push(scanKafkaBatch(e).table);
  const decodeMs = performance.now() - t0;
  const t1 = performance.now();
  let recordBytes = 0, records = 0;
  for (const t of tables) {
    recordBytes += gatherByApp(t, router, perApp);
    releaseTable(t);
    records += t.count;
  }
  const routeMs = performance.now() - t1;
  const t2 = performance.now();
  let gzBytes = 0;
  for (const lines of perApp.each()) gzBytes += gzipSync(lines, { level: config.gzipLevel }).length;
  const gzipMs = performance.now() - t2;
  return { decodeMs, routeMs, gzipMs, ms: decodeMs + routeMs + gzipMs, recordBytes, records, apps: perApp.size, gzBytes };
}

/** Microseconds of the monotonic clock, the one V8 stamps profile samples with. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** This process's CPU time (user + system) so far, in ms: what the bill counts as a handler's CPU. */
function processCpuMs(): number {
  return cpuMsSince({ user: 0, system: 0 });
}

/** This process's CPU time (user + system) since `c0`, in ms. */
function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** The floor's app-id scan: each record's line (value + newline) gathered under its app; returns the lines' bytes. */
function gatherByApp(t: RecordTable, router: Router, perApp: AppLines): number {
  let bytes = 0;
  for (let i = 0; i < t.count; i++) {
    const app = routeSegmentAt(router, t.values, t.valueStart[i]!, t.valueEnd[i]!, t.keys ? (t.keys[i] ?? null) : null, t.headers?.[i]);
    bytes += perApp.add(app, t.values, t.valueStart[i]!, t.valueEnd[i]!);
  }
  return bytes;
}

/**
 * The floor's lines per app, copied out of the batches into a few large buffers per app: a view
 * per record (what the floor gathered before 2026-12-04) put ~20,000 objects per batch on the
 * heap until the next gzip, and in a lockstep run their collection fell into the invocations
 * timed after them (split's garbage-collection time was ~13× its own: docs/bench.md), while the
 * batches' buffers, held by the views, could not go back to split's pool.
 */
class AppLines {
  private readonly apps = new Map<string, { done: Buffer[]; cur: Buffer; fill: number }>();

  /** Copies src[start, end) and a newline under `app`; returns the bytes added. */
  add(app: string, src: Buffer, start: number, end: number): number {
    const need = end - start + 1;
    let a = this.apps.get(app);
    if (!a) this.apps.set(app, (a = { done: [], cur: Buffer.allocUnsafeSlow(Math.max(APP_LINES_FIRST, need)), fill: 0 }));
    else if (a.fill + need > a.cur.length) {
      a.done.push(a.cur.subarray(0, a.fill));
      a.cur = Buffer.allocUnsafeSlow(Math.max(Math.min(2 * a.cur.length, APP_LINES_MAX), need));
      a.fill = 0;
    }
    a.fill += src.copy(a.cur, a.fill, start, end);
    a.cur[a.fill++] = 0x0a;
    return need;
  }

  /** Each app's lines in one buffer (the gzip input). */
  *each(): Iterable<Buffer> {
    for (const a of this.apps.values()) yield a.done.length === 0 ? a.cur.subarray(0, a.fill) : Buffer.concat([...a.done, a.cur.subarray(0, a.fill)]);
  }

  get size(): number {
    return this.apps.size;
  }

  clear(): void {
    this.apps.clear();
  }
}
const APP_LINES_FIRST = 16 * 1024;
const APP_LINES_MAX = 8 * 1024 * 1024;

async function main(): Promise<unknown> {
  const task = readTaskArgument(process.argv[2]!) as ChildTask;
  switch (task.kind) {
    case "gzip-node": {
      const data = readFileSync(task.file);
      if (task.warmup) gzipSync(data.subarray(0, 1 << 20), { level: task.level });
      const t0 = performance.now();
      const out = gzipSync(data, { level: task.level });
      return { ms: performance.now() - t0, bytesIn: data.length, bytesOut: out.length };
    }
    case "json-parse": {
      const event = readFileSync(task.file);
      if (task.warmup) JSON.parse(event.toString("utf8"));
      const t0 = performance.now();
      const text = event.toString("utf8");
      const t1 = performance.now();
      const doc = JSON.parse(text) as unknown[];
      const t2 = performance.now();
      return { ms: t2 - t0, decodeMs: t1 - t0, parseMs: t2 - t1, elements: doc.length };
    }
    case "split": {
      const event = readFileSync(task.file);
      if (task.warmup) await splitOnce(task.file, task.nasRoot, event);
      const r = await splitOnce(task.file, task.nasRoot, event);
      rmSync(task.nasRoot, { recursive: true, force: true });
      return r;
    }
    case "split-rss":
    case "json-parse-rss": {
      const baseKb = rssNowKb();
      const baseHwmKb = vmHwmKb();
      const event = readFileSync(task.file);
      if (task.kind === "split-rss") await splitOnce(task.file, task.nasRoot, event);
      else JSON.parse(event.toString("utf8"));
      const r = { eventBytes: event.length, baseRssKb: baseKb, baseHwmKb, maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: vmHwmKb() };
      if (task.kind === "split-rss") rmSync(task.nasRoot, { recursive: true, force: true });
      return r;
    }
    case "pipeline":
      return pipeline(task);
    case "lockstep":
      return lockstep(task);
    case "host":
      return host(task);
    case "floor":
      return floor(task);
  }
}

main().then(
  (r) => {
    process.stdout.write(`RESULT:${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);

/**
 * Orchestrator for the multi-process fault scenarios: lays out the durable queues, starts
 * `pipeline-proc.ts` instances with crash/pause hooks, moves a dead instance's claimed work
 * back (platform retry / trigger redelivery), restarts instances until everything is drained,
 * then flushes in-process, verifies the archive exactly-once and checks that nothing is left
 * on NAS. Every loop is bounded in count and time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { destination } from "pino";
import { toCloudEventsBatch } from "../../../cli/local/cloudevents.js";
import { ExpectedRecords, verifyArchive, type VerifyReport } from "../../../cli/local/verify.js";
import { NasDir } from "../../../functions/adapters/nas.js";
import type { ObjectStore } from "../../../functions/adapters/object-store.js";
import { Redis } from "ioredis";
import { RedisCoordStore } from "../../../functions/adapters/redis-coord-store.js";
import { compressTask } from "../../../functions/core/compress.js";
import { loadConfig } from "../../../functions/core/config.js";
import { RetryableError, type DrainTask, type PipelineDeps } from "../../../functions/core/deps.js";
import { createLogger } from "../../../functions/core/logger.js";
import { createRouter, routeSegment } from "../../../functions/core/routing.js";
import { splitBatch } from "../../../functions/core/split.js";
import { runUpload } from "../../../functions/core/upload.js";
import { objectStoreFrom, type ObjectsSpec } from "./objects.js";
import { offsetsOf, plainBatches, recordsOf, recordValue, type BatchDescriptor } from "./records.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DRIVER = path.join(REPO, "test/faults/support/pipeline-proc.ts");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until no slot lock or tail shard lock is left under a scenario's key prefix — a frozen
 * writer's locks expiring by their TTL — polling Redis rather than sleeping a guessed time.
 */
export async function locksExpired(redisUrl: string, keyPrefix: string, limitMs = 30_000): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    const end = Date.now() + limitMs;
    for (;;) {
      const [slots, shards] = await Promise.all([redis.keys(`{${keyPrefix}}:lock:*`), redis.keys(`{${keyPrefix}}:tlock:*`)]);
      if (slots.length + shards.length === 0) return;
      if (Date.now() > end) throw new Error(`locks still held after ${limitMs} ms: ${[...slots, ...shards].slice(0, 3).join(", ")}`);
      await sleep(50);
    }
  } finally {
    redis.disconnect();
  }
}

export interface Scenario {
  name: string;
  seed: number;
  apps?: number;
  partitions: number;
  perPartition: number;
  batchRecords?: number;
  /** Trigger batches (default: plain consecutive batches); may overlap (redelivery). */
  batches?: BatchDescriptor[];
  /** Instances running at once. */
  procs?: number;
  /** LOGPIPE_CRASH_AT for the n-th spawned instance (0-based), given the crashes so far; undefined = no hook. */
  crashAt?: (spawn: number, crashes: number) => string | undefined;
  /** Extra env per spawned instance (e.g. LOGPIPE_PAUSE_AT). */
  spawnEnv?: (spawn: number) => Record<string, string>;
  /** Upper bound on spawned instances (replacements included). */
  maxSpawns?: number;
  env?: Record<string, string>;
  objects: ObjectsSpec;
  redisUrl: string;
  compressConcurrency?: number;
  uploadIntervalMs?: number;
  /** Runs before any instance starts (e.g. to set up NAS or Redis state). */
  prepare?: (ctx: RunContext) => Promise<void>;
  /** Runs beside the instances (fault injection); awaited before the final drain. */
  during?: (ctx: RunContext) => Promise<void>;
  /** Wall-clock bound for the multi-process phase. */
  timeoutMs?: number;
  /** Log lines to count across every instance's log (e.g. rejected late commits). */
  countLogs?: Record<string, RegExp>;
  /** Batches delivered by other means (e.g. in-process by `during`) that the archive must hold too. */
  extraExpected?: BatchDescriptor[];
}

export interface RunContext {
  dir: string;
  env: Record<string, string>;
  keyPrefix: string;
  objects: ObjectsSpec;
  seed: number;
  apps: number;
  live: Map<number, ChildProcess>;
  /** Resolves when the multi-process phase is over. */
  finished: Promise<void>;
  isFinished: () => boolean;
}

export interface ScenarioResult {
  name: string;
  dir: string;
  records: number;
  spawns: number;
  crashes: number;
  crashPoints: Record<string, number>;
  tornTails: number;
  /** repairs the instances reported (log lines `reconcile: …`) and the possible duplicates they counted */
  reconcile: { events: number; possibleDuplicates: number; kinds: Record<string, number> };
  verify: VerifyReport;
  leftOnNas: string[];
  seconds: number;
  slotEvents: SlotTrace[];
  keyPrefix: string;
  logCounts: Record<string, number>;
  /** Seconds of the multi-process phase (the rest is the final drain and the verification). */
  phaseSeconds: number;
}

export interface SlotTrace {
  app: string;
  slot: number;
  event: "acquire" | "release";
  pid: number;
  mono: number;
}

export function scenarioEnv(dir: string, redisUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    LOGPIPE_NAS_ROOT: path.join(dir, "nas"),
    LOGPIPE_REDIS_URL: redisUrl,
    LOGPIPE_INVOKE_MODE: "inline",
    LOGPIPE_FUNCTION_TIMEOUT: "2500ms",
    LOGPIPE_LOCK_TTL: "3s",
    LOGPIPE_LOCK_MARGIN: "500ms",
    LOGPIPE_SLOT_WAIT: "3s",
    LOGPIPE_SEAL_BYTES: "256KB",
    LOGPIPE_SEAL_AGE: "1s",
    LOGPIPE_REDRIVE_AGE: "8s",
    // drains happen during the run: hot apps past 48 KB, the long tail swept after 500 ms
    LOGPIPE_DRAIN_BYTES: "48KB",
    LOGPIPE_DRAIN_AGE: "500ms",
    LOGPIPE_DRAIN_MIN_BYTES: "0", // every app at the drain age: the most drains (and crash windows) per run
    LOGPIPE_MAX_WRITERS_PER_APP: "4",
    LOGPIPE_MULTIPART_THRESHOLD: "256KB",
    // a process crash (SIGKILL) keeps the page cache; power loss is out of scope (see docs/faults.md)
    LOGPIPE_FSYNC: "false",
    LOGPIPE_LOG_LEVEL: "warn",
    ...overrides,
  };
}

/** Every distinct (partition, offset) the batches carry, as the archive must hold them. */
export function expectedOf(seed: number, apps: number, batches: BatchDescriptor[]): ExpectedRecords {
  const seen = new Map<number, Set<number>>();
  const expected = new ExpectedRecords();
  const router = createRouter([{ kind: "field", path: ["appId"] }]);
  for (const b of batches) {
    for (const r of b.parts) {
      let s = seen.get(r.partition);
      if (!s) seen.set(r.partition, (s = new Set()));
      for (const o of offsetsOf(r)) {
        if (s.has(o)) continue;
        s.add(o);
        const value = recordValue(seed, apps, r.partition, o);
        expected.add(value, routeSegment(router, { key: null, headers: {}, value }));
      }
    }
  }
  return expected;
}

async function listQueue(dir: string, queue: string): Promise<string[]> {
  return (await readdir(path.join(dir, "q", queue)).catch(() => [] as string[])).filter((n) => !n.startsWith(".tmp."));
}

/** Moves what a dead instance had claimed back to its queue (FC retries / trigger redelivers). */
async function requeue(dir: string, pid: number): Promise<number> {
  const mine = path.join(dir, "q", "inflight", String(pid));
  let n = 0;
  for (const f of await readdir(mine).catch(() => [] as string[])) {
    const [queue, name] = f.split("~") as [string, string];
    await rename(path.join(mine, f), path.join(dir, "q", queue, name)).catch(() => {});
    n++;
  }
  await rm(mine, { recursive: true, force: true });
  return n;
}

async function pendingWork(dir: string): Promise<number> {
  return (await listQueue(dir, "trigger")).length + (await listQueue(dir, "compress")).length;
}

/** Trigger batches the instances have not acknowledged yet (queued, or being split). */
export function unackedBatches(ctx: Pick<RunContext, "dir">): number {
  const q = path.join(ctx.dir, "q");
  let n = readdirSync(path.join(q, "trigger")).filter((f) => !f.startsWith(".tmp.")).length;
  for (const pid of readdirSync(path.join(q, "inflight"))) n += readdirSync(path.join(q, "inflight", pid)).filter((f) => f.startsWith("trigger~")).length;
  return n;
}

/** True once /proc says the process is stopped (SIGSTOP). */
export async function waitStopped(pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "T" || state === "t") return;
    } catch {
      throw new Error(`process ${pid} is gone while waiting for it to stop`);
    }
    await sleep(10);
  }
  throw new Error(`process ${pid} did not stop within ${timeoutMs} ms`);
}

export async function runScenario(s: Scenario): Promise<ScenarioResult> {
  const started = performance.now();
  const apps = s.apps ?? 12;
  const batchRecords = s.batchRecords ?? 1000;
  const batches = s.batches ?? plainBatches(s.partitions, s.perPartition, batchRecords);
  const dir = await mkdtemp(path.join(os.tmpdir(), `lp-fault-${s.name.replace(/[^a-z0-9]+/gi, "-")}-`));
  for (const d of ["q/trigger", "q/compress", "q/inflight", "nas", "objects", "logs", "trace"]) mkdirSync(path.join(dir, d), { recursive: true });
  const keyPrefix = `lpf-${path.basename(dir)}`;
  const objectsSpec: ObjectsSpec = s.objects.kind === "local" ? { kind: "local", dir: path.join(dir, "objects") } : s.objects;
  // a prefix of its own, so scenarios can share one OSS bucket
  const env = scenarioEnv(dir, s.redisUrl, { LOGPIPE_OSS_PREFIX: `logs/${path.basename(dir)}`, ...s.env });
  for (const b of batches) writeFileSync(path.join(dir, "q/trigger", `${b.id}.json`), JSON.stringify(b));
  writeFileSync(path.join(dir, "q/ingest-done"), "");

  const procs = s.procs ?? 2;
  const maxSpawns = s.maxSpawns ?? 40;
  const deadline = Date.now() + (s.timeoutMs ?? 240_000);
  const live = new Map<number, ChildProcess>();
  const exits = new Map<number, Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stderr: string }>>();
  const crashPoints: Record<string, number> = {};
  let spawns = 0;
  let crashes = 0;

  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("LOGPIPE_")) baseEnv[k] = v;
  const spawnOne = () => {
    const n = spawns++;
    const crash = s.crashAt?.(n, crashes);
    const childEnv: Record<string, string> = {
      ...baseEnv,
      ...env,
      FAULT_WORKDIR: dir,
      FAULT_SEED: String(s.seed),
      FAULT_APPS: String(apps),
      FAULT_KEY_PREFIX: keyPrefix,
      FAULT_OBJECTS: JSON.stringify(objectsSpec),
      FAULT_COMPRESS_CONCURRENCY: String(s.compressConcurrency ?? 3),
      FAULT_UPLOAD_INTERVAL_MS: String(s.uploadIntervalMs ?? 250),
      ...(crash ? { LOGPIPE_CRASH_AT: crash } : {}),
      ...(s.spawnEnv?.(n) ?? {}),
    };
    const child = spawn(process.execPath, ["--import", "tsx", DRIVER], { cwd: REPO, env: childEnv, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    const pid = child.pid!;
    live.set(pid, child);
    exits.set(
      pid,
      new Promise((resolve) => child.once("close", (code, signal) => resolve({ pid, code, signal, stderr }))),
    );
  };

  let finishedFlag = false;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const ctx: RunContext = { dir, env, keyPrefix, objects: objectsSpec, seed: s.seed, apps, live, finished, isFinished: () => finishedFlag };
  let during: Promise<void> = Promise.resolve();
  let duringError: unknown;

  await s.prepare?.(ctx);
  try {
    for (let i = 0; i < procs; i++) spawnOne();
    during = s.during?.(ctx) ?? Promise.resolve();
    during.catch((e) => (duringError = e ?? new Error("during() failed")));
    while (live.size > 0) {
      if (duringError) throw duringError;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`${s.name}: instances still running after ${s.timeoutMs ?? 240_000} ms`);
      const r = await Promise.race([...exits.values(), sleep(Math.min(remaining, 1000)).then(() => undefined)]);
      if (!r) continue;
      live.delete(r.pid);
      exits.delete(r.pid);
      await requeue(dir, r.pid);
      if (r.signal === "SIGKILL") {
        crashes++;
        const m = /\[crash-point\] (\S+): SIGKILL/.exec(r.stderr);
        if (m) crashPoints[m[1]!] = (crashPoints[m[1]!] ?? 0) + 1;
      } else if (r.code !== 0) {
        throw new Error(`${s.name}: instance ${r.pid} exited with ${r.code ?? r.signal}:\n${r.stderr}`);
      }
      const pending = await pendingWork(dir);
      if ((r.signal === "SIGKILL" || pending > 0) && spawns < maxSpawns) spawnOne();
      else if (pending > 0 && live.size === 0) break; // out of spawns: the final drain takes the rest
    }
  } finally {
    for (const c of live.values()) {
      try { process.kill(c.pid!, "SIGCONT"); } catch { /* gone */ }
      c.kill("SIGKILL");
    }
    finishedFlag = true;
    finish();
  }
  await during.catch(() => {});
  if (duringError) throw duringError;

  const phaseSeconds = (performance.now() - started) / 1000;
  const objects = objectStoreFrom(objectsSpec);
  const leftOnNas = await finalDrain(s, dir, env, keyPrefix, objects, apps);
  const expected = expectedOf(s.seed, apps, [...batches, ...(s.extraExpected ?? [])]);
  const verify = await verifyArchive(objects, env.LOGPIPE_OSS_PREFIX!, expected).catch((e: Error) => {
    throw new Error(`${s.name}: the archive is unreadable (${e.message}); workdir kept: ${dir}`);
  });
  const tornTails = countInLogs(dir, /incomplete member|torn tail/);
  const reconcile = reconcileInLogs(dir);
  const logCounts: Record<string, number> = {};
  for (const [k, re] of Object.entries(s.countLogs ?? {})) logCounts[k] = countInLogs(dir, re);
  const slotEvents: SlotTrace[] = [];
  for (const f of readdirSync(path.join(dir, "trace"))) {
    for (const line of readFileSync(path.join(dir, "trace", f), "utf8").split("\n")) if (line) slotEvents.push(JSON.parse(line) as SlotTrace);
  }
  const result: ScenarioResult = {
    name: s.name, dir, records: expected.total, spawns, crashes, crashPoints, tornTails, reconcile, verify, leftOnNas,
    seconds: (performance.now() - started) / 1000, slotEvents, keyPrefix, logCounts, phaseSeconds,
  };
  if (verify.lost === 0 && verify.duplicated === 0 && verify.misrouted === 0 && leftOnNas.length === 0) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
  return result;
}

/** Reconcile events from every instance's JSON log lines. */
export function reconcileInLogs(dir: string): ScenarioResult["reconcile"] {
  const out: ScenarioResult["reconcile"] = { events: 0, possibleDuplicates: 0, kinds: {} };
  for (const f of readdirSync(path.join(dir, "logs"))) {
    for (const line of readFileSync(path.join(dir, "logs", f), "utf8").split("\n")) {
      if (!line.includes('"reconcile"')) continue;
      const e = JSON.parse(line) as { reconcile: string; possibleDuplicates?: number };
      out.events++;
      out.possibleDuplicates += e.possibleDuplicates ?? 0;
      out.kinds[e.reconcile] = (out.kinds[e.reconcile] ?? 0) + 1;
    }
  }
  return out;
}

function countInLogs(dir: string, re: RegExp): number {
  let n = 0;
  for (const f of readdirSync(path.join(dir, "logs"))) {
    for (const line of readFileSync(path.join(dir, "logs", f), "utf8").split("\n")) if (re.test(line)) n++;
  }
  return n;
}

/**
 * After the instances are gone: replay what is left in the queues, then seal + upload +
 * re-drive until NAS is empty (the end-of-run flush), then one more reconciler pass once every
 * crashed writer's lock and temp files are old enough. Returns the files still on NAS.
 */
export async function finalDrain(s: Pick<Scenario, "name" | "seed" | "redisUrl">, dir: string, env: Record<string, string>, keyPrefix: string, objects: ObjectStore, apps: number): Promise<string[]> {
  const { deps, drainInvocations, close } = inProcessDeps(dir, { ...env, LOGPIPE_REDRIVE_AGE: "1s" }, s.redisUrl, keyPrefix, objects, "final");
  const { config, nas } = deps;
  try {
    for (const name of await listQueue(dir, "trigger")) {
      const desc = JSON.parse(await readFile(path.join(dir, "q/trigger", name), "utf8")) as BatchDescriptor;
      await splitBatch(deps, toCloudEventsBatch(recordsOf(s.seed, apps, desc.parts)));
      await unlink(path.join(dir, "q/trigger", name));
    }
    for (const name of await listQueue(dir, "compress")) {
      const t = JSON.parse(await readFile(path.join(dir, "q/compress", name), "utf8")) as DrainTask;
      await deps.invoker!.invokeCompress(t);
      await unlink(path.join(dir, "q/compress", name));
    }
    await drainInvocations();
    const flushDeadline = Date.now() + 60_000;
    for (let round = 0; round < 200 && Date.now() < flushDeadline; round++) {
      const r = await runUpload(deps, { sealAll: true, sweepAll: true, redriveAll: true });
      await drainInvocations();
      const left = [...(await nas.walk("staging")), ...(await nas.walk("outbox")), ...(await nas.walk("outbox-flat")), ...(await nas.walk("active")).filter((f) => f.size > 0)];
      if (!r.skipped && r.failed === 0 && left.length === 0) break;
      await sleep(250);
    }
    // Reconciler pass once crashed writers' locks and temp files are old enough to be orphans.
    await sleep(config.lockTtlMs + 300);
    for (let round = 0; round < 5; round++) {
      const r = await runUpload(deps, { sealAll: true, sweepAll: true, redriveAll: true });
      await drainInvocations();
      if (!r.skipped && r.swept === 0 && r.orphansRemoved === 0 && r.sealed === 0 && r.uploaded === 0 && r.redriven === 0) break;
    }
    const all = [];
    for (const top of await nas.listNames(".")) all.push(...(await nas.walk(top)));
    return all.filter((f) => !(f.rel.startsWith("active/") && f.size === 0)).map((f) => `${f.rel} (${f.size} bytes)`);
  } finally {
    await close();
  }
}

/** Deps for running the data path in the test process against a scenario's NAS, Redis and store; compress invocations run inline. */
export function inProcessDeps(dir: string, env: Record<string, string>, redisUrl: string, keyPrefix: string, objects: ObjectStore, name: string) {
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  const logger = createLogger({
    level: "warn",
    base: { pid: name },
    destination: destination({ dest: path.join(dir, "logs", `${name}.log`), sync: true }) as unknown as NodeJS.WritableStream,
  });
  const config = loadConfig(env);
  const coord = new RedisCoordStore({ url: redisUrl, keyPrefix });
  const nas = new NasDir(config.nasRoot, config.fsync);
  const inflight = new Set<Promise<void>>();
  const compressWithRetry = async (t: DrainTask) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await compressTask(deps, t);
        return;
      } catch (e) {
        if (!(e instanceof RetryableError) || attempt >= 8) throw e;
        await sleep(100 * attempt);
      }
    }
  };
  const deps: PipelineDeps = {
    config, nas, coord, objects, logger, appCache: new Map(),
    invoker: {
      async invokeCompress(p) {
        const t = compressWithRetry(p).catch((e) => logger.error({ err: (e as Error).message }, "in-process compress failed")).finally(() => inflight.delete(t));
        inflight.add(t);
      },
    },
  };
  const drainInvocations = async () => {
    while (inflight.size > 0) await Promise.all([...inflight]);
  };
  return { deps, drainInvocations, close: () => coord.close() };
}

/** Max writers holding a lock on one app at once, from a trace with a system-wide monotonic clock. */
export function maxConcurrentWriters(events: SlotTrace[]): { perApp: Map<string, number>; sameSlotOverlaps: number } {
  const perApp = new Map<string, number>();
  let sameSlotOverlaps = 0;
  const byApp = new Map<string, SlotTrace[]>();
  for (const e of events) {
    let l = byApp.get(e.app);
    if (!l) byApp.set(e.app, (l = []));
    l.push(e);
  }
  for (const [app, list] of byApp) {
    list.sort((a, b) => a.mono - b.mono || (a.event === "release" ? -1 : 1));
    let cur = 0, max = 0;
    const holders = new Map<number, number>();
    for (const e of list) {
      const h = holders.get(e.slot) ?? 0;
      if (e.event === "acquire") {
        cur++;
        if (h > 0) sameSlotOverlaps++;
        holders.set(e.slot, h + 1);
      } else {
        cur--;
        holders.set(e.slot, h - 1);
      }
      max = Math.max(max, cur);
    }
    perApp.set(app, max);
  }
  return { perApp, sameSlotOverlaps };
}

// ---- summary lines -------------------------------------------------------------------------

export interface CategoryTotals {
  scenarios: number;
  records: number;
  lost: number;
  duplicated: number;
}

export class Summary {
  readonly totals: CategoryTotals = { scenarios: 0, records: 0, lost: 0, duplicated: 0 };
  constructor(readonly category: string) {}
  add(records: number, lost: number, duplicated: number): void {
    this.totals.scenarios++;
    this.totals.records += records;
    this.totals.lost += lost;
    this.totals.duplicated += duplicated;
  }
  addResult(r: ScenarioResult): void {
    this.add(r.records, r.verify.lost, r.verify.duplicated);
  }
  line(): string {
    const t = this.totals;
    return `faults: ${t.scenarios} scenarios, records ${t.records}, lost ${t.lost}, duplicated ${t.duplicated} (${this.category})`;
  }
  /** Prints the line and hands it to the global teardown, which repeats every category at the end. */
  flush(): void {
    console.log(this.line());
    const file = process.env.LOGPIPE_FAULT_SUMMARY_FILE;
    if (file) appendFileSync(file, JSON.stringify({ category: this.category, ...this.totals }) + "\n");
  }
}

export function describeResult(r: ScenarioResult): string {
  const pts = Object.entries(r.crashPoints).map(([k, v]) => `${k}×${v}`).join(" ");
  return `${r.name}: ${r.records} records, ${r.spawns} instances, ${r.crashes} kills [${pts}], torn tails ${r.tornTails}, ` +
    `reconcile ${r.reconcile.events} (possible dup ${r.reconcile.possibleDuplicates}), ` +
    `lost ${r.verify.lost}, dup ${r.verify.duplicated}, misrouted ${r.verify.misrouted}, objects ${r.verify.objects}, left ${r.leftOnNas.length}, ${r.seconds.toFixed(1)} s (instances ${r.phaseSeconds.toFixed(1)} s)` +
    (r.verify.examples.length ? `\n  ${r.verify.examples.join("\n  ")}` : "") + (r.leftOnNas.length ? `\n  left: ${r.leftOnNas.slice(0, 10).join(", ")}` : "") +
    (r.verify.lost || r.verify.duplicated || r.leftOnNas.length ? `\n  workdir kept: ${r.dir}` : "");
}

export { existsSync };

/**
 * `logpipe local`: the whole pipeline in one process tree, with the same handlers' core
 * functions as in FC. A trigger emulator batches source records into CloudEvents like the FC
 * Kafka trigger (count/time windows, maximumTasks concurrency, retry strategy, errors
 * tolerance); split, compress and upload run on worker threads (the async-invoke emulator queues
 * compress with FC-like retries); a timer runs upload, and a final flush drains, seals and uploads
 * everything. Then the archive is read back and verified.
 */
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pLimit from "p-limit";
import { AsyncInvokeEmulator } from "../../functions/adapters/async-invoke-emulator.js";
import type { CoordStore } from "../../functions/adapters/coord-store.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { MemoryCoordStore } from "../../functions/adapters/memory-coord-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { compressTask, type CompressResult } from "../../functions/core/compress.js";
import { loadConfig, type PipelineConfig } from "../../functions/core/config.js";
import { writeDeadLetter } from "../../functions/core/dead-letter.js";
import type { DrainTask, PipelineDeps, ReconcileEvent } from "../../functions/core/deps.js";
import { ACTIVE_DIR, OUTBOX_DIRS, STAGING_DIR } from "../../functions/core/layout.js";
import { silentLogger, type Logger } from "../../functions/core/logger.js";
import { createRouter, routeSegment } from "../../functions/core/routing.js";
import { splitBatch } from "../../functions/core/split.js";
import { agePercentiles, runUpload, type RecordAge, type UploadOptions, type UploadResult } from "../../functions/core/upload.js";
import type { RecordSource } from "../sources/types.js";
import { toCloudEventsBatch } from "./cloudevents.js";
import { HandlerWorkerPool, type SlotEvent, type Timed } from "./handler-pool.js";
import { ExpectedRecords, verifyArchive, type VerifyReport } from "./verify.js";

export type RetryStrategy = "BACKOFF_RETRY" | "EXPONENTIAL_DECAY_RETRY";

export interface TriggerOptions {
  /** CountBasedWindow: records per batch (FC: 1–10000). */
  batchRecords?: number;
  /** TimeBasedWindow in ms (FC: 0–15 s). */
  batchWindowMs?: number;
  /** maximumTasks: concurrent split invocations. */
  maximumTasks?: number;
  retryStrategy?: RetryStrategy;
  /** ALL: a batch that fails every retry is dead-lettered and the run goes on; NONE: the run stops. */
  errorsTolerance?: "ALL" | "NONE";
}

export interface LocalRunOptions {
  source: RecordSource;
  outDir: string;
  objects?: ObjectStore;
  /** Redis for the coord store; without it an in-process store is used and compress runs in-process. */
  redisUrl?: string;
  keyPrefix?: string;
  /** LOGPIPE_* overrides, validated like the functions' own environment. */
  env?: Record<string, string>;
  trigger?: TriggerOptions;
  /** Handler worker threads (default one per core, at least two): split, compress and upload run on them. */
  compressWorkers?: number;
  /** Concurrent invocations per worker thread (default 1, as FC's instance concurrency; each holds at most one slot lock at a time). */
  compressPerWorker?: number;
  uploadIntervalMs?: number;
  traceSlots?: boolean;
  verify?: boolean;
  logger?: Logger;
  onProgress?: (p: LocalProgress) => void;
  /** Test hook: transforms each CloudEvents payload before split sees it (fault injection). */
  mangleEvent?: (event: Buffer, batchIndex: number) => Buffer;
  /**
   * Aborting stops the run: ingest ends, in-flight splits finish, then runLocal cleans up and
   * rejects with `signal.reason` instead of draining and verifying a partial archive.
   */
  signal?: AbortSignal;
  /** Object keys an earlier run left (`--keep`): not this run's records, so not verified. */
  earlierObjects?: ReadonlySet<string>;
}

export interface PhaseFigures {
  handlerSeconds: { split: number; compress: number; upload: number };
  /** per GB of the whole run's raw bytes (ingest + flush add up to handlerSecondsPerGb) */
  handlerSecondsPerGb: number;
  invocations: { split: number; compress: number; upload: number };
}

export interface LocalProgress {
  records: number;
  bytes: number;
  expectedRecords?: number;
  batches: number;
  compressPending: number;
  stage: "ingest" | "drain" | "verify" | "done";
}

export interface LocalRunReport {
  source: string;
  objectStore: string;
  coordStore: string;
  config: Pick<PipelineConfig, "maxWritersPerApp" | "maxApps" | "gzipLevel" | "sealBytes" | "prefix">;
  records: number;
  rawBytes: number;
  seconds: number;
  mbPerSecond: number;
  /** Whole local process CPU (generator, trigger emulator, verification included). */
  cpuSeconds: number;
  cpuSecondsPerGb: number;
  /**
   * Summed invocation durations per function: what FC bills as active time. On worker threads,
   * less the time the thread waited for one of this machine's cores (`coreWaitSeconds`): an FC
   * instance has its vCPU to itself.
   */
  handlerSeconds: { split: number; compress: number; upload: number };
  handlerSecondsPerGb: number;
  /** time handlers' threads were ready but waited for a core of this machine, left out of handlerSeconds (0 where the OS does not say) */
  coreWaitSeconds: number;
  invocations: { split: number; compress: number; upload: number; splitRetries: number; compressRetries: number };
  /**
   * The same figures split at the final flush: `ingest` is the run up to the last batch (with the
   * work it queued finished), what a pipeline that keeps running pays per GB; `flush` is the
   * final sweep, seal and upload of every app a run that stops must make (one object per app,
   * however little it holds), which a short run with many apps is dominated by.
   */
  phases: { ingest: PhaseFigures; flush: PhaseFigures };
  deadLetteredBatches: number;
  /** compress drains: gzip members appended, app drains done, apps skipped because every slot was busy */
  drains: { members: number; apps: number; busy: number };
  /** redelivered records split dropped (their offsets were staged before) */
  duplicatesDropped: number;
  /** repairs the pipeline made (see docs/faults.md); possible duplicates are counted in each */
  reconcile: ReconcileEvent[];
  /** age of records when their object was uploaded, from when split staged them (oldest section of each member, weighted by records) */
  freshness: { p50Ms: number; p99Ms: number; maxMs: number };
  maxConcurrentWritersPerApp?: number;
  uploads: { sealed: number; uploaded: number; failed: number; errors: string[] };
  /** Files still on NAS (staging/outbox) after the final flush: should be 0. */
  leftOnNas: number;
  verify?: VerifyReport;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Delay before retry `attempt` (1-based), per the trigger's retry strategy; undefined = give up. */
export function triggerRetryDelay(strategy: RetryStrategy, attempt: number): number | undefined {
  if (strategy === "BACKOFF_RETRY") return attempt <= 3 ? 100 * attempt * (0.5 + Math.random()) : undefined;
  // EXPONENTIAL_DECAY_RETRY: 176 retries over a day in FC; compressed here to a bounded schedule
  return attempt <= 176 ? Math.min(2 ** attempt * 50, 5_000) : undefined;
}

export function maxConcurrency(events: SlotEvent[]): Map<string, number> {
  const byApp = new Map<string, SlotEvent[]>();
  for (const e of events) {
    let l = byApp.get(e.app);
    if (!l) byApp.set(e.app, (l = []));
    l.push(e);
  }
  const out = new Map<string, number>();
  for (const [app, list] of byApp) {
    list.sort((a, b) => a.at - b.at || (a.event === "release" ? -1 : 1));
    let cur = 0, max = 0;
    for (const e of list) {
      cur += e.event === "acquire" ? 1 : -1;
      max = Math.max(max, cur);
    }
    out.set(app, max);
  }
  return out;
}

/** The highest per-app concurrency in a trace (a loop: spreading 100k apps into Math.max overflows the stack). */
export function peakConcurrency(events: SlotEvent[]): number {
  let peak = 0;
  for (const n of maxConcurrency(events).values()) peak = Math.max(peak, n);
  return peak;
}

export function localEnv(outDir: string, redisUrl: string | undefined, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    LOGPIPE_NAS_ROOT: path.join(outDir, "nas"),
    LOGPIPE_INVOKE_MODE: "inline",
    LOGPIPE_FUNCTION_TIMEOUT: "60s",
    LOGPIPE_LOCK_TTL: "90s",
    LOGPIPE_LOCK_MARGIN: "5s",
    LOGPIPE_SLOT_WAIT: "30s",
    LOGPIPE_SEAL_BYTES: "64MB",
    LOGPIPE_SEAL_AGE: "10m",
    LOGPIPE_REDRIVE_AGE: "30s",
    // the sweep drains the long tail every 10 s here (FC default 60 s), so a demo shows steady state
    LOGPIPE_DRAIN_AGE: "10s",
    LOGPIPE_FSYNC: "false",
    LOGPIPE_LOG_LEVEL: "warn",
    ...(redisUrl ? { LOGPIPE_REDIS_URL: redisUrl } : {}),
    ...overrides,
  };
}

const emptyPhase = (): PhaseFigures => ({ handlerSeconds: { split: 0, compress: 0, upload: 0 }, handlerSecondsPerGb: 0, invocations: { split: 0, compress: 0, upload: 0 } });

/** Ingest and flush figures from the run's totals and the snapshot taken when ingest ended (none: the run stopped before). */
export function splitPhases(total: PhaseFigures, ingestEnd: PhaseFigures | undefined, gb: number): { ingest: PhaseFigures; flush: PhaseFigures } {
  const ingest = ingestEnd ?? total;
  const flush = emptyPhase();
  for (const k of ["split", "compress", "upload"] as const) {
    flush.handlerSeconds[k] = total.handlerSeconds[k] - ingest.handlerSeconds[k];
    flush.invocations[k] = total.invocations[k] - ingest.invocations[k];
  }
  const perGb = (h: PhaseFigures["handlerSeconds"]) => (gb > 0 ? (h.split + h.compress + h.upload) / gb : 0);
  return { ingest: { ...ingest, handlerSecondsPerGb: perGb(ingest.handlerSeconds) }, flush: { ...flush, handlerSecondsPerGb: perGb(flush.handlerSeconds) } };
}

export async function runLocal(opts: LocalRunOptions): Promise<LocalRunReport> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const logger = opts.logger ?? silentLogger;
  const env = localEnv(opts.outDir, opts.redisUrl, opts.env);
  const config = loadConfig(env);
  mkdirSync(config.nasRoot, { recursive: true });
  const objectsDir = path.join(opts.outDir, "objects");
  const objects = opts.objects ?? new LocalObjectStore(objectsDir);
  const coord: CoordStore = opts.redisUrl ? new RedisCoordStore({ url: opts.redisUrl, keyPrefix: opts.keyPrefix }) : new MemoryCoordStore();
  const nas = new NasDir(config.nasRoot, config.fsync);
  const trigger: Required<TriggerOptions> = {
    batchRecords: 2000, batchWindowMs: 500, maximumTasks: 2, retryStrategy: "BACKOFF_RETRY", errorsTolerance: "ALL", ...opts.trigger,
  };
  // one invocation per worker (FC's instance concurrency 1), and one worker per core (at least
  // two): an invocation overlaps its own NAS and Redis waits (NAS_CONCURRENCY, pipelined
  // scripts), and with two per core the workers' libuv threads and redis-server waited for the
  // cores in ways a thread's run-queue wait does not show, billed as handler time (300 k records
  // on 2 cores: 3,000 apps 59 → 47 handler s/GB, 50 apps 26 → 23.5, wall time 5 % less)
  const workers = opts.redisUrl ? (opts.compressWorkers ?? Math.max(2, os.availableParallelism())) : 0;
  const perWorker = opts.compressPerWorker ?? 1;

  const slotEvents: SlotEvent[] = [];
  const deps: PipelineDeps = { config, nas, coord, objects, logger, appCache: new Map() };
  if (opts.traceSlots) deps.onSlotEvent = (e) => slotEvents.push(e);
  // With Redis, split and compress (and upload: below) run on worker threads (like separate FC instances); the
  // in-process lock store cannot be shared across threads, so without Redis everything runs here.
  // upload runs there too when the workers can open the run's object store (the local one), so its
  // time is its own and not the record generator's on this thread; a caller's store (OSS) is used here.
  const uploadInPool = workers > 0 && !opts.objects;
  const pool = workers > 0 ? new HandlerWorkerPool({ workers, perWorker, env, keyPrefix: opts.keyPrefix, traceSlots: opts.traceSlots, objectsDir: uploadInPool ? objectsDir : undefined }) : undefined;
  /** Books an invocation's time: as measured, less what its thread waited for a core (thread-clock.ts). */
  const bill = (fn: keyof LocalRunReport["handlerSeconds"], durationMs: number, coreWaitMs: number) => {
    const wait = Math.min(Math.max(0, coreWaitMs), durationMs);
    report.handlerSeconds[fn] += (durationMs - wait) / 1000;
    report.coreWaitSeconds += wait / 1000;
  };
  const runCompress = async (t: DrainTask): Promise<CompressResult> => {
    // on this thread (no pool) no core wait is measured
    const { value: r, coreWaitMs } = pool ? await pool.run(t) : { value: await compressTask(deps, t), coreWaitMs: 0 };
    bill("compress", r.durationMs, coreWaitMs);
    report.drains.members += r.members;
    report.drains.apps += r.apps;
    report.drains.busy += r.busy;
    return r;
  };
  const emulator = new AsyncInvokeEmulator(runCompress, {
    concurrency: Math.max(1, workers) * perWorker,
    maxAttempts: 4,
    onFailure: (t, e, n) => logger.error({ apps: t.apps.length, err: e.message, attempts: n }, "compress failed every attempt; the sweep drains its apps again"),
  });
  deps.invoker = emulator;

  const report: LocalRunReport = {
    source: opts.source.description,
    objectStore: objects.description,
    coordStore: opts.redisUrl ? `redis ${new URL(opts.redisUrl).host}` : "in-process",
    config: { maxWritersPerApp: config.maxWritersPerApp, maxApps: config.maxApps, gzipLevel: config.gzipLevel, sealBytes: config.sealBytes, prefix: config.prefix },
    records: 0, rawBytes: 0, seconds: 0, mbPerSecond: 0, cpuSeconds: 0, cpuSecondsPerGb: 0,
    handlerSeconds: { split: 0, compress: 0, upload: 0 }, handlerSecondsPerGb: 0, coreWaitSeconds: 0,
    invocations: { split: 0, compress: 0, upload: 0, splitRetries: 0, compressRetries: 0 },
    phases: { ingest: emptyPhase(), flush: emptyPhase() },
    deadLetteredBatches: 0,
    drains: { members: 0, apps: 0, busy: 0 },
    duplicatesDropped: 0,
    reconcile: [],
    freshness: { p50Ms: 0, p99Ms: 0, maxMs: 0 },
    uploads: { sealed: 0, uploaded: 0, failed: 0, errors: [] },
    leftOnNas: 0,
    ok: false,
  };
  const addUpload = ({ value: u, coreWaitMs }: Timed<UploadResult>) => {
    report.invocations.upload++;
    bill("upload", u.durationMs, coreWaitMs);
    report.uploads.sealed += u.sealed;
    report.uploads.uploaded += u.uploaded;
    report.uploads.failed += u.failed;
    report.uploads.errors.push(...u.errors.slice(0, 5));
    for (const a of u.ages) ages.push(a);
  };
  const ages: RecordAge[] = [];
  deps.onReconcile = (e) => report.reconcile.push(e);
  /** One upload invocation, on a worker when it can open the object store (see uploadInPool). */
  const upload = async (o: UploadOptions = {}): Promise<Timed<UploadResult>> => {
    if (!pool || !uploadInPool) return { value: await runUpload(deps, o), coreWaitMs: 0 }; // main thread: no wait measured
    const { value: out, coreWaitMs } = await pool.upload(o);
    for (const e of out.reconcile) report.reconcile.push(e);
    // the sweep's drains are queued when the invocation returns (FC would start them at once)
    for (const t of out.tasks) await emulator.invokeCompress(t);
    return { value: out.result, coreWaitMs };
  };

  const expected = new ExpectedRecords();
  const router = createRouter(config.appIdSources);
  const seen = new Set<string>(); // Kafka redelivers at least once: count each (topic, partition, offset) once
  // the timer repeats the current stage; a stage only moves forward (a bar must not fall back to "ingest" while draining)
  let stage: LocalProgress["stage"] = "ingest";
  const progress = (next: LocalProgress["stage"] = stage) => {
    stage = next;
    opts.onProgress?.({ records: report.records, bytes: report.rawBytes, expectedRecords: opts.source.expectedRecords, batches: report.invocations.split, compressPending: emulator.pending, stage });
  };

  // Upload timer, like FC's timer trigger (one run at a time).
  let uploading: Promise<void> | undefined;
  const tick = () => {
    uploading ??= upload().then(addUpload, (e) => logger.error({ err: (e as Error).message }, "upload tick failed")).finally(() => (uploading = undefined));
  };
  const timer = setInterval(tick, opts.uploadIntervalMs ?? 2000);
  const progressTimer = setInterval(() => progress(), 250);

  const phaseSnapshot = (): PhaseFigures => ({
    handlerSeconds: { ...report.handlerSeconds }, handlerSecondsPerGb: 0,
    invocations: { split: report.invocations.split, compress: emulator.stats.invoked, upload: report.invocations.upload },
  });
  let ingestEnd: PhaseFigures | undefined;
  let fatal: Error | undefined;
  try {
    const splitLimit = pLimit(trigger.maximumTasks);
    const inflight = new Set<Promise<void>>();
    let batchIndex = 0;
    for await (const batch of opts.source.batches({ maxRecords: trigger.batchRecords, maxWaitMs: trigger.batchWindowMs, signal: opts.signal })) {
      if (fatal || opts.signal?.aborted) break;
      const fresh = batch.records.filter((r) => {
        const id = `${r.topic}\u0000${r.partition}\u0000${r.offset}`;
        return seen.has(id) ? false : (seen.add(id), true);
      });
      for (const r of fresh) {
        const seg = r.value.length > config.maxRecordBytes ? "_deadletter" : routeSegment(router, { key: r.key?.toString("utf8") ?? null, headers: r.headers, value: r.value });
        expected.add(r.value, seg);
        report.rawBytes += r.value.length;
      }
      report.records += fresh.length;
      let event = toCloudEventsBatch(batch.records);
      if (opts.mangleEvent) event = opts.mangleEvent(event, batchIndex);
      batchIndex++;
      const job = splitLimit(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            report.invocations.split++;
            const requestId = `local-${batchIndex}-${attempt}`;
            // on this thread split invokes the emulator itself (deps.invoker); on a worker its tasks come back
            const { value: out, coreWaitMs } = pool
              ? await pool.split(event, requestId)
              : { value: { result: await splitBatch(deps, event, { requestId }), tasks: [] }, coreWaitMs: 0 };
            const r = out.result;
            bill("split", r.durationMs, coreWaitMs);
            for (const t of out.tasks) await emulator.invokeCompress(t);
            report.duplicatesDropped += r.duplicates;
            await batch.ack();
            return;
          } catch (e) {
            const delay = triggerRetryDelay(trigger.retryStrategy, attempt);
            if (delay !== undefined) {
              report.invocations.splitRetries++;
              await sleep(delay);
              continue;
            }
            if (trigger.errorsTolerance === "NONE") {
              fatal = new Error(`split failed after ${attempt} attempts and errorsTolerance is NONE: ${(e as Error).message}`);
              return;
            }
            report.deadLetteredBatches++;
            await writeDeadLetter(deps, { kind: "batch", reason: `split failed after ${attempt} attempts: ${(e as Error).message}`, payload: event });
            await batch.ack();
            return;
          }
        }
      });
      const tracked = job.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      // Backpressure: the trigger does not fetch more than it can hand to split, and compress must keep up.
      while (splitLimit.activeCount + splitLimit.pendingCount >= trigger.maximumTasks || emulator.pending > Math.max(8, workers * perWorker * 8)) {
        await Promise.race([...inflight, sleep(20)]);
      }
    }
    await Promise.all(inflight);
    if (fatal) throw fatal;
    opts.signal?.throwIfAborted();

    // Drain: finish compress, then seal + upload everything, re-driving anything left in staging.
    progress("drain");
    // the flush makes the upload calls from here on: a timer tick beside them would hold the
    // upload lease and turn them away (one round of 100 ms waits each time)
    clearInterval(timer);
    await emulator.drain();
    await uploading;
    ingestEnd = phaseSnapshot();
    for (let round = 0; round < 20; round++) {
      // every app drained and sealed by its drain (DrainTask.seal: two round trips for a task's
      // slots), then shipped by the next call; the first call's own seal finds the slots the
      // ingest left, before the drains it queued start
      addUpload(await upload({ sealAll: true, sweepAll: true, redriveAll: true }));
      await emulator.drain();
      // the active tree was walked by the call before (and is checked below): Redis's list will do
      addUpload(await upload({ sealAll: true, sweepAll: true, redriveAll: true, walkActive: false }));
      await emulator.drain();
      let left = (await nas.walk(STAGING_DIR)).length + (await nas.walk(ACTIVE_DIR)).length;
      for (const dir of OUTBOX_DIRS) left += (await nas.walk(dir)).length;
      report.leftOnNas = left;
      if (left === 0) break;
      opts.signal?.throwIfAborted();
      await sleep(100);
    }
  } finally {
    clearInterval(timer);
    clearInterval(progressTimer);
    await uploading;
    // Each step runs even if an earlier one fails: a leaked Redis connection or Kafka consumer keeps the process alive.
    const traces = pool ? await pool.close().catch((): SlotEvent[] => []) : [];
    for (const e of traces) slotEvents.push(e); // a loop: spreading millions of events overflows the stack
    await coord.close().catch(() => {});
    await opts.source.close();
  }
  report.invocations.compress = emulator.stats.invoked;
  report.invocations.compressRetries = emulator.stats.retried;
  if (opts.traceSlots) report.maxConcurrentWritersPerApp = peakConcurrency(slotEvents);

  const cpu = process.cpuUsage(cpuStart);
  report.seconds = (performance.now() - started) / 1000;
  report.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const gb = report.rawBytes / 1024 ** 3;
  report.mbPerSecond = report.rawBytes / 1024 ** 2 / report.seconds;
  report.cpuSecondsPerGb = gb > 0 ? report.cpuSeconds / gb : 0;
  const hs = report.handlerSeconds;
  report.handlerSecondsPerGb = gb > 0 ? (hs.split + hs.compress + hs.upload) / gb : 0;
  report.phases = splitPhases(phaseSnapshot(), ingestEnd, gb);
  report.freshness = agePercentiles(ages);

  if (opts.verify !== false) {
    progress("verify");
    report.verify = await verifyArchive(objects, config.prefix, expected, { skipKeys: opts.earlierObjects });
    opts.signal?.throwIfAborted();
    report.ok = report.verify.lost === 0 && report.verify.duplicated === 0 && report.verify.misrouted === 0 && report.leftOnNas === 0;
  } else report.ok = report.leftOnNas === 0;
  progress("done");
  return report;
}

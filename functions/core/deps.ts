/**
 * What the data-path functions need, injected (middy/Powertools style): the handlers build it
 * once per instance, tests and `logpipe local` build it from local stores.
 */
import pLimit from "p-limit";
import type { CoordStore } from "../adapters/coord-store.js";
import type { NasDir } from "../adapters/nas.js";
import type { ObjectStore } from "../adapters/object-store.js";
import type { PipelineConfig } from "./config.js";
import type { PacerClock } from "./request-pacer.js";
import type { Logger } from "./logger.js";

/**
 * Async payload of compress: drain these apps (each: one slot lock, everything pending for it
 * from any number of staging files → one gzip member, one commit for the whole task). A few
 * hundred bytes to a few KB, never data.
 */
export interface DrainTask {
  v: 2;
  apps: string[];
  /** drain this tail shard's regions instead (apps is then empty): see CoordStore.claimTail */
  shard?: number;
  /** hot: split saw an app cross the drain threshold; sweep: the uploader's periodic drain */
  reason: "hot" | "sweep";
  /**
   * Seal every slot the task appends to, right after its commit, whatever its size and age: a
   * drain of everything (upload's `drain` payload, the end of a local run) leaves the data sealed,
   * two round trips for all of a task's slots instead of a lock, a stat and two round trips per
   * slot at the next upload tick.
   */
  seal?: boolean;
}

export interface CompressInvoker {
  invokeCompress(task: DrainTask): Promise<void>;
}

/**
 * NAS operations a handler keeps in flight at once where they are independent (different apps'
 * files, different staging files): on NAS each is a network round trip, and FC bills the
 * handler's wall time, so independent ones should overlap rather than queue. 16: a long-tail
 * task appends to and seals ~400 apps' files, ~4 round trips each; 8 at a time left ~0.4 s of
 * its wall time in the queue (docs/bench.md, "Round trips in flight"). compress and upload run
 * with a libuv pool twice this size (infra/runtime-env.ts), so the calls do not queue there.
 */
export const NAS_CONCURRENCY = 16;

/**
 * Waits for every promise, then throws the first failure, if any: work writing into or out of a
 * pooled buffer must all have settled before the buffer goes back (Promise.all would reject
 * while the rest still run).
 */
export async function settleAll<T>(work: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  for (const r of settled) if (r.status === "rejected") throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A drain task's `seal` field: present only when true, so a task that does not seal reads as before. */
export const sealField = (seal: boolean | undefined): Pick<DrainTask, "seal"> => (seal === true ? { seal: true } : {});

/** Splits `apps` into drain tasks of at most `perTask` apps and invokes them (a few at a time). */
export async function invokeDrains(invoker: CompressInvoker, apps: string[], perTask: number, reason: DrainTask["reason"], opts: { seal?: boolean } = {}): Promise<number> {
  // in name order, as split lays out a staging file's sections: each task's sections then lie
  // together in every file, so the task reads a part of each file, not all of it
  const sorted = [...apps].sort();
  const tasks: DrainTask[] = [];
  for (let i = 0; i < sorted.length; i += perTask) tasks.push({ v: 2, apps: sorted.slice(i, i + perTask), reason, ...sealField(opts.seal) });
  const limit = pLimit(8);
  await Promise.all(tasks.map((t) => limit(() => invoker.invokeCompress(t))));
  return tasks.length;
}

/** Invokes one drain task per tail shard (a few at a time). */
export async function invokeTails(invoker: CompressInvoker, shards: number[], opts: { seal?: boolean } = {}): Promise<number> {
  const limit = pLimit(8);
  await Promise.all(shards.map((shard) => limit(() => invoker.invokeCompress({ v: 2, apps: [], shard, reason: "sweep", ...sealField(opts.seal) }))));
  return shards.length;
}

/** Something the pipeline noticed and repaired that an operator should know (see docs/faults.md). */
export interface ReconcileEvent {
  kind:
    | "adopted-members" // complete members past the committed length (a crash before commit, or Redis forgot)
    | "unknown-refs" // members name sections Redis had consumed elsewhere or never knew: possible duplicates
    | "generation-already-sealed" // Redis forgot a seal: the slot moves on to a new generation
    | "file-shorter-than-committed" // NAS holds less than Redis says: what is there is sealed, nothing cut
    | "untracked-generation-sealed" // an active file Redis does not know (gen ahead): sealed as it is
    | "orphan-staging-registered" // a staging file Redis did not know: registered again (dedup by offsets)
    | "torn-staging-file" // a staging file a split died writing (bytes do not match its name): removed, its batch was redelivered
    | "topic-reset" // offsets restarted below the watermark with newer timestamps
    | "missing-staging-file"; // a pending section whose staging file is gone (consumed in a forgotten history)
  app?: string;
  detail: Record<string, unknown>;
  /** records that may now be archived twice because of what was repaired (0 when none) */
  possibleDuplicates: number;
}

export interface PipelineDeps {
  config: PipelineConfig;
  nas: NasDir;
  coord: CoordStore;
  /** Needed by upload only. */
  objects?: ObjectStore;
  /** Needed by split (hot apps) and by upload's sweep. */
  invoker?: CompressInvoker;
  logger: Logger;
  now?: () => number;
  /** The clock upload paces OSS requests on (default: real time; the bench: its NAS model's overlap clock). */
  requestClock?: PacerClock;
  /** Apps this instance saw admitted, with when it last asked (only "admitted" is cached). */
  appCache?: Map<string, number>;
  /** Test instrumentation: called when a slot lock is taken and released. */
  onSlotEvent?: (e: { app: string; slot: number; event: "acquire" | "release"; at: number }) => void;
  /** Repairs worth an operator's attention (besides the warn log line each gets). */
  onReconcile?: (e: ReconcileEvent) => void;
}

export const nowOf = (deps: Pick<PipelineDeps, "now">): number => (deps.now ?? Date.now)();

export function reportReconcile(deps: Pick<PipelineDeps, "logger" | "onReconcile">, e: ReconcileEvent): void {
  deps.logger.warn({ reconcile: e.kind, app: e.app, possibleDuplicates: e.possibleDuplicates, ...e.detail }, `reconcile: ${e.kind}`);
  deps.onReconcile?.(e);
}

/** Per (topic, partition) dedup state bounds (see core/partition-state.ts). */
export const PARTITION_MAX_RANGES = 64;
export const PARTITION_MAX_GAPS = 256;
/** Section refs per member (its FEXTRA metadata must stay under 64 KB). */
export const MAX_REFS_PER_MEMBER = 400;
/**
 * Sections one drain of an app takes, appended as members of MAX_REFS_PER_MEMBER in one write. An
 * app with this many pending is drained whatever its bytes (its pending list in Redis stays
 * bounded) and starts a wave of the long tail (SmallAppRule.maxRefs), so this many staging files
 * should span more than LOGPIPE_DRAIN_MAX_AGE at the batch sizes stacks ship: 1,600 files are
 * 2 h 13 min of 5,000-record batches at 1,000 records/s (one file each); at 400 they were 33 min,
 * and the tail went in two waves an hour, each a member and an object per app.
 */
export const MAX_REFS_PER_DRAIN = 4 * MAX_REFS_PER_MEMBER;

export class RetryableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RetryableError";
  }
}

/**
 * upload (timer): seal active files that are big or old enough, sweep (invoke compress drains
 * for every app whose oldest pending section is older than LOGPIPE_DRAIN_AGE), ship the outbox
 * (sealed files, dead letters) to the object store under their keys, verify, delete locally.
 * It is also the reconciler: staging files Redis does not know are registered again (dedup by
 * offsets makes that safe), files of generations Redis does not know are sealed as they are, and
 * temp files and orphaned active files left by crashed writers are removed. One app's or slot's
 * trouble is reported and never stops the others. One uploader runs at a time (a lease).
 */
import { createHash, randomUUID } from "node:crypto";
import { Semaphore } from "async-mutex";
import pLimit, { type LimitFunction } from "p-limit";
import { md5AndCrc64, md5AndCrc64File } from "./crc64.js";
import { crashPoint } from "./crash-points.js";
import { invokeDrains, invokeTails, MAX_REFS_PER_DRAIN, NAS_CONCURRENCY, nowOf, PARTITION_MAX_GAPS, PARTITION_MAX_RANGES, reportReconcile, type PipelineDeps } from "./deps.js";
import { ACTIVE_DIR, activeFilePath, archiveObjectKey, checkpointPath, FLAT_OUTBOX_DIR, keyOfOutboxPath, OUTBOX_DIR, outboxPath, parseActiveFileName, parseArchiveKey, STAGING_DIR, TEMP_PREFIX, UPLOADS_DIR } from "./layout.js";
import { readMemberHeader, scanMembers } from "./members.js";
import { ensureLockTime, LockLostError, prepareSlot, sealSlot, sealSlots, type SlotToSeal } from "./seal.js";
import { decodeStagingIndex, indexRecords, isWholeStagingFile, registrationOf, stagingIdOf } from "./staging.js";
import type { PeriodicMark, SlotState } from "../adapters/coord-store.js";
import { RequestPacer } from "./request-pacer.js";
import type { ExpectedContent } from "../adapters/object-store.js";

export interface UploadOptions {
  /** Seal every non-empty active file regardless of size/age, and have the sweep's drains seal what they append (end of a local run, drain). */
  sealAll?: boolean;
  /** Drain every app with anything pending now, whatever its age (end of a local run). */
  sweepAll?: boolean;
  /** Treat every unregistered staging file as an orphan now, whatever its age (end of a local run). */
  redriveAll?: boolean;
  /** Skip the lease (the caller guarantees a single uploader). */
  skipLease?: boolean;
  /**
   * With sealAll: false seals what Redis lists as holding data instead of walking the whole
   * active tree (default true). For a caller that walked it earlier in the same drain and checks
   * the tree itself afterwards (the local run's second call of a flush round: the drains the
   * first call queued have sealed what they wrote, and walking 3,000 apps' directories again
   * finds nothing more).
   */
  walkActive?: boolean;
}

/** Age at upload of the records of one member (ms since split staged the oldest of them). */
export interface RecordAge {
  ageMs: number;
  records: number;
}

export interface UploadResult {
  skipped?: string;
  sealed: number;
  uploaded: number;
  uploadedBytes: number;
  failed: number;
  /** compress tasks the sweep invoked */
  swept: number;
  /** staging files registered again (Redis did not know them) */
  redriven: number;
  orphansRemoved: number;
  errors: string[];
  /** per uploaded member: record age at upload (freshness) */
  ages: RecordAge[];
  durationMs: number;
}

/** Record-weighted percentiles of record age at upload. */
export function agePercentiles(ages: readonly RecordAge[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...ages].sort((a, b) => a.ageMs - b.ageMs);
  const total = sorted.reduce((n, a) => n + a.records, 0);
  const at = (q: number) => {
    let seen = 0;
    for (const a of sorted) if ((seen += a.records) >= q * total) return Math.round(a.ageMs);
    return 0;
  };
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: Math.round(sorted[sorted.length - 1]?.ageMs ?? 0) };
}

/** What the FC handler logs and returns: the result with the records' ages as percentiles. */
export type UploadSummary = Omit<UploadResult, "ages"> & { recordAge: { records: number } & ReturnType<typeof agePercentiles> };

/**
 * The upload result for the function's log line and reply: its ages summed up (records, p50,
 * p99, max), not one entry per member — a seal window's tick at 3,000 apps ships ~3,000 objects,
 * and their ages as a list made a log line of ~100 KB. Local runs and the bench pool the raw ages
 * of all ticks for their own percentiles.
 */
export function uploadSummary(r: UploadResult): UploadSummary {
  const { ages, ...rest } = r;
  return { ...rest, recordAge: { records: ages.reduce((n, a) => n + a.records, 0), ...agePercentiles(ages) } };
}

const LEASE = "uploader";

export async function runUpload(deps: PipelineDeps, opts: UploadOptions = {}): Promise<UploadResult> {
  const started = performance.now();
  const result: UploadResult = { sealed: 0, uploaded: 0, uploadedBytes: 0, failed: 0, swept: 0, redriven: 0, orphansRemoved: 0, errors: [], ages: [], durationMs: 0 };
  const token = randomUUID();
  const leaseMs = deps.config.lockTtlMs;
  if (!opts.skipLease && !(await deps.coord.acquireLease(LEASE, token, leaseMs))) {
    result.skipped = "another uploader holds the lease";
    result.durationMs = performance.now() - started;
    return result;
  }
  try {
    let marks: TickMarks;
    try {
      marks = await claimTickMarks(deps, opts, nowOf(deps));
    } catch (e) {
      // no periodic step this tick; the phases still run (sealed files ship without Redis)
      marks = unclaimedTickMarks(opts);
      result.errors.push(`claim the tick's periodic steps: ${(e as Error).message}`);
      deps.logger.error({ err: (e as Error).message }, "could not claim the tick's periodic steps; the phases go on without them");
    }
    // each phase isolates its own failures; a failing phase is reported and the next still runs
    for (const phase of [reconcileStaging, sweep, sealDue, uploadOutbox]) {
      try {
        await phase(deps, opts, result, marks);
      } catch (e) {
        result.errors.push(`${phase.name}: ${(e as Error).message}`);
        deps.logger.error({ phase: phase.name, err: (e as Error).message }, "upload phase failed; the other phases went on");
      }
    }
  } finally {
    if (!opts.skipLease) await deps.coord.releaseLease(LEASE, token).catch(() => {});
  }
  result.durationMs = performance.now() - started;
  return result;
}

/** Which of the tick's periodic steps run now: each a mark in the coord store, all claimed in one round trip at the tick's start. */
export interface TickMarks {
  /** orphan staging files and temp files are looked for (reconcileStaging) */
  stagingWalk: boolean;
  /** the sweep's drain steps: the epoch's, and each ladder step's (drainSchedule) */
  drainEpoch: boolean;
  drainSteps: boolean[];
  /** the whole active tree is walked (sealDue) */
  activeWalk: boolean;
  /** the first tick of a seal window (sealCutoffs) */
  sealWindow: boolean;
  /** the outbox's empty directories are pruned */
  outboxPrune: boolean;
}

/** The marks of a tick that could not claim any: only what the options force. */
export function unclaimedTickMarks(opts: UploadOptions): TickMarks {
  return { stagingWalk: opts.redriveAll === true, drainEpoch: false, drainSteps: [], activeWalk: opts.sealAll === true && opts.walkActive !== false, sealWindow: opts.sealAll === true, outboxPrune: false };
}

/**
 * Claims the tick's periodic marks (TickMarks) in one round trip; a mark the options make moot
 * (a drain-everything run walks and seals everything) is not claimed. The drain steps are claimed
 * with half a drain age to spare, so a timer that fires a little early does not push a step off
 * its line; every step is claimed at each tick it is due, to stay in line.
 */
export async function claimTickMarks(deps: PipelineDeps, opts: UploadOptions, now: number): Promise<TickMarks> {
  const { drainAgeMs, drainMinBytes, drainMaxAgeMs, redriveAgeMs, sealAgeMs } = deps.config;
  const asks: PeriodicMark[] = [];
  const ask = (name: string, at: number, everyMs: number): (() => boolean) => {
    const i = asks.push({ name, now: at, everyMs }) - 1;
    return () => got[i]!;
  };
  const stagingWalk = opts.redriveAll ? () => true : ask("staging-walk", now, redriveAgeMs);
  const stepped = !opts.sweepAll && drainMinBytes > 0;
  const { epochMs, ladderMs } = drainSchedule(drainAgeMs, drainMaxAgeMs);
  const drainEpoch = stepped ? ask("drain-epoch", now, epochMs - drainAgeMs / 2) : () => false;
  const drainSteps = stepped ? ladderMs.map((periodMs) => ask(`drain-ladder-${periodMs}`, now, periodMs - drainAgeMs / 2)) : [];
  const activeWalk = opts.sealAll ? () => opts.walkActive !== false : ask("active-walk", now, activeWalkPeriodMs(deps.config));
  const sealWindow = opts.sealAll ? () => true : ask("seal-window", sealWindowStart(deps.config, now), sealAgeMs);
  const outboxPrune = ask("outbox-prune", now, redriveAgeMs);
  const got = await deps.coord.claimPeriodics(asks);
  return {
    stagingWalk: stagingWalk(), drainEpoch: drainEpoch(), drainSteps: drainSteps.map((step) => step()),
    activeWalk: activeWalk(), sealWindow: sealWindow(), outboxPrune: outboxPrune(),
  };
}

/**
 * When the sweep drains small apps together. The epoch: the largest power-of-two multiple of the
 * drain age within a sixth of LOGPIPE_DRAIN_MAX_AGE (8 minutes for 60 s and 1 h). The ladder below
 * it: 2, 4, … drain ages. At level L's tick (every 2^L-th), small apps with half of
 * LOGPIPE_DRAIN_MIN_BYTES pending per 2^L drain ages since their oldest section go — a pace, so an
 * app is drained every 2^L-th tick for the L its pace gives, together with every faster app, and a
 * staging file is read at a few ticks, not once per app at the moment that app reaches the minimum;
 * the epoch is the top step, so every step is in line.
 */
export function drainSchedule(drainAgeMs: number, drainMaxAgeMs: number): { epochMs: number; ladderMs: number[] } {
  if (drainAgeMs <= 0) return { epochMs: Math.max(1, drainMaxAgeMs / 6), ladderMs: [] };
  let epochMs = drainAgeMs;
  while (epochMs * 2 <= drainMaxAgeMs / 6) epochMs *= 2;
  const ladderMs: number[] = [];
  for (let p = 2 * drainAgeMs; p < epochMs; p *= 2) ladderMs.push(p);
  return { epochMs, ladderMs };
}

/**
 * Invokes drains for apps whose oldest pending section is older than the drain age, in step, so
 * that each staging file is read by few drain tasks:
 * - the ladder (drainSchedule): at every second tick, the busy apps (LOGPIPE_DRAIN_MIN_BYTES
 *   pending) and those on pace for half of it per two drain ages; at every fourth, per four; …
 *   Between its ticks only an app late by two drain ages goes.
 * - the epoch, the ladder's top step (about a sixth of LOGPIPE_DRAIN_MAX_AGE): the small apps on
 *   pace to fill the minimum within the max age.
 * - the rest — the long tail — in a wave once one of them reaches the max age, with every small
 *   app past half of it, or once one has a drain's worth of sections pending (MAX_REFS_PER_DRAIN:
 *   small batches fill it first), with every small app pending half as long (SmallAppRule).
 * "On pace" counts pending per period since the app's oldest section: an app that crossed a
 * threshold only by waiting would read a long stretch of staging files for a few sections; it
 * goes with the wave, which reads them anyway.
 */
async function sweep(deps: PipelineDeps, opts: UploadOptions, result: UploadResult, marks: TickMarks): Promise<void> {
  const now = nowOf(deps);
  const { drainAgeMs, drainMinBytes, drainMaxAgeMs } = deps.config;
  // the long tail's regions: a shard once its oldest region reaches the max age (its task takes
  // every region queued, so each app of the shard gets one member per max age) or its queued
  // regions reach LOGPIPE_TAIL_DRAIN_BYTES (high rates); asked beside the apps' query, not after it
  const tailBefore = opts.sweepAll ? Number.MAX_SAFE_INTEGER : drainMinBytes <= 0 ? now - drainAgeMs : now - drainMaxAgeMs;
  const dueShards = deps.coord.dueShards(tailBefore, 100_000, { minBytes: deps.config.tailDrainBytes });
  dueShards.catch(() => {}); // awaited below; not unhandled if the apps' query throws first
  let apps: string[];
  if (opts.sweepAll) apps = await deps.coord.dueApps(Number.MAX_SAFE_INTEGER, 100_000);
  else if (drainMinBytes <= 0) apps = await deps.coord.dueApps(now - drainAgeMs, 100_000);
  else {
    // the steps' marks were claimed with the tick's others (claimTickMarks)
    const { epochMs, ladderMs } = drainSchedule(drainAgeMs, drainMaxAgeMs);
    const epoch = marks.drainEpoch, steps = marks.drainSteps;
    const level = steps.lastIndexOf(true) + 1;
    const pace = epoch ? { stepMinBytes: (drainMinBytes * epochMs) / drainMaxAgeMs, stepPeriodMs: epochMs, now }
      : level > 0 ? { stepMinBytes: drainMinBytes / 2, stepPeriodMs: ladderMs[level - 1]!, now }
      : {};
    // at a step, everything staged before the previous tick goes (a busy app drained at one step
    // goes at the next); between steps only an app two drain ages old (one a step missed), so busy
    // apps keep to the ladder's line too
    const age = ladderMs.length === 0 ? 1 : level > 0 || epoch ? 0.5 : 2;
    apps = await deps.coord.dueApps(now - age * drainAgeMs, 100_000, {
      minBytes: drainMinBytes, forceBefore: now - drainMaxAgeMs, waveBefore: now - drainMaxAgeMs / 2, maxRefs: MAX_REFS_PER_DRAIN, now, ...pace,
    });
  }
  const shards = await dueShards;
  if (apps.length === 0 && shards.length === 0) return;
  if (!deps.invoker) throw new Error("upload needs a compress invoker to sweep");
  // sealing everything: the drains seal what they append (DrainTask.seal), so that it is not left
  // in a new generation for a later tick
  const seal = { seal: opts.sealAll === true };
  if (apps.length > 0) result.swept += await invokeDrains(deps.invoker, apps, deps.config.sweepAppsPerTask, "sweep", seal);
  if (shards.length > 0) result.swept += await invokeTails(deps.invoker, shards, seal);
}

/**
 * How often the upload tick walks the whole active tree: every slot holding data is sealed within
 * LOGPIPE_SEAL_MAX_AGE from Redis's list anyway (and a drain repairs what it appends to), so the
 * walk is for what no list names — a torn tail of a slot nobody writes to again, a generation
 * Redis does not know, an orphan — and once per seal max age (at least the redrive age) finds them
 * at the latest when a quiet slot's data would have been sealed.
 */
function activeWalkPeriodMs(config: Pick<PipelineDeps["config"], "redriveAgeMs" | "sealMaxAgeMs">): number {
  return Math.max(config.redriveAgeMs, config.sealMaxAgeMs);
}

/**
 * Seals the slots that are due. Redis lists the slots holding data by the age of their
 * generation (sealableSlots), so a tick costs one round trip however many apps there are; once
 * per activeWalkPeriodMs (and at once when Redis lost that mark, e.g. after a flush) the tick
 * walks the whole active tree instead, because files are the truth: torn tails, generations
 * Redis does not know and orphans are found only there.
 */
async function sealDue(deps: PipelineDeps, opts: UploadOptions, result: UploadResult, marks: TickMarks): Promise<void> {
  const now = nowOf(deps);
  const fullWalk = marks.activeWalk;
  // the first tick of a seal window seals what came due by age at its boundary (see sealCutoffs)
  const windowTick = marks.sealWindow;
  const cut = sealCutoffs(deps.config, now, windowTick);
  let files: ActiveFile[] = [];
  let states: SlotState[];
  if (fullWalk) {
    for (const f of await deps.nas.walk(ACTIVE_DIR)) {
      const [, app, name] = f.rel.split("/");
      const parsed = app && name && !name.startsWith(TEMP_PREFIX) ? parseActiveFileName(name) : undefined;
      if (parsed) files.push({ ...f, app: app!, ...parsed });
    }
    // every slot's state in one round trip, not one per file
    states = await deps.coord.readSlotStates(files);
  } else {
    const { sealMinBytes } = deps.config;
    // sealing everything: every slot holding data, whatever its generation's age and size
    const slots = opts.sealAll
      ? await deps.coord.sealableSlots(Number.MAX_SAFE_INTEGER, 100_000)
      : await deps.coord.sealableSlots(cut.before, 100_000, sealMinBytes > 0 ? { minBytes: sealMinBytes, forceBefore: cut.forceBefore } : undefined);
    states = await deps.coord.readSlotStates(slots);
    // the file of the generation Redis knows; its real size is checked under the lock (prepareSlot)
    files = slots.map(({ app, slot }, i) => ({ rel: activeFilePath(app, slot, states[i]!.gen), size: states[i]!.len, mtimeMs: now, app, slot, gen: states[i]!.gen }));
  }
  const limit = pLimit(NAS_CONCURRENCY);
  // the common case — Redis's generation, nothing half done, the file as long as committed, due —
  // is sealed together; the rest (and a slot busy now) one by one (sealOne)
  const together: number[] = [], alone: number[] = [];
  files.forEach((f, i) => {
    const st = states[i]!;
    const plain = f.gen === st.gen && st.sealing === undefined && !st.tainted && f.size === st.len;
    (plain && dueNow(deps.config, opts, st, cut) ? together : alone).push(i);
  });
  for (const i of await sealTogether(deps, opts, result, together.map((i) => files[i]!), cut, limit)) alone.push(together[i]!);
  await Promise.all(
    alone.map((i) =>
      limit(async () => {
        const f = files[i]!;
        try {
          await sealOne(deps, opts, result, f, states[i]!, now, cut);
        } catch (e) {
          result.errors.push(`${f.rel}: ${(e as Error).message}`);
          deps.logger.error({ file: f.rel, err: (e as Error).message }, "seal failed; other slots go on");
        }
      }),
    ),
  );
}

/**
 * Seals slots that are due, under one token: their locks in one round trip (acquireSlots), each
 * checked and repaired under its lock (prepareSlot: a stat, more only when the file needs it),
 * then sealed together (sealSlots: one round trip records the seals, the files are moved, one
 * round trip finishes them and gives the locks back) — three round trips for a window's slots
 * instead of three per slot. Returns the indexes (in `files`) of the slots that were busy, for
 * sealOne, which waits for a lock.
 */
async function sealTogether(deps: PipelineDeps, opts: UploadOptions, result: UploadResult, files: ActiveFile[], cut: SealCutoffs, limit: LimitFunction): Promise<number[]> {
  if (files.length === 0) return [];
  const token = randomUUID();
  const got = await deps.coord.acquireSlots(files, token, deps.config.lockTtlMs);
  const lockDeadline = performance.now() + deps.config.lockTtlMs - 1000;
  const busy: number[] = [];
  const due: SlotToSeal[] = [];
  const release = async (f: ActiveFile) => {
    deps.onSlotEvent?.({ app: f.app, slot: f.slot, event: "release", at: performance.timeOrigin + performance.now() });
    await deps.coord.release(f.app, f.slot, token).catch(() => {});
  };
  await Promise.all(files.map((f, i) => limit(async () => {
    const start = got[i];
    if (!start) return void busy.push(i);
    deps.onSlotEvent?.({ app: f.app, slot: f.slot, event: "acquire", at: performance.timeOrigin + performance.now() });
    try {
      // the generation may have moved since the tick read the states (a drain sealed it): then nothing to do here
      if (start.gen !== f.gen) return await release(f);
      const p = await prepareSlot(deps, f.app, f.slot, token, start, lockDeadline);
      const st = p.state;
      if (st.gen === f.gen && dueNow(deps.config, opts, st, cut)) due.push({ app: f.app, slot: f.slot, state: st });
      else await release(f);
    } catch (e) {
      result.errors.push(`${f.rel}: ${(e as Error).message}`);
      deps.logger.error({ file: f.rel, err: (e as Error).message }, "seal failed; other slots go on");
      await release(f);
    }
  })));
  // each seal gives its lock back (its last round trip, or its failure path)
  const sealed = await sealSlots(deps, token, due, limit, lockDeadline);
  for (const [k, r] of sealed.entries()) {
    const { app, slot } = due[k]!;
    if (r.key) result.sealed++;
    if (r.error) {
      result.errors.push(`${activeFilePath(app, slot, due[k]!.state.gen)}: ${r.error.message}`);
      deps.logger.error({ app, slot, err: r.error.message }, "seal failed; other slots go on");
    }
    if (r.held) await deps.coord.release(app, slot, token).catch(() => {});
  }
  return busy;
}

/** The start of the seal window `now` falls in: windows of LOGPIPE_SEAL_AGE from the epoch (at 15m: :00, :15, :30, :45 UTC). */
export function sealWindowStart(config: Pick<PipelineDeps["config"], "sealAgeMs">, now: number): number {
  return config.sealAgeMs > 0 ? Math.floor(now / config.sealAgeMs) * config.sealAgeMs : now;
}

/** What a tick seals by age: generations started at or before `before` (when they hold the seal minimum) or `forceBefore` (whatever they hold). */
export interface SealCutoffs {
  before: number;
  forceBefore: number;
}

/**
 * The age rule's cut-offs at `now`, on the seal windows (sealWindowStart). The first tick of a
 * window (`windowTick`) seals every generation whose first record came in an earlier window and
 * that holds LOGPIPE_SEAL_MIN_BYTES; a generation whose window began LOGPIPE_SEAL_MAX_AGE ago or
 * more is sealed whatever it holds, at any tick. So a record still reaches its object within the
 * seal age (or max age) of its generation's start plus a tick, and every app's slots come due
 * together: one tick seals and ships them side by side, its OSS round trips overlapping, instead
 * of a tick for each app, each waiting for its own (docs/bench.md, "Seal windows"). A slot whose
 * lock stays busy through its window's first tick waits for the next window (or its max age).
 */
export function sealCutoffs(config: Pick<PipelineDeps["config"], "sealAgeMs" | "sealMaxAgeMs">, now: number, windowTick: boolean): SealCutoffs {
  const grid = config.sealAgeMs;
  const forceBefore = sealWindowStart(config, now - config.sealMaxAgeMs) + Math.max(grid, 1) - 1;
  return { before: windowTick ? sealWindowStart(config, now) - 1 : forceBefore, forceBefore };
}

/**
 * Whether a slot holding `len` committed bytes in a generation started at `t0` is due under a
 * tick's cut-offs: at LOGPIPE_SEAL_BYTES, at `before` when it holds at least
 * LOGPIPE_SEAL_MIN_BYTES, at `forceBefore` whatever it holds (the rule sealableSlots applies in Redis).
 */
export function sealIsDue(config: Pick<PipelineDeps["config"], "sealBytes" | "sealMinBytes">, len: number, t0: number, cut: SealCutoffs): boolean {
  if (len <= 0) return false;
  if (len >= config.sealBytes) return true;
  return t0 <= cut.forceBefore || (t0 <= cut.before && len >= config.sealMinBytes);
}

/** Whether a slot in `state` is sealed by this tick: it holds data, and the tick seals everything or it is due (sealIsDue). */
function dueNow(config: Pick<PipelineDeps["config"], "sealBytes" | "sealMinBytes">, opts: UploadOptions, state: SlotState, cut: SealCutoffs): boolean {
  return state.len > 0 && (opts.sealAll === true || sealIsDue(config, state.len, state.t0, cut));
}

interface ActiveFile {
  rel: string;
  size: number;
  mtimeMs: number;
  app: string;
  slot: number;
  gen: number;
}

/** `state`: the slot's state when the tick started (read for every slot at once; rechecked under the lock). */
async function sealOne(deps: PipelineDeps, opts: UploadOptions, result: UploadResult, f: ActiveFile, tickState: SlotState, now: number, cut: SealCutoffs): Promise<void> {
  const { app, slot, gen } = f;
  const idle = now - f.mtimeMs > deps.config.lockTtlMs;
  // generations only grow, so "older than the tick's state" stays true; "newer" may just mean a
  // drain bumped the generation since the tick read the states: read it again before acting
  const state = gen > tickState.gen ? await deps.coord.readSlotState(app, slot) : tickState;
  // Older than Redis's generation: left by a writer that lost its lock after the generation was
  // sealed; everything committed to it was sealed before the bump, so what remains was never
  // committed. Removed once no one has written to it for a lock TTL.
  const orphan = gen < state.gen;
  // Newer: Redis does not know this generation (it forgot the bumps); its complete members may
  // hold committed records. Sealed as they are once no one has written to it for a lock TTL (or
  // at a drain-everything run).
  const untracked = gen > state.gen;
  if ((orphan && !idle) || (untracked && !(idle || opts.sealAll))) return;
  // Bytes past the committed length that nobody touched for a lock TTL: a writer died before its
  // commit (or Redis forgot it). prepareSlot adopts or cuts them even if the app stays quiet.
  const torn = f.size > state.len && idle;
  const due = orphan || untracked || state.sealing !== undefined || torn || f.size < state.len ||
    dueNow(deps.config, opts, state, cut);
  if (!due) return;
  // Every file of the active tree is removed or moved under its slot's lock, whatever Redis says
  // of it, because what Redis says can change: after a rollback, a drain of this slot finds its
  // known generation's file gone, skips to the next, adopts its members and appends after them;
  // a file removed under that append would take the appended member with it.
  const token = randomUUID();
  const deadline = Date.now() + Math.min(deps.config.slotWaitMs, 5000);
  for (;;) {
    const got = await deps.coord.acquireSlot(app, slot, token, deps.config.lockTtlMs);
    if (got) {
      let released = false;
      deps.onSlotEvent?.({ app, slot, event: "acquire", at: performance.timeOrigin + performance.now() });
      const lockDeadline = performance.now() + deps.config.lockTtlMs - 1000;
      try {
        if (got.gen > gen) {
          if (orphan) {
            await deps.nas.remove(f.rel);
            result.orphansRemoved++;
          }
          return;
        }
        if (got.gen < gen) {
          if (untracked) await sealUntracked(deps, result, token, app, slot, gen, f);
          return;
        }
        // repair first (adopt, cut a torn tail, seal a short file); then seal only what is due by
        // size or age — the walk's size may be stale (a drain appended since), so it decides nothing
        const p = await prepareSlot(deps, app, slot, token, got, lockDeadline);
        const st = p.state;
        if (st.gen === gen && dueNow(deps.config, opts, st, cut)) {
          // the seal gives the lock back (its last round trip does, or its failure path)
          released = true;
          const r = await sealSlot(deps, app, slot, token, st, lockDeadline, { knownSize: p.size, release: true });
          if (r.key) result.sealed++;
        }
      } catch (e) {
        if (!(e instanceof LockLostError)) throw e;
        result.errors.push(`${f.rel}: ${(e as Error).message}`);
      } finally {
        if (!released) {
          deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
          await deps.coord.release(app, slot, token).catch(() => {});
        }
      }
      return;
    }
    if (Date.now() > deadline) return; // a writer is busy on it; next tick
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
  }
}

/**
 * Seals the complete members of a generation Redis does not know, under a content key. The
 * caller holds the slot's lock (`token`); the file goes only while that lock still has its margin.
 */
async function sealUntracked(deps: PipelineDeps, result: UploadResult, token: string, app: string, slot: number, gen: number, f: { rel: string }): Promise<void> {
  const buf = (await deps.nas.read(f.rel)) ?? Buffer.alloc(0);
  const { members, end } = scanMembers(buf);
  await ensureLockTime(deps, app, slot, token, "seal an untracked generation");
  if (end > 0) {
    // the bytes are in hand: hash them rather than read the file again
    const digest = createHash("sha1").update(buf.subarray(0, end)).digest("hex");
    const key = archiveObjectKey(deps.config.prefix, app, slot, gen, nowOf(deps), deps.config.timeZone, digest);
    await deps.nas.copyPrefixAtomic(f.rel, outboxPath(key), end);
    result.sealed++;
  }
  await deps.nas.remove(f.rel);
  reportReconcile(deps, {
    kind: "untracked-generation-sealed", app, possibleDuplicates: members.reduce((n, m) => n + m.meta.n, 0),
    detail: { slot, gen, members: members.length, bytes: end, tornBytes: buf.length - end },
  });
}

/**
 * Staging files the coord store does not know (a split died between its write and its
 * registration, a commit died before deleting a finished file, or Redis forgot them) are
 * registered again: dedup by offsets keeps only what was never staged, and a file with nothing
 * new is deleted. A file whose bytes do not match its name (a split died mid-write) and old temp
 * files (a writer died before its rename) are removed.
 */
async function reconcileStaging(deps: PipelineDeps, opts: UploadOptions, result: UploadResult, marks: TickMarks): Promise<void> {
  const now = nowOf(deps);
  // only files older than the redrive age are candidates, so walking once per redrive age finds
  // each within two of them, without a readdir and a stat per staging file on every tick
  if (!marks.stagingWalk) return;
  const old = (mtimeMs: number) => now - mtimeMs >= deps.config.redriveAgeMs;
  const candidates: string[] = [];
  for (const dir of [STAGING_DIR, UPLOADS_DIR]) {
    for (const f of await deps.nas.walk(dir)) {
      const name = f.rel.split("/").pop()!;
      if (name.startsWith(TEMP_PREFIX)) {
        if (old(f.mtimeMs)) {
          await deps.nas.remove(f.rel); // a writer died between write and rename; its retry rewrote the real name
          result.orphansRemoved++;
        }
        continue;
      }
      if (dir === STAGING_DIR && stagingIdOf(f.rel) && (opts.redriveAll || old(f.mtimeMs))) candidates.push(f.rel);
    }
  }
  if (candidates.length === 0) return;
  const known = await deps.coord.registeredFiles(candidates.map((c) => stagingIdOf(c)!));
  for (const rel of candidates) {
    const id = stagingIdOf(rel)!;
    if (known.has(id)) continue;
    try {
      const bytes = await deps.nas.read(rel);
      if (!bytes) continue;
      if (!isWholeStagingFile(id, bytes)) {
        // a split died mid-write (the file is written in place): it never registered it, and
        // the trigger redelivered its batch, whose records were staged again
        await deps.nas.remove(rel);
        result.orphansRemoved++;
        reportReconcile(deps, { kind: "torn-staging-file", possibleDuplicates: 0, detail: { file: id, bytes: bytes.length } });
        continue;
      }
      const index = decodeStagingIndex(bytes);
      const reg = await deps.coord.registerFiles([registrationOf({ id, index })], {
        now, drainBytes: deps.config.drainBytes, scheduleTtlMs: deps.config.functionTimeoutMs, maxRanges: PARTITION_MAX_RANGES, maxGaps: PARTITION_MAX_GAPS,
      });
      const r = reg.results[0]!;
      if (r.status === "duplicate") await deps.nas.remove(rel);
      else {
        result.redriven++;
        const records = indexRecords(index);
        // a split that died before registering is redelivered and registers its own file, so an
        // orphan with new offsets means Redis forgot it: its records may have been drained already
        reportReconcile(deps, { kind: "orphan-staging-registered", possibleDuplicates: records, detail: { file: id, status: r.status, records } });
      }
    } catch (e) {
      result.errors.push(`${rel}: ${(e as Error).message}`);
    }
  }
}

/** A file this small is read in one call into memory for its digests, its upload and its member ages. */
const SMALL_OBJECT = 1024 * 1024;
/**
 * A file up to this size (and under the multipart threshold) is also read into memory, its rest
 * after the first MB: one read of its bytes, not one for the digests and another for the upload,
 * and no stream per file. The objects sealed by age (at least LOGPIPE_SEAL_MIN_BYTES, 1 MB) are
 * mostly this size, and a seal window's first tick ships them all at once.
 */
const MEDIUM_OBJECT = 16 * 1024 * 1024;
/**
 * Such files in memory at once, by their bytes: room for 8 of the largest (128 MB), beside the
 * small files in flight (up to 1 MB each), so that a window's 1–4 MB objects go side by side.
 */
const MEDIUM_FILES_OF_BUDGET = 8;
/** The budget's unit, whole MB (async-mutex's Semaphore walks its waiters once per unit of its value). */
const mbUnits = (bytes: number): number => Math.ceil(bytes / (1024 * 1024));
/**
 * Larger files shipped at once, whatever LOGPIPE_UPLOAD_CONCURRENCY says: a multipart upload
 * holds its parts in flight in memory (4 × 8 MB), so many of them at once would not fit the
 * function's memory, while small objects — most of them, one per small app per hour — are
 * round trips that are cheap to overlap (docs/bench.md, "The object store's latency").
 */
const LARGE_UPLOADS_AT_ONCE = 4;

/** The whole of an outbox file of `size` bytes whose first bytes (`head`) may have been read already. */
async function readRest(deps: PipelineDeps, rel: string, head: Buffer | undefined, size: number): Promise<Buffer> {
  const from = head?.length ?? 0;
  // one byte more than expected, so a file that is not the size listed fails here, not at the store
  const rest = from < size ? await deps.nas.readRange(rel, from, size - from + 1) : Buffer.alloc(0);
  if (!rest) throw new Error(`${rel} vanished before its upload`);
  if (from + rest.length !== size) throw new Error(`${rel} has ${from + rest.length} bytes, ${size} listed`);
  return head ? Buffer.concat([head, rest], size) : rest;
}

/** Record ages of the members of a sealed file: from `whole` when it was read already, else a header at a time. */
async function memberAges(deps: PipelineDeps, rel: string, size: number, at: number, whole?: Buffer): Promise<RecordAge[]> {
  const ages: RecordAge[] = [];
  let pos = 0;
  while (pos < size) {
    const head = whole ? whole.subarray(pos) : await deps.nas.readRange(rel, pos, Math.min(65_600, size - pos));
    const h = head && readMemberHeader(head, 0);
    if (!h) break;
    if (h.meta.s > 0) ages.push({ ageMs: Math.max(0, at - h.meta.s), records: h.meta.n });
    pos += h.headerLength + h.meta.z;
  }
  return ages;
}

/** An outbox file to ship; `size` is known for files of the nested layout (walked), read with the file otherwise. */
interface OutboxFile {
  rel: string;
  size?: number;
}

/**
 * The outbox's files: the flat ones from one readdir, without a stat each (reading a file tells
 * its size), and those of the nested outbox (written by versions before the flat one, or keys
 * too long for one name), walked. Temp files left by a writer that died before its rename are
 * removed once they are older than the redrive age.
 */
async function listOutbox(deps: PipelineDeps, now: number, result: UploadResult): Promise<OutboxFile[]> {
  const files: OutboxFile[] = [];
  const removeIfOld = async (rel: string, mtimeMs: number) => {
    if (now - mtimeMs < deps.config.redriveAgeMs) return;
    await deps.nas.remove(rel); // a seal or dead letter died between write and rename; its redo rewrote the real name
    result.orphansRemoved++;
  };
  // nothing but files is written here (a stray directory fails its upload, reported every tick)
  for (const name of await deps.nas.listNames(FLAT_OUTBOX_DIR)) {
    const rel = `${FLAT_OUTBOX_DIR}/${name}`;
    if (name.startsWith(TEMP_PREFIX)) {
      const st = await deps.nas.stat(rel);
      if (st) await removeIfOld(rel, st.mtimeMs);
    } else files.push({ rel });
  }
  for (const f of await deps.nas.walk(OUTBOX_DIR)) {
    if (f.rel.split("/").pop()!.startsWith(TEMP_PREFIX)) await removeIfOld(f.rel, f.mtimeMs);
    else files.push({ rel: f.rel, size: f.size });
  }
  return files;
}

async function uploadOutbox(deps: PipelineDeps, _opts: UploadOptions, result: UploadResult, marks: TickMarks): Promise<void> {
  const objects = deps.objects;
  if (!objects) throw new Error("upload needs an object store");
  const now = nowOf(deps);
  const files = await listOutbox(deps, now, result);
  const limit = pLimit(deps.config.uploadConcurrency);
  // what is sent in one PutObject from memory; anything at the multipart threshold goes multipart
  const small = Math.min(SMALL_OBJECT, deps.config.multipartThreshold - 1);
  const medium = Math.min(MEDIUM_OBJECT, deps.config.multipartThreshold - 1);
  const mediumBytes = new Semaphore(MEDIUM_FILES_OF_BUDGET * mbUnits(medium));
  const largeLimit = pLimit(Math.min(LARGE_UPLOADS_AT_ONCE, deps.config.uploadConcurrency));
  // OSS throttles above a request rate; requests in flight alone do not bound it (request-pacer.ts)
  const pacer = objects.rateLimited ? new RequestPacer(deps.config.uploadRequestsPerSecond, deps.requestClock) : undefined;
  if (files.length > 0) await deps.nas.ensureDir(UPLOADS_DIR); // multipart checkpoints live here
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const key = keyOfOutboxPath(f.rel);
        const abs = deps.nas.abs(f.rel);
        try {
          // outbox files never change once written: a small one (most objects) is read once, for
          // its digests, its upload and its member ages; a large one is streamed through the
          // hashes and then by the store
          let size = f.size;
          let whole: Buffer | undefined;
          let head: Buffer | undefined; // its first bytes, read already, when it is larger than `small`
          if (size === undefined || size <= small) {
            const first = await deps.nas.readUpTo(f.rel, small + 1);
            if (!first) throw new Error(`${f.rel} vanished before its upload`);
            if (first.length <= small) {
              if (size !== undefined && first.length !== size) throw new Error(`${f.rel} has ${first.length} bytes, ${size} listed`);
              whole = first;
              size = first.length;
            } else {
              head = first;
              size = (await deps.nas.size(f.rel)) ?? 0;
            }
          }
          const bytes = size;
          // a small file goes from memory; a medium one too, read and sent within the bytes of
          // mediumBytes; a large one is streamed, LARGE_UPLOADS_AT_ONCE at a time
          const isMedium = !whole && bytes <= medium;
          if (!isMedium) head = undefined; // a streamed file's first MB is not kept while it waits for its turn
          const send = async (): Promise<ExpectedContent> => {
            if (isMedium) whole = await readRest(deps, f.rel, head, bytes);
            if (!whole) await deps.nas.readByPath(f.rel, bytes);
            const expected = whole ? md5AndCrc64(whole) : await md5AndCrc64File(abs, bytes);
            crashPoint("upload.mid-upload");
            await pacer?.acquire(); // one turn per object: a multipart upload's parts are few (LARGE_UPLOADS_AT_ONCE)
            if (whole) await objects.putBuffer(key, whole, expected);
            else {
              await deps.nas.readByPath(f.rel, expected.size); // the store reads the file to send it
              await objects.putFile(key, abs, expected, {
                multipartThreshold: deps.config.multipartThreshold,
                checkpointPath: deps.nas.abs(checkpointPath(key)),
              });
            }
            return expected;
          };
          const sent = isMedium ? await mediumBytes.runExclusive(send, mbUnits(bytes)) : whole ? await send() : await largeLimit(send);
          crashPoint("upload.after-upload");
          const ages = isArchiveObject(key) ? await memberAges(deps, f.rel, sent.size, nowOf(deps), whole).catch(() => []) : [];
          await deps.nas.remove(f.rel); // only after the store confirmed MD5 and CRC64
          if (f.rel.startsWith(`${OUTBOX_DIR}/`)) await deps.nas.removeEmptyParents(f.rel, OUTBOX_DIR);
          for (const a of ages) result.ages.push(a);
          result.uploaded++;
          result.uploadedBytes += sent.size;
          deps.logger.info({ key, bytes: sent.size }, "uploaded");
        } catch (e) {
          result.failed++;
          result.errors.push(`${key}: ${(e as Error).message}`);
          deps.logger.error({ key, err: (e as Error).message }, "upload failed; local file kept for the next run");
        }
      }),
    ),
  );
  // nested uploads removed their own empty directories; what a crash left behind goes with the periodic full prune
  if (marks.outboxPrune) await deps.nas.pruneEmptyDirs(OUTBOX_DIR);
}

const isArchiveObject = (key: string): boolean => {
  const k = parseArchiveKey(key);
  return k !== undefined && !k.app.startsWith("_") && k.file.endsWith(".log.gz");
};

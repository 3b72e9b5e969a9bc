/**
 * Coordination state shared by every function instance (data path v2, see docs/design.md):
 *
 * - per (topic, partition): what was staged — a watermark `hw` (every offset below it is staged
 *   or does not exist), a few registered ranges above it, and a few never-registered gaps below
 *   it. Dedup happens here, once per staging file, so it cannot fragment per app.
 * - per staging file: how many app sections are still pending (refcount) and which of its
 *   offsets to keep (when a redelivery overlapped what was already staged).
 * - per app: pending section refs (a list) and pending bytes; `due` orders apps by the age of
 *   their oldest pending section, for the sweep.
 * - per (app, slot): the writer lock, `{gen, len, t0}` of the active file, the refs claimed by
 *   the current (or a crashed) drain, and the seal marker.
 * - durable admission decisions (admitted or overflowed, aged by last use) so routing is a pure
 *   function of the record and this state.
 *
 * Redis is a coordinator, not the truth: every member appended to a slot file names the section
 * refs it holds, so a slot whose `len` Redis forgot is repaired from the file (see
 * core/members.ts), never cut. `RedisCoordStore` is the production implementation;
 * `MemoryCoordStore` has the same semantics in-process. Both pass test/integration/coord-store.test.ts.
 */
import type { Interval } from "../core/intervals.js";

export interface SlotState {
  gen: number;
  /** committed length of the active file as far as Redis knows (the file may hold more: see repair) */
  len: number;
  /** epoch ms the generation started: its first member's oldest record's staging (or its first commit); 0 while empty */
  t0: number;
  /** set between "seal recorded" and "generation bumped", so a crash mid-seal is redone */
  sealing?: { gen: number; key: string };
  /**
   * The lock was taken while an earlier holder had never released it (crashed, or frozen and may
   * still write). The holder must not append to a tainted generation: it seals it by copying the
   * committed prefix and bumps the generation first. Stays set until the bump.
   */
  tainted?: boolean;
}

/** One app's section of one staging file, as registered by split. */
export interface SectionRef {
  /** `<file id>#<section index>`: unique, names the section in member metadata */
  ref: string;
  /** staging file id (NAS path `staging/<id>.batch`) */
  file: string;
  /** byte offset and length of the section inside the staging file */
  off: number;
  len: number;
  records: number;
  /** epoch ms when split registered it */
  stagedAt: number;
  /** oldest Kafka timestamp among its records */
  minTs: number;
}

export interface ClaimedSection extends SectionRef {
  /** offsets of the file to keep ("" = all): set when a redelivery overlapped staged offsets */
  keep: Interval[];
}

/** One app's section of a staging file, as its index lists it (byte range absolute in the file). */
export interface StagedSection {
  app: string;
  off: number;
  len: number;
  records: number;
  /** oldest Kafka timestamp of its records */
  minTs: number;
}

export interface RegisterFile {
  file: string;
  topic: string;
  partition: number;
  /** offsets covered by the file (every offset of the partition between these, all apps) */
  first: number;
  last: number;
  /** Kafka timestamps of its records (for topic-incarnation detection) */
  minTs: number;
  maxTs: number;
  sections: StagedSection[];
  /**
   * The file's tail regions: small sections (the long tail) grouped by tail shard, each region
   * registered as ONE entry of its shard's queue (not one per app): see TailClaim.
   */
  tails?: StagedTail[];
}

/**
 * One tail region of a staging file: the small sections of the apps of one tail shard
 * (tailShardOf), one staging chunk per app one after another (each chunk names its app), byte
 * range absolute in the file.
 */
export interface StagedTail {
  shard: number;
  off: number;
  len: number;
  records: number;
  /** oldest Kafka timestamp of its records */
  minTs: number;
  /** chunks (apps) in the region */
  apps: number;
}

/**
 * A tail shard's claim: queued tail entries (one per staging file that had small sections of the
 * shard's apps) taken together by one sweep task, which writes ONE member per app of them all.
 * The claim is done app by app: an app is placed (a slot lock taken for it and recorded), then
 * done (its member committed, or found by a repair). When every app of the claim is done the
 * claim ends and each entry's staging file is counted off once. A claim a task left unfinished
 * (crash, busy slots) is taken over as it is by the shard's next task; an app placed in a slot is
 * only ever written through that slot (its lock's taint then protects against a frozen writer,
 * as for claimed sections).
 */
export interface TailClaim {
  shard: number;
  /**
   * names the claim in the metadata of the members written from it (tailRef): the token of the
   * task that made it, so unique even across a store that forgot everything
   */
  id: string;
  /** ref = `<file>#t<shard>`; off/len: the region */
  entries: ClaimedSection[];
  /** apps an earlier task of this claim handled: the slot it was placed in, or "done" */
  apps: Map<string, number | "done">;
  /** apps in the claim (0 until the first placement records it) */
  total: number;
  /** taken over from a task that did not finish it */
  inherited: boolean;
}

/** What a member written from a tail claim names instead of section refs (the app is the slot's). */
export const tailRef = (shard: number, id: string): string => `tail:${shard}:${id}`;
export function parseTailRef(ref: string): { shard: number; id: string } | undefined {
  const m = /^tail:(\d+):([^:\s]+)$/.exec(ref);
  return m ? { shard: Number(m[1]), id: m[2]! } : undefined;
}

/**
 * dueShards' answer: the shards due by age (in their order), then those whose queued regions hold
 * at least `minBytes` (0: none), fullest first, each once, at most `limit` in all.
 */
export function withFullShards(byAge: readonly number[], queuedBytes: readonly (readonly [number, number])[], minBytes: number, limit: number): number[] {
  const out = byAge.slice(0, limit);
  if (minBytes <= 0) return out;
  const seen = new Set(out);
  const full = queuedBytes.filter(([shard, b]) => b >= minBytes && !seen.has(shard)).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (const [shard] of full) if (out.length < limit) out.push(shard);
  return out;
}

/** An app's tail shard: FNV-1a of its name, modulo the shard count. */
export function tailShardOf(app: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < app.length; i++) {
    h ^= app.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

export interface TailPlacement {
  app: string;
  slot: number;
  state: SlotState;
}

export interface TailCommitResult {
  results: DrainCommitResult[];
  /** the claim ended with these commits (every app done): its entries' files were counted off */
  ended: boolean;
  /** staging files whose last section or region was consumed by the end of the claim */
  gone: string[];
}

export interface RegisterOptions {
  now: number;
  /** apps whose pending bytes reach this are returned as `hot` (to drain now) */
  drainBytes: number;
  /** a hot app is not returned again for this long (a drain was invoked for it) */
  scheduleTtlMs: number;
  /** registered ranges kept above the watermark before the oldest gap is closed */
  maxRanges: number;
  /** never-registered gaps remembered below the watermark */
  maxGaps: number;
}

export interface RegisterResult {
  file: string;
  /** registered: all new; partial: `keep` lists the new offsets; duplicate: nothing new (file can go) */
  status: "registered" | "partial" | "duplicate" | "known";
  keep: Interval[];
  /** a new topic incarnation was detected (offsets restarted below the watermark with newer timestamps) */
  reset?: { previousHw: number; incarnation: number };
}

export interface DrainClaim {
  app: string;
  slot: number;
  state: SlotState;
  /** sections to drain: left by a crashed holder of this slot first, then newly claimed */
  sections: ClaimedSection[];
  /** claimed sections that the previous holder of this slot left behind (crash or lost lock) */
  inherited: number;
}

export interface DrainCommit {
  app: string;
  slot: number;
  gen: number;
  expectLen: number;
  addLen: number;
  /** refs now consumed (written in the appended member, or found gone) */
  refs: string[];
  /** also give the lock back */
  release: boolean;
  /**
   * When the member's oldest record was staged: a commit that starts a generation dates it (t0) by
   * this rather than by the commit, so the seal age and the key's hour count from the oldest record.
   */
  startedAt?: number;
}

export type DrainCommitResult =
  | { app: string; ok: true; state: SlotState; gone: string[] }
  | { app: string; ok: false; reason: "lost-lock" | "stale-state" };

export interface AdoptRequest {
  app: string;
  slot: number;
  gen: number;
  /** new committed length (end of the last complete member found in the file) */
  len: number;
  /** refs named by the members found past the old committed length */
  refs: string[];
  now: number;
}

export interface AdoptResult {
  state: SlotState;
  /** refs that were still pending or claimed: now consumed (no duplicate) */
  found: number;
  /** refs that Redis had already consumed elsewhere or never knew (possible duplicates) */
  unknown: string[];
  gone: string[];
}

/** A seal to record: the slot's generation `gen` goes to the archive under `key`. */
export interface SealRecord {
  app: string;
  slot: number;
  gen: number;
  key: string;
}

/** A periodic job's mark to claim (CoordStore.claimPeriodics). */
export interface PeriodicMark {
  name: string;
  now: number;
  everyMs: number;
}

export interface CoordStore {
  /**
   * Durable routing decisions: each app already decided keeps its decision (admitted = true,
   * overflowed = false); an undecided app is admitted while fewer than `cap` are, else overflowed.
   * Decisions unused for `ttlMs` are forgotten.
   */
  admitApps(apps: string[], cap: number, now: number, ttlMs: number): Promise<Map<string, boolean>>;
  /** Dedups and registers staging files (one round trip); returns per file, plus apps to drain now. */
  registerFiles(files: RegisterFile[], opts: RegisterOptions): Promise<{ results: RegisterResult[]; hot: string[] }>;
  /**
   * Takes tail shard `shard`'s lock and its claim: the unfinished claim a previous task left (as
   * it is, nothing added), else a new claim of the shard's queued entries, oldest first, up to
   * `budget` bytes and `maxEntries` (at least one). Null when the lock is busy or nothing is
   * queued or claimed. One round trip.
   */
  claimTail(shard: number, opts: { token: string; ttlMs: number; budget: number; maxEntries: number; now: number }): Promise<TailClaim | null>;
  /**
   * For each app of claim `id` not done: takes a slot lock and records the placement — the slot it
   * was placed in before if any (only if that lock is free), else the first free slot in `order`
   * with no claimed sections. Apps left out are busy. Records `total` (apps in the claim) the first
   * time — 0 too: a claim with nothing readable then ends at its next commitTail, even one of no
   * commits. [] when `token` no longer holds the shard's lock or `id` is not its claim.
   */
  placeTail(shard: number, token: string, id: string, total: number, apps: string[], opts: { order: number[]; ttlMs: number }): Promise<TailPlacement[]>;
  /**
   * Commits as commitDrains does (refs are ignored), and marks each committed app done in claim
   * `id` (once: an app already done is not counted again). When every app of the claim is done
   * (its total recorded by placeTail) the claim ends: each entry's staging file is counted off once, and those whose last section or
   * region this was are returned in `gone`. Does not need the shard's lock (a slot's lock guards
   * each app).
   */
  commitTail(token: string, shard: number, id: string, commits: DrainCommit[], now: number, sealBytes?: number): Promise<TailCommitResult>;
  /**
   * Ends claim `id` whatever its apps' progress, for a task that found every app it could read
   * done: the claim's other apps (placed by an earlier task) are then in regions whose staging
   * files are gone, and a file is deleted only once every section and region of it was consumed —
   * archived in a history the coord store forgot (a Redis rolled back to before the claim ended).
   * Without it such a claim would wait forever for apps nobody can finish, and the shard's queued
   * regions behind it with it. Each entry's file is counted off once; those whose last section or
   * region this was are returned in `gone`. Needs the shard's lock: ended false when `token` does
   * not hold it or `id` is not its claim. One round trip.
   */
  endTail(shard: number, token: string, id: string): Promise<{ ended: boolean; gone: string[] }>;
  /** Gives the shard's lock back (the claim, finished or not, stays with the shard). */
  releaseTail(shard: number, token: string): Promise<void>;
  /**
   * Tail shards whose oldest queued or claimed entry was staged at or before `stagedBefore`, oldest
   * first; with `minBytes`, then the shards whose queued (unclaimed) regions hold at least that
   * many bytes, fullest first (withFullShards). One round trip.
   */
  dueShards(stagedBefore: number, limit: number, opts?: { minBytes?: number }): Promise<number[]>;
  /** Which of these staging files are registered (pending) — the others are orphans or finished. */
  registeredFiles(files: string[]): Promise<Set<string>>;
  /**
   * For each app, takes a free slot lock (preferring a free slot whose previous holder left claimed
   * sections) and claims pending sections up to `maxBytes` per app and `budget` in total.
   * Apps with every slot busy are left out. One round trip.
   */
  acquireDrains(apps: string[], opts: { order: number[]; token: string; ttlMs: number; maxBytes: number; budget: number; maxRefs: number; now: number }): Promise<DrainClaim[]>;
  /** Takes one slot's lock without claiming (seal, repair). Null when busy. */
  acquireSlot(app: string, slot: number, token: string, ttlMs: number): Promise<SlotState | null>;
  /** acquireSlot for many slots under one token, in one round trip (an upload tick's seals): per slot, its state or null when busy. */
  acquireSlots(slots: readonly { app: string; slot: number }[], token: string, ttlMs: number): Promise<(SlotState | null)[]>;
  /** Milliseconds the lock has left if `token` still holds it, else a value ≤ 0. */
  lockRemainingMs(app: string, slot: number, token: string): Promise<number>;
  /** Atomically per commit: still the holder, state unchanged → len += addLen, refs consumed, claim cleared. */
  commitDrains(token: string, commits: DrainCommit[], now: number, sealBytes?: number): Promise<DrainCommitResult[]>;
  /**
   * Repair: members past `len` are committed now; their refs consumed wherever they still are.
   * A tail ref (tailRef) is found when it names the shard's current claim and the app is not done
   * in it: the app is marked done (and the claim may end: its files count off, `gone`). Holder only.
   */
  adopt(token: string, req: AdoptRequest): Promise<AdoptResult | null>;
  /** Holder only: the generation is gone from NAS (sealed in a history Redis forgot): gen += 1, len = 0. */
  skipGeneration(app: string, slot: number, token: string, gen: number): Promise<boolean>;
  /** Records the seal of `gen` under `key` (holder only). */
  beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean>;
  /**
   * gen += 1, len = 0, clears the seal marker (holder only, and only if the marker is for `gen`).
   * With `release`, the lock is given back in the same round trip once the bump is done (a holder
   * whose last step is the seal: a drain's seal of the long tail, the upload tick's).
   */
  finishSeal(app: string, slot: number, token: string, gen: number, opts?: { release?: boolean }): Promise<boolean>;
  /** beginSeal of several slots `token` holds, in one round trip: whether each was recorded. */
  beginSeals(token: string, seals: readonly SealRecord[]): Promise<boolean[]>;
  /** finishSeal of several slots `token` holds, in one round trip: whether each was done. */
  finishSeals(token: string, seals: readonly Omit<SealRecord, "key">[], opts?: { release?: boolean }): Promise<boolean[]>;
  /** Gives the lock back; the holder is done writing. Claimed sections stay with the slot. */
  release(app: string, slot: number, token: string): Promise<void>;
  /** One slot's state (readSlotStates of one). */
  readSlotState(app: string, slot: number): Promise<SlotState>;
  /** Many slots' states in one round trip (the upload tick reads every active slot's at once). */
  readSlotStates(slots: readonly { app: string; slot: number }[]): Promise<SlotState[]>;
  /**
   * Slots holding committed data whose generation started at or before `before`, or that a
   * commit found at or past the `sealBytes` it was given: what the upload tick seals between
   * full walks of the active tree, oldest first. With `small`, a slot holding less than
   * `minBytes` (and no half-done seal) waits until its generation started at or before
   * `forceBefore`. A slot leaves the list when its generation is bumped (sealed or skipped).
   */
  sealableSlots(before: number, limit: number, small?: { minBytes: number; forceBefore: number }): Promise<{ app: string; slot: number }[]>;
  /**
   * For each mark: true at most once per `everyMs` for `name` (and marks it run at `now`); true at
   * once when the store has no mark (lost or emptied) or the mark lies in the future (rolled back,
   * clock jump). The marks are independent; all of them in one round trip (an upload tick claims
   * its periodic steps together).
   */
  claimPeriodics(marks: readonly PeriodicMark[]): Promise<boolean[]>;
  /**
   * Apps with pending sections staged at or before `stagedBefore`, oldest first. With `small`, an
   * app with less than `minBytes` pending waits until its oldest section was staged at or before
   * `forceBefore` (the long tail is drained less often, in larger members); an app with sections
   * a crashed drain left claimed is due regardless, and so is one with `maxRefs` sections pending
   * (what one drain takes: it keeps each app's pending list in Redis bounded however long it waits).
   */
  dueApps(stagedBefore: number, limit: number, small?: SmallAppRule): Promise<string[]>;
  /** Operator: forget a partition's dedup state (after a topic was recreated by hand). */
  resetPartition(topic: string, partition: number): Promise<{ hw: number; incarnation: number }>;
  /** Partition dedup state, for reports and tests. */
  readPartition(topic: string, partition: number): Promise<{ hw: number; ranges: Interval[]; gaps: Interval[]; maxTs: number; incarnation: number }>;
  acquireLease(name: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, token: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * When an app with little pending (the long tail) is drained. Small apps are drained together, so
 * that one sweep task (apps in name order) reads one stretch of each staging file, instead of a
 * few apps at a time each reading every file of their pending period.
 */
export interface SmallAppRule {
  /** an app with less than this pending is small */
  minBytes: number;
  /** a small app waits until its oldest section was staged at or before this… */
  forceBefore: number;
  /** …and once one has, every small app whose oldest section was staged at or before this goes with it (a wave) */
  waveBefore?: number;
  /** at a step of the sweep's schedule (the ladder, the epoch: core/upload.ts drainSchedule), every small app with at least this pending goes too… */
  stepMinBytes?: number;
  /**
   * …per this much time since its oldest section, when given (with `now`): the apps on pace, not
   * one that crossed the minimum by waiting (it would read an hour of staging files for a few
   * sections; it goes with the wave, which reads them anyway)
   */
  stepPeriodMs?: number;
  now?: number;
  /**
   * an app with this many sections pending is never small (one drain's worth: its pending list in
   * Redis stays bounded); with `waveBefore` and `now`, such an app under `minBytes` also starts a
   * wave of every small app pending at least half as long as it (its drain reads that stretch of
   * staging files anyway: alone, it would read each file's small-section region for a few
   * sections, and the next full app would read it again)
   */
  maxRefs?: number;
}

/** Slot order for a writer: lowest first, so light traffic fills few files (fewer, larger objects). */
export function slotOrder(maxWriters: number): number[] {
  return Array.from({ length: maxWriters }, (_, i) => i);
}

export const refOf = (file: string, index: number): string => `${file}#${index}`;
export function parseRef(ref: string): { file: string; index: number } {
  const at = ref.lastIndexOf("#");
  return { file: ref.slice(0, at), index: Number(ref.slice(at + 1)) };
}

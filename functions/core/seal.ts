/**
 * A slot's active file, from the lock holder's side: bring it to a clean state before writing
 * (prepareSlot), and seal it (sealSlot): record the seal, move the file into the outbox under its
 * object key, bump the generation. Every step can be redone after a crash.
 *
 * The file is the truth, Redis the coordinator: bytes past the length Redis knows are walked as
 * self-describing members (core/members.ts). Complete members are adopted — committed now, their
 * sections consumed — whether a writer died before its commit or Redis forgot the commit; only an
 * incomplete tail is cut. Object keys end in a hash of the sealed bytes, so a key can never be
 * written twice with different bytes, whatever Redis remembers.
 *
 * A tainted generation (an earlier holder's lock expired unreleased, so a frozen writer may still
 * touch the file) is sealed by copying its committed prefix instead of moving the file: a late
 * write can only land in a file nobody reads any more.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { LimitFunction } from "p-limit";
import type { SlotState } from "../adapters/coord-store.js";
import { crashPoint } from "./crash-points.js";
import { nowOf, reportReconcile, RetryableError, type PipelineDeps } from "./deps.js";
import { activeFilePath, archiveObjectKey, outboxPath } from "./layout.js";
import { scanMembers } from "./members.js";
import { stagingPath } from "./staging.js";

export class LockLostError extends RetryableError {
  constructor(what: string) {
    super(`slot lock lost during ${what}; nothing was committed by this writer`);
    this.name = "LockLostError";
  }
}

/**
 * Throws unless the lock has at least the configured margin left (so a write cannot outlive it).
 * `lockDeadline` (performance.now() ms, from the acquire request's start) is a lower bound of the
 * lock's life: while it is twice the margin away the coord store need not be asked.
 */
export async function ensureLockTime(deps: PipelineDeps, app: string, slot: number, token: string, what: string, lockDeadline?: number): Promise<void> {
  if (lockDeadline !== undefined && lockDeadline - performance.now() >= 2 * deps.config.lockMarginMs) return;
  const remaining = await deps.coord.lockRemainingMs(app, slot, token);
  if (remaining < deps.config.lockMarginMs) {
    throw new LockLostError(`${what} (only ${Math.max(0, remaining)} ms of lock left, margin ${deps.config.lockMarginMs} ms)`);
  }
}

/**
 * Whether a seal copies the committed prefix instead of moving the file: a tainted generation (a
 * frozen holder may still write to the inode), a repair of a short file, or bytes past `len`.
 */
function willCopy(state: SlotState, opts: { wholeFile?: boolean }, size: number | undefined, len: number): boolean {
  return state.tainted === true || opts.wholeFile === true || (size ?? 0) > len;
}

/** Hex id of a seal (SHA-1 of its lock token, a random UUID), for the key of a moved file. */
export function sealIdOf(token: string): string {
  return createHash("sha1").update(token).digest("hex");
}

/** Hex SHA-1 of the first `len` bytes of a file (the sealed content). */
export async function hashPrefix(abs: string, len: number): Promise<string> {
  const h = createHash("sha1");
  if (len > 0) for await (const part of createReadStream(abs, { start: 0, end: len - 1, highWaterMark: 1 << 20 })) h.update(part as Buffer);
  return h.digest("hex");
}

/** The object key of a seal of `state`'s generation, dated by `keyTime`, else the generation's start, else now. */
function sealKeyOf(deps: PipelineDeps, app: string, slot: number, state: SlotState, digest: string, keyTime?: number): string {
  return archiveObjectKey(deps.config.prefix, app, slot, state.gen, keyTime || state.t0 || nowOf(deps), deps.config.timeZone, digest);
}

export interface PreparedSlot {
  state: SlotState;
  /** refs of members adopted from the file (their sections are consumed) */
  adoptedRefs: string[];
  /** the active file's size as this repair left it (= state.len), when the file exists */
  size?: number;
}

/**
 * Caller holds the lock. Returns the state to append at: a finished pending seal, a retired
 * tainted generation, adopted members past `len`, no torn tail; a generation whose file is gone
 * while Redis counts bytes in it is skipped (it was sealed in a history Redis forgot).
 */
export async function prepareSlot(deps: PipelineDeps, app: string, slot: number, token: string, start: SlotState, lockDeadline?: number): Promise<PreparedSlot> {
  let state = start;
  const adoptedRefs: string[] = [];
  for (let round = 0; round < 8; round++) {
    if (state.sealing) {
      state = (await sealSlot(deps, app, slot, token, state, lockDeadline)).state;
      continue;
    }
    const path = activeFilePath(app, slot, state.gen);
    const size = await deps.nas.size(path);
    if (size === undefined) {
      if (state.len === 0) return { state: state.tainted ? (await sealSlot(deps, app, slot, token, state, lockDeadline)).state : state, adoptedRefs };
      reportReconcile(deps, { kind: "generation-already-sealed", app, possibleDuplicates: 0, detail: { slot, gen: state.gen, committedBytes: state.len } });
      if (!(await deps.coord.skipGeneration(app, slot, token, state.gen))) throw new LockLostError("skip generation");
      state = { gen: state.gen + 1, len: 0, t0: 0 };
      continue;
    }
    if (size < state.len) {
      // NAS holds less than Redis counts: never cut, never guess. Seal what is there (complete
      // members only) as its own object and go on with a new generation.
      reportReconcile(deps, { kind: "file-shorter-than-committed", app, possibleDuplicates: 0, detail: { slot, gen: state.gen, fileBytes: size, committedBytes: state.len } });
      state = (await sealSlot(deps, app, slot, token, state, lockDeadline, { wholeFile: true })).state;
      continue;
    }
    if (size > state.len) {
      // Complete members past the committed length: a writer died between its append and its
      // commit, a frozen holder finished its write, or Redis forgot commits. Adopt them all
      // (their sections are consumed now); only an incomplete tail is left out.
      const tail = (await deps.nas.readRange(path, state.len, size - state.len)) ?? Buffer.alloc(0);
      const { members, end } = scanMembers(tail);
      if (members.length > 0) {
        // a dead writer may not have fsynced them; once adopted they are committed, and a seal
        // moves the file without syncing it again
        await deps.nas.syncFile(path);
        const refs = members.flatMap((m) => m.meta.r);
        const r = await deps.coord.adopt(token, { app, slot, gen: state.gen, len: state.len + end, refs, now: nowOf(deps) });
        if (!r) throw new LockLostError("adopt");
        for (const f of r.gone) await deps.nas.remove(stagingPath(f));
        adoptedRefs.push(...refs);
        const unknown = new Set(r.unknown);
        const dupRecords = members.filter((m) => m.meta.r.some((x) => unknown.has(x))).reduce((n, m) => n + m.meta.n, 0);
        reportReconcile(deps, {
          kind: unknown.size > 0 ? "unknown-refs" : "adopted-members", app, possibleDuplicates: dupRecords,
          detail: { slot, gen: state.gen, members: members.length, bytes: end, refs: refs.length, unknownRefs: unknown.size },
        });
        state = { ...r.state, tainted: state.tainted };
      }
      if (state.len < size && !state.tainted) {
        crashPoint("repair.before-cut");
        await ensureLockTime(deps, app, slot, token, "cut torn tail");
        deps.logger.warn({ app, slot, gen: state.gen, tornBytes: size - state.len }, "cut an incomplete member (a writer died mid-append)");
        await deps.nas.truncate(path, state.len);
      }
    }
    // a tainted generation is sealed by copy (its committed prefix) before anything is written
    if (state.tainted) {
      state = (await sealSlot(deps, app, slot, token, state, lockDeadline)).state;
      continue;
    }
    return { state, adoptedRefs, size: state.len };
  }
  throw new RetryableError(`slot ${app}/${slot} did not settle after repeated repairs`);
}

/**
 * Seals the slot's current generation (caller holds the lock). With `wholeFile`, the file's
 * complete members are sealed whatever `len` says (repair of a file shorter than Redis counts).
 * `keyTime` (epoch ms) dates the key instead of the generation's start (a seal at the drain
 * dates it by its oldest record). With `release` (the seal is the caller's last step under the
 * lock), sealSlot owns the lock's release: the round trip that finishes the seal gives it back,
 * and any failure before that releases it on the way out; the tracer hears "release" first.
 * Returns the state after the bump and the object key (when anything was sealed).
 */
export async function sealSlot(
  deps: PipelineDeps, app: string, slot: number, token: string, state: SlotState, lockDeadline?: number,
  opts: { wholeFile?: boolean; knownSize?: number; keyTime?: number; release?: boolean } = {},
): Promise<{ state: SlotState; key?: string }> {
  let releaseHeard = false, freed = false;
  const hearRelease = () => {
    if (!releaseHeard) deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
    releaseHeard = true;
  };
  try {
    const active = activeFilePath(app, slot, state.gen);
    let len = state.len;
    if (opts.wholeFile) {
      const all = (await deps.nas.read(active)) ?? Buffer.alloc(0);
      len = scanMembers(all).end;
    }
    let key: string;
    let size: number | undefined;
    if (state.sealing && state.sealing.gen === state.gen) {
      key = state.sealing.key; // a previous holder crashed mid-seal: finish its work
      size = await deps.nas.size(active);
    } else {
      // we hold the lock, so only a tainted generation's frozen holder could change the size
      // before the rename below, and a tainted generation is sealed by copy of `len` bytes anyway;
      // `knownSize` is what prepareSlot just found under the same lock
      size = opts.knownSize ?? (await deps.nas.size(active));
      if ((size ?? 0) < len) throw new Error(`${active} is ${size ?? 0} bytes but ${len} are committed`);
      // A sealed-by-copy file (see below) is named by a hash of its bytes: the copy leaves the
      // active file in place until the seal is finished, so a redo that Redis forgot (a rollback
      // loses the seal record) copies the same bytes to the same key instead of a second object.
      // A moved file cannot be sealed twice — once renamed it is gone from the active tree — so its
      // key ends in this seal's own id (the lock token), recorded by beginSeal before the rename:
      // no read of the file, and a redo finishes under the recorded key.
      let digest = "empty";
      if (len > 0 && willCopy(state, opts, size, len)) {
        await deps.nas.readByPath(active, len);
        digest = await hashPrefix(deps.nas.abs(active), len);
      } else if (len > 0) digest = sealIdOf(token);
      key = sealKeyOf(deps, app, slot, state, digest, opts.keyTime);
      if (!(await deps.coord.beginSeal(app, slot, token, state.gen, key))) throw new LockLostError("seal");
      crashPoint("seal.after-record");
    }
    if (size !== undefined) {
      if (willCopy(state, opts, size, len)) {
        // copy the committed prefix into a new file: a frozen earlier holder may still have this
        // inode open, and a torn tail (or bytes past a short count) must not reach the archive
        if (size > len) deps.logger.warn({ app, slot, gen: state.gen, tornBytes: size - len }, "torn tail left out of the sealed copy");
        if (len > 0) await deps.nas.copyPrefixAtomic(active, outboxPath(key), len);
        await deps.nas.remove(active);
      } else if (len > 0) {
        // no fsync here: every committed byte was fsynced by its append (NasDir.appendExact) or,
        // for adopted members, by prepareSlot before the adoption was committed
        await deps.nas.rename(active, outboxPath(key));
      } else {
        await deps.nas.remove(active);
      }
      crashPoint("seal.after-rename");
    }
    if (opts.release) hearRelease();
    if (!(await deps.coord.finishSeal(app, slot, token, state.gen, { release: opts.release }))) throw new LockLostError("seal finish");
    freed = opts.release === true;
    deps.logger.info({ app, slot, gen: state.gen, bytes: len, key }, "sealed");
    return { state: { gen: state.gen + 1, len: 0, t0: 0 }, key: len > 0 ? key : undefined };
  } finally {
    if (opts.release && !freed) {
      hearRelease();
      await deps.coord.release(app, slot, token).catch(() => {});
    }
  }
}

/** A slot a drain seals right after its commit: its state then, and the time its key is dated by. */
export interface SlotToSeal {
  app: string;
  slot: number;
  state: SlotState;
  keyTime?: number;
}

/**
 * Seals slots this token holds, the lock of each given back by its seal: sealSlot with
 * `knownSize: state.len` and `release`, for many slots at once. The common case — a committed,
 * untainted generation with nothing pending, moved into the outbox — costs two round trips for
 * all of them (one records every seal, one finishes them and frees the locks) instead of two per
 * slot: a drain of the long tail seals hundreds. Each slot's steps, crash points and redo are
 * sealSlot's; any other slot goes through sealSlot. Returns, per slot in order, its key or the
 * error; a slot that failed may still be locked by `token` (`held`) and holds a seal the next
 * holder or the upload tick finishes.
 */
export async function sealSlots(deps: PipelineDeps, token: string, slots: readonly SlotToSeal[], limit: LimitFunction, lockDeadline?: number): Promise<{ key?: string; error?: Error; held: boolean }[]> {
  const out: { key?: string; error?: Error; held: boolean }[] = slots.map(() => ({ held: true }));
  // the common case, moved under a key ending in this seal's id (as sealSlot names a moved file)
  const moves: { i: number; s: SlotToSeal; key: string }[] = [], others: { i: number; s: SlotToSeal }[] = [];
  slots.forEach((s, i) => {
    if (!s.state.sealing && !s.state.tainted && s.state.len > 0) moves.push({ i, s, key: sealKeyOf(deps, s.app, s.slot, s.state, sealIdOf(token), s.keyTime) });
    else others.push({ i, s });
  });
  await Promise.all(others.map(({ s, i }) => limit(async () => {
    try {
      out[i] = { key: (await sealSlot(deps, s.app, s.slot, token, s.state, lockDeadline, { knownSize: s.state.len, keyTime: s.keyTime, release: true })).key, held: false };
    } catch (e) {
      out[i] = { error: e as Error, held: false }; // sealSlot's failure path gave the lock back
    }
  })));
  if (moves.length === 0) return out;
  const recorded = await deps.coord.beginSeals(token, moves.map(({ s, key }) => ({ app: s.app, slot: s.slot, gen: s.state.gen, key })));
  const renamed: typeof moves = [];
  await Promise.all(moves.map((m, j) => limit(async () => {
    if (!recorded[j]) return void (out[m.i] = { error: new LockLostError("seal"), held: true });
    crashPoint("seal.after-record");
    try {
      // no fsync: every committed byte was fsynced by its append (see sealSlot)
      await deps.nas.rename(activeFilePath(m.s.app, m.s.slot, m.s.state.gen), outboxPath(m.key));
      crashPoint("seal.after-rename");
      renamed.push(m);
    } catch (e) {
      out[m.i] = { error: e as Error, held: true };
    }
  })));
  renamed.sort((a, b) => a.i - b.i);
  for (const { s } of renamed) deps.onSlotEvent?.({ app: s.app, slot: s.slot, event: "release", at: performance.timeOrigin + performance.now() });
  const finished = await deps.coord.finishSeals(token, renamed.map(({ s }) => ({ app: s.app, slot: s.slot, gen: s.state.gen })), { release: true });
  await Promise.all(renamed.map(async ({ i, s, key }, k) => {
    out[i] = finished[k] ? { key, held: false } : { error: new LockLostError("seal finish"), held: false };
    if (finished[k]) deps.logger.info({ app: s.app, slot: s.slot, gen: s.state.gen, bytes: s.state.len, key }, "sealed");
    else await deps.coord.release(s.app, s.slot, token).catch(() => {}); // as sealSlot's failure path
  }));
  return out;
}

/**
 * Whether a drain seals its slot right after appending, and under which time: a slot still small
 * after the drain (below LOGPIPE_SEAL_MIN_BYTES) whose generation — from its oldest record — would
 * reach LOGPIPE_SEAL_MAX_AGE before the app's next drain, taking the gap this drain closed (its
 * oldest section's age) as the app's drain interval. The long tail, drained once per
 * LOGPIPE_DRAIN_MAX_AGE, then gets one member per object and no separate seal by the upload
 * tick. Returns the generation's start for the object key (the hour its oldest record was
 * staged, so `logpipe logs`' hour of look-back covers it), or undefined when the usual rule
 * (sealIsDue at the upload tick) applies.
 */
export function sealAtDrain(
  config: Pick<PipelineDeps["config"], "sealMinBytes" | "sealMaxAgeMs">,
  slot: { lenAfter: number; t0: number; oldestStaged: number },
  now: number,
  /** `always`: the task seals everything it drained (DrainTask.seal), whatever the slot's size and age */
  opts: { always?: boolean } = {},
): number | undefined {
  const { lenAfter, t0, oldestStaged } = slot;
  if (lenAfter <= 0 || oldestStaged <= 0) return undefined;
  const start = t0 > 0 ? Math.min(t0, oldestStaged) : oldestStaged;
  if (opts.always) return start;
  if (lenAfter >= config.sealMinBytes) return undefined;
  const gap = Math.max(0, now - oldestStaged);
  return now + gap - start >= config.sealMaxAgeMs ? start : undefined;
}

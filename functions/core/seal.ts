/**
 * Sealing a slot's active file: record the seal (key) in the coord store, cut the file to its
 * committed length, move it into the outbox under its object key, bump the generation. Every
 * step can be redone after a crash: the recorded seal marker tells the next lock holder to
 * finish the job. A tainted generation (an earlier holder's lock expired unreleased, so a frozen
 * writer may still touch the file) is sealed by copying its committed prefix instead of moving
 * the file, and compress seals it before writing anything: a late write can only land in a
 * file that nobody reads any more.
 */
import { crashPoint } from "./crash-points.js";
import { nowOf, RetryableError, type PipelineDeps } from "./deps.js";
import { activeFilePath, archiveObjectKey, outboxPath } from "./layout.js";
import type { SlotState } from "../adapters/coord-store.js";

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

/** Seals the slot's current generation (caller holds the lock). Returns the state after the bump. */
export async function sealSlot(deps: PipelineDeps, app: string, slot: number, token: string, state: SlotState): Promise<{ state: SlotState; key?: string }> {
  let key: string;
  if (state.sealing && state.sealing.gen === state.gen) {
    key = state.sealing.key; // a previous holder crashed mid-seal: finish its work
  } else {
    key = archiveObjectKey(deps.config.prefix, app, slot, state.gen, state.t0 || nowOf(deps), deps.config.timeZone);
    if (!(await deps.coord.beginSeal(app, slot, token, state.gen, key))) throw new LockLostError("seal");
    crashPoint("seal.after-record");
  }
  const active = activeFilePath(app, slot, state.gen);
  const size = await deps.nas.size(active);
  if (size !== undefined) {
    if (size < state.len) throw new Error(`${active} is ${size} bytes but ${state.len} are committed: NAS lost data`);
    if (size > state.len) deps.logger.warn({ app, slot, gen: state.gen, tornBytes: size - state.len }, "seal drops a torn tail");
    if (state.tainted) {
      // An earlier holder lost its lock without releasing it: it may be frozen with this file
      // open and write (or truncate) it when it wakes up. Never hand that inode to the uploader:
      // copy the committed prefix into a new file, then drop the active file.
      if (state.len > 0) await deps.nas.copyPrefixAtomic(active, outboxPath(key), state.len);
      await deps.nas.remove(active);
    } else {
      if (size > state.len) {
        await ensureLockTime(deps, app, slot, token, "seal truncate");
        await deps.nas.truncate(active, state.len); // drop a torn, uncommitted tail
      }
      if (state.len > 0) {
        await deps.nas.syncFile(active);
        await deps.nas.rename(active, outboxPath(key));
      } else {
        await deps.nas.remove(active);
      }
    }
    crashPoint("seal.after-rename");
  }
  if (!(await deps.coord.finishSeal(app, slot, token, state.gen))) throw new LockLostError("seal finish");
  deps.logger.info({ app, slot, gen: state.gen, bytes: state.len, key }, "sealed");
  return { state: { gen: state.gen + 1, len: 0, t0: 0 }, key: state.len > 0 ? key : undefined };
}

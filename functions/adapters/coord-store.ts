/**
 * Coordination state shared by every function instance: the app registry (cap), per-app slot
 * locks with fencing tokens, each slot's committed `{gen, len, t0}`, committed offset intervals,
 * and leases. `RedisCoordStore` is the production implementation; `MemoryCoordStore` has the
 * same semantics in-process (local runs without redis-server). Both pass test/integration/coord-store.test.ts.
 */
import type { Interval } from "../core/intervals.js";

export interface SlotState {
  gen: number;
  /** committed length of the active file — the only truth about its content */
  len: number;
  /** epoch ms of the generation's first commit (0 while empty) */
  t0: number;
  /** set between "seal recorded" and "generation bumped", so a crash mid-seal is redone */
  sealing?: { gen: number; key: string };
  /**
   * Reported by tryAcquireSlot only: the lock was taken while an earlier holder of this slot had
   * never released it (it crashed, or it is frozen and may still write into this generation's
   * file). The holder must not write into a tainted generation: it seals it by copying the
   * committed prefix and bumps the generation first. Stays set until the bump.
   */
  tainted?: boolean;
}

export interface AcquiredSlot {
  slot: number;
  token: string;
  state: SlotState;
  /** committed offsets for the requested offsets field ("" when none requested) */
  committed: Interval[];
}

export interface CommitRequest {
  gen: number;
  expectLen: number;
  addLen: number;
  now: number;
  /** "<topic>/<partition>" or "" when no offsets are claimed */
  offsetsField: string;
  claim: Interval[];
  maxIntervals: number;
  /** Also give the lock back on success, as `release` would (saves compress a round trip). */
  release?: boolean;
}

export type CommitResult =
  | { ok: true; state: SlotState }
  | { ok: false; reason: "lost-lock" | "stale-state" }
  | { ok: false; reason: "conflict"; committed: Interval[] };

export interface CoordStore {
  /** Apps allowed their own directory: already registered, or registered now while fewer than `cap`. */
  admitApps(apps: string[], cap: number): Promise<Set<string>>;
  /** Tries the slots in `order` and takes the first free one (SET NX PX); null when all are busy. */
  tryAcquireSlot(app: string, order: number[], token: string, ttlMs: number, offsetsField: string): Promise<AcquiredSlot | null>;
  /** Milliseconds the lock has left if `token` still holds it, else a value ≤ 0. */
  lockRemainingMs(app: string, slot: number, token: string): Promise<number>;
  /** Atomically: still the holder, state unchanged, claim disjoint from committed → len += addLen, claim merged (and, with `release`, the lock given back). */
  commit(app: string, slot: number, token: string, req: CommitRequest): Promise<CommitResult>;
  /** Records the seal of `gen` under `key` (holder only). */
  beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean>;
  /** gen += 1, len = 0, clears the seal marker (holder only, and only if the marker is for `gen`). */
  finishSeal(app: string, slot: number, token: string, gen: number): Promise<boolean>;
  /** Gives the lock back; also records that this holder is done writing (see SlotState.tainted). */
  release(app: string, slot: number, token: string): Promise<void>;
  readSlotState(app: string, slot: number): Promise<SlotState>;
  readCommitted(app: string, offsetsField: string): Promise<Interval[]>;
  acquireLease(name: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, token: string): Promise<void>;
  close(): Promise<void>;
}

/** Slot order for a writer: lowest first, so light traffic fills few files (fewer, larger objects). */
export function slotOrder(maxWriters: number): number[] {
  return Array.from({ length: maxWriters }, (_, i) => i);
}

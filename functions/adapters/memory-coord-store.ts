/**
 * CoordStore in process memory, with the same semantics as RedisCoordStore (lock expiry,
 * fencing, atomic commit). For local runs where no redis-server is installed; every caller must
 * share one instance (worker threads cannot), which `logpipe local` arranges.
 */
import { capIntervals, overlaps, union, type Interval } from "../core/intervals.js";
import type { AcquiredSlot, CommitRequest, CommitResult, CoordStore, SlotState } from "./coord-store.js";

interface Lock {
  token: string;
  expiresAt: number;
}

export class MemoryCoordStore implements CoordStore {
  private readonly apps = new Set<string>();
  private readonly locks = new Map<string, Lock>();
  private readonly states = new Map<string, SlotState>();
  private readonly offsets = new Map<string, Interval[]>();
  /** Last holder of each slot until it releases, and slots taken over from an unreleased holder (see SlotState.tainted). */
  private readonly holders = new Map<string, string>();
  private readonly tainted = new Set<string>();
  constructor(private readonly now: () => number = Date.now) {}

  private holder(key: string): Lock | undefined {
    const l = this.locks.get(key);
    if (l && l.expiresAt <= this.now()) {
      this.locks.delete(key);
      return undefined;
    }
    return l;
  }
  private holds(key: string, token: string) {
    return this.holder(key)?.token === token;
  }
  private k(app: string, slot: number) { return `${app}\u0000${slot}`; }
  private state(app: string, slot: number): SlotState {
    const s = this.states.get(this.k(app, slot));
    return s ? { ...s, sealing: s.sealing && { ...s.sealing } } : { gen: 0, len: 0, t0: 0 };
  }

  async admitApps(apps: string[], cap: number): Promise<Set<string>> {
    const out = new Set<string>();
    for (const a of apps) {
      if (this.apps.has(a)) out.add(a);
      else if (this.apps.size < cap) {
        this.apps.add(a);
        out.add(a);
      }
    }
    return out;
  }

  async tryAcquireSlot(app: string, order: number[], token: string, ttlMs: number, offsetsField: string): Promise<AcquiredSlot | null> {
    for (const slot of order) {
      const key = this.k(app, slot);
      if (this.holder(key)) continue;
      this.locks.set(key, { token, expiresAt: this.now() + ttlMs });
      if (this.holders.has(key)) this.tainted.add(key);
      this.holders.set(key, token);
      const committed = offsetsField ? [...(this.offsets.get(`${app}\u0000${offsetsField}`) ?? [])].map((iv) => [iv[0], iv[1]] as Interval) : [];
      const state = this.state(app, slot);
      if (this.tainted.has(key)) state.tainted = true;
      return { slot, token, state, committed };
    }
    return null;
  }

  async lockRemainingMs(app: string, slot: number, token: string): Promise<number> {
    const l = this.holder(this.k(app, slot));
    return l && l.token === token ? l.expiresAt - this.now() : -1;
  }

  async commit(app: string, slot: number, token: string, req: CommitRequest): Promise<CommitResult> {
    const key = this.k(app, slot);
    if (!this.holds(key, token)) return { ok: false, reason: "lost-lock" };
    const st = this.state(app, slot);
    if (st.gen !== req.gen || st.len !== req.expectLen || st.sealing) return { ok: false, reason: "stale-state" };
    if (req.offsetsField && req.claim.length > 0) {
      const okey = `${app}\u0000${req.offsetsField}`;
      const have = this.offsets.get(okey) ?? [];
      if (overlaps(have, req.claim)) return { ok: false, reason: "conflict", committed: have.map((iv) => [iv[0], iv[1]] as Interval) };
      this.offsets.set(okey, capIntervals(union(have, req.claim), req.maxIntervals));
    }
    const next: SlotState = { gen: st.gen, len: st.len + req.addLen, t0: st.t0 === 0 && req.addLen > 0 ? req.now : st.t0 };
    this.states.set(key, next);
    if (req.release) await this.release(app, slot, token);
    return { ok: true, state: { ...next } };
  }

  async beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean> {
    const k = this.k(app, slot);
    if (!this.holds(k, token)) return false;
    const st = this.state(app, slot);
    if (st.gen !== gen) return false;
    this.states.set(k, { ...st, sealing: { gen, key } });
    return true;
  }

  async finishSeal(app: string, slot: number, token: string, gen: number): Promise<boolean> {
    const k = this.k(app, slot);
    if (!this.holds(k, token)) return false;
    const st = this.state(app, slot);
    if (st.gen !== gen || st.sealing?.gen !== gen) return false;
    this.states.set(k, { gen: gen + 1, len: 0, t0: 0 });
    this.tainted.delete(k);
    return true;
  }

  async release(app: string, slot: number, token: string): Promise<void> {
    const key = this.k(app, slot);
    if (this.holders.get(key) === token) this.holders.delete(key);
    if (this.holds(key, token)) this.locks.delete(key);
  }

  async readSlotState(app: string, slot: number): Promise<SlotState> {
    return this.state(app, slot);
  }

  async readCommitted(app: string, offsetsField: string): Promise<Interval[]> {
    return (this.offsets.get(`${app}\u0000${offsetsField}`) ?? []).map((iv) => [iv[0], iv[1]] as Interval);
  }

  async acquireLease(name: string, token: string, ttlMs: number): Promise<boolean> {
    const key = `lease\u0000${name}`;
    const l = this.holder(key);
    if (l && l.token !== token) return false;
    this.locks.set(key, { token, expiresAt: this.now() + ttlMs });
    return true;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    const key = `lease\u0000${name}`;
    if (this.holds(key, token)) this.locks.delete(key);
  }

  async close(): Promise<void> {}
}

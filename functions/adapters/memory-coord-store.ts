/**
 * CoordStore in process memory, with the same semantics as RedisCoordStore (lock expiry,
 * fencing, atomic register/claim/commit). For local runs where no redis-server is installed;
 * every caller must share one instance (worker threads cannot), which `logpipe local` arranges.
 * `clear()` forgets everything, like a Redis restarted without persistence (fault tests).
 */
import type { Interval } from "../core/intervals.js";
import { emptyPartition, registerRange, type PartitionState } from "../core/partition-state.js";
import type {
  AdoptRequest, AdoptResult, ClaimedSection, CoordStore, DrainClaim, DrainCommit, DrainCommitResult,
  RegisterFile, RegisterOptions, RegisterResult, SectionRef, SlotState, SmallAppRule,
  SealRecord,
} from "./coord-store.js";

interface Lock {
  token: string;
  expiresAt: number;
}

interface Slot extends SlotState {
  /** last holder until it releases (a takeover while set taints the generation) */
  holder?: string;
  claim: ClaimedSection[];
}

interface FileRecord {
  remaining: number;
  keep: Interval[];
}

export class MemoryCoordStore implements CoordStore {
  private locks = new Map<string, Lock>();
  private slots = new Map<string, Slot>();
  private partitions = new Map<string, PartitionState>();
  private files = new Map<string, FileRecord>();
  private pending = new Map<string, SectionRef[]>();
  private pendingBytes = new Map<string, number>();
  private scheduled = new Map<string, number>();
  private decisions = new Map<string, { admitted: boolean; at: number }>();
  /** slot key → t0 of its generation, 0 once a commit found it full (RedisCoordStore's sealq) */
  private sealq = new Map<string, number>();
  private periodic = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Forgets every key (a Redis restarted without persistence). */
  clear(): void {
    for (const m of [this.locks, this.slots, this.partitions, this.files, this.pending, this.pendingBytes, this.scheduled, this.decisions, this.sealq, this.periodic]) m.clear();
  }

  private k(app: string, slot: number) { return `${app}\u0000${slot}`; }
  private lockHolder(key: string): Lock | undefined {
    const l = this.locks.get(key);
    if (l && l.expiresAt <= this.now()) {
      this.locks.delete(key);
      return undefined;
    }
    return l;
  }
  private holds(app: string, slot: number, token: string) {
    return this.lockHolder(this.k(app, slot))?.token === token;
  }
  private slot(app: string, slot: number): Slot {
    const key = this.k(app, slot);
    let s = this.slots.get(key);
    if (!s) this.slots.set(key, (s = { gen: 0, len: 0, t0: 0, claim: [] }));
    return s;
  }
  private view(s: Slot): SlotState {
    const v: SlotState = { gen: s.gen, len: s.len, t0: s.t0 };
    if (s.sealing) v.sealing = { ...s.sealing };
    if (s.tainted) v.tainted = true;
    return v;
  }
  private takeLock(app: string, slot: number, token: string, ttlMs: number): Slot | null {
    const key = this.k(app, slot);
    if (this.lockHolder(key)) return null;
    this.locks.set(key, { token, expiresAt: this.now() + ttlMs });
    const s = this.slot(app, slot);
    if (s.holder !== undefined) s.tainted = true;
    s.holder = token;
    return s;
  }
  private consume(file: string, gone: string[]) {
    const f = this.files.get(file);
    if (!f) return;
    f.remaining--;
    if (f.remaining <= 0) {
      this.files.delete(file);
      gone.push(file);
    }
  }

  async admitApps(apps: string[], cap: number, now: number, ttlMs: number): Promise<Map<string, boolean>> {
    for (const [app, d] of this.decisions) if (d.at < now - ttlMs) this.decisions.delete(app);
    let admitted = 0;
    for (const d of this.decisions.values()) if (d.admitted) admitted++;
    const out = new Map<string, boolean>();
    for (const app of apps) {
      let d = this.decisions.get(app);
      if (!d) {
        d = { admitted: admitted < cap, at: now };
        if (d.admitted) admitted++;
        this.decisions.set(app, d);
      }
      d.at = now;
      out.set(app, d.admitted);
    }
    return out;
  }

  async registerFiles(files: RegisterFile[], opts: RegisterOptions): Promise<{ results: RegisterResult[]; hot: string[] }> {
    const results: RegisterResult[] = [];
    const touched = new Set<string>();
    for (const f of files) {
      if (this.files.has(f.file)) {
        results.push({ file: f.file, status: "known", keep: this.files.get(f.file)!.keep });
        continue;
      }
      const pk = `${f.topic}\u0000${f.partition}`;
      const r = registerRange(this.partitions.get(pk) ?? emptyPartition(), f.first, f.last, f.minTs, f.maxTs, opts.maxRanges, opts.maxGaps);
      this.partitions.set(pk, r.state);
      const full = r.keep.length === 1 && r.keep[0]![0] === f.first && r.keep[0]![1] === f.last;
      const result: RegisterResult = { file: f.file, status: r.keep.length === 0 ? "duplicate" : full ? "registered" : "partial", keep: r.keep };
      if (r.reset) result.reset = r.reset;
      results.push(result);
      if (r.keep.length === 0 || f.sections.length === 0) continue;
      this.files.set(f.file, { remaining: f.sections.length, keep: full ? [] : r.keep });
      f.sections.forEach((s, i) => {
        const list = this.pending.get(s.app) ?? [];
        list.push({ ref: `${f.file}#${i}`, file: f.file, off: s.off, len: s.len, records: s.records, stagedAt: opts.now, minTs: s.minTs });
        this.pending.set(s.app, list);
        this.pendingBytes.set(s.app, (this.pendingBytes.get(s.app) ?? 0) + s.len);
        touched.add(s.app);
      });
    }
    const hot: string[] = [];
    for (const app of touched) {
      if ((this.pendingBytes.get(app) ?? 0) < opts.drainBytes) continue;
      if ((this.scheduled.get(app) ?? 0) > opts.now) continue;
      this.scheduled.set(app, opts.now + opts.scheduleTtlMs);
      hot.push(app);
    }
    return { results, hot };
  }

  async registeredFiles(files: string[]): Promise<Set<string>> {
    return new Set(files.filter((f) => this.files.has(f)));
  }

  async acquireDrains(apps: string[], o: { order: number[]; token: string; ttlMs: number; maxBytes: number; budget: number; maxRefs: number; now: number }): Promise<DrainClaim[]> {
    const out: DrainClaim[] = [];
    let budget = o.budget;
    for (const app of apps) {
      if (budget <= 0) break;
      const free = o.order.filter((s) => !this.lockHolder(this.k(app, s)));
      const withClaim = free.find((s) => (this.slots.get(this.k(app, s))?.claim.length ?? 0) > 0);
      const queue = this.pending.get(app) ?? [];
      // the drain asked for came: split may ask again (even if every slot is busy now)
      this.scheduled.delete(app);
      if (withClaim === undefined && (queue.length === 0 || free.length === 0)) continue;
      const slotNo = withClaim ?? free[0]!;
      const s = this.takeLock(app, slotNo, o.token, o.ttlMs)!;
      const inherited = s.claim.length;
      let bytes = s.claim.reduce((n, c) => n + c.len, 0);
      while (queue.length > 0 && s.claim.length < o.maxRefs && (s.claim.length === 0 || (bytes + queue[0]!.len <= o.maxBytes && bytes + queue[0]!.len <= budget))) {
        const ref = queue.shift()!;
        bytes += ref.len;
        this.pendingBytes.set(app, (this.pendingBytes.get(app) ?? 0) - ref.len);
        s.claim.push({ ...ref, keep: this.files.get(ref.file)?.keep ?? [] });
      }
      if (queue.length === 0) {
        this.pending.delete(app);
        this.pendingBytes.delete(app);
      }
      budget -= bytes;
      out.push({ app, slot: slotNo, state: this.view(s), sections: s.claim.map((c) => ({ ...c, keep: c.keep.map((k) => [k[0], k[1]] as Interval) })), inherited });
    }
    return out;
  }

  async acquireSlot(app: string, slot: number, token: string, ttlMs: number): Promise<SlotState | null> {
    const s = this.takeLock(app, slot, token, ttlMs);
    return s ? this.view(s) : null;
  }

  async lockRemainingMs(app: string, slot: number, token: string): Promise<number> {
    const l = this.lockHolder(this.k(app, slot));
    return l && l.token === token ? l.expiresAt - this.now() : -1;
  }

  async commitDrains(token: string, commits: DrainCommit[], now: number, sealBytes = Number.MAX_SAFE_INTEGER): Promise<DrainCommitResult[]> {
    return commits.map((c): DrainCommitResult => {
      if (!this.holds(c.app, c.slot, token)) return { app: c.app, ok: false, reason: "lost-lock" };
      const s = this.slot(c.app, c.slot);
      if (s.gen !== c.gen || s.len !== c.expectLen || s.sealing) return { app: c.app, ok: false, reason: "stale-state" };
      const gone: string[] = [];
      const refs = new Set(c.refs);
      for (const cl of s.claim) if (refs.has(cl.ref)) this.consume(cl.file, gone);
      s.claim = s.claim.filter((cl) => !refs.has(cl.ref));
      if (s.t0 === 0 && c.addLen > 0) s.t0 = c.startedAt !== undefined && c.startedAt > 0 && c.startedAt < now ? c.startedAt : now;
      s.len += c.addLen;
      const k = this.k(c.app, c.slot);
      if (s.len >= sealBytes) this.sealq.set(k, 0);
      else if (s.t0 > 0 && !this.sealq.has(k)) this.sealq.set(k, s.t0);
      if (c.release) {
        if (s.holder === token) s.holder = undefined;
        this.locks.delete(this.k(c.app, c.slot));
      }
      return { app: c.app, ok: true, state: this.view(s), gone };
    });
  }

  async adopt(token: string, req: AdoptRequest): Promise<AdoptResult | null> {
    if (!this.holds(req.app, req.slot, token)) return null;
    const s = this.slot(req.app, req.slot);
    if (s.gen !== req.gen || req.len < s.len) return null;
    const gone: string[] = [];
    const unknown: string[] = [];
    let found = 0;
    const queue = this.pending.get(req.app) ?? [];
    for (const ref of req.refs) {
      const ci = s.claim.findIndex((c) => c.ref === ref);
      const qi = ci === -1 ? queue.findIndex((q) => q.ref === ref) : -1;
      if (ci === -1 && qi === -1) {
        unknown.push(ref);
        continue;
      }
      const file = ci !== -1 ? s.claim[ci]!.file : queue[qi]!.file;
      if (ci !== -1) s.claim.splice(ci, 1);
      else {
        this.pendingBytes.set(req.app, (this.pendingBytes.get(req.app) ?? 0) - queue[qi]!.len);
        queue.splice(qi, 1);
      }
      found++;
      this.consume(file, gone);
    }
    if (queue.length === 0) {
      this.pending.delete(req.app);
      this.pendingBytes.delete(req.app);
    }
    if (s.t0 === 0 && req.len > s.len) s.t0 = req.now;
    s.len = req.len;
    const k = this.k(req.app, req.slot);
    if (s.t0 > 0 && !this.sealq.has(k)) this.sealq.set(k, s.t0);
    return { state: this.view(s), found, unknown, gone };
  }

  async skipGeneration(app: string, slot: number, token: string, gen: number): Promise<boolean> {
    if (!this.holds(app, slot, token)) return false;
    const s = this.slot(app, slot);
    if (s.gen !== gen) return false;
    this.bump(app, slot, s);
    return true;
  }

  async beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean> {
    if (!this.holds(app, slot, token)) return false;
    const s = this.slot(app, slot);
    if (s.gen !== gen) return false;
    s.sealing = { gen, key };
    return true;
  }

  async finishSeal(app: string, slot: number, token: string, gen: number, opts: { release?: boolean } = {}): Promise<boolean> {
    if (!this.holds(app, slot, token)) return false;
    const s = this.slot(app, slot);
    if (s.gen !== gen || s.sealing?.gen !== gen) return false;
    this.bump(app, slot, s);
    if (opts.release) await this.release(app, slot, token);
    return true;
  }

  async beginSeals(token: string, seals: readonly SealRecord[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const s of seals) out.push(await this.beginSeal(s.app, s.slot, token, s.gen, s.key));
    return out;
  }

  async finishSeals(token: string, seals: readonly Omit<SealRecord, "key">[], opts: { release?: boolean } = {}): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const s of seals) out.push(await this.finishSeal(s.app, s.slot, token, s.gen, opts));
    return out;
  }

  private bump(app: string, slot: number, s: Slot): void {
    Object.assign(s, { gen: s.gen + 1, len: 0, t0: 0, sealing: undefined, tainted: undefined });
    this.sealq.delete(this.k(app, slot));
  }

  async sealableSlots(before: number, limit: number, small?: { minBytes: number; forceBefore: number }): Promise<{ app: string; slot: number }[]> {
    const due = ([k, t]: [string, number]) => {
      if (t > before) return false;
      if (!small || small.minBytes <= 0 || t <= small.forceBefore) return true;
      const s = this.slots.get(k);
      return s !== undefined && (s.len >= small.minBytes || s.sealing !== undefined);
    };
    return [...this.sealq].filter(due).sort((a, b) => a[1] - b[1]).slice(0, limit).map(([k]) => {
      const i = k.lastIndexOf("\u0000");
      return { app: k.slice(0, i), slot: Number(k.slice(i + 1)) };
    });
  }

  async claimPeriodic(name: string, now: number, everyMs: number): Promise<boolean> {
    const last = this.periodic.get(name);
    if (last !== undefined && last <= now && now - last < everyMs) return false;
    this.periodic.set(name, now);
    return true;
  }

  async release(app: string, slot: number, token: string): Promise<void> {
    const s = this.slots.get(this.k(app, slot));
    if (s?.holder === token) s.holder = undefined;
    if (this.holds(app, slot, token)) this.locks.delete(this.k(app, slot));
  }

  async readSlotState(app: string, slot: number): Promise<SlotState> {
    return (await this.readSlotStates([{ app, slot }]))[0]!;
  }

  async readSlotStates(slots: readonly { app: string; slot: number }[]): Promise<SlotState[]> {
    return slots.map(({ app, slot }) => this.view(this.slots.get(this.k(app, slot)) ?? { gen: 0, len: 0, t0: 0, claim: [] }));
  }

  async dueApps(stagedBefore: number, limit: number, small?: SmallAppRule): Promise<string[]> {
    const due: [string, number][] = [];
    const stranded = new Set<string>();
    for (const [key, s] of this.slots) if (s.claim.length > 0) stranded.add(key.slice(0, key.indexOf("\u0000")));
    const isSmall = (app: string) =>
      small !== undefined && !stranded.has(app) && (this.pendingBytes.get(app) ?? 0) < small.minBytes &&
      (small.maxRefs === undefined || (this.pending.get(app)?.length ?? 0) < small.maxRefs);
    const candidates = [...this.pending].filter(([, q]) => q.length > 0 && q[0]!.stagedAt <= stagedBefore).map(([app, q]) => ({ app, oldest: q[0]!.stagedAt, small: isSmall(app) }));
    let wave = small?.waveBefore !== undefined && candidates.some((c) => c.small && c.oldest <= small.forceBefore);
    let cut = small?.waveBefore ?? -Infinity;
    // a full app (under minBytes, maxRefs sections) starts a wave of the apps pending half as long
    if (small?.waveBefore !== undefined && small.now !== undefined) {
      for (const c of candidates) {
        if (c.small || stranded.has(c.app) || (this.pendingBytes.get(c.app) ?? 0) >= small.minBytes) continue;
        wave = true;
        cut = Math.max(cut, (c.oldest + small.now) / 2);
      }
    }
    for (const c of candidates) {
      const onPace = small?.stepMinBytes !== undefined && (this.pendingBytes.get(c.app) ?? 0) >= small.stepMinBytes * stepSpans(small, c.oldest);
      if (!c.small || c.oldest <= small!.forceBefore || (wave && c.oldest <= cut) || onPace) due.push([c.app, c.oldest]);
    }
    // a drain that crashed left its claim with the slot: the app is due until someone finishes it
    for (const [key, s] of this.slots) {
      const app = key.slice(0, key.indexOf("\u0000"));
      if (s.claim.length > 0 && s.claim[0]!.stagedAt <= stagedBefore) due.push([app, s.claim[0]!.stagedAt]);
    }
    due.sort((a, b) => a[1] - b[1]);
    return [...new Set(due.map((d) => d[0]))].slice(0, limit);
  }

  async resetPartition(topic: string, partition: number): Promise<{ hw: number; incarnation: number }> {
    const pk = `${topic}\u0000${partition}`;
    const prev = this.partitions.get(pk) ?? emptyPartition();
    this.partitions.set(pk, { ...emptyPartition(), incarnation: prev.incarnation + 1 });
    return { hw: prev.hw, incarnation: prev.incarnation + 1 };
  }

  async readPartition(topic: string, partition: number) {
    const p = this.partitions.get(`${topic}\u0000${partition}`) ?? emptyPartition();
    return { hw: p.hw, ranges: p.ranges, gaps: p.gaps, maxTs: p.maxTs, incarnation: p.incarnation };
  }

  async acquireLease(name: string, token: string, ttlMs: number): Promise<boolean> {
    const key = `lease\u0000${name}`;
    const l = this.lockHolder(key);
    if (l && l.token !== token) return false;
    this.locks.set(key, { token, expiresAt: this.now() + ttlMs });
    return true;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    const key = `lease\u0000${name}`;
    if (this.lockHolder(key)?.token === token) this.locks.delete(key);
  }

  async close(): Promise<void> {}
}

/** How many step periods an app's pending spans (at least one): the step's minimum scales with it. */
function stepSpans(rule: SmallAppRule, oldest: number): number {
  if (rule.stepPeriodMs === undefined || rule.now === undefined || rule.stepPeriodMs <= 0) return 1;
  return Math.max(1, (rule.now - oldest) / rule.stepPeriodMs);
}

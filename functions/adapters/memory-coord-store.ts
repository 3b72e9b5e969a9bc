/**
 * CoordStore in process memory, with the same semantics as RedisCoordStore (lock expiry,
 * fencing, atomic register/claim/commit). For local runs where no redis-server is installed;
 * every caller must share one instance (worker threads cannot), which `logpipe local` arranges.
 * `clear()` forgets everything, like a Redis restarted without persistence (fault tests).
 */
import type { Interval } from "../core/intervals.js";
import { emptyPartition, registerRange, type PartitionState } from "../core/partition-state.js";
import {
  parseTailRef,
  withFullShards,
  type AdoptRequest, type AdoptResult, type ClaimedSection, type CoordStore, type DrainClaim, type DrainCommit,
  type DrainCommitResult, type RegisterFile, type RegisterOptions, type RegisterResult, type SectionRef, type SlotState,
  type PeriodicMark, type SmallAppRule, type SealRecord, type TailClaim, type TailCommitResult, type TailPlacement,
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

/** A tail shard's current claim (RedisCoordStore's `tclaim:<shard>` hash). */
interface TailClaimRecord {
  id: string;
  entries: ClaimedSection[];
  /** oldest stagedAt of its entries: keeps the shard due while the claim is unfinished */
  oldest: number;
  /** apps in the claim, -1 until its first placement records it (0 is a claim with nothing readable) */
  total: number;
  done: number;
  /** app → slot it was placed in, or "done" */
  apps: Map<string, number | "done">;
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
  /** tail shard → queued tail entries, oldest first (`tq:<shard>`) */
  private tailQueues = new Map<number, ClaimedSection[]>();
  private tailClaims = new Map<number, TailClaimRecord>();
  private tailLocks = new Map<number, Lock>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Forgets every key (a Redis restarted without persistence). */
  clear(): void {
    for (const m of [this.locks, this.slots, this.partitions, this.files, this.pending, this.pendingBytes, this.scheduled, this.decisions, this.sealq, this.periodic, this.tailQueues, this.tailClaims, this.tailLocks]) m.clear();
  }

  private k(app: string, slot: number) { return `${app}\u0000${slot}`; }
  /** The lock under `key` while it has not expired (an expired one is dropped). */
  private live<K>(locks: Map<K, Lock>, key: K): Lock | undefined {
    const l = locks.get(key);
    if (l && l.expiresAt <= this.now()) {
      locks.delete(key);
      return undefined;
    }
    return l;
  }
  private lockHolder(key: string): Lock | undefined {
    return this.live(this.locks, key);
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
  /** Counts `n` sections or regions of `file` off; a file reaching none is forgotten and reported gone. */
  private consume(file: string, gone: string[], n = 1) {
    const f = this.files.get(file);
    if (!f) return;
    f.remaining -= n;
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
      const tails = f.tails ?? [];
      if (r.keep.length === 0 || f.sections.length + tails.length === 0) continue;
      const keep = full ? [] : r.keep;
      this.files.set(f.file, { remaining: f.sections.length + tails.length, keep });
      // one queue entry per tail region; it counts toward no app's pending bytes
      for (const t of tails) {
        const queue = this.tailQueues.get(t.shard) ?? [];
        queue.push({ ref: `${f.file}#t${t.shard}`, file: f.file, off: t.off, len: t.len, records: t.records, stagedAt: opts.now, minTs: t.minTs, keep: keep.map((k) => [k[0], k[1]] as Interval) });
        this.tailQueues.set(t.shard, queue);
      }
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

  async acquireSlots(slots: readonly { app: string; slot: number }[], token: string, ttlMs: number): Promise<(SlotState | null)[]> {
    return slots.map(({ app, slot }) => {
      const s = this.takeLock(app, slot, token, ttlMs);
      return s ? this.view(s) : null;
    });
  }

  async lockRemainingMs(app: string, slot: number, token: string): Promise<number> {
    const l = this.lockHolder(this.k(app, slot));
    return l && l.token === token ? l.expiresAt - this.now() : -1;
  }

  async commitDrains(token: string, commits: DrainCommit[], now: number, sealBytes = Number.MAX_SAFE_INTEGER): Promise<DrainCommitResult[]> {
    return commits.map((c) => this.commitOne(token, c, now, sealBytes, true));
  }

  /**
   * One commit of commitDrains: still the holder and the state unchanged → len += addLen (t0,
   * seal queue), the refs consumed from the slot's claim when `consumeRefs` (a tail commit leaves
   * the slot's claim alone), the lock given back when asked.
   */
  private commitOne(token: string, c: DrainCommit, now: number, sealBytes: number, consumeRefs: boolean): DrainCommitResult {
    if (!this.holds(c.app, c.slot, token)) return { app: c.app, ok: false, reason: "lost-lock" };
    const s = this.slot(c.app, c.slot);
    if (s.gen !== c.gen || s.len !== c.expectLen || s.sealing) return { app: c.app, ok: false, reason: "stale-state" };
    const gone: string[] = [];
    if (consumeRefs) {
      const refs = new Set(c.refs);
      for (const cl of s.claim) if (refs.has(cl.ref)) this.consume(cl.file, gone);
      s.claim = s.claim.filter((cl) => !refs.has(cl.ref));
    }
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
  }

  private tailLockHolder(shard: number): Lock | undefined {
    return this.live(this.tailLocks, shard);
  }

  /** The shard's current claim if it is claim `id`. */
  private tailClaimOf(shard: number, id: string): TailClaimRecord | undefined {
    const c = this.tailClaims.get(shard);
    return c?.id === id ? c : undefined;
  }

  /** Marks `app` done in the claim (once); true if it was not done yet. */
  private markTailDone(claim: TailClaimRecord, app: string): boolean {
    if (claim.apps.get(app) === "done") return false;
    claim.apps.set(app, "done");
    claim.done++;
    return true;
  }

  /** Ends the shard's claim when every app of it is done, or with `force` (endTail) whatever their progress: each entry's file counted off once. */
  private endTailClaim(shard: number, claim: TailClaimRecord, gone: string[], force = false): boolean {
    if (this.tailClaims.get(shard) !== claim) return false;
    if (!force && (claim.total < 0 || claim.done < claim.total)) return false;
    const perFile = new Map<string, number>();
    for (const e of claim.entries) perFile.set(e.file, (perFile.get(e.file) ?? 0) + 1);
    for (const [file, n] of perFile) this.consume(file, gone, n);
    this.tailClaims.delete(shard);
    return true;
  }

  async claimTail(shard: number, o: { token: string; ttlMs: number; budget: number; maxEntries: number; now: number }): Promise<TailClaim | null> {
    if (this.tailLockHolder(shard)) return null;
    this.tailLocks.set(shard, { token: o.token, expiresAt: this.now() + o.ttlMs });
    const copy = (e: ClaimedSection): ClaimedSection => ({ ...e, keep: e.keep.map((k) => [k[0], k[1]] as Interval) });
    const held = this.tailClaims.get(shard);
    if (held) return { shard, id: held.id, entries: held.entries.map(copy), apps: new Map(held.apps), total: Math.max(0, held.total), inherited: true };
    const queue = this.tailQueues.get(shard) ?? [];
    if (queue.length === 0) {
      this.tailLocks.delete(shard);
      return null;
    }
    const entries = [queue.shift()!];
    let bytes = entries[0]!.len;
    while (queue.length > 0 && entries.length < o.maxEntries && bytes + queue[0]!.len <= o.budget) {
      const e = queue.shift()!;
      bytes += e.len;
      entries.push(e);
    }
    if (queue.length === 0) this.tailQueues.delete(shard);
    // the task's token names the claim: unique across a store that forgot everything (a counter
    // restarting at 1 would let a repair take an old member for one of a new claim)
    const claim: TailClaimRecord = { id: o.token, entries, oldest: oldestOf(entries), total: -1, done: 0, apps: new Map() };
    this.tailClaims.set(shard, claim);
    return { shard, id: claim.id, entries: entries.map(copy), apps: new Map(), total: 0, inherited: false };
  }

  async placeTail(shard: number, token: string, id: string, total: number, apps: string[], o: { order: number[]; ttlMs: number }): Promise<TailPlacement[]> {
    const claim = this.tailClaimOf(shard, id);
    if (!claim || this.tailLockHolder(shard)?.token !== token) return [];
    if (claim.total < 0) claim.total = total;
    const out: TailPlacement[] = [];
    for (const app of apps) {
      const placed = claim.apps.get(app);
      if (placed === "done") continue;
      // an app placed before is only ever written through that slot
      const slotNo = placed ?? o.order.find((n) => !this.lockHolder(this.k(app, n)) && (this.slots.get(this.k(app, n))?.claim.length ?? 0) === 0);
      if (slotNo === undefined) continue;
      const s = this.takeLock(app, slotNo, token, o.ttlMs);
      if (!s) continue;
      claim.apps.set(app, slotNo);
      out.push({ app, slot: slotNo, state: this.view(s) });
    }
    return out;
  }

  async commitTail(token: string, shard: number, id: string, commits: DrainCommit[], now: number, sealBytes = Number.MAX_SAFE_INTEGER): Promise<TailCommitResult> {
    const results = commits.map((c) => {
      const r = this.commitOne(token, c, now, sealBytes, false);
      const claim = this.tailClaimOf(shard, id);
      if (r.ok && claim) this.markTailDone(claim, c.app);
      return r;
    });
    const gone: string[] = [];
    const claim = this.tailClaimOf(shard, id);
    const ended = claim !== undefined && this.endTailClaim(shard, claim, gone);
    return { results, ended, gone };
  }

  async endTail(shard: number, token: string, id: string): Promise<{ ended: boolean; gone: string[] }> {
    const gone: string[] = [];
    const claim = this.tailClaimOf(shard, id);
    if (!claim || this.tailLockHolder(shard)?.token !== token) return { ended: false, gone };
    return { ended: this.endTailClaim(shard, claim, gone, true), gone };
  }

  async releaseTail(shard: number, token: string): Promise<void> {
    if (this.tailLockHolder(shard)?.token === token) this.tailLocks.delete(shard);
  }

  async dueShards(stagedBefore: number, limit: number, opts: { minBytes?: number } = {}): Promise<number[]> {
    // a shard's due score: its oldest queued or claimed entry (RedisCoordStore keeps it in `tdue`)
    const due = new Map<number, number>();
    for (const [shard, q] of this.tailQueues) if (q.length > 0) due.set(shard, oldestOf(q));
    for (const [shard, c] of this.tailClaims) due.set(shard, Math.min(due.get(shard) ?? Infinity, c.oldest));
    // equal scores in member order, as a Redis sorted set orders them
    const byAge = [...due].filter(([, t]) => t <= stagedBefore).sort((a, b) => a[1] - b[1] || (String(a[0]) < String(b[0]) ? -1 : 1)).slice(0, limit).map(([shard]) => shard);
    const queued = [...this.tailQueues].map(([shard, q]): [number, number] => [shard, q.reduce((n, e) => n + e.len, 0)]);
    return withFullShards(byAge, queued, opts.minBytes ?? 0, limit);
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
      const tail = parseTailRef(ref);
      if (tail) {
        // a member of a tail claim: found while it names the shard's claim and the app is not done in it
        const claim = this.tailClaimOf(tail.shard, tail.id);
        if (!claim || !this.markTailDone(claim, req.app)) {
          unknown.push(ref);
          continue;
        }
        found++;
        this.endTailClaim(tail.shard, claim, gone);
        continue;
      }
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

  async claimPeriodics(marks: readonly PeriodicMark[]): Promise<boolean[]> {
    return marks.map(({ name, now, everyMs }) => {
      const last = this.periodic.get(name);
      if (last !== undefined && last <= now && now - last < everyMs) return false;
      this.periodic.set(name, now);
      return true;
    });
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

/** The oldest stagedAt of some entries (Infinity for none). */
function oldestOf(entries: readonly SectionRef[]): number {
  let t = Infinity;
  for (const e of entries) if (e.stagedAt < t) t = e.stagedAt;
  return t;
}

/** How many step periods an app's pending spans (at least one): the step's minimum scales with it. */
function stepSpans(rule: SmallAppRule, oldest: number): number {
  if (rule.stepPeriodMs === undefined || rule.now === undefined || rule.stepPeriodMs <= 0) return 1;
  return Math.max(1, (rule.now - oldest) / rule.stepPeriodMs);
}

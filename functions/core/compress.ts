/**
 * compress: drains apps. One invocation takes a task `{apps}`; for each app it takes one of the
 * app's slot locks (≤ maxWritersPerApp writers per app) and claims everything pending for the app
 * (up to LOGPIPE_DRAIN_MAX_BYTES), from any number of staging files — all in one coord-store
 * round trip for the whole task. Each staging file is read once for all the task's apps; each
 * app's sections become ONE gzip member appended to its slot file (one positional write + fsync);
 * one round trip commits every app. Staging files whose last section was consumed are deleted.
 * A small slot that would reach LOGPIPE_SEAL_MAX_AGE before its app's next drain is sealed right
 * after the commit, under the same lock (sealAtDrain): the long tail gets one member per object.
 *
 * Crash safety (see docs/faults.md): claimed sections stay with the slot until the commit, so a
 * crashed drain is finished by the next holder of that slot. A member written but not committed
 * names its sections (core/members.ts), so the next holder adopts it instead of cutting it —
 * which is also how a slot recovers when Redis forgets commits (failover, restart).
 */
import { randomUUID } from "node:crypto";
import pLimit, { type LimitFunction } from "p-limit";
import { slotOrder } from "../adapters/coord-store.js";
import { tailRef, type ClaimedSection, type DrainClaim, type DrainCommit, type DrainCommitResult, type SlotState } from "../adapters/coord-store.js";
import { compressBuffers } from "./buffer-pool.js";
import { CorruptChunkError } from "./chunk.js";
import { crashPoint, crashPointsEnabled } from "./crash-points.js";
import { writeDeadLetter } from "./dead-letter.js";
import { MAX_REFS_PER_DRAIN, MAX_REFS_PER_MEMBER, NAS_CONCURRENCY, nowOf, reportReconcile, RetryableError, sealField, settleAll, type DrainTask, type PipelineDeps } from "./deps.js";
import { activeFilePath } from "./layout.js";
import { buildMember } from "./members.js";
import { isSafeSegment } from "./routing.js";
import { ensureLockTime, prepareSlot, sealAtDrain, sealSlots } from "./seal.js";
import { sectionLines, stagingPath, tailChunkBytes, tailChunks, tailLines, type TailChunk, type TailSpan } from "./staging.js";

export class BadTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadTaskError";
  }
}

export interface CompressResult {
  /** apps asked for, apps drained (a lock taken), apps skipped because every slot was busy */
  requested: number;
  apps: number;
  busy: number;
  members: number;
  /** slots sealed right after their drain (small slots of the long tail: see sealAtDrain) */
  sealed: number;
  records: number;
  sections: number;
  /** staging files read, and staging files deleted (all their sections consumed) */
  filesRead: number;
  filesDeleted: number;
  bytesIn: number;
  bytesOut: number;
  errors: string[];
  durationMs: number;
}

const MAX_APPS_PER_TASK = 5000;
/** Tail shards are at most LOGPIPE_TAIL_SHARDS (≤ 256); a task may name one a stack used before. */
const MAX_TAIL_SHARD = 1_000_000;
/** Tail entries (one per staging file) one tail task claims: an hour of 10-per-second batches. */
export const MAX_TAIL_ENTRIES = 40_000;

/** Validates the async payload: a list of app directory names, never paths or data. */
export function parseTask(event: unknown): DrainTask {
  let doc: unknown = event;
  if (Buffer.isBuffer(event) || typeof event === "string") {
    try {
      doc = JSON.parse(event.toString());
    } catch {
      throw new BadTaskError("compress payload is not JSON");
    }
  }
  const t = doc as Partial<DrainTask>;
  if (typeof t !== "object" || t === null || t.v !== 2 || !Array.isArray(t.apps)) throw new BadTaskError('compress payload is not a drain task ({"v":2,"apps":[…]})');
  if (t.seal !== undefined && typeof t.seal !== "boolean") throw new BadTaskError(`drain task's "seal" is ${JSON.stringify(String(t.seal).slice(0, 40))}, not true or false`);
  const seal = sealField(t.seal);
  if (t.shard !== undefined) {
    if (!Number.isSafeInteger(t.shard) || t.shard < 0 || t.shard > MAX_TAIL_SHARD) throw new BadTaskError(`drain task names tail shard ${JSON.stringify(String(t.shard).slice(0, 40))}, which is not an integer 0–${MAX_TAIL_SHARD}`);
    if (t.apps.length > 0) throw new BadTaskError("a tail shard's drain task lists no apps");
    return { v: 2, apps: [], shard: t.shard, reason: "sweep", ...seal };
  }
  if (t.apps.length > MAX_APPS_PER_TASK) throw new BadTaskError(`drain task lists ${t.apps.length} apps, over ${MAX_APPS_PER_TASK}`);
  const bad = t.apps.find((a) => typeof a !== "string" || !isSafeSegment(a));
  if (bad !== undefined) throw new BadTaskError(`drain task names ${JSON.stringify(String(bad).slice(0, 100))}, which is not an app directory name`);
  return { v: 2, apps: [...new Set(t.apps as string[])], reason: t.reason === "hot" ? "hot" : "sweep", ...seal };
}

interface Prepared {
  claim: DrainClaim;
  state: SlotState;
  sections: ClaimedSection[];
  /** refs consumed without being in this member (file gone, or a corrupt section dead-lettered) */
  consumedOnly: string[];
}

/**
 * Sections closer than this are read as one range: reading the bytes between them costs less
 * than another read call (at the NAS model's ~300 MB/s, 256 KB take ~0.85 ms, a round trip ~1 ms).
 */
const COALESCE_GAP = 256 * 1024;

/**
 * Reads every section the task claimed: each staging file opened once, nearby sections read as
 * one range (a sweep's many small apps are scattered through each file between hot apps' bytes),
 * NAS_CONCURRENCY files at a time.
 */
async function readSections(deps: PipelineDeps, prepared: Prepared[], result: CompressResult, buffers: TaskBuffers): Promise<Map<string, Buffer | undefined>> {
  const byFile = new Map<string, ClaimedSection[]>();
  for (const p of prepared) for (const s of p.sections) (byFile.get(s.file) ?? byFile.set(s.file, []).get(s.file)!).push(s);
  const out = new Map<string, Buffer | undefined>();
  const limit = pLimit(NAS_CONCURRENCY);
  // every read settles before a failure is thrown: no read may still fill a buffer given back
  await settleAll([...byFile].map(([file, sections]) => limit(async () => {
    sections.sort((a, b) => a.off - b.off);
    const ranges: { pos: number; len: number; sections: ClaimedSection[] }[] = [];
    for (const s of sections) {
      const last = ranges[ranges.length - 1];
      if (last && s.off - (last.pos + last.len) <= COALESCE_GAP) {
        last.len = Math.max(last.len, s.off + s.len - last.pos);
        last.sections.push(s);
      } else ranges.push({ pos: s.off, len: s.len, sections: [s] });
      result.bytesIn += s.len;
    }
    const bufs = await deps.nas.readRanges(stagingPath(file), ranges, buffers.take);
    result.filesRead++;
    ranges.forEach((r, i) => {
      const b = bufs?.[i];
      for (const s of r.sections) out.set(s.ref, b && b.length >= s.off - r.pos + s.len ? b.subarray(s.off - r.pos, s.off - r.pos + s.len) : undefined);
    });
  })));
  return out;
}

/**
 * `use` of the bytes `gather` writes into a buffer it takes from compress's pool, given back
 * after (also when `use` throws): a member's lines, gathered for gzip.
 */
function withPooled<T>(gather: (take: (size: number) => Buffer) => Buffer, use: (bytes: Buffer) => T): T {
  let taken: Buffer | undefined;
  try {
    return use(gather((size) => (taken = compressBuffers.take(size))));
  } finally {
    if (taken) compressBuffers.give(taken);
  }
}

/** `use` of `parts` end to end in one buffer (a pooled one when there are several: withPooled). */
function withGathered<T>(parts: readonly Buffer[], use: (bytes: Buffer) => T): T {
  if (parts.length === 1) return use(parts[0]!);
  return withPooled((take) => {
    let size = 0;
    for (const p of parts) size += p.length;
    const out = take(size);
    let at = 0;
    for (const p of parts) at += p.copy(out, at);
    return out.subarray(0, size);
  }, use);
}

/**
 * The pooled buffers a task reads staging ranges into and builds its members in
 * (compressBuffers): nothing is allocated per drain once the instance is warm, and the garbage
 * collector does not run for each drain's megabytes outside its heap. All go back when the task
 * ends, once no read is in flight and every member has been written.
 */
class TaskBuffers {
  private readonly taken: Buffer[] = [];
  readonly take = (len: number): Buffer => {
    const b = compressBuffers.take(len);
    this.taken.push(b);
    return b;
  };
  giveBack(): void {
    for (const b of this.taken) compressBuffers.give(b);
    this.taken.length = 0;
  }
}

/** A member to append for one app: its bytes (undefined when nothing to write) and what it consumes. */
interface BuiltMember {
  member?: Buffer;
  members: number;
  /** what the commit consumes (refs in the member, and refs consumed without records) */
  refs: string[];
  records: number;
  /** sections (or tail chunks) it holds */
  sections: number;
  /** oldest staging time of what it holds (0 when nothing) */
  stagedAt: number;
}

/** One app a task writes to: the slot it holds and how to build its member. */
interface AppWrite {
  app: string;
  slot: number;
  state: SlotState;
  /** builds the member from what is still to write (after `adopted` refs were found in the file) */
  build(adopted: ReadonlySet<string>): Promise<BuiltMember>;
  /** let go of the lock (failure, or nothing to commit) */
  release(): Promise<void>;
}

/**
 * Step 3 of a drain, for every app at once (NAS_CONCURRENCY in flight, each app's steps in
 * order): its member appended at the committed length. When the file is not that length the slot
 * is repaired (members a crashed writer or a forgetful Redis left are adopted, a torn tail cut, a
 * generation already sealed moved past) and the member built again without what was adopted.
 * Returns each app's commit (undefined when it failed: its lock is given back, its work stays
 * claimed) and which apps seal right after the commit.
 */
async function appendMembers(
  deps: PipelineDeps, token: string, lockDeadline: number, writes: AppWrite[], result: CompressResult, failed: (w: AppWrite, e: unknown) => void, nasLimit: LimitFunction,
  /** the task's `seal`: every slot appended to is sealed after the commit */
  sealAll: boolean,
) {
  const { config } = deps;
  const commitOf: (DrainCommit | undefined)[] = [];
  const sealAfter = new Map<string, { slot: number; keyTime: number }>();
  await Promise.all(writes.map((wr, i) => nasLimit(async () => {
    const { app, slot } = wr;
    try {
      let built = await wr.build(new Set());
      let addLen = 0;
      if (built.member) {
        const check = async () => {
          await ensureLockTime(deps, app, slot, token, "append", lockDeadline);
          crashPoint("compress.before-write");
        };
        let w = await deps.nas.appendExact(activeFilePath(app, slot, wr.state.gen), wr.state.len, built.member, check, crashPointsEnabled() ? () => crashPoint("compress.mid-append") : undefined);
        if (!w.ok) {
          const again = await prepareSlot(deps, app, slot, token, wr.state, lockDeadline);
          wr.state = again.state;
          built = await wr.build(new Set(again.adoptedRefs));
          if (built.member) {
            w = await deps.nas.appendExact(activeFilePath(app, slot, wr.state.gen), wr.state.len, built.member, check);
            if (!w.ok) throw new RetryableError(`${activeFilePath(app, slot, wr.state.gen)} is ${w.size} bytes, expected ${wr.state.len}; the next drain repairs it`);
          }
        }
      }
      result.sections += built.sections;
      if (built.member) {
        crashPoint("compress.after-append");
        addLen = built.member.length;
        result.members += built.members;
        result.records += built.records;
        result.bytesOut += built.member.length;
      }
      const keyTime = sealAtDrain(config, { lenAfter: wr.state.len + addLen, t0: wr.state.t0, oldestStaged: built.stagedAt }, nowOf(deps), { always: sealAll });
      if (keyTime !== undefined) sealAfter.set(app, { slot, keyTime });
      // a slot sealed right after the commit keeps its lock until the seal is done
      commitOf[i] = { app, slot, gen: wr.state.gen, expectLen: wr.state.len, addLen, refs: built.refs, release: keyTime === undefined, startedAt: built.stagedAt };
    } catch (e) {
      failed(wr, e);
      await wr.release();
    }
  })));
  return { commits: commitOf.filter((c): c is DrainCommit => c !== undefined), sealAfter };
}

/**
 * Steps 4–5 of a drain: `commit` commits every app in one round trip (each lock given back with
 * it, unless the slot is sealed next); staging files whose last section went are deleted; small
 * slots of the long tail are sealed now, under the lock the drain holds (one member per object,
 * no lock, stat and seal of their own at the upload tick; two round trips for all: sealSlots).
 * A crash here leaves a recorded seal the next holder (or the tick) finishes.
 */
async function commitAndSeal(
  deps: PipelineDeps, token: string, lockDeadline: number, commits: DrainCommit[], sealAfter: Map<string, { slot: number; keyTime: number }>,
  commit: (commits: DrainCommit[]) => Promise<{ results: DrainCommitResult[]; gone: string[] }>,
  /** the apps whose lock the task still holds (a lock a commit or seal gave back leaves it) */
  held: Pick<Set<string>, "has" | "delete">, result: CompressResult, nasLimit: LimitFunction,
): Promise<void> {
  if (commits.length === 0) return;
  for (const c of commits) {
    if (!c.release) continue;
    held.delete(c.app); // the commit releases it (or, if it fails, the lock has expired anyway)
    deps.onSlotEvent?.({ app: c.app, slot: c.slot, event: "release", at: performance.timeOrigin + performance.now() });
  }
  const { results, gone } = await commit(commits);
  crashPoint("compress.after-commit");
  for (const r of results) {
    if (r.ok) continue;
    result.errors.push(`${r.app}: commit refused (${r.reason}); the member stays uncommitted and the next holder adopts it`);
    deps.logger.warn({ app: r.app, reason: r.reason }, r.reason === "lost-lock" ? "slot lock lost before the commit: nothing committed by this writer" : "commit refused: the slot changed under this writer");
    held.delete(r.app);
    await deps.coord.release(r.app, commits.find((c) => c.app === r.app)!.slot, token).catch(() => {});
  }
  await Promise.all(gone.map((f) => nasLimit(() => deps.nas.remove(stagingPath(f)))));
  result.filesDeleted += gone.length;
  const toSeal = results.flatMap((r) => {
    const seal = sealAfter.get(r.app);
    return r.ok && seal !== undefined && held.has(r.app) ? [{ app: r.app, slot: seal.slot, state: r.state, keyTime: seal.keyTime }] : [];
  });
  // each seal gives its lock back (its last round trip does, or its failure path); a lock a
  // failed seal still holds is released with the others by the caller
  const sealed = await sealSlots(deps, token, toSeal, nasLimit, lockDeadline);
  for (const [i, s] of sealed.entries()) {
    const { app, slot } = toSeal[i]!;
    if (!s.held) held.delete(app);
    if (s.key) result.sealed++;
    if (s.error) {
      result.errors.push(`${app}: seal after the drain failed (${s.error.message}); the upload tick seals it`);
      deps.logger.warn({ app, slot, err: s.error.message }, "seal after the drain failed; the upload tick seals it");
    }
  }
}

const emptyResult = (requested: number): CompressResult => ({ requested, apps: 0, busy: 0, members: 0, sealed: 0, records: 0, sections: 0, filesRead: 0, filesDeleted: 0, bytesIn: 0, bytesOut: 0, errors: [], durationMs: 0 });

/** The end of a task: its duration; a task that failed for every app it held is retried by FC. */
function finish(deps: PipelineDeps, result: CompressResult, started: number, held: number): CompressResult {
  result.durationMs = performance.now() - started;
  if (result.errors.length > 0 && result.members === 0 && held > 0 && result.errors.length >= held) {
    // nothing of the task succeeded: let FC's async retry run it again (claims wait with their slots)
    throw new RetryableError(`drain failed for every app: ${result.errors.slice(0, 3).join("; ")}`);
  }
  if (result.errors.length > 0) deps.logger.warn({ errors: result.errors.length }, "some apps of the drain failed; the sweep retries them");
  return result;
}

export async function compressTask(deps: PipelineDeps, task: DrainTask, meta: { requestId?: string } = {}): Promise<CompressResult> {
  if (task.shard !== undefined) return compressTail(deps, task.shard, meta, task.seal === true);
  const started = performance.now();
  const result = emptyResult(task.apps.length);
  const { config } = deps;
  const token = randomUUID();
  const requestedAt = performance.now();
  const claims = await deps.coord.acquireDrains(task.apps, {
    order: slotOrder(config.maxWritersPerApp), token, ttlMs: config.lockTtlMs,
    maxBytes: config.drainMaxBytes, budget: config.taskMaxBytes, maxRefs: MAX_REFS_PER_DRAIN, now: nowOf(deps),
  });
  const lockDeadline = requestedAt + config.lockTtlMs;
  result.apps = claims.length;
  result.busy = task.apps.length - claims.length;
  for (const c of claims) deps.onSlotEvent?.({ app: c.app, slot: c.slot, event: "acquire", at: performance.timeOrigin + performance.now() });
  crashPoint("compress.after-claim");

  const held = new Set(claims.map((c) => c.app));
  const buffers = new TaskBuffers();
  const release = async (c: { app: string; slot: number }) => {
    if (!held.delete(c.app)) return;
    deps.onSlotEvent?.({ app: c.app, slot: c.slot, event: "release", at: performance.timeOrigin + performance.now() });
    await deps.coord.release(c.app, c.slot, token).catch((e) => deps.logger.warn({ err: (e as Error).message, app: c.app }, "lock release failed; it will expire"));
  };
  const failed = (c: { app: string; slot: number }, e: unknown) => {
    result.errors.push(`${c.app}: ${(e as Error).message}`);
    deps.logger.error({ app: c.app, slot: c.slot, err: (e as Error).message }, "drain failed; its claimed sections stay with the slot for the next drain");
  };

  try {
    // 1. A slot with a half-done seal or a tainted generation is brought to a clean state first.
    //    Any other slot is checked by the append itself (it writes only if the file is exactly
    //    the committed length) and repaired only when that check fails (step 3): one NAS round
    //    trip per app saved in the common case.
    const prepared: Prepared[] = [];
    for (const c of claims) {
      try {
        if (!c.state.sealing && !c.state.tainted) {
          prepared.push({ claim: c, state: c.state, sections: c.sections, consumedOnly: [] });
          continue;
        }
        const p = await prepareSlot(deps, c.app, c.slot, token, c.state, lockDeadline);
        const adopted = new Set(p.adoptedRefs);
        prepared.push({ claim: c, state: p.state, sections: c.sections.filter((s) => !adopted.has(s.ref)), consumedOnly: [] });
      } catch (e) {
        failed(c, e);
        await release(c);
      }
    }

    // 2. Read each staging file once for every app of the task.
    const sectionBytes = await readSections(deps, prepared, result, buffers);

    // 3. One member per app, appended at the committed length.
    const decoded = new Map<string, { lines: Buffer; records: number } | "skip">();
    /** A section's lines, decoded once (a corrupt one is dead-lettered, a missing one reported, once). */
    const decode = async (app: string, s: ClaimedSection): Promise<{ lines: Buffer; records: number } | "skip"> => {
      let d = decoded.get(s.ref);
      if (d !== undefined) return d;
      const bytes = sectionBytes.get(s.ref);
      if (!bytes) {
        // The staging file is gone: it is deleted only once every section of it was consumed,
        // so this section was archived in a history the coord store forgot.
        reportReconcile(deps, { kind: "missing-staging-file", app, possibleDuplicates: 0, detail: { ref: s.ref } });
        d = "skip";
      } else {
        try {
          d = sectionLines(bytes, s.keep);
        } catch (e) {
          if (!(e instanceof CorruptChunkError)) throw e;
          await writeDeadLetter(deps, { kind: "chunk", reason: `staging section ${s.ref}: ${e.message}`, payload: bytes, details: { ref: s.ref }, requestId: meta.requestId });
          d = "skip";
        }
      }
      decoded.set(s.ref, d);
      return d;
    };
    /**
     * The app's members from its sections, MAX_REFS_PER_MEMBER sections each, as the bytes of one
     * append (refs consumed without records are committed too).
     */
    const memberOf = async (p: Prepared, adopted: ReadonlySet<string>): Promise<BuiltMember> => {
      if (adopted.size > 0) p.sections = p.sections.filter((s) => !adopted.has(s.ref));
      const refs: string[] = [];
      const built: Buffer[] = [];
      const consumedOnly: string[] = [];
      let records = 0, stagedAt = 0;
      let parts: Buffer[] = [], from = 0, n = 0, minTs = 0, memberStaged = 0;
      const flush = () => {
        const meta = { n, r: refs.slice(from), t: minTs, s: memberStaged };
        if (n > 0) built.push(withGathered(parts, (lines) => buildMember(lines, meta, config.gzipLevel, buffers.take)));
        records += n;
        parts = [], from = refs.length, n = 0, minTs = 0, memberStaged = 0;
      };
      for (const s of p.sections) {
        const x = await decode(p.claim.app, s);
        if (x === "skip") {
          consumedOnly.push(s.ref);
          continue;
        }
        if (x.records > 0) parts.push(x.lines);
        n += x.records;
        refs.push(s.ref);
        if (s.minTs > 0 && (minTs === 0 || s.minTs < minTs)) minTs = s.minTs;
        if (memberStaged === 0 || s.stagedAt < memberStaged) memberStaged = s.stagedAt;
        if (stagedAt === 0 || s.stagedAt < stagedAt) stagedAt = s.stagedAt;
        if (refs.length - from === MAX_REFS_PER_MEMBER) flush();
      }
      flush();
      const member = built.length === 0 ? undefined : built.length === 1 ? built[0]! : Buffer.concat(built);
      return { member, members: built.length, refs: [...refs, ...consumedOnly], records, sections: refs.length, stagedAt };
    };
    const nasLimit = pLimit(NAS_CONCURRENCY);
    const writes: AppWrite[] = prepared.map((p) => ({
      app: p.claim.app, slot: p.claim.slot, state: p.state,
      build: (adopted) => memberOf(p, adopted),
      release: () => release(p.claim),
    }));
    const { commits, sealAfter } = await appendMembers(deps, token, lockDeadline, writes, result, failed, nasLimit, task.seal === true);

    // 4–5. One commit for every app (it also gives each lock back), then the seals at the drain.
    await commitAndSeal(deps, token, lockDeadline, commits, sealAfter, async (cs) => {
      const results = await deps.coord.commitDrains(token, cs, nowOf(deps), config.sealBytes);
      const gone = new Set<string>();
      for (const r of results) if (r.ok) r.gone.forEach((g) => gone.add(g));
      return { results, gone: [...gone] };
    }, held, result, nasLimit);
  } finally {
    buffers.giveBack();
    for (const c of claims) if (held.has(c.app)) await release(c);
  }
  return finish(deps, result, started, claims.length);
}

/**
 * A tail shard's drain: claims the shard's queued tail regions (one per staging file: the small
 * sections of the shard's apps) or takes over the claim a previous task left, reads each region
 * once, takes a slot lock per app of the claim (placeTail: an app is only ever written through
 * the slot it was first placed in) and appends ONE member per app for all regions — its metadata
 * names the claim (tailRef), not one ref per section — then commits every app in one round trip.
 * When every app of the claim is done, the claim ends and its staging files are counted off.
 * Apps whose slots are all busy wait in the claim for the shard's next task.
 */
async function compressTail(deps: PipelineDeps, shard: number, meta: { requestId?: string }, sealAll: boolean): Promise<CompressResult> {
  const started = performance.now();
  const result = emptyResult(0);
  const { config } = deps;
  const token = randomUUID();
  const requestedAt = performance.now();
  const claim = await deps.coord.claimTail(shard, { token, ttlMs: config.lockTtlMs, budget: config.taskMaxBytes, maxEntries: MAX_TAIL_ENTRIES, now: nowOf(deps) });
  if (!claim) return finish(deps, result, started, 0);
  const lockDeadline = requestedAt + config.lockTtlMs;
  crashPoint("compress.after-claim");
  const held = new Map<string, number>();
  const buffers = new TaskBuffers();
  const release = async (app: string) => {
    const slot = held.get(app);
    if (slot === undefined) return;
    held.delete(app);
    deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
    await deps.coord.release(app, slot, token).catch((e) => deps.logger.warn({ err: (e as Error).message, app }, "lock release failed; it will expire"));
  };
  const failed = (w: { app: string; slot: number }, e: unknown) => {
    result.errors.push(`${w.app}: ${(e as Error).message}`);
    deps.logger.error({ app: w.app, slot: w.slot, shard, err: (e as Error).message }, "tail drain failed for an app; it stays in the shard's claim for the next task");
  };
  let placedCount = 0;
  try {
    // 1. Each region read once (NAS_CONCURRENCY files at a time) and cut into its apps' chunks.
    const ref = tailRef(shard, claim.id);
    const nasLimit = pLimit(NAS_CONCURRENCY);
    // one object per chunk, held until the app's member is built (a claim holds ~66 k of them at 3,000 apps)
    const byApp = new Map<string, (TailSpan & { entry: ClaimedSection })[]>();
    const regions = await settleAll(claim.entries.map((e) => nasLimit(async () => {
      result.bytesIn += e.len;
      const bufs = await deps.nas.readRanges(stagingPath(e.file), [{ pos: e.off, len: e.len }], buffers.take);
      result.filesRead++;
      const b = bufs?.[0];
      return b && b.length >= e.len ? b.subarray(0, e.len) : undefined;
    })));
    for (const [i, e] of claim.entries.entries()) {
      const region = regions[i];
      if (!region) {
        // deleted only once every section and region of it was consumed: archived in a history the coord store forgot
        reportReconcile(deps, { kind: "missing-staging-file", possibleDuplicates: 0, detail: { ref: e.ref } });
        continue;
      }
      let chunks: TailChunk[];
      try {
        chunks = tailChunks(region);
      } catch (err) {
        if (!(err instanceof CorruptChunkError)) throw err;
        // the same bytes give the same outcome to every task of the claim, so its apps stay the same
        await writeDeadLetter(deps, { kind: "chunk", reason: `staging tail region ${e.ref}: ${err.message}`, payload: region, details: { ref: e.ref }, requestId: meta.requestId });
        continue;
      }
      for (const chunk of chunks) {
        if (!isSafeSegment(chunk.app)) {
          await writeDeadLetter(deps, { kind: "chunk", reason: `staging tail region ${e.ref}: a chunk names ${JSON.stringify(chunk.app.slice(0, 100))}, not an app directory name`, payload: tailChunkBytes(chunk), details: { ref: e.ref }, requestId: meta.requestId });
          continue;
        }
        const list = byApp.get(chunk.app);
        const part = { entry: e, region: chunk.region, start: chunk.start, bodyStart: chunk.bodyStart, end: chunk.end, records: chunk.records };
        if (list) list.push(part);
        else byApp.set(chunk.app, [part]);
      }
    }
    const apps = [...byApp.keys()].sort();
    const todo = apps.filter((a) => claim.apps.get(a) !== "done");
    result.requested = todo.length;

    // 2. A slot lock per app (the one it was placed in before, if any), in scripts of a few hundred apps.
    const placed = await deps.coord.placeTail(shard, token, claim.id, apps.length, todo, { order: slotOrder(config.maxWritersPerApp), ttlMs: config.lockTtlMs });
    placedCount = placed.length;
    for (const p of placed) {
      held.set(p.app, p.slot);
      deps.onSlotEvent?.({ app: p.app, slot: p.slot, event: "acquire", at: performance.timeOrigin + performance.now() });
    }
    result.apps = placed.length;
    result.busy = todo.length - placed.length;
    if (result.busy > 0) {
      // counted as slot_waits like any drain's; said here too because the claim stays open for
      // them, and the shard's new regions queue behind it until they are done
      const oldest = claim.entries.reduce((m, e) => (e.stagedAt > 0 && (m === 0 || e.stagedAt < m) ? e.stagedAt : m), 0);
      deps.logger.warn(
        { shard, claim: claim.id, busy: result.busy, appsInClaim: apps.length, regions: claim.entries.length, oldestRegionAgeMs: oldest > 0 ? Math.max(0, nowOf(deps) - oldest) : undefined },
        "tail claim stays open: apps whose slots were all busy wait for the shard's next task, and its new regions queue behind the claim",
      );
    }
    crashPoint("compress.tail-after-place");

    // 3. A slot with a half-done seal or a tainted generation is brought to a clean state first
    //    (a member of this claim found there is adopted: the app is done); the others are
    //    checked by the append.
    const writes: AppWrite[] = [];
    for (const p of placed) {
      let state = p.state;
      let done = false;
      try {
        if (state.sealing || state.tainted) {
          const again = await prepareSlot(deps, p.app, p.slot, token, state, lockDeadline);
          state = again.state;
          done = again.adoptedRefs.includes(ref);
        }
      } catch (e) {
        failed(p, e);
        await release(p.app);
        continue;
      }
      const parts = byApp.get(p.app)!;
      writes.push({
        app: p.app, slot: p.slot, state,
        build: async (adopted) => {
          if (done || adopted.has(ref)) return { members: 0, refs: [], records: 0, sections: 0, stagedAt: 0 };
          let minTs = 0, stagedAt = 0;
          for (const { entry } of parts) {
            if (entry.minTs > 0 && (minTs === 0 || entry.minTs < minTs)) minTs = entry.minTs;
            if (stagedAt === 0 || entry.stagedAt < stagedAt) stagedAt = entry.stagedAt;
          }
          let records = 0;
          const member = withPooled((take) => {
            const gathered = tailLines(parts, take);
            records = gathered.records;
            return gathered.lines;
          }, (lines) => (records > 0 ? buildMember(lines, { n: records, r: [ref], t: minTs, s: stagedAt }, config.gzipLevel, buffers.take) : undefined));
          return { member, members: member ? 1 : 0, refs: [ref], records, sections: parts.length, stagedAt };
        },
        release: () => release(p.app),
      });
    }
    const { commits, sealAfter } = await appendMembers(deps, token, lockDeadline, writes, result, failed, nasLimit, sealAll);

    // 4–5. One commit for every app: each is done in the claim; with the last, the claim ends and
    //      its staging files are counted off. Then the seals at the drain.
    await commitAndSeal(deps, token, lockDeadline, commits, sealAfter, async (cs) => {
      const r = await deps.coord.commitTail(token, shard, claim.id, cs, nowOf(deps), config.sealBytes);
      return { results: r.results, gone: r.gone };
    }, held, result, nasLimit);
    if (todo.length === 0) {
      // every app it can read is done: the claim's end was lost with its task, nothing in it was
      // readable (gone or corrupt regions), or the apps not done are in regions that are gone (a
      // Redis rolled back to before the claim ended remembers them undone): end it, whatever its
      // count of apps done says, or the shard's queued regions would wait behind it forever
      const undone = [...claim.apps.values()].filter((a) => a !== "done").length;
      const r = await deps.coord.endTail(shard, token, claim.id);
      if (r.ended && undone > 0) deps.logger.warn({ shard, claim: claim.id, undone }, "tail claim ended with apps not done: their regions are gone (archived in a history Redis forgot)");
      await Promise.all(r.gone.map((f) => nasLimit(() => deps.nas.remove(stagingPath(f)))));
      result.filesDeleted += r.gone.length;
    }
  } finally {
    buffers.giveBack();
    for (const app of [...held.keys()]) await release(app);
    await deps.coord.releaseTail(shard, token).catch((e) => deps.logger.warn({ err: (e as Error).message, shard }, "tail shard lock release failed; it will expire"));
  }
  return finish(deps, result, started, placedCount);
}

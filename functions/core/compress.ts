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
import pLimit from "p-limit";
import { slotOrder } from "../adapters/coord-store.js";
import type { ClaimedSection, DrainClaim, DrainCommit, SlotState } from "../adapters/coord-store.js";
import { CorruptChunkError } from "./chunk.js";
import { crashPoint, crashPointsEnabled } from "./crash-points.js";
import { writeDeadLetter } from "./dead-letter.js";
import { MAX_REFS_PER_DRAIN, MAX_REFS_PER_MEMBER, NAS_CONCURRENCY, nowOf, reportReconcile, RetryableError, type DrainTask, type PipelineDeps } from "./deps.js";
import { activeFilePath } from "./layout.js";
import { buildMember } from "./members.js";
import { isSafeSegment } from "./routing.js";
import { ensureLockTime, prepareSlot, sealAtDrain, sealSlots } from "./seal.js";
import { sectionLines, stagingPath } from "./staging.js";

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
  if (t.apps.length > MAX_APPS_PER_TASK) throw new BadTaskError(`drain task lists ${t.apps.length} apps, over ${MAX_APPS_PER_TASK}`);
  const bad = t.apps.find((a) => typeof a !== "string" || !isSafeSegment(a));
  if (bad !== undefined) throw new BadTaskError(`drain task names ${JSON.stringify(String(bad).slice(0, 100))}, which is not an app directory name`);
  return { v: 2, apps: [...new Set(t.apps as string[])], reason: t.reason === "hot" ? "hot" : "sweep" };
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
async function readSections(deps: PipelineDeps, prepared: Prepared[], result: CompressResult): Promise<Map<string, Buffer | undefined>> {
  const byFile = new Map<string, ClaimedSection[]>();
  for (const p of prepared) for (const s of p.sections) (byFile.get(s.file) ?? byFile.set(s.file, []).get(s.file)!).push(s);
  const out = new Map<string, Buffer | undefined>();
  const limit = pLimit(NAS_CONCURRENCY);
  await Promise.all([...byFile].map(([file, sections]) => limit(async () => {
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
    const bufs = await deps.nas.readRanges(stagingPath(file), ranges);
    result.filesRead++;
    ranges.forEach((r, i) => {
      const b = bufs?.[i];
      for (const s of r.sections) out.set(s.ref, b && b.length >= s.off - r.pos + s.len ? b.subarray(s.off - r.pos, s.off - r.pos + s.len) : undefined);
    });
  })));
  return out;
}

export async function compressTask(deps: PipelineDeps, task: DrainTask, meta: { requestId?: string } = {}): Promise<CompressResult> {
  const started = performance.now();
  const result: CompressResult = { requested: task.apps.length, apps: 0, busy: 0, members: 0, sealed: 0, records: 0, sections: 0, filesRead: 0, filesDeleted: 0, bytesIn: 0, bytesOut: 0, errors: [], durationMs: 0 };
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
  const release = async (c: DrainClaim) => {
    if (!held.delete(c.app)) return;
    deps.onSlotEvent?.({ app: c.app, slot: c.slot, event: "release", at: performance.timeOrigin + performance.now() });
    await deps.coord.release(c.app, c.slot, token).catch((e) => deps.logger.warn({ err: (e as Error).message, app: c.app }, "lock release failed; it will expire"));
  };
  const failed = (c: DrainClaim, e: unknown) => {
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
    const sectionBytes = await readSections(deps, prepared, result);

    // 3. One member per app, appended at the committed length; apps' files are independent, so
    //    NAS_CONCURRENCY appends are in flight at once (each app's own steps stay in order).
    const commitOf: (DrainCommit | undefined)[] = [];
    /** apps whose slot is sealed right after the commit → their claim and the key's time */
    const sealAfter = new Map<string, { claim: DrainClaim; keyTime: number }>();
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
     * append (refs consumed without records go to consumedOnly).
     */
    const memberOf = async (p: Prepared) => {
      const refs: string[] = [];
      const built: Buffer[] = [];
      p.consumedOnly = [];
      let records = 0, stagedAt = 0;
      let parts: Buffer[] = [], from = 0, n = 0, minTs = 0, memberStaged = 0;
      const flush = () => {
        if (n > 0) built.push(buildMember(parts.length === 1 ? parts[0]! : Buffer.concat(parts), { n, r: refs.slice(from), t: minTs, s: memberStaged }, config.gzipLevel));
        records += n;
        parts = [], from = refs.length, n = 0, minTs = 0, memberStaged = 0;
      };
      for (const s of p.sections) {
        const x = await decode(p.claim.app, s);
        if (x === "skip") {
          p.consumedOnly.push(s.ref);
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
      return { member, members: built.length, refs, records, stagedAt };
    };
    const nasLimit = pLimit(NAS_CONCURRENCY);
    await Promise.all(prepared.map((p, i) => nasLimit(async () => {
      const { app, slot } = p.claim;
      try {
        let { member, members, refs, records, stagedAt } = await memberOf(p);
        let addLen = 0;
        if (member) {
          const check = async () => {
            await ensureLockTime(deps, app, slot, token, "append", lockDeadline);
            crashPoint("compress.before-write");
          };
          let w = await deps.nas.appendExact(activeFilePath(app, slot, p.state.gen), p.state.len, member, check, crashPointsEnabled() ? () => crashPoint("compress.mid-append") : undefined);
          if (!w.ok) {
            // the file is not the committed length: repair it (adopt complete members a crashed
            // writer or a forgetful Redis left, cut a torn tail, move past a generation already
            // sealed), then build the member again without what was adopted and append once more
            const again = await prepareSlot(deps, app, slot, token, p.state, lockDeadline);
            const adopted = new Set(again.adoptedRefs);
            p.state = again.state;
            p.sections = p.sections.filter((s) => !adopted.has(s.ref));
            ({ member, members, refs, records, stagedAt } = await memberOf(p));
            if (member) {
              w = await deps.nas.appendExact(activeFilePath(app, slot, p.state.gen), p.state.len, member, check);
              if (!w.ok) throw new RetryableError(`${activeFilePath(app, slot, p.state.gen)} is ${w.size} bytes, expected ${p.state.len}; the next drain repairs it`);
            }
          }
        }
        if (member) {
          crashPoint("compress.after-append");
          addLen = member.length;
          result.members += members;
          result.records += records;
          result.bytesOut += member.length;
        }
        result.sections += refs.length;
        const keyTime = sealAtDrain(config, { lenAfter: p.state.len + addLen, t0: p.state.t0, oldestStaged: stagedAt }, nowOf(deps));
        if (keyTime !== undefined) sealAfter.set(app, { claim: p.claim, keyTime });
        // a slot sealed right after the commit keeps its lock until the seal is done
        commitOf[i] = { app, slot, gen: p.state.gen, expectLen: p.state.len, addLen, refs: [...refs, ...p.consumedOnly], release: keyTime === undefined, startedAt: stagedAt };
      } catch (e) {
        failed(p.claim, e);
        await release(p.claim);
      }
    })));
    const commits = commitOf.filter((c): c is DrainCommit => c !== undefined);

    // 4. One commit for every app; the commit also gives each lock back.
    if (commits.length > 0) {
      for (const c of commits) {
        if (!c.release) continue;
        held.delete(c.app); // the commit releases it (or, if it fails, the lock has expired anyway)
        deps.onSlotEvent?.({ app: c.app, slot: c.slot, event: "release", at: performance.timeOrigin + performance.now() });
      }
      const results = await deps.coord.commitDrains(token, commits, nowOf(deps), deps.config.sealBytes);
      crashPoint("compress.after-commit");
      const gone = new Set<string>();
      for (const r of results) {
        if (r.ok) r.gone.forEach((g) => gone.add(g));
        else {
          result.errors.push(`${r.app}: commit refused (${r.reason}); the member stays uncommitted and the next holder adopts it`);
          deps.logger.warn({ app: r.app, reason: r.reason }, r.reason === "lost-lock" ? "slot lock lost before the commit: nothing committed by this writer" : "commit refused: the slot changed under this writer");
          held.delete(r.app);
          await deps.coord.release(r.app, commits.find((c) => c.app === r.app)!.slot, token).catch(() => {});
        }
      }
      await Promise.all([...gone].map((f) => nasLimit(() => deps.nas.remove(stagingPath(f)))));
      result.filesDeleted = gone.size;
      // 5. Small slots of the long tail are sealed now, under the lock the drain holds: one member
      //    per object and no lock, stat and seal of their own at the upload tick; all of them with
      //    two round trips (sealSlots). A crash here leaves a recorded seal the next holder (or
      //    the tick) finishes.
      const toSeal = results.flatMap((r) => {
        const seal = sealAfter.get(r.app);
        return r.ok && seal !== undefined && held.has(r.app) ? [{ app: r.app, slot: seal.claim.slot, state: r.state, keyTime: seal.keyTime }] : [];
      });
      // each seal gives its lock back (its last round trip does, or its failure path); a lock a
      // failed seal still holds is released with the others below
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
  } finally {
    for (const c of claims) if (held.has(c.app)) await release(c);
  }
  result.durationMs = performance.now() - started;
  if (result.errors.length > 0 && result.members === 0 && claims.length > 0 && result.errors.length >= claims.length) {
    // nothing of the task succeeded: let FC's async retry run it again (claims wait with their slots)
    throw new RetryableError(`drain failed for every app: ${result.errors.slice(0, 3).join("; ")}`);
  }
  if (result.errors.length > 0) deps.logger.warn({ errors: result.errors.length }, "some apps of the drain failed; the sweep retries them");
  return result;
}


/**
 * compress: one staging chunk → one gzip member appended to one of the app's slot files.
 *
 * Protocol (see DESIGN.md "Guarantees"): take a free slot lock (≤ maxWritersPerApp per app),
 * drop records whose offsets the app already committed, gzip, cut any torn tail back to the
 * committed length, write the member with one positional write + fsync, then commit with a
 * script that checks the lock is still ours, the state unchanged and the claimed offsets still
 * free. Only then is the chunk deleted. A crash anywhere leaves either nothing committed (the
 * chunk is redone) or the commit done (the redo finds every offset committed and drops it).
 */
import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { slotOrder } from "../adapters/coord-store.js";
import type { AcquiredSlot, SlotState } from "../adapters/coord-store.js";
import { CorruptChunkError, decodeChunk, selectLines, type DecodedChunk } from "./chunk.js";
import { crashPoint, crashPointsEnabled } from "./crash-points.js";
import { writeDeadLetter } from "./dead-letter.js";
import { MAX_COMMITTED_INTERVALS, nowOf, RetryableError, type ChunkPointer, type PipelineDeps } from "./deps.js";
import { contains, subtract, type Interval } from "./intervals.js";
import { activeFilePath } from "./layout.js";
import { isSafeSegment } from "./routing.js";
import { ensureLockTime, LockLostError, sealSlot } from "./seal.js";

export class NoFreeSlotError extends RetryableError {
  constructor(app: string, waitedMs: number) {
    super(`no free writer slot for app ${app} after ${waitedMs} ms; the async retry will take it`);
    this.name = "NoFreeSlotError";
  }
}

export class BadPointerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadPointerError";
  }
}

export interface CompressResult {
  status: "committed" | "duplicate" | "gone" | "dead-lettered";
  app?: string;
  slot?: number;
  records: number;
  dropped: number;
  bytesIn: number;
  bytesOut: number;
  attempts: number;
  durationMs: number;
}

const CHUNK_PATH = /^staging\/([A-Za-z0-9._-]{1,64})\/[A-Za-z0-9._-]+\.chunk$/;

/** Validates the async payload: a pointer to a chunk inside the staging directory, never data. */
export function parsePointer(event: unknown): ChunkPointer {
  let doc: unknown = event;
  if (Buffer.isBuffer(event) || typeof event === "string") {
    try {
      doc = JSON.parse(event.toString());
    } catch {
      throw new BadPointerError("compress payload is not JSON");
    }
  }
  const p = doc as Partial<ChunkPointer>;
  if (typeof p !== "object" || p === null || typeof p.chunk !== "string") throw new BadPointerError("compress payload has no chunk path");
  const m = CHUNK_PATH.exec(p.chunk);
  if (!m || p.chunk.includes("..") || !isSafeSegment(m[1]!)) throw new BadPointerError(`chunk path ${JSON.stringify(p.chunk.slice(0, 200))} is not a staging chunk`);
  return { v: 1, chunk: p.chunk, app: m[1]!, records: Number(p.records) || 0, bytes: Number(p.bytes) || 0 };
}

export function pointerForChunk(chunkPath: string, bytes = 0): ChunkPointer {
  const app = chunkPath.split("/")[1] ?? "";
  return { v: 1, chunk: chunkPath, app, records: 0, bytes };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes a free slot. `lockDeadline` (performance.now() ms) is when the lock expires at the
 * earliest: the request was sent before Redis set the TTL, so the lock lives at least until then.
 */
async function acquireSlot(deps: PipelineDeps, app: string, token: string, field: string): Promise<AcquiredSlot & { lockDeadline: number }> {
  const started = nowOf(deps);
  const order = slotOrder(deps.config.maxWritersPerApp);
  for (let attempt = 0; ; attempt++) {
    const requestedAt = performance.now();
    const got = await deps.coord.tryAcquireSlot(app, order, token, deps.config.lockTtlMs, field);
    if (got) {
      deps.onSlotEvent?.({ app, slot: got.slot, event: "acquire", at: performance.timeOrigin + performance.now() });
      return { ...got, lockDeadline: requestedAt + deps.config.lockTtlMs };
    }
    const waited = nowOf(deps) - started;
    if (waited >= deps.config.slotWaitMs) throw new NoFreeSlotError(app, waited);
    // exponential backoff with full jitter, capped, so contending writers spread out
    await sleep(Math.random() * Math.min(1000, 10 * 2 ** Math.min(attempt, 7)));
  }
}

/** Records to keep: not yet committed for the app, first copy within the chunk. */
function keptIndexes(chunk: DecodedChunk, committed: Interval[]): number[] {
  const keep: number[] = [];
  // split writes offsets in ascending order, so a duplicate within the chunk is the previous
  // offset repeated; only an unordered chunk needs the Set
  let seen: Set<number> | undefined;
  let prev = -1;
  for (let i = 0; i < chunk.offsets.length; i++) {
    const o = chunk.offsets[i]!;
    if (!seen && o <= prev) seen = new Set(keep.map((k) => chunk.offsets[k]!));
    prev = o;
    if (seen?.has(o) || (committed.length > 0 && contains(committed, o))) continue;
    seen?.add(o);
    keep.push(i);
  }
  return keep;
}

function compressKept(deps: PipelineDeps, chunk: DecodedChunk, keep: number[]): Buffer {
  const lines = keep.length === chunk.offsets.length ? chunk.body : selectLines(chunk, ((set) => (i: number) => set.has(i))(new Set(keep)));
  return gzipSync(lines, { level: deps.config.gzipLevel });
}

/** Cuts a torn tail, writes `member` at the committed length in one positional write, fsyncs. */
async function appendMember(deps: PipelineDeps, app: string, slot: number, token: string, lockDeadline: number, state: SlotState, member: Buffer): Promise<void> {
  // active/<app>/ is never pruned, so NasDir's cached mkdir answer holds
  const torn = await deps.nas.appendAt(
    activeFilePath(app, slot, state.gen),
    state.len,
    member,
    async (step) => {
      await ensureLockTime(deps, app, slot, token, step, lockDeadline);
      crashPoint(step === "truncate" ? "compress.before-truncate" : "compress.before-write");
    },
    crashPointsEnabled() ? () => crashPoint("compress.mid-append") : undefined,
  );
  if (torn > 0) deps.logger.warn({ app, slot, gen: state.gen, tornBytes: torn }, "repaired torn tail");
  crashPoint("compress.after-append");
}

export async function compressChunk(deps: PipelineDeps, pointer: ChunkPointer, meta: { requestId?: string } = {}): Promise<CompressResult> {
  const started = performance.now();
  const result: CompressResult = { status: "gone", app: pointer.app, records: 0, dropped: 0, bytesIn: 0, bytesOut: 0, attempts: 0, durationMs: 0 };
  const done = () => ((result.durationMs = performance.now() - started), result);

  const raw = await deps.nas.read(pointer.chunk);
  if (!raw) return done(); // already compressed and deleted by an earlier (duplicate) invocation
  result.bytesIn = raw.length;
  let chunk: DecodedChunk;
  try {
    chunk = decodeChunk(raw);
    if (chunk.header.app !== pointer.app) throw new CorruptChunkError(`chunk header app ${JSON.stringify(chunk.header.app)} does not match its path`);
  } catch (e) {
    if (!(e instanceof CorruptChunkError)) throw e;
    await writeDeadLetter(deps, { kind: "chunk", reason: e.message, payload: raw, details: { chunk: pointer.chunk }, requestId: meta.requestId });
    await deps.nas.remove(pointer.chunk);
    result.status = "dead-lettered";
    return done();
  }

  const { app, topic, partition, covered } = chunk.header;
  const field = `${topic}/${partition}`;
  // Compress before taking the lock, assuming no duplicates (the common case): the lock is then
  // held only for the write and the commit.
  let keep = keptIndexes(chunk, []);
  let member = keep.length > 0 ? compressKept(deps, chunk, keep) : Buffer.alloc(0);
  let memberFor: Interval[] = [];

  const token = randomUUID();
  const acquired = await acquireSlot(deps, app, token, field);
  const { slot } = acquired;
  result.slot = slot;
  let released = false;
  try {
    let state = acquired.state;
    // A seal left half-done, or a tainted generation (a frozen earlier holder may still write
    // into its file): finish / retire it first, so this writer gets a file of its own.
    if (state.sealing || state.tainted) state = (await sealSlot(deps, app, slot, token, state)).state;
    let committed = acquired.committed;
    for (;;) {
      result.attempts++;
      if (result.attempts > 20) throw new RetryableError(`offsets of ${field} kept changing under app ${app}; giving up this attempt`);
      if (committed.length > 0 && committed !== memberFor) {
        const k = keptIndexes(chunk, committed);
        if (k.length !== keep.length) {
          keep = k;
          member = keep.length > 0 ? compressKept(deps, chunk, keep) : Buffer.alloc(0);
        }
        memberFor = committed;
      }
      const claim = subtract(covered, committed);
      if (claim.length === 0 && keep.length === 0) {
        result.status = "duplicate";
        break;
      }
      if (member.length > 0) await appendMember(deps, app, slot, token, acquired.lockDeadline, state, member);
      // The commit gives the lock back when it succeeds, and nothing is written to the slot after
      // it is sent, so a tracer hears "release" now, before another writer can get the slot.
      deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
      const r = await deps.coord.commit(app, slot, token, {
        gen: state.gen, expectLen: state.len, addLen: member.length, now: nowOf(deps),
        offsetsField: field, claim, maxIntervals: MAX_COMMITTED_INTERVALS, release: true,
      });
      if (r.ok) {
        released = true;
        state = r.state;
        result.status = keep.length > 0 ? "committed" : "duplicate";
        result.records = keep.length;
        result.bytesOut = member.length;
        break;
      }
      deps.onSlotEvent?.({ app, slot, event: "acquire", at: performance.timeOrigin + performance.now() }); // not committed: still ours
      if (r.reason === "conflict") {
        committed = r.committed; // another slot committed some of these offsets meanwhile: drop them and redo
        continue;
      }
      throw new LockLostError("commit");
    }
    crashPoint("compress.after-commit");
    result.dropped = chunk.offsets.length - result.records;
    await deps.nas.remove(pointer.chunk);
  } finally {
    if (!released) {
      deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
      await deps.coord.release(app, slot, token).catch((e) => deps.logger.warn({ err: (e as Error).message, app, slot }, "lock release failed; it will expire"));
    }
  }
  return done();
}

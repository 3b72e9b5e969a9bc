/**
 * upload (timer): seal active files that are big or old enough, ship the outbox (sealed files,
 * dead letters) to the object store under their deterministic keys, verify, delete locally.
 * It is also the reconciler: staging chunks that no compress finished are re-driven (grouped, as
 * split sends them), and temp files and orphaned active files left by crashed writers are removed.
 * One uploader runs at a time (a lease in the coord store).
 */
import { randomUUID } from "node:crypto";
import pLimit from "p-limit";
import { md5AndCrc64File } from "./crc64.js";
import { crashPoint } from "./crash-points.js";
import { invokeCompressAll, nowOf, type ChunkPointer, type PipelineDeps } from "./deps.js";
import { ACTIVE_DIR, checkpointPath, OUTBOX_DIR, parseActiveFileName, STAGING_DIR, TEMP_PREFIX, UPLOADS_DIR } from "./layout.js";
import { pointerForChunk } from "./compress.js";
import { LockLostError, sealSlot } from "./seal.js";

export interface UploadOptions {
  /** Seal every non-empty active file regardless of size/age (end of a local run, drain). */
  sealAll?: boolean;
  /** Re-drive chunks regardless of age (end of a local run). */
  redriveAll?: boolean;
  /** Skip the lease (the caller guarantees a single uploader). */
  skipLease?: boolean;
}

export interface UploadResult {
  skipped?: string;
  sealed: number;
  uploaded: number;
  uploadedBytes: number;
  failed: number;
  redriven: number;
  orphansRemoved: number;
  errors: string[];
  durationMs: number;
}

const LEASE = "uploader";

export async function runUpload(deps: PipelineDeps, opts: UploadOptions = {}): Promise<UploadResult> {
  const started = performance.now();
  const result: UploadResult = { sealed: 0, uploaded: 0, uploadedBytes: 0, failed: 0, redriven: 0, orphansRemoved: 0, errors: [], durationMs: 0 };
  const token = randomUUID();
  const leaseMs = deps.config.lockTtlMs;
  if (!opts.skipLease && !(await deps.coord.acquireLease(LEASE, token, leaseMs))) {
    result.skipped = "another uploader holds the lease";
    result.durationMs = performance.now() - started;
    return result;
  }
  try {
    await sealDue(deps, opts, result);
    await reconcileStaging(deps, opts, result);
    await uploadOutbox(deps, result);
  } finally {
    if (!opts.skipLease) await deps.coord.releaseLease(LEASE, token).catch(() => {});
  }
  result.durationMs = performance.now() - started;
  return result;
}

async function sealDue(deps: PipelineDeps, opts: UploadOptions, result: UploadResult): Promise<void> {
  const now = nowOf(deps);
  const files = (await deps.nas.walk(ACTIVE_DIR)).filter((f) => !f.rel.split("/").pop()!.startsWith(TEMP_PREFIX));
  const limit = pLimit(8);
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const [, app, name] = f.rel.split("/");
        const parsed = name ? parseActiveFileName(name) : undefined;
        if (!app || !parsed) return;
        const { slot, gen } = parsed;
        const state = await deps.coord.readSlotState(app, slot);
        if (gen < state.gen) {
          // Written by a writer that lost its lock after the seal: never committed. Remove once no live lock can own it.
          if (now - f.mtimeMs > deps.config.lockTtlMs) {
            await deps.nas.remove(f.rel);
            result.orphansRemoved++;
          }
          return;
        }
        if (gen > state.gen) {
          result.errors.push(`${f.rel}: generation ahead of the coordination state (was Redis reset?); left in place`);
          return;
        }
        // A tail past the committed length that nobody has touched for a lock TTL was left by a
        // writer that died before its commit: cut it (seal) even if no record ever gets committed
        // to this slot again, or it would stay on NAS for ever.
        const torn = f.size > state.len && now - f.mtimeMs > deps.config.lockTtlMs;
        const due = state.sealing !== undefined || torn ||
          (state.len > 0 && (opts.sealAll || state.len >= deps.config.sealBytes || now - state.t0 >= deps.config.sealAgeMs));
        if (!due) return;
        const token = randomUUID();
        const deadline = Date.now() + Math.min(deps.config.slotWaitMs, 5000);
        for (;;) {
          const got = await deps.coord.tryAcquireSlot(app, [slot], token, deps.config.lockTtlMs, "");
          if (got) {
            deps.onSlotEvent?.({ app, slot, event: "acquire", at: performance.timeOrigin + performance.now() });
            try {
              // Holding the lock now: bytes past the committed length belong to no live writer.
              const size = (await deps.nas.size(f.rel)) ?? 0;
              if (got.state.gen === gen && (got.state.len > 0 || got.state.sealing || size > got.state.len)) {
                const r = await sealSlot(deps, app, slot, token, got.state);
                if (r.key) result.sealed++;
              }
            } catch (e) {
              if (!(e instanceof LockLostError)) throw e;
              result.errors.push(`${f.rel}: ${(e as Error).message}`);
            } finally {
              deps.onSlotEvent?.({ app, slot, event: "release", at: performance.timeOrigin + performance.now() });
              await deps.coord.release(app, slot, token).catch(() => {});
            }
            return;
          }
          if (Date.now() > deadline) return; // a writer is busy on it; next tick
          await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
        }
      }),
    ),
  );
}

async function reconcileStaging(deps: PipelineDeps, opts: UploadOptions, result: UploadResult): Promise<void> {
  const now = nowOf(deps);
  const old = (mtimeMs: number) => now - mtimeMs >= deps.config.redriveAgeMs;
  const redrive: ChunkPointer[] = [];
  for (const dir of [STAGING_DIR, UPLOADS_DIR]) {
    for (const f of await deps.nas.walk(dir)) {
      const name = f.rel.split("/").pop()!;
      if (name.startsWith(TEMP_PREFIX)) {
        if (old(f.mtimeMs)) {
          await deps.nas.remove(f.rel); // a writer died between write and rename; its retry rewrote the real name
          result.orphansRemoved++;
        }
        continue;
      }
      if (dir === STAGING_DIR && name.endsWith(".chunk") && (opts.redriveAll || old(f.mtimeMs))) redrive.push(pointerForChunk(f.rel, f.size));
    }
  }
  if (redrive.length === 0) return;
  if (!deps.invoker) throw new Error("upload needs a compress invoker to re-drive staging chunks");
  await invokeCompressAll(deps.invoker, redrive);
  result.redriven += redrive.length;
}

async function uploadOutbox(deps: PipelineDeps, result: UploadResult): Promise<void> {
  const objects = deps.objects;
  if (!objects) throw new Error("upload needs an object store");
  const files = [];
  const now = nowOf(deps);
  for (const f of await deps.nas.walk(OUTBOX_DIR)) {
    if (!f.rel.split("/").pop()!.startsWith(TEMP_PREFIX)) files.push(f);
    else if (now - f.mtimeMs >= deps.config.redriveAgeMs) {
      await deps.nas.remove(f.rel); // a seal or dead letter died between write and rename; its redo rewrote the real name
      result.orphansRemoved++;
    }
  }
  const limit = pLimit(deps.config.uploadConcurrency);
  if (files.length > 0) await deps.nas.ensureDir(UPLOADS_DIR); // multipart checkpoints live here
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const key = f.rel.slice(OUTBOX_DIR.length + 1);
        const abs = deps.nas.abs(f.rel);
        try {
          const expected = await md5AndCrc64File(abs);
          crashPoint("upload.mid-upload");
          await objects.putFile(key, abs, expected, {
            multipartThreshold: deps.config.multipartThreshold,
            checkpointPath: deps.nas.abs(checkpointPath(key)),
          });
          crashPoint("upload.after-upload");
          await deps.nas.remove(f.rel); // only after the store confirmed MD5 and CRC64
          result.uploaded++;
          result.uploadedBytes += expected.size;
          deps.logger.info({ key, bytes: expected.size }, "uploaded");
        } catch (e) {
          result.failed++;
          result.errors.push(`${key}: ${(e as Error).message}`);
          deps.logger.error({ key, err: (e as Error).message }, "upload failed; local file kept for the next run");
        }
      }),
    ),
  );
  await deps.nas.pruneEmptyDirs(OUTBOX_DIR);
}

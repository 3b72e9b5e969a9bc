/** Builds PipelineDeps for tests that drive the core functions directly against real peers. */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AsyncInvokeEmulator } from "../../functions/adapters/async-invoke-emulator.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { OssObjectStore } from "../../functions/adapters/oss-store.js";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { compressTask } from "../../functions/core/compress.js";
import { loadConfig } from "../../functions/core/config.js";
import type { PipelineDeps } from "../../functions/core/deps.js";
import { silentLogger } from "../../functions/core/logger.js";
import { runUpload, type UploadResult } from "../../functions/core/upload.js";
import { localEnv } from "../../cli/local/run.js";

export function testOssStore(): OssObjectStore {
  return new OssObjectStore({
    endpoint: process.env.LOGPIPE_TEST_OSS_ENDPOINT!,
    bucket: process.env.LOGPIPE_TEST_OSS_BUCKET!,
    accessKeyId: process.env.LOGPIPE_TEST_OSS_AK!,
    accessKeySecret: process.env.LOGPIPE_TEST_OSS_SK!,
    secure: false,
  });
}

export interface TestPipeline {
  deps: PipelineDeps;
  emulator: AsyncInvokeEmulator;
  dir: string;
  prefix: string;
  close(): Promise<void>;
}

/** Split → (queued) compress drains → upload deps on a temp NAS dir, private Redis namespace, and a unique OSS prefix. */
export function testPipeline(opts: { env?: Record<string, string>; objects?: ObjectStore; concurrency?: number } = {}): TestPipeline {
  const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-test-"));
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const env = localEnv(dir, process.env.LOGPIPE_TEST_REDIS_URL, { LOGPIPE_OSS_PREFIX: prefix, ...opts.env });
  const config = loadConfig(env);
  const coord = new RedisCoordStore({ url: config.redisUrl!, keyPrefix: prefix });
  const deps: PipelineDeps = {
    config,
    nas: new NasDir(config.nasRoot, config.fsync),
    coord,
    objects: opts.objects ?? new LocalObjectStore(path.join(dir, "objects")),
    logger: silentLogger,
    appCache: new Map(),
  };
  const emulator = new AsyncInvokeEmulator((t) => compressTask(deps, t), { concurrency: opts.concurrency ?? 4, backoffMs: 20 });
  deps.invoker = emulator;
  return { deps, emulator, dir, prefix, close: () => coord.close() };
}

/**
 * What the end of a local run does: drain every app with anything pending (the sweep, whatever
 * its age), wait for those drains, then seal and ship everything. Returns both upload results.
 */
export async function flushPipeline(p: Pick<TestPipeline, "deps" | "emulator">): Promise<{ swept: UploadResult; shipped: UploadResult }> {
  // the sweep's drains run on the emulator even when the test recorded split's invocations instead
  const swept = await runUpload({ ...p.deps, invoker: p.emulator }, { sweepAll: true });
  await p.emulator.drain();
  const shipped = await runUpload(p.deps, { sealAll: true });
  return { swept, shipped };
}

/**
 * Delays every slot-file append of `nas` by `ms`, like a NAS write in FC. compress appends with
 * blocking calls, so on a local disk the lock windows of one process's invocations would seldom
 * overlap and a test could not show the writer cap being reached.
 */
export function withAppendLatency(nas: NasDir, ms: number): void {
  const appendExact = nas.appendExact.bind(nas);
  nas.appendExact = async (...args: Parameters<NasDir["appendExact"]>) => (await new Promise((r) => setTimeout(r, ms)), appendExact(...args));
}

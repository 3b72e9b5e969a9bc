/**
 * Worker thread running split, compress and upload for `logpipe local`, so the handlers use every
 * core and none waits behind the main thread's record generator (as separate FC instances
 * would not). Each worker builds its own deps (NAS directory, Redis coord store, the local object
 * store when the run uses one) from the same validated env. The compress invocations split and
 * upload's sweep ask for are returned to the main thread, which queues them in the async-invoke
 * emulator; so are upload's reconcile events, for the run's report.
 */
import { parentPort, workerData } from "node:worker_threads";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import { compressTask } from "../../functions/core/compress.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload, type UploadOptions } from "../../functions/core/upload.js";
import { loadConfig } from "../../functions/core/config.js";
import type { DrainTask, PipelineDeps, ReconcileEvent } from "../../functions/core/deps.js";
import { silentLogger } from "../../functions/core/logger.js";
import { threadCoreWaitMs } from "./thread-clock.js";

const { env, keyPrefix, traceSlots, objectsDir } = workerData as { env: Record<string, string>; keyPrefix?: string; traceSlots?: boolean; objectsDir?: string };
const config = loadConfig(env);
const coord = new RedisCoordStore({ url: config.redisUrl!, password: config.redisPassword, keyPrefix });
const slotEvents: { app: string; slot: number; event: "acquire" | "release"; at: number }[] = [];
const deps: PipelineDeps = {
  config,
  nas: new NasDir(config.nasRoot, config.fsync),
  coord,
  logger: silentLogger,
  appCache: new Map(),
  onSlotEvent: traceSlots ? (e) => slotEvents.push(e) : undefined,
};
const objects = objectsDir ? new LocalObjectStore(objectsDir) : undefined;

parentPort!.on("message", async (msg: { id: number; task?: DrainTask; event?: Uint8Array; requestId?: string; upload?: UploadOptions; close?: boolean }) => {
  if (msg.close) {
    await coord.close();
    parentPort!.postMessage({ id: msg.id, ok: true, slotEvents: slotEvents.splice(0) });
    return;
  }
  // this thread's wait for a core during the invocation (see thread-clock.ts): the invocation
  // made no progress meanwhile, whether or not another one shares the thread
  const wait0 = threadCoreWaitMs();
  const reply = (result: unknown) => {
    const wait1 = threadCoreWaitMs();
    parentPort!.postMessage({ id: msg.id, ok: true, result, coreWaitMs: wait0 !== undefined && wait1 !== undefined ? wait1 - wait0 : 0 });
  };
  try {
    if (msg.event) {
      const tasks: DrainTask[] = [];
      const event = Buffer.from(msg.event.buffer, msg.event.byteOffset, msg.event.byteLength);
      const result = await splitBatch({ ...deps, invoker: { invokeCompress: async (t) => void tasks.push(t) } }, event, { requestId: msg.requestId });
      reply({ result, tasks });
      return;
    }
    if (msg.upload) {
      if (!objects) throw new Error("this worker has no object store to upload to");
      const tasks: DrainTask[] = [];
      const reconcile: ReconcileEvent[] = [];
      const invoker = { invokeCompress: async (t: DrainTask) => void tasks.push(t) };
      const result = await runUpload({ ...deps, objects, invoker, onReconcile: (e) => reconcile.push(e) }, msg.upload);
      reply({ result, tasks, reconcile });
      return;
    }
    reply(await compressTask(deps, msg.task!));
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, ok: false, error: { name: (e as Error).name, message: (e as Error).message } });
  }
});

/**
 * Worker thread running split and compress for `logpipe local`, so the handlers use every core
 * (as separate FC instances would). Each worker builds its own deps (NAS directory, Redis coord
 * store) from the same validated env. split's compress invocations are returned to the main
 * thread, which queues them in the async-invoke emulator.
 */
import { parentPort, workerData } from "node:worker_threads";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { NasDir } from "../../functions/adapters/nas.js";
import { compressTask } from "../../functions/core/compress.js";
import { splitBatch } from "../../functions/core/split.js";
import { loadConfig } from "../../functions/core/config.js";
import type { DrainTask, PipelineDeps } from "../../functions/core/deps.js";
import { silentLogger } from "../../functions/core/logger.js";

const { env, keyPrefix, traceSlots } = workerData as { env: Record<string, string>; keyPrefix?: string; traceSlots?: boolean };
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

parentPort!.on("message", async (msg: { id: number; task?: DrainTask; event?: Uint8Array; requestId?: string; close?: boolean }) => {
  if (msg.close) {
    await coord.close();
    parentPort!.postMessage({ id: msg.id, ok: true, slotEvents: slotEvents.splice(0) });
    return;
  }
  try {
    if (msg.event) {
      const tasks: DrainTask[] = [];
      const event = Buffer.from(msg.event.buffer, msg.event.byteOffset, msg.event.byteLength);
      const result = await splitBatch({ ...deps, invoker: { invokeCompress: async (t) => void tasks.push(t) } }, event, { requestId: msg.requestId });
      parentPort!.postMessage({ id: msg.id, ok: true, result: { result, tasks } });
      return;
    }
    const result = await compressTask(deps, msg.task!);
    parentPort!.postMessage({ id: msg.id, ok: true, result });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, ok: false, error: { name: (e as Error).name, message: (e as Error).message } });
  }
});

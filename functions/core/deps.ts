/**
 * What the data-path functions need, injected (middy/Powertools style): the handlers build it
 * once per instance, tests and `logpipe local` build it from local stores.
 */
import pLimit from "p-limit";
import type { CoordStore } from "../adapters/coord-store.js";
import type { NasDir } from "../adapters/nas.js";
import type { ObjectStore } from "../adapters/object-store.js";
import type { PipelineConfig } from "./config.js";
import type { Logger } from "./logger.js";

/** Pointer payload split sends to compress (async invoke; a few hundred bytes, never data). */
export interface ChunkPointer {
  v: 1;
  /** NAS-relative path of the staging chunk */
  chunk: string;
  app: string;
  records: number;
  bytes: number;
}

export interface CompressInvoker {
  invokeCompress(pointer: ChunkPointer): Promise<void>;
  /**
   * Hands several chunks over at once. The FC invoker packs them into a few invocations (one
   * per ≤ MAX_POINTERS_PER_INVOCATION chunks): FC bills per invocation, and one batch can hold
   * chunks for hundreds of apps.
   */
  invokeCompressMany?(pointers: ChunkPointer[]): Promise<void>;
}

/** Hands chunks to compress the cheapest way the invoker offers (grouped when it can). */
export async function invokeCompressAll(invoker: CompressInvoker, pointers: ChunkPointer[]): Promise<void> {
  if (pointers.length === 0) return;
  if (invoker.invokeCompressMany) return invoker.invokeCompressMany(pointers);
  const limit = pLimit(16);
  await Promise.all(pointers.map((p) => limit(() => invoker.invokeCompress(p))));
}

/** Async payload of compress: one pointer (`ChunkPointer`) or a group of them. */
export interface CompressTask {
  v: 1;
  pointers: ChunkPointer[];
}

export const MAX_POINTERS_PER_INVOCATION = 64;

export interface PipelineDeps {
  config: PipelineConfig;
  nas: NasDir;
  coord: CoordStore;
  /** Needed by upload only. */
  objects?: ObjectStore;
  /** Needed by split and by upload's re-drive. */
  invoker?: CompressInvoker;
  logger: Logger;
  now?: () => number;
  /** Admission decisions cached per instance: an app once admitted (or overflowed) stays so. */
  appCache?: Map<string, boolean>;
  /** Test instrumentation: called when a slot lock is taken and released. */
  onSlotEvent?: (e: { app: string; slot: number; event: "acquire" | "release"; at: number }) => void;
}

export const nowOf = (deps: Pick<PipelineDeps, "now">): number => (deps.now ?? Date.now)();

/** Offsets kept per (app, topic, partition) before the oldest are aged out. */
export const MAX_COMMITTED_INTERVALS = 2000;

export class RetryableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RetryableError";
  }
}

/**
 * A pool of worker threads running split, compress and upload invocations. Each worker takes several
 * invocations at once (they wait on Redis and NAS between CPU bursts), and the pool sends each
 * new one to the least busy worker.
 */
import { Worker } from "node:worker_threads";
import type { CompressResult } from "../../functions/core/compress.js";
import type { DrainTask, ReconcileEvent } from "../../functions/core/deps.js";
import type { SplitResult } from "../../functions/core/split.js";
import type { UploadOptions, UploadResult } from "../../functions/core/upload.js";

export interface SlotEvent {
  app: string;
  slot: number;
  event: "acquire" | "release";
  at: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class HandlerWorkerPool {
  private readonly workers: { worker: Worker; busy: number; pending: Map<number, Pending>; dead?: Error }[] = [];
  private nextId = 1;

  /** `objectsDir`: the run's local object store, which the workers open to run upload (else they cannot). */
  constructor(opts: { workers: number; env: Record<string, string>; keyPrefix?: string; traceSlots?: boolean; objectsDir?: string }) {
    for (let i = 0; i < opts.workers; i++) {
      const worker = new Worker(new URL("./ts-worker.mjs", import.meta.url), {
        workerData: { entry: new URL("./handler-worker.ts", import.meta.url).href, env: opts.env, keyPrefix: opts.keyPrefix, traceSlots: opts.traceSlots, objectsDir: opts.objectsDir },
      });
      const entry: (typeof this.workers)[number] = { worker, busy: 0, pending: new Map<number, Pending>() };
      worker.on("message", (msg: { id: number; ok: boolean; result?: unknown; error?: { name: string; message: string }; slotEvents?: SlotEvent[] }) => {
        const p = entry.pending.get(msg.id);
        if (!p) return;
        entry.pending.delete(msg.id);
        entry.busy--;
        if (msg.ok) p.resolve(msg.slotEvents ?? msg.result);
        else p.reject(Object.assign(new Error(msg.error!.message), { name: msg.error!.name }));
      });
      const fail = (e: Error) => {
        entry.dead = e;
        for (const p of entry.pending.values()) p.reject(e);
        entry.pending.clear();
      };
      worker.on("error", fail);
      worker.on("exit", (code) => fail(new Error(`compress worker exited with code ${code}`)));
      this.workers.push(entry);
    }
  }

  private send(entry: (typeof this.workers)[number], msg: object): Promise<unknown> {
    if (entry.dead) return Promise.reject(entry.dead);
    const id = this.nextId++;
    entry.busy++;
    return new Promise((resolve, reject) => {
      entry.pending.set(id, { resolve, reject });
      entry.worker.postMessage({ id, ...msg });
    });
  }

  /** One split invocation; the drain tasks it asked for come back for the caller to invoke. */
  split(event: Buffer, requestId: string): Promise<{ result: SplitResult; tasks: DrainTask[] }> {
    return this.dispatch({ event, requestId }) as Promise<{ result: SplitResult; tasks: DrainTask[] }>;
  }

  run(task: DrainTask): Promise<CompressResult> {
    return this.dispatch({ task }) as Promise<CompressResult>;
  }

  /** One upload invocation; the drain tasks its sweep asked for and its reconcile events come back. */
  upload(opts: UploadOptions): Promise<{ result: UploadResult; tasks: DrainTask[]; reconcile: ReconcileEvent[] }> {
    return this.dispatch({ upload: opts }) as Promise<{ result: UploadResult; tasks: DrainTask[]; reconcile: ReconcileEvent[] }>;
  }

  /** Sends to the least busy live worker. */
  private dispatch(msg: object): Promise<unknown> {
    const live = this.workers.filter((w) => !w.dead);
    if (live.length === 0) return Promise.reject(this.workers[0]?.dead ?? new Error("no handler workers"));
    return this.send(live.reduce((a, b) => (b.busy < a.busy ? b : a)), msg);
  }

  /** Stops the workers; returns their slot lock trace when tracing was on. */
  async close(): Promise<SlotEvent[]> {
    const traces = await Promise.all(this.workers.map((w) => (this.send(w, { close: true }) as Promise<SlotEvent[]>).catch(() => [] as SlotEvent[])));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    return traces.flat();
  }
}

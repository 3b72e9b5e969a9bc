/**
 * A pool of worker threads running split, compress and upload invocations. Each worker runs up to
 * `perWorker` invocations at once (default 1, as an FC instance with instance concurrency 1: two
 * on one thread would each be billed the other's CPU time); the pool sends each new one to the
 * least busy worker and queues it while every worker is full. Each result comes with the time the
 * worker's thread waited for a core meanwhile (thread-clock.ts).
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

/** A result and the time the worker's thread waited for a core while producing it. */
export interface Timed<T> {
  value: T;
  coreWaitMs: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class HandlerWorkerPool {
  private readonly workers: { worker: Worker; busy: number; pending: Map<number, Pending>; dead?: Error }[] = [];
  private readonly queued: { msg: object; pending: Pending }[] = [];
  private readonly perWorker: number;
  private nextId = 1;

  /** `objectsDir`: the run's local object store, which the workers open to run upload (else they cannot). */
  constructor(opts: { workers: number; perWorker?: number; env: Record<string, string>; keyPrefix?: string; traceSlots?: boolean; objectsDir?: string }) {
    this.perWorker = Math.max(1, opts.perWorker ?? 1);
    for (let i = 0; i < opts.workers; i++) {
      const worker = new Worker(new URL("./ts-worker.mjs", import.meta.url), {
        workerData: { entry: new URL("./handler-worker.ts", import.meta.url).href, env: opts.env, keyPrefix: opts.keyPrefix, traceSlots: opts.traceSlots, objectsDir: opts.objectsDir },
      });
      const entry: (typeof this.workers)[number] = { worker, busy: 0, pending: new Map<number, Pending>() };
      worker.on("message", (msg: { id: number; ok: boolean; result?: unknown; coreWaitMs?: number; error?: { name: string; message: string }; slotEvents?: SlotEvent[] }) => {
        const p = entry.pending.get(msg.id);
        if (!p) return;
        entry.pending.delete(msg.id);
        entry.busy--;
        if (msg.ok) p.resolve(msg.slotEvents ?? { value: msg.result, coreWaitMs: msg.coreWaitMs ?? 0 });
        else p.reject(Object.assign(new Error(msg.error!.message), { name: msg.error!.name }));
        this.startQueued();
      });
      const fail = (e: Error) => {
        entry.dead = e;
        for (const p of entry.pending.values()) p.reject(e);
        entry.pending.clear();
        this.startQueued(); // another worker takes them, or they fail with this error
      };
      worker.on("error", fail);
      worker.on("exit", (code) => fail(new Error(`compress worker exited with code ${code}`)));
      this.workers.push(entry);
    }
  }

  private send(entry: (typeof this.workers)[number], msg: object): Promise<unknown> {
    return new Promise((resolve, reject) => this.post(entry, msg, { resolve, reject }));
  }

  private post(entry: (typeof this.workers)[number], msg: object, pending: Pending): void {
    if (entry.dead) return pending.reject(entry.dead);
    const id = this.nextId++;
    entry.busy++;
    entry.pending.set(id, pending);
    entry.worker.postMessage({ id, ...msg });
  }

  /** Hands queued invocations to workers with room, oldest first. */
  private startQueued(): void {
    while (this.queued.length > 0) {
      const live = this.workers.filter((w) => !w.dead);
      if (live.length === 0) {
        const e = this.workers[0]?.dead ?? new Error("no handler workers");
        for (const q of this.queued.splice(0)) q.pending.reject(e);
        return;
      }
      const least = live.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (least.busy >= this.perWorker) return;
      const q = this.queued.shift()!;
      this.post(least, q.msg, q.pending);
    }
  }

  /** Invocations waiting for a worker with room. */
  get queuedCount(): number {
    return this.queued.length;
  }

  /** One split invocation; the drain tasks it asked for come back for the caller to invoke. */
  split(event: Buffer, requestId: string): Promise<Timed<{ result: SplitResult; tasks: DrainTask[] }>> {
    return this.dispatch({ event, requestId }) as Promise<Timed<{ result: SplitResult; tasks: DrainTask[] }>>;
  }

  run(task: DrainTask): Promise<Timed<CompressResult>> {
    return this.dispatch({ task }) as Promise<Timed<CompressResult>>;
  }

  /** One upload invocation; the drain tasks its sweep asked for and its reconcile events come back. */
  upload(opts: UploadOptions): Promise<Timed<{ result: UploadResult; tasks: DrainTask[]; reconcile: ReconcileEvent[] }>> {
    return this.dispatch({ upload: opts }) as Promise<Timed<{ result: UploadResult; tasks: DrainTask[]; reconcile: ReconcileEvent[] }>>;
  }

  /** Queues the invocation; startQueued sends it to the least busy live worker with room. */
  private dispatch(msg: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queued.push({ msg, pending: { resolve, reject } });
      this.startQueued();
    });
  }

  /** Stops the workers; returns their slot lock trace when tracing was on. */
  async close(): Promise<SlotEvent[]> {
    const traces = await Promise.all(this.workers.map((w) => (this.send(w, { close: true }) as Promise<SlotEvent[]>).catch(() => [] as SlotEvent[])));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    return traces.flat();
  }
}

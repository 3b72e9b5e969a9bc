/**
 * In-process stand-in for FC's asynchronous invocation of compress: invocations are queued and
 * return at once (like FC's 202), run with bounded concurrency, and are retried with backoff as
 * FC's async config does. An invocation that fails every attempt is reported (its claimed
 * sections stay with their slots and pending sections in the coord store: the sweep drains them).
 */
import type { CompressInvoker, DrainTask } from "../core/deps.js";

export interface AsyncInvokeOptions {
  concurrency?: number;
  /** Attempts per invocation, including the first (FC's default async retry is 3 retries). */
  maxAttempts?: number;
  backoffMs?: number;
  onFailure?: (task: DrainTask, error: Error, attempts: number) => void;
}

export interface AsyncInvokeStats {
  invoked: number;
  succeeded: number;
  retried: number;
  failed: number;
}

export class AsyncInvokeEmulator implements CompressInvoker {
  readonly stats: AsyncInvokeStats = { invoked: 0, succeeded: 0, retried: 0, failed: 0 };
  private readonly queue: { task: DrainTask; attempt: number }[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(private readonly run: (task: DrainTask) => Promise<unknown>, private readonly opts: AsyncInvokeOptions = {}) {
    this.concurrency = opts.concurrency ?? 4;
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.backoffMs = opts.backoffMs ?? 200;
  }

  /** Invocations queued or running. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  async invokeCompress(task: DrainTask): Promise<void> {
    this.stats.invoked++;
    this.queue.push({ task, attempt: 1 });
    this.pump();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      this.run(job.task)
        .then(() => {
          this.stats.succeeded++;
        })
        .catch((e: Error) => {
          if (job.attempt < this.maxAttempts) {
            this.stats.retried++;
            this.running++; // the retry counts as pending until it is queued again
            const delay = this.backoffMs * 2 ** (job.attempt - 1) * (0.5 + Math.random());
            setTimeout(() => {
              this.running--;
              this.queue.push({ task: job.task, attempt: job.attempt + 1 });
              this.pump();
            }, delay);
          } else {
            this.stats.failed++;
            this.opts.onFailure?.(job.task, e, job.attempt);
          }
        })
        .finally(() => {
          this.running--;
          this.pump();
          if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /** Resolves once nothing is queued, running or waiting for a retry. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

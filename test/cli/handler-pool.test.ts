/**
 * The worker pool of `logpipe local`: one invocation per worker at a time (FC's instance
 * concurrency 1), the rest queued in order, and each result with its thread's wait for a core.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { HandlerWorkerPool } from "../../cli/local/handler-pool.js";
import { localEnv } from "../../cli/local/run.js";
import { threadCoreWaitMs } from "../../cli/local/thread-clock.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("handler worker pool", () => {
  it("runs one invocation per worker, queues the rest in order, and times each one's wait for a core", async () => {
    // Arrange: one worker; drains of apps with nothing pending finish at once
    const pool = new HandlerWorkerPool({ workers: 1, env: localEnv(dir, process.env.LOGPIPE_TEST_REDIS_URL), keyPrefix: `pool-${randomUUID()}` });
    try {
      // Act
      const runs = ["a", "b", "c"].map((app) => pool.run({ v: 2, apps: [app], reason: "sweep" }));
      const queuedAtOnce = pool.queuedCount;
      const results = await Promise.all(runs);

      // Assert
      expect(queuedAtOnce).toBe(2);
      expect(pool.queuedCount).toBe(0);
      expect(results.map((r) => r.value.requested)).toEqual([1, 1, 1]);
      for (const r of results) expect(r.coreWaitMs).toBeGreaterThanOrEqual(0);
    } finally {
      await pool.close();
    }
  });

  it("reads this thread's wait for a core from the kernel on Linux, and it never goes back", () => {
    const first = threadCoreWaitMs();
    if (process.platform !== "linux") return expect(first).toBeUndefined();
    expect(first).toBeGreaterThanOrEqual(0);
    expect(threadCoreWaitMs()!).toBeGreaterThanOrEqual(first!);
  });
});

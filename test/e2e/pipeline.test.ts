/**
 * The data path end to end on real peers: redis-server, compress on worker threads, the OSS
 * test server through ali-oss. Every record must be archived exactly once, under its app.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { maxConcurrency, runLocal } from "../../cli/local/run.js";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { splitBatch } from "../../functions/core/split.js";
import { ExpectedRecords, verifyArchive } from "../../cli/local/verify.js";
import type { SlotEvent } from "../../cli/local/handler-pool.js";
import { flushPipeline, testPipeline, withAppendLatency } from "../support/deps.js";
import { AsyncInvokeEmulator } from "../../functions/adapters/async-invoke-emulator.js";
import { compressTask, type CompressResult } from "../../functions/core/compress.js";
import { syntheticSource } from "../../cli/sources/synthetic.js";
import { testOssStore } from "../support/deps.js";

describe("pipeline end to end", () => {
  it("archives 200k records over 50 Zipf-skewed apps exactly once into OSS, never exceeding maxWritersPerApp", async () => {
    // Arrange: 2 worker threads × 2 invocations each = 4 concurrent compress writers; a writer
    // limit of 3 per app so the hot apps contend for slots.
    const objects = testOssStore();
    const prefix = `e2e${randomUUID().slice(0, 8)}`;
    const outDir = mkdtempSync(path.join(os.tmpdir(), "logpipe-e2e-"));
    const stages: string[] = [];

    // Act
    const report = await runLocal({
      onProgress: (p) => void (stages.at(-1) !== p.stage && stages.push(p.stage)),
      source: syntheticSource({ records: 200_000, apps: 50, seed: 7 }),
      outDir,
      objects,
      redisUrl: process.env.LOGPIPE_TEST_REDIS_URL,
      keyPrefix: prefix,
      // hot apps drained every 1 MB pending (~150 KB members, not one 8 MB drain): the hot app's
      // many drains contend for its 3 slots and cross the 256 KB seal size with upload ticks
      // between, so it ends in several slot generations however loaded the machine is
      env: { LOGPIPE_OSS_PREFIX: prefix, LOGPIPE_MAX_WRITERS_PER_APP: "3", LOGPIPE_SEAL_BYTES: "256KB", LOGPIPE_DRAIN_BYTES: "1MB" },
      trigger: { batchRecords: 2000, maximumTasks: 2 },
      compressWorkers: 2,
      compressPerWorker: 2,
      uploadIntervalMs: 500,
      traceSlots: true,
    });

    // Assert
    const v = report.verify!;
    expect(v.expected).toBe(200_000);
    expect(v.archived).toBe(200_000);
    expect(v.lost).toBe(0);
    expect(v.duplicated).toBe(0);
    expect(v.misrouted).toBe(0);
    expect(v.apps.length).toBe(50);
    expect(report.leftOnNas).toBe(0);
    expect(report.maxConcurrentWritersPerApp).toBeLessThanOrEqual(3);
    // drains appended members and no repair along the way could have duplicated anything
    expect(report.drains.members).toBeGreaterThanOrEqual(50);
    expect(report.reconcile.filter((e) => e.possibleDuplicates > 0)).toEqual([]);
    // sealing by size produced several objects for the hot app, one per slot generation
    expect(v.apps[0]!.objects).toBeGreaterThan(1);
    // the figures split at the final flush add up to the run's; the flush ran its sweep and its seal
    const { ingest, flush } = report.phases;
    expect(ingest.handlerSecondsPerGb + flush.handlerSecondsPerGb).toBeCloseTo(report.handlerSecondsPerGb, 6);
    expect(ingest.invocations.split).toBe(report.invocations.split);
    // the flush is one round (its first upload call seals and sweeps, the second ships): no timer
    // tick beside it holds the upload lease and turns its calls away
    expect(flush.invocations.upload).toBe(2);
    expect(ingest.invocations.compress + flush.invocations.compress).toBe(report.invocations.compress);
    // progress only moves forward, each stage once (the bar never falls back to "ingest" while draining)
    expect(stages).toEqual(["ingest", "drain", "verify", "done"]);
    expect(report.ok).toBe(true);
  });

  it("makes the final flush in one round of two upload calls, however often the upload timer ticks", async () => {
    // Arrange: a timer tick every 10 ms, which before the flush stopped it held the upload lease
    // beside the flush's calls and turned them away (rounds of 100 ms waits, ticks billed to it)
    const outDir = mkdtempSync(path.join(os.tmpdir(), "logpipe-e2e-flush-"));

    // Act
    const report = await runLocal({
      source: syntheticSource({ records: 20_000, apps: 300, seed: 3 }),
      outDir,
      redisUrl: process.env.LOGPIPE_TEST_REDIS_URL,
      keyPrefix: `flush-${randomUUID()}`,
      compressWorkers: 2,
      uploadIntervalMs: 10,
    });

    // Assert
    expect(report.ok).toBe(true);
    expect(report.verify!.archived).toBe(20_000);
    expect(report.phases.flush.invocations.upload).toBe(2);
  });

  it("holds one hot app to maxWritersPerApp concurrent writers while 8 invocations contend for it", async () => {
    // Arrange: 48 batches of one app on 48 partitions; after each, a drain of the app is invoked
    // (as split does when the app is hot), 8 run at once, each taking at most ~2 batches' sections
    // so the others find work pending while both slots are held. Writer limit 2.
    const { deps, close } = testPipeline({ env: { LOGPIPE_MAX_WRITERS_PER_APP: "2", LOGPIPE_FSYNC: "true", LOGPIPE_DRAIN_MAX_BYTES: "300KB" } });
    const drains: CompressResult[] = [];
    const emulator = new AsyncInvokeEmulator(async (t) => drains.push(await compressTask(deps, t)), { concurrency: 8, backoffMs: 20 });
    deps.invoker = emulator;
    const events: SlotEvent[] = [];
    deps.onSlotEvent = (e) => events.push(e);
    withAppendLatency(deps.nas, 5);
    const expected = new ExpectedRecords();
    const batches = Array.from({ length: 48 }, (_, p) =>
      Array.from({ length: 500 }, (_, i) => {
        const value = Buffer.from(JSON.stringify({ appId: "hot", p, i, pad: "x".repeat(200) }));
        expected.add(value, "hot");
        return { topic: "t", partition: p, offset: i, timestamp: 0, key: null, headers: {}, value };
      }),
    );

    // Act
    for (const b of batches) {
      await splitBatch(deps, toCloudEventsBatch(b));
      await emulator.invokeCompress({ v: 2, apps: ["hot"], reason: "hot" });
    }
    await flushPipeline({ deps, emulator });

    // Assert: the cap was reached and never passed; every record went through exactly one drain
    const perApp = maxConcurrency(events);
    expect(perApp.get("hot")).toBe(2);
    expect(drains.length).toBeGreaterThanOrEqual(48);
    expect(drains.reduce((n, d) => n + d.records, 0)).toBe(48 * 500);
    expect(emulator.stats.failed).toBe(0);
    const v = await verifyArchive(deps.objects!, deps.config.prefix, expected);
    expect({ lost: v.lost, duplicated: v.duplicated, archived: v.archived }).toEqual({ lost: 0, duplicated: 0, archived: 48 * 500 });
    expect(v.apps[0]!.objects).toBeLessThanOrEqual(2); // few, large files: one per slot used
    await close();
  });
});

import { appendFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload } from "../../functions/core/upload.js";
import { objectStoreFrom } from "./support/objects.js";
import { recordsOf, type BatchDescriptor } from "./support/records.js";
import { describeResult, inProcessDeps, locksExpired, runScenario, Summary, waitStopped, type RunContext } from "./support/harness.js";

const redisUrl = process.env.LOGPIPE_FAULT_REDIS_URL!;
const summary = new Summary("redis faults");
afterAll(() => summary.flush());

describe("a writer frozen past its lock TTL", () => {
  // One slot per app, so the writer that takes over the lock writes the very file the frozen one was writing.
  const env = { LOGPIPE_MAX_WRITERS_PER_APP: "1", LOGPIPE_LOCK_TTL: "1500ms", LOGPIPE_FUNCTION_TIMEOUT: "1s", LOGPIPE_LOCK_MARGIN: "300ms", LOGPIPE_SLOT_WAIT: "5s" };
  // The long tail's path too: the app's records all go to its tail shard's region, so the frozen
  // writer holds the shard's claim, and the one that takes over finishes that claim through the
  // slot the app was placed in.
  const cases = [
    ...(["compress.after-claim", "compress.before-write", "compress.after-append"] as const).map((point) => ({ point, tail: false })),
    ...(["compress.tail-after-place", "compress.before-write", "compress.after-append"] as const).map((point) => ({ point, tail: true })),
  ];
  for (const { point, tail } of cases) {
    const what = tail ? `a tail shard's drain: SIGSTOP at ${point}, another writer takes the claim over and commits` : `SIGSTOP at ${point}, another writer commits`;
    test(`${what}, SIGCONT: the late bytes never end up committed`, async () => {
      const mine: BatchDescriptor = { id: "a", parts: [{ partition: 0, from: 0, to: 3000 }] };
      const other: BatchDescriptor = { id: "b", parts: [{ partition: 0, from: 3000, to: 6000 }] };
      let tookOver = false;
      let frozenHeldTailClaim = false;
      const r = await runScenario({
        name: `stale-${tail ? "tail-" : ""}${point}`, seed: tail ? 9 : 7, apps: 1, partitions: 1, perPartition: 3000, batches: [mine], extraExpected: [other],
        countLogs: { lockLost: /LockLostError|slot lock lost|commit refused/ },
        procs: 1, maxSpawns: 3, timeoutMs: 60_000, redisUrl, objects: { kind: "local", dir: "" }, compressConcurrency: 1,
        // a hot app's drain is invoked by split; a tail shard's by the frozen instance's upload tick
        env: tail ? { ...env, LOGPIPE_TAIL_SECTION_BYTES: "16MB", LOGPIPE_TAIL_SHARDS: "1" } : env, uploadIntervalMs: tail ? undefined : 0,
        spawnEnv: (n): Record<string, string> => (n === 0 ? { LOGPIPE_PAUSE_AT: point, FAULT_IDLE_EXIT_MS: "1500" } : {}),
        during: async (ctx) => {
          const pid = [...ctx.live.keys()][0]!;
          await waitStopped(pid);
          await locksExpired(redisUrl, ctx.keyPrefix); // the frozen writer's slot and tail shard locks, past their TTL
          const b = inProcessDeps(ctx.dir, ctx.env, redisUrl, ctx.keyPrefix, objectStoreFrom(ctx.objects), "writer-b");
          try {
            // the frozen writer's data is in the shard's claim (the tail path), or an app's section
            frozenHeldTailClaim = (await b.deps.coord.dueShards(Number.MAX_SAFE_INTEGER, 10)).includes(0);
            await splitBatch(b.deps, toCloudEventsBatch(recordsOf(ctx.seed, ctx.apps, other.parts)));
            if (tail) await runUpload(b.deps, { sweepAll: true, skipLease: true });
            await b.drainInvocations();
            tookOver = true;
          } finally {
            await b.close();
          }
          process.kill(pid, "SIGCONT");
        },
      });
      console.log(describeResult(r));
      summary.addResult(r);
      expect(tookOver).toBe(true);
      expect(frozenHeldTailClaim, "the frozen writer was draining a tail shard's claim (or an app's sections)").toBe(tail);
      expect(r.logCounts.lockLost, "the frozen writer's late attempt must be rejected").toBeGreaterThan(0);
      expect(r.verify.lost).toBe(0);
      expect(r.verify.duplicated).toBe(0);
      expect(r.leftOnNas).toEqual([]);
    });
  }

  test("SIGSTOP before cutting a torn tail, another writer commits, SIGCONT: the late cut is refused and cuts nothing committed", async () => {
    const pre: BatchDescriptor = { id: "pre", parts: [{ partition: 0, from: 0, to: 3000 }] };
    const mine: BatchDescriptor = { id: "a", parts: [{ partition: 0, from: 3000, to: 6000 }] };
    const other: BatchDescriptor = { id: "b", parts: [{ partition: 0, from: 6000, to: 9000 }] };
    const inProcess = async (ctx: RunContext, name: string, batch: BatchDescriptor) => {
      const w = inProcessDeps(ctx.dir, ctx.env, redisUrl, ctx.keyPrefix, objectStoreFrom(ctx.objects), name);
      try {
        await splitBatch(w.deps, toCloudEventsBatch(recordsOf(ctx.seed, ctx.apps, batch.parts)));
        await w.drainInvocations();
      } finally {
        await w.close();
      }
    };
    let tookOver = false;
    const r = await runScenario({
      name: "stale-before-truncate", seed: 8, apps: 1, partitions: 1, perPartition: 6000, batches: [mine], extraExpected: [pre, other],
      countLogs: { lockLost: /LockLostError|slot lock lost/ },
      procs: 1, maxSpawns: 3, timeoutMs: 60_000, env, redisUrl, objects: { kind: "local", dir: "" }, compressConcurrency: 1, uploadIntervalMs: 0,
      spawnEnv: (n): Record<string, string> => (n === 0 ? { LOGPIPE_PAUSE_AT: "repair.before-cut", FAULT_IDLE_EXIT_MS: "1500" } : {}),
      prepare: async (ctx) => {
        // a committed member, then a torn tail left by a writer that failed mid-write but released its lock
        await inProcess(ctx, "writer-pre", pre);
        appendFileSync(path.join(ctx.dir, "nas/active/app-00/slot-0.gen-0.log.gz"), Buffer.alloc(40_000, 0x5a));
      },
      during: async (ctx) => {
        const pid = [...ctx.live.keys()][0]!;
        await waitStopped(pid);
        await locksExpired(redisUrl, ctx.keyPrefix);
        await inProcess(ctx, "writer-b", other);
        tookOver = true;
        process.kill(pid, "SIGCONT");
      },
    });
    console.log(describeResult(r));
    summary.addResult(r);
    expect(tookOver).toBe(true);
    expect(r.logCounts.lockLost).toBeGreaterThan(0);
    expect(r.verify.lost).toBe(0);
    expect(r.verify.duplicated).toBe(0);
    expect(r.leftOnNas).toEqual([]);
  });
});

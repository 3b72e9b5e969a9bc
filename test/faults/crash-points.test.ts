/**
 * kill -9 at every crash point: multi-process pipelines (split, compress and upload instances
 * sharing NAS, Redis and the object store) where an instance SIGKILLs itself at a named point,
 * is replaced, and its claimed work is retried, until everything drains. Then: every record
 * archived exactly once, every object a valid gzip stream (torn tails never shipped), and
 * nothing left on NAS after the reconciler ran.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CRASH_POINTS } from "../../functions/core/crash-points.js";
import { startOssServer, type OssTestServer } from "../support/oss-server.js";
import { describeResult, runScenario, Summary, type Scenario } from "./support/harness.js";
import type { ObjectsSpec } from "./support/objects.js";

const redisUrl = process.env.LOGPIPE_FAULT_REDIS_URL!;
const summary = new Summary("crash points");
let oss: OssTestServer;
beforeAll(async () => {
  oss = await startOssServer({ bucket: "logpipe-faults" });
});
afterAll(async () => {
  summary.flush();
  await oss?.stop();
});

const ossSpec = (): ObjectsSpec => ({ kind: "oss", endpoint: oss.endpoint, bucket: oss.bucket, accessKeyId: oss.accessKeyId, accessKeySecret: oss.accessKeySecret });

// The points the issue names; every one must actually be hit (a scenario that never reaches its point proves nothing).
const NAMED = [
  "split.mid-write", "split.after-write", "split.after-register",
  "compress.after-claim", "compress.mid-append", "compress.after-append", "compress.after-commit",
  "seal.after-record", "seal.after-rename", "upload.mid-upload", "upload.after-upload", "upload.mid-multipart",
] as const;
const KILLS_PER_POINT = 3;

function check(r: Awaited<ReturnType<typeof runScenario>>) {
  console.log(describeResult(r));
  summary.addResult(r);
  expect(r.verify.lost, "lost records").toBe(0);
  expect(r.verify.duplicated, "duplicated records").toBe(0);
  expect(r.verify.misrouted).toBe(0);
  expect(r.leftOnNas, "orphans left on NAS after the reconciler").toEqual([]);
}

describe("kill -9 at a named crash point", () => {
  test("every named point exists in the hook", () => {
    for (const p of NAMED) expect(CRASH_POINTS).toContain(p);
  });

  NAMED.forEach((point, i) => {
    test(point, async () => {
      const upload = point.startsWith("upload.");
      const scenario: Scenario = {
        name: `kill-${point}`, seed: 100 + i, partitions: 4, perPartition: 20_000, batchRecords: 1000,
        procs: 2, maxSpawns: 12, redisUrl,
        objects: upload ? ossSpec() : { kind: "local", dir: "" },
        // upload points: let files grow past the multipart threshold (3 parts of 100 KB) before they are sealed
        // (the other upload points: small seals, so instances upload often while they run)
        env: point === "upload.mid-multipart" ? { LOGPIPE_SEAL_AGE: "20s", LOGPIPE_SEAL_BYTES: "320KB", LOGPIPE_MULTIPART_THRESHOLD: "200KB" }
          : upload ? { LOGPIPE_SEAL_AGE: "1s", LOGPIPE_SEAL_BYTES: "64KB" } : undefined,
        // each replacement dies at the 1st, 2nd, 3rd… time it reaches the point, until enough kills
        crashAt: (n, crashes) => (crashes < KILLS_PER_POINT ? `${point}:${1 + (n % 3)}` : undefined),
      };
      const r = await runScenario(scenario);
      check(r);
      expect(r.crashPoints[point] ?? 0, `instances killed at ${point}`).toBeGreaterThanOrEqual(1);
      if (point === "compress.mid-append") expect(r.tornTails, "torn tails cut").toBeGreaterThan(0);
    });
  });
});

// The long tail's path: every section goes to its tail shard's region (LOGPIPE_TAIL_SECTION_BYTES
// above any section), so every drain is a tail shard's task: claim, place, append, commit, end.
const TAIL_POINTS = ["compress.after-claim", "compress.tail-after-place", "compress.mid-append", "compress.after-append", "compress.after-commit", "seal.after-record"] as const;
describe("kill -9 at a point of a tail shard's drain", () => {
  TAIL_POINTS.forEach((point, i) => {
    test(point, async () => {
      const r = await runScenario({
        name: `kill-tail-${point}`, seed: 300 + i, apps: 40, partitions: 4, perPartition: 10_000, batchRecords: 500,
        procs: 2, maxSpawns: 12, redisUrl, objects: { kind: "local", dir: "" },
        // seal.after-record: small slots sealed at the seal age, some right at their tail drain
        env: { LOGPIPE_TAIL_SECTION_BYTES: "1MB", LOGPIPE_TAIL_SHARDS: "3", ...(point === "seal.after-record" ? { LOGPIPE_SEAL_MAX_AGE: "1s" } : {}) },
        crashAt: (n, crashes) => (crashes < KILLS_PER_POINT ? `${point}:${1 + (n % 3)}` : undefined),
      });
      check(r);
      expect(r.crashPoints[point] ?? 0, `instances killed at ${point}`).toBeGreaterThanOrEqual(1);
      if (point === "compress.mid-append") expect(r.tornTails, "torn tails cut").toBeGreaterThan(0);
    });
  });
});

describe("kill -9 on seeded random schedules over every point", () => {
  for (const seed of [11, 12, 13]) {
    test(`schedule ${seed}`, async () => {
      const r = await runScenario({
        name: `random-${seed}`, seed, partitions: 4, perPartition: 20_000, batchRecords: 1000,
        procs: 2, maxSpawns: 16, redisUrl, objects: ossSpec(),
        // v2 passes each point far fewer times than v1 (one staging file per batch, one drain per app): 1 % per hit
        crashAt: (n, crashes) => (crashes < 8 ? `random:0.01:${seed * 1000 + n}` : undefined),
      });
      check(r);
      expect(r.crashes).toBeGreaterThanOrEqual(3);
    });
  }
});

/**
 * Soak: kill -9 on random schedules drawn from new seeds (settings.ts), over three shapes of run.
 * The same promise as test/faults/crash-points.test.ts: every record archived exactly once, none
 * misrouted, nothing left on NAS.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startOssServer, type OssTestServer } from "../../support/oss-server.js";
import { describeResult, runScenario, Summary } from "../support/harness.js";
import { soakSettings, soakShape } from "./settings.js";

const redisUrl = process.env.LOGPIPE_FAULT_REDIS_URL!;
const { seeds, killChance } = soakSettings();
const summary = new Summary("soak: kill schedules");
let oss: OssTestServer;
beforeAll(async () => {
  oss = await startOssServer({ bucket: "logpipe-soak" });
});
afterAll(async () => {
  summary.flush();
  await oss?.stop();
});

describe(`kill -9 at each crash point with chance ${killChance}`, () => {
  for (const seed of seeds) {
    const shape = soakShape(seed);
    test(`seed ${seed} (${shape.label})`, async () => {
      const r = await runScenario({
        name: `soak-kill-${seed}`, seed, apps: shape.apps, partitions: 4, perPartition: 10_000, batchRecords: 500,
        procs: 2, maxSpawns: 20, redisUrl, env: shape.env,
        objects: shape.oss ? { kind: "oss", endpoint: oss.endpoint, bucket: oss.bucket, accessKeyId: oss.accessKeyId, accessKeySecret: oss.accessKeySecret } : { kind: "local", dir: "" },
        crashAt: (n, crashes) => (crashes < 12 ? `random:${killChance}:${seed * 1000 + n}` : undefined),
      });
      console.log(`${describeResult(r)} reconcile kinds ${JSON.stringify(r.reconcile.kinds)}`);
      summary.addResult(r);
      expect(r.verify.lost, "lost records").toBe(0);
      expect(r.verify.duplicated, "duplicated records").toBe(0);
      expect(r.verify.misrouted).toBe(0);
      expect(r.leftOnNas, "files left on NAS").toEqual([]);
    });
  }
});

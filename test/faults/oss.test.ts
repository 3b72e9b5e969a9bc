/**
 * OSS faults through the OSS-compatible test server (signatures, Content-MD5, CRC64): 500/503,
 * responses slower than the client timeout, connection resets, BadDigest, a wrong CRC64 in the
 * response, and multipart uploads interrupted then resumed. The uploader must retry what is
 * transient, never delete the local sealed file before the store confirmed MD5 and CRC64, and
 * end with every record archived exactly once.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { verifyArchive } from "../../cli/local/verify.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload, type UploadResult } from "../../functions/core/upload.js";
import { startOssServer, type FaultSpec, type OssTestServer } from "../support/oss-server.js";
import { expectedOf, inProcessDeps, scenarioEnv, Summary } from "./support/harness.js";
import { objectStoreFrom } from "./support/objects.js";
import { plainBatches, recordsOf } from "./support/records.js";

const redisUrl = process.env.LOGPIPE_FAULT_REDIS_URL!;
const summary = new Summary("oss faults");
let oss: OssTestServer;
beforeAll(async () => {
  oss = await startOssServer({ bucket: "logpipe-oss-faults" });
});
afterAll(async () => {
  summary.flush();
  await oss?.stop();
});

interface Case {
  name: string;
  multipart: boolean;
  faults: FaultSpec[];
  /** The first upload run succeeds anyway (the store client retried). */
  retried: boolean;
}

const CASES: Case[] = [
  { name: "PutObject 500 ×2 (retried)", multipart: false, faults: [{ op: "PutObject", kind: "status", status: 500, times: 2 }], retried: true },
  { name: "PutObject 503 on every attempt (run fails, next run uploads)", multipart: false, faults: [{ op: "PutObject", kind: "status", status: 503, times: 8 }], retried: false },
  { name: "PutObject slower than the client timeout (retried)", multipart: false, faults: [{ op: "PutObject", kind: "delay", delayMs: 2500, times: 1 }], retried: true },
  { name: "PutObject connection reset ×2 (retried)", multipart: false, faults: [{ op: "PutObject", kind: "reset", times: 2 }], retried: true },
  { name: "PutObject BadDigest (not retried; next run uploads)", multipart: false, faults: [{ op: "PutObject", kind: "badDigest", times: 1 }], retried: false },
  { name: "PutObject wrong CRC64 in the response (file kept; next run uploads)", multipart: false, faults: [{ op: "PutObject", kind: "wrongCrc", times: 1 }], retried: false },
  { name: "UploadPart 503 + reset (retried)", multipart: true, faults: [{ op: "UploadPart", kind: "status", status: 503, times: 1, skip: 1 }, { op: "UploadPart", kind: "reset", times: 1, skip: 2 }], retried: true },
  { name: "multipart interrupted (UploadPart resets past the retries), resumed by the next run", multipart: true, faults: [{ op: "UploadPart", kind: "reset", times: 12, skip: 2 }], retried: false },
  { name: "CompleteMultipartUpload slower than the timeout (retried)", multipart: true, faults: [{ op: "CompleteMultipartUpload", kind: "delay", delayMs: 2500, times: 1 }], retried: true },
  { name: "CompleteMultipartUpload wrong CRC64 (file kept; next run uploads)", multipart: true, faults: [{ op: "CompleteMultipartUpload", kind: "wrongCrc", times: 1 }], retried: false },
];

describe("OSS faults", () => {
  CASES.forEach((c, i) => {
    test(c.name, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "lp-fault-oss-"));
      const seed = 400 + i;
      const apps = 2;
      const batches = plainBatches(2, 10_000, 2000);
      const prefix = `oss${i}`;
      const env = scenarioEnv(dir, redisUrl, {
        LOGPIPE_MAX_WRITERS_PER_APP: "1", LOGPIPE_SEAL_BYTES: "64MB", LOGPIPE_SEAL_AGE: "1h", LOGPIPE_OSS_PREFIX: prefix,
        LOGPIPE_MULTIPART_THRESHOLD: c.multipart ? "150KB" : "64MB",
      });
      const objects = objectStoreFrom({ kind: "oss", endpoint: oss.endpoint, bucket: oss.bucket, accessKeyId: oss.accessKeyId, accessKeySecret: oss.accessKeySecret, timeoutMs: 1000, retries: 3 });
      const w = inProcessDeps(dir, env, redisUrl, `lpf-oss-${path.basename(dir)}`, objects, "uploader");
      try {
        for (const b of batches) await splitBatch(w.deps, toCloudEventsBatch(recordsOf(seed, apps, b.parts)));
        // drain everything now (a sweep of every app), so the runs below only seal and upload
        await w.drainInvocations();
        await runUpload(w.deps, { sweepAll: true, skipLease: true });
        await w.drainInvocations();
        expect(await w.deps.nas.walk("staging"), "every pending section drained before the faults").toEqual([]);

        oss.clearFaults();
        for (const f of c.faults) oss.injectFault({ ...f, keyPrefix: prefix });
        oss.resetCounters();
        const first: UploadResult = await runUpload(w.deps, { sealAll: true, skipLease: true });
        const firstRequests = { ...oss.requests };
        const faulted = oss.requestLog.filter((r) => r.fault).length;
        expect(faulted, "the fault was injected").toBeGreaterThan(0);
        const outboxAfterFirst = (await w.deps.nas.walk("outbox")).length + (await w.deps.nas.walk("outbox-flat")).length;
        if (c.retried) {
          expect(first.failed, first.errors.join("; ")).toBe(0);
          expect(outboxAfterFirst).toBe(0);
        } else {
          expect(first.failed).toBeGreaterThan(0);
          expect(outboxAfterFirst, "an unverified upload keeps its local file").toBe(first.failed);
        }
        if (c.multipart) expect(firstRequests.InitiateMultipartUpload ?? 0).toBeGreaterThan(0);

        oss.clearFaults();
        oss.resetCounters();
        const second = await runUpload(w.deps, { sealAll: true, skipLease: true });
        expect(second.failed, second.errors.join("; ")).toBe(0);
        if (!c.retried && c.name.startsWith("multipart interrupted")) {
          // resumed from the checkpoint: the same upload id, only the missing parts sent
          expect(oss.requests.InitiateMultipartUpload ?? 0).toBe(0);
          expect(oss.requests.UploadPart ?? 0).toBeLessThan(firstRequests.UploadPart ?? 0);
        }
        expect([...(await w.deps.nas.walk("outbox")), ...(await w.deps.nas.walk("outbox-flat"))]).toEqual([]);
        expect(await w.deps.nas.walk("uploads")).toEqual([]);

        const expected = expectedOf(seed, apps, batches);
        const report = await verifyArchive(objects, prefix, expected);
        summary.add(expected.total, report.lost, report.duplicated);
        console.log(`${c.name}: run 1 uploaded ${first.uploaded}, failed ${first.failed}; run 2 uploaded ${second.uploaded}; ` +
          `records ${expected.total}, lost ${report.lost}, dup ${report.duplicated}, objects ${report.objects}`);
        expect(report.lost).toBe(0);
        expect(report.duplicated).toBe(0);
        expect(report.objects).toBe(apps);
      } finally {
        oss.clearFaults();
        await w.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

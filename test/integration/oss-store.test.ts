/**
 * OssObjectStore = ali-oss (real client, real HTTP) against the OSS test server, which checks
 * signatures and Content-MD5 and computes CRC64 independently of the client's expectations.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OSS from "ali-oss";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { md5AndCrc64 } from "../../functions/core/crc64.js";
import { IntegrityError, ObjectStoreError, OssObjectStore, type OssObjectStoreOptions } from "../../functions/adapters/oss-store.js";
import { startOssServer, type OssTestServer } from "../support/oss-server.js";

const KB = 1024;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("OssObjectStore against the OSS test server", () => {
  let server: OssTestServer;
  let dir: string;
  const warnings: object[] = [];

  function store(extra: Partial<OssObjectStoreOptions> = {}): OssObjectStore {
    return new OssObjectStore({
      bucket: server.bucket,
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      accessKeySecret: server.accessKeySecret,
      secure: false,
      timeoutMs: 5_000,
      retries: 3,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 20,
      logger: { warn: (o) => warnings.push(o) },
      ...extra,
    });
  }

  async function file(name: string, size: number): Promise<{ path: string; data: Buffer }> {
    const data = randomBytes(size);
    const path = join(dir, name);
    await writeFile(path, data);
    return { path, data };
  }

  beforeAll(async () => {
    server = await startOssServer();
    dir = await mkdtemp(join(tmpdir(), "oss-store-"));
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.clearFaults();
    server.resetCounters();
    warnings.length = 0;
  });
  afterEach(() => server.clearFaults());

  it("round-trips: putFile, putBuffer, getBuffer, head (with CRC64), list in key order across pages", async () => {
    const s = store({ listPageSize: 2 });
    const { path, data } = await file("small.gz", 50 * KB);

    await s.putFile("rt/app/dt=2024-05-01/hour=07/s1-g1.gz", path, md5AndCrc64(data));
    await s.putBuffer("rt/app/marker.json", Buffer.from('{"ok":true}'));
    await s.putBuffer("rt/a-first", Buffer.from("x"));
    await s.putBuffer("rt/z-last", Buffer.from("yy"));

    expect((await s.getBuffer("rt/app/dt=2024-05-01/hour=07/s1-g1.gz")).equals(data)).toBe(true);
    expect(server.getObject("rt/app/dt=2024-05-01/hour=07/s1-g1.gz")?.equals(data)).toBe(true);
    const info = await s.head("rt/app/dt=2024-05-01/hour=07/s1-g1.gz");
    expect(info).toMatchObject({ key: "rt/app/dt=2024-05-01/hour=07/s1-g1.gz", size: data.length, crc64: md5AndCrc64(data).crc64 });
    expect(info?.lastModified).toBeInstanceOf(Date);
    expect(await s.head("rt/missing")).toBeUndefined();
    const listed = await collect(s.list("rt/"));
    expect(listed.map((o) => [o.key, o.size])).toEqual([
      ["rt/a-first", 1],
      ["rt/app/dt=2024-05-01/hour=07/s1-g1.gz", data.length],
      ["rt/app/marker.json", 11],
      ["rt/z-last", 2],
    ]);
    expect(server.requests.ListObjectsV2).toBe(2);
    expect(s.description).toBe(`oss://${server.bucket}/`);
  });

  it("getBuffer of a missing key rejects with ObjectStoreError NoSuchKey, without retrying", async () => {
    const err = await rejection(store().getBuffer("nothing/here"));
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect((err as ObjectStoreError).code).toBe("NoSuchKey");
    expect(server.requests.GetObject).toBe(1);
  });

  it("a Content-MD5 mismatch surfaces as BadDigest (400, not retried) and stores nothing", async () => {
    const { path, data } = await file("md5.bin", 10 * KB);
    const expected = { ...md5AndCrc64(data), md5: md5AndCrc64(Buffer.from("other")).md5 };

    const err = await rejection(store().putFile("md5/x", path, expected));

    expect(err).toBeInstanceOf(ObjectStoreError);
    expect((err as ObjectStoreError).code).toBe("BadDigest");
    expect((err as ObjectStoreError).status).toBe(400);
    expect(server.requests.PutObject).toBe(1);
    expect(server.getObject("md5/x")).toBeUndefined();
  });

  it("a wrong secret is rejected (403 SignatureDoesNotMatch, not retried) and the secret appears in no message", async () => {
    const secret = "the-wrong-secret-value-1234";
    const s = store({ accessKeySecret: secret });

    const err = await rejection(s.putBuffer("sig/x", Buffer.from("x")));

    expect((err as ObjectStoreError).code).toBe("SignatureDoesNotMatch");
    expect((err as ObjectStoreError).status).toBe(403);
    expect(server.requests.PutObject).toBe(1);
    expect(err.message).toContain(`oss://${server.bucket}/sig/x`);
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain(secret);
    expect(JSON.stringify({ ...err })).not.toMatch(/authorization|OSS LTAI/i);
  });

  it("works with STS credentials (x-oss-security-token) and fails with a wrong token", async () => {
    const sts = await startOssServer({ securityToken: "sts-token-abc" });
    try {
      const base = {
        bucket: sts.bucket, endpoint: sts.endpoint, accessKeyId: sts.accessKeyId, accessKeySecret: sts.accessKeySecret,
        secure: false, retries: 0,
      };
      await new OssObjectStore({ ...base, stsToken: "sts-token-abc" }).putBuffer("k", Buffer.from("v"));
      const err = await rejection(new OssObjectStore({ ...base, stsToken: "sts-token-old" }).putBuffer("k", Buffer.from("v")));
      expect((err as ObjectStoreError).status).toBe(403);
      expect(err.message).not.toContain("sts-token-old");
      expect(sts.getObject("k")?.toString()).toBe("v");
    } finally {
      await sts.stop();
    }
  });

  it("uploads above the threshold as multipart, reports progress, deletes the checkpoint", async () => {
    const { path, data } = await file("big.bin", 1100 * KB);
    const cp = join(dir, "cp", "big.json");
    const progress: number[] = [];

    await store({ partSize: 100 * KB }).putFile("mp/big.bin", path, md5AndCrc64(data), {
      multipartThreshold: 512 * KB,
      checkpointPath: cp,
      onProgress: (sent, total) => {
        expect(total).toBe(data.length);
        progress.push(sent);
      },
    });

    expect(server.getObject("mp/big.bin")?.equals(data)).toBe(true);
    expect(server.requests.PutObject).toBeUndefined();
    expect(server.requests.InitiateMultipartUpload).toBe(1);
    expect(server.requests.UploadPart).toBe(11);
    expect(server.requests.CompleteMultipartUpload).toBe(1);
    expect(progress[progress.length - 1]).toBe(data.length);
    expect(existsSync(cp)).toBe(false);
  });

  it("below the threshold it is one PutObject with Content-MD5", async () => {
    const { path, data } = await file("below.bin", 300 * KB);
    await store().putFile("mp/below.bin", path, md5AndCrc64(data), { multipartThreshold: 512 * KB });
    expect(server.requests.PutObject).toBe(1);
    expect(server.requests.InitiateMultipartUpload).toBeUndefined();
  });

  it("an interrupted multipart upload resumes from the checkpoint file, uploading only the missing parts", async () => {
    const { path, data } = await file("resume.bin", 1000 * KB); // 10 parts of 100 KB
    const cp = join(dir, "cp", "resume.json");
    const expected = md5AndCrc64(data);
    const opts = { multipartThreshold: 512 * KB, checkpointPath: cp };
    server.injectFault({ op: "UploadPart", kind: "status", status: 500, skip: 4, times: Infinity });

    // First run: no retries, one part at a time; parts 1-4 land, part 5 fails.
    const err = await rejection(store({ partSize: 100 * KB, partConcurrency: 1, retries: 0 }).putFile("mp/resume.bin", path, expected, opts));
    expect((err as ObjectStoreError).status).toBe(500);
    const saved = JSON.parse(await readFile(cp, "utf8")) as { uploadId: string; doneParts: Array<{ number: number }> };
    expect(saved.doneParts.map((p) => p.number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    expect(server.getObject("mp/resume.bin")).toBeUndefined();

    // Second run: a fresh store (as after a restart) picks the checkpoint up.
    server.clearFaults();
    server.resetCounters();
    await store({ partSize: 100 * KB }).putFile("mp/resume.bin", path, expected, opts);

    expect(server.requests.InitiateMultipartUpload).toBeUndefined();
    expect(server.requests.UploadPart).toBe(6);
    expect(server.requests.CompleteMultipartUpload).toBe(1);
    expect(server.getObject("mp/resume.bin")?.equals(data)).toBe(true);
    expect(existsSync(cp)).toBe(false);
    expect(server.openUploads().find((u) => u.uploadId === saved.uploadId)).toBeUndefined();
  });

  it("with parallel parts, the checkpoint written when the upload fails is final and the resume uploads exactly the rest", async () => {
    const { path, data } = await file("resume-par.bin", 1500 * KB); // 15 parts
    const cp = join(dir, "cp", "resume-par.json");
    const opts = { multipartThreshold: 512 * KB, checkpointPath: cp };
    server.injectFault({ op: "UploadPart", kind: "status", status: 503, skip: 6, times: 1 });
    server.injectFault({ op: "UploadPart", kind: "delay", delayMs: 150, times: Infinity });

    await rejection(store({ partSize: 100 * KB, partConcurrency: 4, retries: 0 }).putFile("mp/par.bin", path, md5AndCrc64(data), opts));
    const atFailure = await readFile(cp, "utf8");
    await new Promise((r) => setTimeout(r, 400)); // parts still in flight complete meanwhile
    const later = await readFile(cp, "utf8");
    const done = (JSON.parse(later) as { doneParts: unknown[] }).doneParts.length;

    expect(later).toBe(atFailure);
    expect(done).toBeGreaterThanOrEqual(1);
    server.clearFaults();
    server.resetCounters();
    await store({ partSize: 100 * KB, partConcurrency: 4 }).putFile("mp/par.bin", path, md5AndCrc64(data), opts);
    expect(server.requests.UploadPart).toBe(15 - done);
    expect(server.getObject("mp/par.bin")?.equals(data)).toBe(true);
  });

  it("a checkpoint for different content is ignored (fresh upload, correct object)", async () => {
    const a = await file("cp-a.bin", 600 * KB);
    const cp = join(dir, "cp", "stale.json");
    server.injectFault({ op: "UploadPart", kind: "status", status: 500, skip: 2, times: Infinity });
    await rejection(store({ partSize: 100 * KB, partConcurrency: 1, retries: 0 }).putFile("mp/stale.bin", a.path, md5AndCrc64(a.data), { multipartThreshold: 512 * KB, checkpointPath: cp }));
    expect(existsSync(cp)).toBe(true);
    server.clearFaults();
    server.resetCounters();

    const b = await file("cp-a.bin", 600 * KB); // same path, new bytes
    await store({ partSize: 100 * KB }).putFile("mp/stale.bin", b.path, md5AndCrc64(b.data), { multipartThreshold: 512 * KB, checkpointPath: cp });

    expect(server.requests.InitiateMultipartUpload).toBe(1);
    expect(server.requests.UploadPart).toBe(6);
    expect(server.getObject("mp/stale.bin")?.equals(b.data)).toBe(true);
  });

  it("resuming a checkpoint whose upload was aborted starts a new upload and succeeds", async () => {
    const { path, data } = await file("aborted.bin", 600 * KB);
    const cp = join(dir, "cp", "aborted.json");
    const opts = { multipartThreshold: 512 * KB, checkpointPath: cp };
    server.injectFault({ op: "UploadPart", kind: "status", status: 500, skip: 2, times: Infinity });
    await rejection(store({ partSize: 100 * KB, partConcurrency: 1, retries: 0 }).putFile("mp/aborted.bin", path, md5AndCrc64(data), opts));
    server.clearFaults();
    const { uploadId } = JSON.parse(await readFile(cp, "utf8")) as { uploadId: string };
    const raw = new (OSS as unknown as new (o: object) => { abortMultipartUpload(k: string, id: string): Promise<unknown> })({
      endpoint: server.endpoint, secure: false, sldEnable: true, bucket: server.bucket,
      accessKeyId: server.accessKeyId, accessKeySecret: server.accessKeySecret,
    });
    await raw.abortMultipartUpload("mp/aborted.bin", uploadId);
    server.resetCounters();

    await store({ partSize: 100 * KB }).putFile("mp/aborted.bin", path, md5AndCrc64(data), opts);

    expect(server.requests.InitiateMultipartUpload).toBe(1);
    expect(server.getObject("mp/aborted.bin")?.equals(data)).toBe(true);
    expect(existsSync(cp)).toBe(false);
  });

  it("retries 503 twice then succeeds (PutObject and UploadPart), within one call", async () => {
    const { path, data } = await file("retry.bin", 20 * KB);
    server.injectFault({ op: "PutObject", kind: "status", status: 503, times: 2 });
    await store().putFile("retry/x", path, md5AndCrc64(data));
    expect(server.requests.PutObject).toBe(3);
    expect(server.getObject("retry/x")?.equals(data)).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(JSON.stringify(warnings)).not.toContain(server.accessKeySecret);

    const big = await file("retry-mp.bin", 700 * KB);
    server.resetCounters();
    server.injectFault({ op: "UploadPart", kind: "status", status: 503, skip: 3, times: 2 });
    await store({ partSize: 100 * KB, partConcurrency: 1 }).putFile("retry/mp", big.path, md5AndCrc64(big.data), { multipartThreshold: 512 * KB });
    expect(server.requests.InitiateMultipartUpload).toBe(1); // resumed in memory, no new upload
    expect(server.requests.UploadPart).toBe(9);
    expect(server.getObject("retry/mp")?.equals(big.data)).toBe(true);
  });

  it("gives up after the configured number of retries, saying so", async () => {
    server.injectFault({ op: "PutObject", kind: "status", status: 503, times: Infinity });
    const err = await rejection(store({ retries: 2 }).putBuffer("retry/never", Buffer.from("x")));
    expect(server.requests.PutObject).toBe(3);
    expect((err as ObjectStoreError).retriesExhausted).toBe(true);
    expect(err.message).toMatch(/after 3 attempts/);
  });

  it("retries a timeout and a connection reset", async () => {
    server.injectFault({ op: "PutObject", kind: "delay", delayMs: 1500, times: 1 });
    await store({ timeoutMs: 300 }).putBuffer("retry/slow", Buffer.from("slow"));
    expect(server.requests.PutObject).toBe(2);
    expect(server.getObject("retry/slow")?.toString()).toBe("slow");

    server.resetCounters();
    const { path, data } = await file("reset.bin", 64 * KB);
    server.injectFault({ op: "PutObject", kind: "reset", times: 1 });
    await store().putFile("retry/reset", path, md5AndCrc64(data));
    expect(server.requests.PutObject).toBe(2);

    server.resetCounters();
    server.injectFault({ op: "GetObject", kind: "reset", times: 1 });
    expect((await store().getBuffer("retry/reset")).equals(data)).toBe(true);
    expect(server.requests.GetObject).toBe(2);
  });

  it("a wrong CRC64 from the store rejects putFile with IntegrityError (simple and multipart), not retried", async () => {
    const { path, data } = await file("crc.bin", 30 * KB);
    server.injectFault({ op: "PutObject", kind: "wrongCrc" });
    const err = await rejection(store().putFile("crc/x", path, md5AndCrc64(data)));
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toMatch(/CRC64 mismatch/);
    expect(server.requests.PutObject).toBe(1);

    const big = await file("crc-mp.bin", 600 * KB);
    const cp = join(dir, "cp", "crc.json");
    server.injectFault({ op: "CompleteMultipartUpload", kind: "wrongCrc" });
    const err2 = await rejection(
      store({ partSize: 100 * KB }).putFile("crc/mp", big.path, md5AndCrc64(big.data), { multipartThreshold: 512 * KB, checkpointPath: cp }),
    );
    expect(err2).toBeInstanceOf(IntegrityError);
    expect(existsSync(cp)).toBe(false);
  });

  it("putFile refuses a local file whose size differs from what the caller expects, before any request", async () => {
    const { path, data } = await file("size.bin", 1000);
    const err = await rejection(store().putFile("size/x", path, { ...md5AndCrc64(data), size: 999 }));
    expect((err as ObjectStoreError).code).toBe("LocalFileMismatch");
    expect(server.requestLog).toHaveLength(0);
  });

  it("getBuffer verifies the bytes against x-oss-hash-crc64ecma", async () => {
    await store().putBuffer("crc/read", Buffer.from("hello"));
    server.injectFault({ op: "GetObject", kind: "wrongCrc" });
    expect(await rejection(store().getBuffer("crc/read"))).toBeInstanceOf(IntegrityError);
  });

  it("signs with V4 when asked", async () => {
    const s = store({ authorizationV4: true });
    await s.putBuffer("v4/x", Buffer.from("v4"));
    expect((await s.getBuffer("v4/x")).toString()).toBe("v4");
  });
});

describe("the run-wide OSS test server from global setup", () => {
  it("is reachable through LOGPIPE_TEST_OSS_* with OssObjectStore", async () => {
    const env = process.env;
    expect(env.LOGPIPE_TEST_OSS_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s = new OssObjectStore({
      endpoint: env.LOGPIPE_TEST_OSS_ENDPOINT!,
      bucket: env.LOGPIPE_TEST_OSS_BUCKET!,
      accessKeyId: env.LOGPIPE_TEST_OSS_AK!,
      accessKeySecret: env.LOGPIPE_TEST_OSS_SK!,
      secure: false,
    });
    const key = `global-setup-check/${process.pid}-${Date.now()}`;
    await s.putBuffer(key, Buffer.from("hello"));
    expect((await s.getBuffer(key)).toString()).toBe("hello");
    await s.delete(key);
    expect(await s.head(key)).toBeUndefined();
  });
});

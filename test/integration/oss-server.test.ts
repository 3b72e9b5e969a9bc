/**
 * The OSS test server itself, driven by the real ali-oss client (and raw HTTP where ali-oss
 * cannot express the request): if it were lax, the store tests built on it would prove nothing.
 */
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { createInterface } from "node:readline";
import OSS from "ali-oss";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectOssTestServer, startOssServer, type OssTestServer } from "../support/oss-server.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Client = any;

function client(s: OssTestServer, extra: Record<string, unknown> = {}): Client {
  return new (OSS as unknown as new (o: object) => Client)({
    endpoint: s.endpoint,
    secure: false,
    sldEnable: true,
    bucket: s.bucket,
    accessKeyId: s.accessKeyId,
    accessKeySecret: s.accessKeySecret,
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<{ status: number; code: string; name: string }> {
  try {
    await p;
  } catch (e) {
    return e as { status: number; code: string; name: string };
  }
  throw new Error("expected the call to fail");
}

describe("OSS test server", () => {
  let s: OssTestServer;
  let c: Client;
  beforeAll(async () => {
    s = await startOssServer();
    c = client(s);
  });
  afterAll(async () => {
    await s.stop();
  });
  afterEach(() => {
    s.clearFaults();
  });

  it("returns the CRC-64/XZ check value for '123456789' (decimal x-oss-hash-crc64ecma) and a quoted MD5 ETag", async () => {
    const r = await c.put("check/123456789", Buffer.from("123456789"));
    expect(r.res.headers["x-oss-hash-crc64ecma"]).toBe("11051210869376104954");
    expect(r.res.headers.etag).toBe(`"${createHash("md5").update("123456789").digest("hex").toUpperCase()}"`);
    const h = await c.head("check/123456789");
    expect(h.res.headers["x-oss-hash-crc64ecma"]).toBe("11051210869376104954");
    expect(h.res.headers["content-length"]).toBe("9");
  });

  it("round-trips bytes for keys with spaces, plus signs and non-ASCII, with V1 and V4 signatures", async () => {
    const v4 = client(s, { authorizationV4: true });
    for (const [cl, key] of [[c, "odd/a b+c=d&e?é.txt"], [v4, "odd/v4 ké+y.log"]] as const) {
      await cl.put(key, Buffer.from(`body of ${key}`));
      expect((await cl.get(key)).content.toString()).toBe(`body of ${key}`);
    }
    expect(s.listKeys()).toEqual(expect.arrayContaining(["odd/a b+c=d&e?é.txt", "odd/v4 ké+y.log"]));
  });

  it("rejects a wrong secret (V1 and V4) with 403 SignatureDoesNotMatch and an unknown key id with InvalidAccessKeyId", async () => {
    for (const v4 of [false, true]) {
      const bad = client(s, { accessKeySecret: "not-the-secret", authorizationV4: v4 });
      const e = await failure(bad.put("sig/x", Buffer.from("x")));
      expect(e.status).toBe(403);
      expect(e.code).toBe("SignatureDoesNotMatch");
    }
    const e2 = await failure(client(s, { accessKeyId: "LTAI-nobody" }).get("check/123456789"));
    expect(e2.code).toBe("InvalidAccessKeyId");
    expect(s.getObject("sig/x")).toBeUndefined();
  });

  it("accepts a correctly hand-signed V1 request, rejects the same request with an unsigned x-oss header added, and anonymous ones", async () => {
    const sign = (method: string, headers: Record<string, string>, resource: string) => {
      const ossHeaders = Object.keys(headers)
        .filter((k) => k.startsWith("x-oss-"))
        .sort()
        .map((k) => `${k}:${headers[k]}`);
      const sts = [method, headers["content-md5"] ?? "", headers["content-type"] ?? "", headers["x-oss-date"]!, ...ossHeaders, resource].join("\n");
      return `OSS ${s.accessKeyId}:${createHmac("sha1", s.accessKeySecret).update(sts).digest("base64")}`;
    };
    const headers: Record<string, string> = { "x-oss-date": new Date().toUTCString(), "content-type": "text/plain", "x-oss-meta-a": "1" };
    const authorization = sign("PUT", headers, `/${s.bucket}/raw/x`);

    const ok = await fetch(`${s.endpoint}/${s.bucket}/raw/x`, { method: "PUT", body: "x", headers: { ...headers, authorization } });
    const tampered = await fetch(`${s.endpoint}/${s.bucket}/raw/x`, {
      method: "PUT",
      body: "y",
      headers: { ...headers, "x-oss-meta-b": "2", authorization },
    });
    const anon = await fetch(`${s.endpoint}/${s.bucket}/check/123456789`);

    expect(ok.status).toBe(200);
    expect(tampered.status).toBe(403);
    expect(await tampered.text()).toMatch(/<Code>SignatureDoesNotMatch<\/Code>/);
    expect(anon.status).toBe(403);
    expect(s.getObject("raw/x")?.toString()).toBe("x");
  });

  it("rejects requests whose date is more than 15 minutes off (RequestTimeTooSkewed)", async () => {
    const skewed = client(s, { amendTimeSkewed: -20 * 60_000 });
    expect((await failure(skewed.get("check/123456789"))).code).toBe("RequestTimeTooSkewed");
  });

  it("checks Content-MD5: a mismatch is 400 BadDigest and nothing is stored", async () => {
    const wrongMd5 = createHash("md5").update("something else").digest("base64");
    const e = await failure(c.put("md5/x", Buffer.from("payload"), { headers: { "Content-MD5": wrongMd5 } }));
    expect(e.status).toBe(400);
    expect(e.code).toBe("BadDigest");
    expect(s.getObject("md5/x")).toBeUndefined();
  });

  it("x-oss-forbid-overwrite: true gives 409 FileAlreadyExists on an existing key", async () => {
    await c.put("fo/x", Buffer.from("1"), { headers: { "x-oss-forbid-overwrite": "true" } });
    const e = await failure(c.put("fo/x", Buffer.from("2"), { headers: { "x-oss-forbid-overwrite": "true" } }));
    expect(e.status).toBe(409);
    expect(e.code).toBe("FileAlreadyExists");
    expect(s.getObject("fo/x")?.toString()).toBe("1");
  });

  it("serves ranges (206) with the whole object's CRC, and 404 NoSuchKey for GET and HEAD of a missing key", async () => {
    await c.put("range/x", Buffer.from("0123456789"));
    const r = await c.get("range/x", { headers: { Range: "bytes=2-5" } });
    expect(r.res.status).toBe(206);
    expect(r.content.toString()).toBe("2345");
    expect(r.res.headers["content-range"]).toBe("bytes 2-5/10");
    const tail = await c.get("range/x", { headers: { Range: "bytes=-3" } });
    expect(tail.content.toString()).toBe("789");
    const e = await failure(c.get("range/x", { headers: { Range: "bytes=20-" } }));
    expect(e.status).toBe(416);
    expect((await failure(c.get("missing/x"))).code).toBe("NoSuchKey");
    expect((await failure(c.head("missing/x"))).status).toBe(404);
  });

  it("lists with prefix, delimiter and pagination in V1 (marker) and V2 (continuation-token)", async () => {
    const keys = ["ls/a/1", "ls/a/2", "ls/b", "ls/c/1", "ls/d"];
    for (const k of keys) await c.put(k, Buffer.from(k));

    const pagesV1: string[] = [];
    let marker: string | undefined;
    do {
      const r = await c.list({ prefix: "ls/", "max-keys": 2, ...(marker ? { marker } : {}) });
      pagesV1.push(...(r.objects ?? []).map((o: { name: string }) => o.name));
      marker = r.isTruncated ? r.nextMarker : undefined;
    } while (marker);
    expect(pagesV1).toEqual(keys);

    const v2: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const r = await c.listV2({ prefix: "ls/", delimiter: "/", "max-keys": 1, ...(token ? { "continuation-token": token } : {}) });
      v2.push(...(r.objects ?? []).map((o: { name: string }) => o.name));
      prefixes.push(...(r.prefixes ?? []));
      token = r.isTruncated ? r.nextContinuationToken : undefined;
    } while (token);
    expect(v2).toEqual(["ls/b", "ls/d"]);
    expect(prefixes).toEqual(["ls/a/", "ls/c/"]);
    expect(s.requests.ListObjectsV2).toBeGreaterThanOrEqual(4);
  });

  it("multipart: CRC of the whole object on complete, rejects bad ETags, small middle parts, unknown upload ids", async () => {
    const part = (b: number) => Buffer.alloc(100 * 1024, b);
    const init = await c.initMultipartUpload("mp/x");
    const p1 = await c.uploadPart("mp/x", init.uploadId, 1, part(1), 0, 100 * 1024);
    const p2 = await c.uploadPart("mp/x", init.uploadId, 2, Buffer.from("tail"), 0, 4);
    const bad = await failure(c.completeMultipartUpload("mp/x", init.uploadId, [{ number: 1, etag: '"00"' }, { number: 2, etag: p2.etag }]));
    expect(bad.code).toBe("InvalidPart");
    const done = await c.completeMultipartUpload("mp/x", init.uploadId, [{ number: 1, etag: p1.etag }, { number: 2, etag: p2.etag }]);
    const whole = Buffer.concat([part(1), Buffer.from("tail")]);
    const single = await c.put("mp/single", whole);
    expect(done.res.headers["x-oss-hash-crc64ecma"]).toBe(single.res.headers["x-oss-hash-crc64ecma"]);
    expect(s.getObject("mp/x")?.equals(whole)).toBe(true);
    expect((await failure(c.uploadPart("mp/x", init.uploadId, 3, part(2), 0, 10))).status).toBe(404);

    const init2 = await c.initMultipartUpload("mp/small");
    const q1 = await c.uploadPart("mp/small", init2.uploadId, 1, Buffer.from("tiny"), 0, 4);
    const q2 = await c.uploadPart("mp/small", init2.uploadId, 2, Buffer.from("tiny"), 0, 4);
    const small = await failure(c.completeMultipartUpload("mp/small", init2.uploadId, [{ number: 1, etag: q1.etag }, { number: 2, etag: q2.etag }]));
    expect(small.code).toBe("EntityTooSmall");
    const parts = await c.listParts("mp/small", init2.uploadId);
    expect(parts.parts.map((p: { PartNumber: string }) => p.PartNumber)).toEqual(["1", "2"]);
    await c.abortMultipartUpload("mp/small", init2.uploadId);
    expect(s.openUploads().find((u) => u.key === "mp/small")).toBeUndefined();
  });

  it("injects faults: status with skip/times and keyPrefix, badDigest, wrongCrc, reset, delay; counts requests", async () => {
    s.resetCounters();
    s.injectFault({ op: "PutObject", kind: "status", status: 503, times: 2, skip: 1, keyPrefix: "f/" });
    await c.put("f/1", Buffer.from("a")); // skipped
    expect((await failure(c.put("f/2", Buffer.from("a")))).status).toBe(503);
    await c.put("other/2", Buffer.from("a")); // prefix does not match
    expect((await failure(c.put("f/3", Buffer.from("a")))).code).toBe("ServiceUnavailable");
    await c.put("f/4", Buffer.from("a")); // exhausted
    expect(s.getObject("f/2")).toBeUndefined();
    expect(s.requests.PutObject).toBe(5);

    s.injectFault({ op: "PutObject", kind: "badDigest" });
    expect((await failure(c.put("f/5", Buffer.from("a")))).code).toBe("BadDigest");

    s.injectFault({ op: "PutObject", kind: "wrongCrc" });
    const r = await c.put("f/6", Buffer.from("123456789"));
    expect(r.res.headers["x-oss-hash-crc64ecma"]).not.toBe("11051210869376104954");

    s.injectFault({ op: "GetObject", kind: "reset" });
    expect((await failure(c.get("f/6"))).status).toBe(-1);

    s.injectFault({ op: "GetObject", kind: "delay", delayMs: 1500 });
    const t = await failure(c.get("f/6", { timeout: 300 }));
    expect(t.name).toMatch(/Timeout/);
    expect((await c.get("f/6")).content.toString()).toBe("123456789");
  });

  it("runs standalone: prints its endpoint as one JSON line, and is controllable over HTTP", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/oss-server.ts", "--port", "0"], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
      });
      const info = JSON.parse(line) as { endpoint: string; bucket: string; accessKeyId: string; accessKeySecret: string };
      expect(info.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const remote = client(info as unknown as OssTestServer);
      const ctl = connectOssTestServer(info.endpoint);
      await ctl.injectFault({ op: "PutObject", kind: "status", status: 500, times: 1 });
      expect((await failure(remote.put("x", Buffer.from("1")))).status).toBe(500);
      await remote.put("x", Buffer.from("1"));
      expect((await ctl.requests()).PutObject).toBe(2);
    } finally {
      child.kill("SIGTERM");
    }
  });
});

/**
 * An OSS-compatible HTTP server for tests, good enough for `ali-oss` 6 (and for anything that
 * speaks the OSS REST API path-style: `http://127.0.0.1:PORT/<bucket>/<key>`).
 *
 * ali-oss options that produce path-style requests to it (read from ali-oss 6.23 source:
 * `lib/common/client/getReqUrl.js` puts the bucket in the path only when `sldEnable` is set;
 * with an IP endpoint and without it the bucket is silently dropped):
 *   new OSS({ endpoint: server.endpoint, secure: false, sldEnable: true, bucket, accessKeyId,
 *             accessKeySecret })
 * `authorizationV4: true` works too (both signature versions are verified).
 *
 * What it checks, like OSS does: the request signature (V1 `OSS ak:sig` HMAC-SHA1, V4
 * `OSS4-HMAC-SHA256`), clock skew (15 min), the STS token when configured, Content-MD5
 * (400 BadDigest / InvalidDigest), `x-oss-forbid-overwrite` (409 FileAlreadyExists), write
 * preconditions (If-Match etc. on PutObject: 400 NotImplemented, as OSS answers), multipart
 * part ETags, order and minimum size (100 KB except the last). It returns
 * `x-oss-hash-crc64ecma` (decimal CRC-64/XZ of the whole object) and ETag on PUT, complete,
 * GET and HEAD. Errors are OSS XML bodies.
 *
 * Operations: PutObject, GetObject (Range), HeadObject, DeleteObject, ListObjects (V1 and
 * V2: prefix, marker / continuation-token / start-after, max-keys, delimiter),
 * InitiateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
 * ListParts, ListMultipartUploads. Storage is in memory.
 *
 * Fault injection: `injectFault({ op, kind, ... })` in process, or over HTTP on the control
 * API (`POST /__oss_test/faults`, see `connectOssTestServer`) when the server runs as its own
 * process: `tsx test/support/oss-server.ts --port N` prints one JSON line
 * `{"endpoint","bucket","accessKeyId","accessKeySecret","pid"}` on stdout and runs until
 * SIGTERM/SIGINT.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { Crc64, crc64 } from "../../functions/core/crc64.js";

export type OssOp =
  | "PutObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "ListObjects"
  | "ListObjectsV2"
  | "InitiateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListParts"
  | "ListMultipartUploads"
  | "Unsupported";

export type FaultKind = "status" | "delay" | "reset" | "badDigest" | "wrongCrc";

export interface FaultSpec {
  /** Which operation to hit; "*" for all. */
  op: OssOp | "*";
  /**
   * status: answer `status` (default 503) with an OSS error body, nothing is stored;
   * delay: wait `delayMs` before handling (the request is then handled normally if the
   *        client is still there);
   * reset: destroy the connection as soon as the request arrives;
   * badDigest: answer 400 BadDigest, nothing is stored;
   * wrongCrc: handle normally but return a wrong `x-oss-hash-crc64ecma`.
   */
  kind: FaultKind;
  /** How many matching requests are hit (default 1; Infinity for all). */
  times?: number;
  /** Let this many matching requests through first (default 0). */
  skip?: number;
  status?: number;
  delayMs?: number;
  /** Only requests whose object key starts with this. */
  keyPrefix?: string;
}

export interface RequestRecord {
  op: OssOp;
  method: string;
  key: string;
  status: number;
  fault?: FaultKind;
}

export interface OssServerOptions {
  port?: number;
  host?: string;
  bucket?: string;
  /** Extra buckets that exist too. */
  buckets?: string[];
  accessKeyId?: string;
  accessKeySecret?: string;
  /** When set, requests must carry `x-oss-security-token` equal to it (STS credentials). */
  securityToken?: string;
  /** Maximum clock skew accepted, ms (default 15 min, like OSS). */
  maxSkewMs?: number;
}

export interface OssTestServer {
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  stop(): Promise<void>;
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** Requests per operation since start (or the last resetCounters), faulted ones included. */
  readonly requests: Record<string, number>;
  /** Every request, in arrival order. */
  readonly requestLog: RequestRecord[];
  resetCounters(): void;
  /** Direct access to stored bytes, for assertions. */
  getObject(key: string, bucket?: string): Buffer | undefined;
  listKeys(bucket?: string): string[];
  /** Open multipart uploads (uploadId → key). */
  openUploads(): Array<{ uploadId: string; key: string; parts: number }>;
}

interface StoredObject {
  data: Buffer;
  etag: string;
  crc64: bigint;
  lastModified: Date;
  contentType: string;
  type: "Normal" | "Multipart";
  meta: Record<string, string>;
}

interface Upload {
  bucket: string;
  key: string;
  initiated: Date;
  contentType: string;
  meta: Record<string, string>;
  parts: Map<number, { data: Buffer; etag: string; lastModified: Date }>;
}

interface ActiveFault extends Required<Pick<FaultSpec, "op" | "kind">> {
  remaining: number;
  skip: number;
  status: number;
  delayMs: number;
  keyPrefix: string;
}

class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Query parameters that are signed (the "sub-resources" of the V1 canonical resource). */
const SUBRESOURCES = new Set([
  "acl", "uploads", "location", "cors", "logging", "website", "referer", "lifecycle", "delete",
  "append", "tagging", "objectMeta", "uploadId", "partNumber", "security-token", "position",
  "img", "style", "styleName", "replication", "replicationProgress", "replicationLocation",
  "cname", "bucketInfo", "comp", "qos", "live", "status", "vod", "startTime", "endTime",
  "symlink", "x-oss-process", "response-content-type", "response-content-language",
  "response-expires", "response-cache-control", "response-content-disposition",
  "response-content-encoding", "udf", "udfName", "udfImage", "udfId", "udfImageDesc",
  "udfApplication", "udfApplicationLog", "restore", "callback", "callback-var", "policy",
  "stat", "encryption", "versions", "versioning", "versionId", "sequential",
  "continuation-token", "asyncFetch", "worm", "wormId", "wormExtend", "inventory",
  "inventoryId", "requestPayment", "objectInfo", "bucketArchiveDirectRead",
]);

const MIN_PART_SIZE = 100 * 1024;
const OWNER_ID = "1234567890";

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function xmlUnescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" })[e]!);
}

function md5(buf: Buffer): Buffer {
  return createHash("md5").update(buf).digest();
}

function quoteEtag(hex: string): string {
  return `"${hex.toUpperCase()}"`;
}

function stripQuotes(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toUpperCase();
}

/** OSS's own encoding for V4 canonical URIs and queries (RFC 3986, like ali-oss's encodeString). */
function encodeV4(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const v4 = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (v4) {
    const [, y, mo, d, h, mi, s] = v4;
    return Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

interface ParsedRequest {
  bucket: string;
  key: string;
  /** Query parameters in arrival order; value "" when the raw item had no "=" or an empty value. */
  query: Array<[string, string]>;
  q: Map<string, string>;
}

function parseRequestTarget(rawUrl: string): ParsedRequest {
  const qIdx = rawUrl.indexOf("?");
  const rawPath = qIdx < 0 ? rawUrl : rawUrl.slice(0, qIdx);
  const rawQuery = qIdx < 0 ? "" : rawUrl.slice(qIdx + 1);
  const path = rawPath.split("/").map((seg) => decodeURIComponent(seg)).join("/");
  const trimmed = path.replace(/^\//, "");
  const slash = trimmed.indexOf("/");
  const bucket = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const key = slash < 0 ? "" : trimmed.slice(slash + 1);
  const query: Array<[string, string]> = [];
  for (const item of rawQuery.split("&")) {
    if (!item) continue;
    const eq = item.indexOf("=");
    const k = decodeURIComponent((eq < 0 ? item : item.slice(0, eq)).replace(/\+/g, " "));
    const v = eq < 0 ? "" : decodeURIComponent(item.slice(eq + 1).replace(/\+/g, " "));
    query.push([k, v]);
  }
  return { bucket, key, query, q: new Map(query) };
}

function classify(method: string, p: ParsedRequest, req: IncomingMessage): OssOp {
  const has = (k: string) => p.q.has(k);
  const objectSubres = ["acl", "tagging", "symlink", "append", "restore", "objectMeta", "x-oss-process"];
  if (!p.key) {
    if (method !== "GET") return "Unsupported";
    if (has("uploads")) return "ListMultipartUploads";
    if ([...p.q.keys()].some((k) => SUBRESOURCES.has(k) && k !== "continuation-token")) return "Unsupported";
    return p.q.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
  }
  if (method === "HEAD" || (method === "GET" && has("objectMeta"))) return "HeadObject";
  if (objectSubres.some(has)) return "Unsupported";
  switch (method) {
    case "PUT":
      if (header(req, "x-oss-copy-source")) return "Unsupported";
      return has("uploadId") && has("partNumber") ? "UploadPart" : "PutObject";
    case "POST":
      if (has("uploads")) return "InitiateMultipartUpload";
      if (has("uploadId")) return "CompleteMultipartUpload";
      return "Unsupported";
    case "GET":
      return has("uploadId") ? "ListParts" : "GetObject";
    case "DELETE":
      return has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    default:
      return "Unsupported";
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

function metaFrom(req: IncomingMessage): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith("x-oss-meta-") && typeof v === "string") meta[k] = v;
  }
  return meta;
}

/** Starts a server; resolves once it listens. */
export async function startOssServer(options: OssServerOptions = {}): Promise<OssTestServer> {
  const bucket = options.bucket ?? "logpipe-test";
  const accessKeyId = options.accessKeyId ?? "LTAI-test-" + randomBytes(6).toString("hex");
  const accessKeySecret = options.accessKeySecret ?? randomBytes(20).toString("base64url");
  const securityToken = options.securityToken;
  const maxSkewMs = options.maxSkewMs ?? 15 * 60_000;

  const buckets = new Map<string, Map<string, StoredObject>>();
  for (const b of [bucket, ...(options.buckets ?? [])]) buckets.set(b, new Map());
  const uploads = new Map<string, Upload>();
  let faults: ActiveFault[] = [];
  let requests: Record<string, number> = {};
  const requestLog: RequestRecord[] = [];

  function injectFault(f: FaultSpec): void {
    faults.push({
      op: f.op,
      kind: f.kind,
      remaining: f.times ?? 1,
      skip: f.skip ?? 0,
      status: f.status ?? 503,
      delayMs: f.delayMs ?? 1000,
      keyPrefix: f.keyPrefix ?? "",
    });
  }

  function takeFault(op: OssOp, key: string): ActiveFault | undefined {
    for (const f of faults) {
      if (f.remaining <= 0) continue;
      if (f.op !== "*" && f.op !== op) continue;
      if (f.keyPrefix && !key.startsWith(f.keyPrefix)) continue;
      if (f.skip > 0) {
        f.skip--;
        continue;
      }
      f.remaining--;
      return f;
    }
    return undefined;
  }

  function requestId(): string {
    return randomBytes(12).toString("hex").toUpperCase();
  }

  function sendError(res: ServerResponse, err: OssError, reqId: string, method: string): void {
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${xmlEscape(err.code)}</Code>\n` +
      `  <Message>${xmlEscape(err.message)}</Message>\n  <RequestId>${reqId}</RequestId>\n` +
      `  <HostId>127.0.0.1</HostId>\n` +
      Object.entries(err.extra)
        .map(([k, v]) => `  <${k}>${xmlEscape(v)}</${k}>\n`)
        .join("") +
      `</Error>\n`;
    const buf = Buffer.from(body);
    res.statusCode = err.status;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("x-oss-request-id", reqId);
    if (method === "HEAD") {
      // HEAD has no body: OSS puts the error document, base64, in x-oss-err.
      res.setHeader("x-oss-err", buf.toString("base64"));
      res.end();
    } else {
      res.setHeader("Content-Length", buf.length);
      res.end(buf);
    }
  }

  function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
    const buf = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
    res.statusCode = status;
    res.setHeader("Content-Type", "application/xml");
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader("Content-Length", buf.length);
    res.end(buf);
  }

  // ---- authentication -------------------------------------------------------------------

  function authenticate(req: IncomingMessage, p: ParsedRequest): void {
    const auth = header(req, "authorization");
    if (!auth) throw new OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.");
    const date = header(req, "x-oss-date") ?? header(req, "date");
    const t = parseDate(date);
    if (t === undefined) throw new OssError(403, "AccessDenied", "OSS authentication requires a valid Date.");
    if (Math.abs(Date.now() - t) > maxSkewMs) {
      throw new OssError(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
        RequestTime: date ?? "",
        ServerTime: new Date().toISOString(),
      });
    }
    if (securityToken !== undefined && header(req, "x-oss-security-token") !== securityToken) {
      throw new OssError(403, "InvalidAccessKeyId", "The security token you provided is invalid.");
    }
    if (auth.startsWith("OSS ")) return verifyV1(req, p, auth);
    if (auth.startsWith("OSS4-HMAC-SHA256 ")) return verifyV4(req, p, auth);
    throw new OssError(400, "InvalidArgument", "Authorization header is invalid.");
  }

  function checkAccessKey(ak: string): void {
    if (ak !== accessKeyId) {
      throw new OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.", {
        OSSAccessKeyId: ak,
      });
    }
  }

  function canonicalOssHeaders(req: IncomingMessage): string[] {
    return Object.keys(req.headers)
      .filter((k) => k.startsWith("x-oss-"))
      .sort()
      .map((k) => `${k}:${(header(req, k) ?? "").trim()}`);
  }

  function verifyV1(req: IncomingMessage, p: ParsedRequest, auth: string): void {
    const m = /^OSS ([^:]+):(.+)$/.exec(auth);
    if (!m) throw new OssError(400, "InvalidArgument", "Authorization header is invalid.");
    checkAccessKey(m[1]!);
    const subres = p.query.filter(([k]) => SUBRESOURCES.has(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let resource = `/${p.bucket}/${p.key}`;
    if (subres.length) resource += "?" + subres.map(([k, v]) => (v === "" ? k : `${k}=${v}`)).join("&");
    const stringToSign = [
      req.method!.toUpperCase(),
      header(req, "content-md5") ?? "",
      header(req, "content-type") ?? "",
      header(req, "x-oss-date") ?? header(req, "date") ?? "",
      ...canonicalOssHeaders(req),
      resource,
    ].join("\n");
    const expected = createHmac("sha1", accessKeySecret).update(Buffer.from(stringToSign, "utf8")).digest("base64");
    if (!safeEqual(expected, m[2]!)) {
      throw new OssError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", {
        OSSAccessKeyId: m[1]!,
        SignatureProvided: m[2]!,
        StringToSign: stringToSign,
      });
    }
  }

  function verifyV4(req: IncomingMessage, p: ParsedRequest, auth: string): void {
    const fields = new Map<string, string>();
    for (const part of auth.slice("OSS4-HMAC-SHA256 ".length).split(",")) {
      const eq = part.indexOf("=");
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = fields.get("Credential") ?? "";
    const signature = fields.get("Signature") ?? "";
    const [ak, day, region, product, terminator] = credential.split("/");
    if (!ak || !day || !region || !product || terminator !== "aliyun_v4_request") {
      throw new OssError(400, "InvalidArgument", "Authorization header is invalid.");
    }
    checkAccessKey(ak);
    const date = header(req, "x-oss-date") ?? "";
    const additional = (fields.get("AdditionalHeaders") ?? "").split(";").filter(Boolean).map((h) => h.toLowerCase());
    const signed = new Set(additional);
    for (const k of Object.keys(req.headers)) {
      if (k === "content-type" || k === "content-md5" || k.startsWith("x-oss-")) signed.add(k);
    }
    const uri = encodeV4(`/${p.bucket ? `${p.bucket}/` : ""}${p.key}`).replace(/%2F/g, "/");
    const query = [...p.query]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => (v === "" ? encodeV4(k) : `${encodeV4(k)}=${encodeV4(v)}`))
      .join("&");
    const canonicalHeaders = [...signed]
      .sort()
      .map((k) => `${k}:${(header(req, k) ?? "").trim()}\n`)
      .join("");
    const canonicalRequest = [
      req.method!.toUpperCase(),
      uri,
      query,
      canonicalHeaders,
      additional.join(";"),
      header(req, "x-oss-content-sha256") ?? "UNSIGNED-PAYLOAD",
    ].join("\n");
    const stringToSign = [
      "OSS4-HMAC-SHA256",
      date,
      `${day}/${region}/${product}/aliyun_v4_request`,
      createHash("sha256").update(canonicalRequest).digest("hex"),
    ].join("\n");
    const kDate = createHmac("sha256", `aliyun_v4${accessKeySecret}`).update(day).digest();
    const kRegion = createHmac("sha256", kDate).update(region).digest();
    const kProduct = createHmac("sha256", kRegion).update(product).digest();
    const kSigning = createHmac("sha256", kProduct).update("aliyun_v4_request").digest();
    const expected = createHmac("sha256", kSigning).update(stringToSign).digest("hex");
    if (!safeEqual(expected, signature)) {
      throw new OssError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", {
        OSSAccessKeyId: ak,
        CanonicalRequest: canonicalRequest,
        StringToSign: stringToSign,
      });
    }
  }

  // ---- operations -----------------------------------------------------------------------

  function getBucket(name: string): Map<string, StoredObject> {
    const b = buckets.get(name);
    if (!b) throw new OssError(404, "NoSuchBucket", "The specified bucket does not exist.", { BucketName: name });
    return b;
  }

  function checkKey(key: string): void {
    if (!key || Buffer.byteLength(key) > 1023) throw new OssError(400, "InvalidObjectName", "The specified object is not valid.");
  }

  function checkContentMd5(req: IncomingMessage, body: Buffer): void {
    const cmd5 = header(req, "content-md5");
    if (cmd5 === undefined) return;
    const given = Buffer.from(cmd5, "base64");
    if (given.length !== 16 || given.toString("base64") !== cmd5.trim()) {
      throw new OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.");
    }
    if (!given.equals(md5(body))) {
      throw new OssError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.", {
        ExpectedMD5: cmd5,
        CalculatedMD5: md5(body).toString("base64"),
      });
    }
  }

  /**
   * OSS has no conditional PutObject: If-Match, If-None-Match, If-Modified-Since and
   * If-Unmodified-Since on a write are refused ("0017-00000245",
   * https://help.aliyun.com/en/oss/user-guide/0017-00000245, checked 2026-12-01), so a client
   * that relies on them fails here as it would on OSS. Create-only writes use x-oss-forbid-overwrite.
   */
  function checkNoWritePreconditions(req: IncomingMessage): void {
    for (const h of ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]) {
      if (header(req, h) !== undefined) throw new OssError(400, "NotImplemented", "A header you provided implies functionality that is not implemented.", { Header: h });
    }
  }

  function checkForbidOverwrite(req: IncomingMessage, b: Map<string, StoredObject>, key: string): void {
    if (header(req, "x-oss-forbid-overwrite")?.toLowerCase() === "true" && b.has(key)) {
      throw new OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.");
    }
  }

  function objectHeaders(o: StoredObject, wrongCrc: boolean): Record<string, string> {
    return {
      ETag: o.etag,
      "x-oss-hash-crc64ecma": (wrongCrc ? o.crc64 ^ 1n : o.crc64).toString(10),
      "Last-Modified": o.lastModified.toUTCString(),
      "x-oss-object-type": o.type,
      "x-oss-storage-class": "Standard",
      ...o.meta,
    };
  }

  function listObjects(res: ServerResponse, p: ParsedRequest, v2: boolean): void {
    const b = getBucket(p.bucket);
    const prefix = p.q.get("prefix") ?? "";
    const delimiter = p.q.get("delimiter") ?? "";
    const maxKeysRaw = p.q.get("max-keys");
    const maxKeys = maxKeysRaw === undefined || maxKeysRaw === "" ? 100 : Number(maxKeysRaw);
    if (!Number.isInteger(maxKeys) || maxKeys < 0 || maxKeys > 1000) {
      throw new OssError(400, "InvalidArgument", "Argument max-keys must be an integer between 0 and 1000.");
    }
    const urlEncode = p.q.get("encoding-type") === "url";
    const enc = (s: string) => xmlEscape(urlEncode ? encodeURIComponent(s).replace(/%2F/g, "/") : s);
    let marker: string;
    if (v2) {
      const token = p.q.get("continuation-token");
      marker = token ? Buffer.from(token, "base64url").toString("utf8") : (p.q.get("start-after") ?? "");
    } else {
      marker = p.q.get("marker") ?? "";
    }
    const keys = [...b.keys()].filter((k) => k.startsWith(prefix) && compareKeys(k, marker) > 0).sort(compareKeys);
    const contents: string[] = [];
    const prefixes: string[] = [];
    let count = 0;
    let last = "";
    let truncated = false;
    for (const k of keys) {
      let cp: string | undefined;
      if (delimiter) {
        const idx = k.indexOf(delimiter, prefix.length);
        if (idx >= 0) cp = k.slice(0, idx + delimiter.length);
      }
      if (cp !== undefined && (cp === prefixes[prefixes.length - 1] || compareKeys(cp, marker) <= 0)) continue;
      if (count >= maxKeys) {
        truncated = true;
        break;
      }
      count++;
      if (cp !== undefined) {
        prefixes.push(cp);
        last = cp;
      } else {
        const o = b.get(k)!;
        const owner = !v2 || p.q.get("fetch-owner") === "true"
          ? `<Owner><ID>${OWNER_ID}</ID><DisplayName>${OWNER_ID}</DisplayName></Owner>`
          : "";
        contents.push(
          `<Contents><Key>${enc(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified>` +
            `<ETag>${xmlEscape(o.etag)}</ETag><Type>${o.type}</Type><Size>${o.data.length}</Size>` +
            `<StorageClass>Standard</StorageClass>${owner}</Contents>`,
        );
        last = k;
      }
    }
    let xml = `<ListBucketResult><Name>${xmlEscape(p.bucket)}</Name><Prefix>${enc(prefix)}</Prefix>`;
    if (v2) {
      xml += `<StartAfter>${enc(p.q.get("start-after") ?? "")}</StartAfter>`;
      if (p.q.get("continuation-token")) xml += `<ContinuationToken>${xmlEscape(p.q.get("continuation-token")!)}</ContinuationToken>`;
    } else {
      xml += `<Marker>${enc(marker)}</Marker>`;
    }
    xml += `<MaxKeys>${maxKeys}</MaxKeys><Delimiter>${enc(delimiter)}</Delimiter>`;
    if (urlEncode) xml += `<EncodingType>url</EncodingType>`;
    xml += `<IsTruncated>${truncated}</IsTruncated>`;
    if (truncated) {
      xml += v2
        ? `<NextContinuationToken>${Buffer.from(last, "utf8").toString("base64url")}</NextContinuationToken>`
        : `<NextMarker>${enc(last)}</NextMarker>`;
    }
    if (v2) xml += `<KeyCount>${count}</KeyCount>`;
    xml += contents.join("");
    xml += prefixes.map((cp) => `<CommonPrefixes><Prefix>${enc(cp)}</Prefix></CommonPrefixes>`).join("");
    xml += `</ListBucketResult>`;
    sendXml(res, 200, xml);
  }

  function parseRange(value: string | undefined, size: number): [number, number] | "unsatisfiable" | undefined {
    if (!value) return undefined;
    const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
    if (!m || (m[1] === "" && m[2] === "")) return undefined; // malformed: OSS ignores it
    let start: number;
    let end: number;
    if (m[1] === "") {
      const n = Number(m[2]);
      if (n === 0) return "unsatisfiable";
      start = Math.max(0, size - n);
      end = size - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (m[2] !== "" && Number(m[2]) < start) return undefined;
    }
    if (start >= size) return "unsatisfiable";
    return [start, end];
  }

  function getUpload(p: ParsedRequest): Upload {
    const id = p.q.get("uploadId") ?? "";
    const u = uploads.get(id);
    if (!u || u.bucket !== p.bucket || u.key !== p.key) {
      throw new OssError(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: id });
    }
    return u;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, op: OssOp, p: ParsedRequest, body: Buffer, wrongCrc: boolean): Promise<void> {
    const method = req.method!;
    switch (op) {
      case "ListObjects":
      case "ListObjectsV2":
        return listObjects(res, p, op === "ListObjectsV2");
      case "PutObject": {
        const b = getBucket(p.bucket);
        checkKey(p.key);
        checkContentMd5(req, body);
        checkNoWritePreconditions(req);
        checkForbidOverwrite(req, b, p.key);
        const o: StoredObject = {
          data: body,
          etag: quoteEtag(md5(body).toString("hex")),
          crc64: crc64(body),
          lastModified: new Date(),
          contentType: header(req, "content-type") ?? "application/octet-stream",
          type: "Normal",
          meta: metaFrom(req),
        };
        b.set(p.key, o);
        res.statusCode = 200;
        res.setHeader("ETag", o.etag);
        res.setHeader("x-oss-hash-crc64ecma", (wrongCrc ? o.crc64 ^ 1n : o.crc64).toString(10));
        res.setHeader("Content-MD5", md5(body).toString("base64"));
        res.setHeader("Content-Length", 0);
        return void res.end();
      }
      case "GetObject":
      case "HeadObject": {
        const b = getBucket(p.bucket);
        const o = b.get(p.key);
        if (!o) throw new OssError(404, "NoSuchKey", "The specified key does not exist.", { Key: p.key });
        for (const [k, v] of Object.entries(objectHeaders(o, wrongCrc))) res.setHeader(k, v);
        res.setHeader("Content-Type", o.contentType);
        res.setHeader("Accept-Ranges", "bytes");
        const range = op === "GetObject" ? parseRange(header(req, "range"), o.data.length) : undefined;
        if (range === "unsatisfiable") {
          res.removeHeader("ETag");
          throw new OssError(416, "InvalidRange", "The requested range cannot be satisfied.");
        }
        if (range) {
          const [s, e] = range;
          res.statusCode = 206;
          res.setHeader("Content-Range", `bytes ${s}-${e}/${o.data.length}`);
          res.setHeader("Content-Length", e - s + 1);
          return void res.end(o.data.subarray(s, e + 1));
        }
        res.statusCode = 200;
        res.setHeader("Content-Length", o.data.length);
        if (method === "HEAD") return void res.end();
        return void res.end(o.data);
      }
      case "DeleteObject": {
        getBucket(p.bucket).delete(p.key);
        res.statusCode = 204;
        return void res.end();
      }
      case "InitiateMultipartUpload": {
        const b = getBucket(p.bucket);
        checkKey(p.key);
        checkForbidOverwrite(req, b, p.key);
        const uploadId = randomBytes(16).toString("hex").toUpperCase();
        uploads.set(uploadId, {
          bucket: p.bucket,
          key: p.key,
          initiated: new Date(),
          contentType: header(req, "content-type") ?? "application/octet-stream",
          meta: metaFrom(req),
          parts: new Map(),
        });
        return sendXml(
          res,
          200,
          `<InitiateMultipartUploadResult><Bucket>${xmlEscape(p.bucket)}</Bucket><Key>${xmlEscape(p.key)}</Key>` +
            `<UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      case "UploadPart": {
        const u = getUpload(p);
        const n = Number(p.q.get("partNumber"));
        if (!Number.isInteger(n) || n < 1 || n > 10000) {
          throw new OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.");
        }
        checkContentMd5(req, body);
        const etag = quoteEtag(md5(body).toString("hex"));
        u.parts.set(n, { data: body, etag, lastModified: new Date() });
        res.statusCode = 200;
        res.setHeader("ETag", etag);
        res.setHeader("x-oss-hash-crc64ecma", (wrongCrc ? crc64(body) ^ 1n : crc64(body)).toString(10));
        res.setHeader("Content-Length", 0);
        return void res.end();
      }
      case "CompleteMultipartUpload": {
        const u = getUpload(p);
        const b = getBucket(p.bucket);
        checkContentMd5(req, body);
        const xml = body.toString("utf8");
        const requested: Array<{ n: number; etag: string }> = [];
        for (const m of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
          const n = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1]!);
          const e = /<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]!);
          if (!n || !e) throw new OssError(400, "MalformedXML", "The XML you provided was not well-formed.");
          requested.push({ n: Number(n[1]), etag: stripQuotes(xmlUnescape(e[1]!)) });
        }
        if (!requested.length) throw new OssError(400, "MalformedXML", "The XML you provided was not well-formed.");
        for (let i = 1; i < requested.length; i++) {
          if (requested[i]!.n <= requested[i - 1]!.n) {
            throw new OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.");
          }
        }
        const chosen = requested.map(({ n, etag }) => {
          const part = u.parts.get(n);
          if (!part || stripQuotes(part.etag) !== etag) {
            throw new OssError(400, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.", {
              PartNumber: String(n),
              ETag: etag,
            });
          }
          return part;
        });
        chosen.forEach((part, i) => {
          if (i < chosen.length - 1 && part.data.length < MIN_PART_SIZE) {
            throw new OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.", {
              PartNumber: String(requested[i]!.n),
            });
          }
        });
        checkForbidOverwrite(req, b, p.key);
        const data = Buffer.concat(chosen.map((c) => c.data));
        const etagMd5 = md5(Buffer.concat(chosen.map((c) => Buffer.from(stripQuotes(c.etag), "hex"))));
        const crc = new Crc64();
        for (const c of chosen) crc.update(c.data);
        const o: StoredObject = {
          data,
          etag: `"${etagMd5.toString("hex").toUpperCase()}-${chosen.length}"`,
          crc64: crc.digest(),
          lastModified: new Date(),
          contentType: u.contentType,
          type: "Multipart",
          meta: u.meta,
        };
        b.set(p.key, o);
        uploads.delete(p.q.get("uploadId")!);
        return sendXml(
          res,
          200,
          `<CompleteMultipartUploadResult><Location>${xmlEscape(`http://127.0.0.1/${p.bucket}/${p.key}`)}</Location>` +
            `<Bucket>${xmlEscape(p.bucket)}</Bucket><Key>${xmlEscape(p.key)}</Key><ETag>${xmlEscape(o.etag)}</ETag>` +
            `</CompleteMultipartUploadResult>`,
          { ETag: o.etag, "x-oss-hash-crc64ecma": (wrongCrc ? o.crc64 ^ 1n : o.crc64).toString(10) },
        );
      }
      case "AbortMultipartUpload": {
        getUpload(p);
        uploads.delete(p.q.get("uploadId")!);
        res.statusCode = 204;
        return void res.end();
      }
      case "ListParts": {
        const u = getUpload(p);
        const marker = Number(p.q.get("part-number-marker") ?? 0);
        const maxParts = Number(p.q.get("max-parts") ?? 1000);
        const nums = [...u.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
        const page = nums.slice(0, maxParts);
        const truncated = nums.length > page.length;
        const partsXml = page
          .map((n) => {
            const part = u.parts.get(n)!;
            return `<Part><PartNumber>${n}</PartNumber><LastModified>${part.lastModified.toISOString()}</LastModified>` +
              `<ETag>${xmlEscape(part.etag)}</ETag><Size>${part.data.length}</Size></Part>`;
          })
          .join("");
        return sendXml(
          res,
          200,
          `<ListPartsResult><Bucket>${xmlEscape(p.bucket)}</Bucket><Key>${xmlEscape(p.key)}</Key>` +
            `<UploadId>${xmlEscape(p.q.get("uploadId")!)}</UploadId><PartNumberMarker>${marker}</PartNumberMarker>` +
            `<NextPartNumberMarker>${page.length ? page[page.length - 1] : 0}</NextPartNumberMarker>` +
            `<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${partsXml}</ListPartsResult>`,
        );
      }
      case "ListMultipartUploads": {
        getBucket(p.bucket);
        const prefix = p.q.get("prefix") ?? "";
        const list = [...uploads.entries()]
          .filter(([, u]) => u.bucket === p.bucket && u.key.startsWith(prefix))
          .sort(([ia, a], [ib, b]) => compareKeys(a.key, b.key) || (ia < ib ? -1 : 1));
        const items = list
          .map(([id, u]) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`)
          .join("");
        return sendXml(
          res,
          200,
          `<ListMultipartUploadsResult><Bucket>${xmlEscape(p.bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
            `<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker><Delimiter></Delimiter>` +
            `<Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`,
        );
      }
      default:
        throw new OssError(501, "NotImplemented", "This operation is not supported by the logpipe OSS test server.");
    }
  }

  // ---- control API (for out-of-process use) -------------------------------------------

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readBody(req);
    const json = (status: number, v: unknown) => {
      const buf = Buffer.from(JSON.stringify(v));
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": buf.length });
      res.end(buf);
    };
    if (path === "/__oss_test/faults" && req.method === "POST") {
      const spec = JSON.parse(body.toString("utf8")) as FaultSpec & { times?: number | null };
      injectFault({ ...spec, times: spec.times === null ? Infinity : spec.times });
      return json(200, { ok: true });
    }
    if (path === "/__oss_test/faults" && req.method === "DELETE") {
      faults = [];
      return json(200, { ok: true });
    }
    if (path === "/__oss_test/requests" && req.method === "GET") return json(200, requests);
    if (path === "/__oss_test/requests" && req.method === "DELETE") {
      requests = {};
      requestLog.length = 0;
      return json(200, { ok: true });
    }
    return json(404, { error: "unknown control path" });
  }

  // ---- dispatcher ------------------------------------------------------------------------

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = requestId();
    res.setHeader("Server", "AliyunOSS");
    res.setHeader("x-oss-request-id", reqId);
    res.setHeader("Date", new Date().toUTCString());
    const url = req.url ?? "/";
    if (url.startsWith("/__oss_test/")) return control(req, res, url.split("?")[0]!);

    let p: ParsedRequest;
    try {
      p = parseRequestTarget(url);
    } catch {
      await readBody(req).catch(() => undefined);
      return sendError(res, new OssError(400, "InvalidURI", "Couldn't parse the specified URI."), reqId, req.method ?? "GET");
    }
    const method = req.method ?? "GET";
    const op = classify(method, p, req);
    requests[op] = (requests[op] ?? 0) + 1;
    const record: RequestRecord = { op, method, key: p.key, status: 0 };
    requestLog.push(record);
    res.on("finish", () => (record.status = res.statusCode));

    const fault = takeFault(op, p.key);
    if (fault) record.fault = fault.kind;
    if (fault?.kind === "reset") {
      req.socket.destroy();
      record.status = -1;
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return; // client went away
    }
    if (fault?.kind === "delay") {
      await new Promise((r) => setTimeout(r, fault.delayMs));
      if (req.socket.destroyed || res.destroyed) {
        record.status = -2;
        return;
      }
    }
    try {
      if (!p.bucket) throw new OssError(501, "NotImplemented", "Service-level operations are not supported.");
      authenticate(req, p);
      if (fault?.kind === "status") {
        const code = fault.status === 503 ? "ServiceUnavailable" : fault.status >= 500 ? "InternalError" : "InjectedFault";
        throw new OssError(fault.status, code, `Injected fault (${op}).`);
      }
      if (fault?.kind === "badDigest") {
        throw new OssError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      }
      await handle(req, res, op, p, body, fault?.kind === "wrongCrc");
    } catch (err) {
      if (err instanceof OssError) return sendError(res, err, reqId, method);
      const e = new OssError(500, "InternalError", `Test server error: ${(err as Error).message}`);
      return sendError(res, e, reqId, method);
    }
  }

  const server: Server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end(String(err));
      }
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";

  return {
    endpoint: `http://${host}:${port}`,
    port,
    bucket,
    accessKeyId,
    accessKeySecret,
    ...(securityToken !== undefined ? { securityToken } : {}),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    injectFault,
    clearFaults: () => {
      faults = [];
    },
    get requests() {
      return requests;
    },
    requestLog,
    resetCounters: () => {
      requests = {};
      requestLog.length = 0;
    },
    getObject: (key, b = bucket) => buckets.get(b)?.get(key)?.data,
    listKeys: (b = bucket) => [...(buckets.get(b)?.keys() ?? [])].sort(compareKeys),
    openUploads: () => [...uploads.entries()].map(([uploadId, u]) => ({ uploadId, key: u.key, parts: u.parts.size })),
  };
}

/** Alias matching the brief: `start({ port? })`. */
export const start = startOssServer;

/** Controls a server running in another process (the standalone mode) over its control API. */
export function connectOssTestServer(endpoint: string) {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${endpoint}/__oss_test/${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
    });
    if (!res.ok) throw new Error(`OSS test server control ${method} ${path}: HTTP ${res.status}`);
    return res.json();
  };
  return {
    injectFault: async (f: FaultSpec) => {
      await call("POST", "faults", { ...f, times: f.times === Infinity ? null : f.times });
    },
    clearFaults: async () => {
      await call("DELETE", "faults");
    },
    requests: async () => (await call("GET", "requests")) as Record<string, number>,
    resetCounters: async () => {
      await call("DELETE", "requests");
    },
  };
}

// ---- standalone mode ---------------------------------------------------------------------

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const args = process.argv.slice(2);
  const port = argValue(args, "--port");
  const server = await startOssServer({
    ...(port !== undefined ? { port: Number(port) } : {}),
    ...(argValue(args, "--bucket") ? { bucket: argValue(args, "--bucket")! } : {}),
    ...(argValue(args, "--access-key-id") ? { accessKeyId: argValue(args, "--access-key-id")! } : {}),
    ...(argValue(args, "--access-key-secret") ? { accessKeySecret: argValue(args, "--access-key-secret")! } : {}),
  });
  process.stdout.write(
    JSON.stringify({
      endpoint: server.endpoint,
      bucket: server.bucket,
      accessKeyId: server.accessKeyId,
      accessKeySecret: server.accessKeySecret,
      pid: process.pid,
    }) + "\n",
  );
  const shutdown = () => {
    server.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

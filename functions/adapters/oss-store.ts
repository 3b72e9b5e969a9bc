/**
 * `ObjectStore` on Alibaba Cloud OSS (or any OSS-compatible endpoint) through ali-oss 6.
 *
 * - Small files: one PutObject with `Content-MD5` (OSS rejects altered bytes with BadDigest).
 * - Large files: resumable multipart upload; ali-oss's checkpoint is persisted as JSON to
 *   `options.checkpointPath` after every part, and a later call (another process after a
 *   crash, or the retry loop here) resumes from it when it describes the same file, key and
 *   content. The file is deleted once the object is complete.
 * - Every write is confirmed by comparing OSS's `x-oss-hash-crc64ecma` with the expected
 *   CRC-64 (from the response, or a HEAD when the response lacks it); a mismatch rejects with
 *   `IntegrityError` and is never retried.
 * - Transient failures (5xx, 429, timeouts, connection resets) are retried with exponential
 *   backoff and full jitter; 4xx are not (a retry cannot fix them).
 * - Errors are re-created as `ObjectStoreError` with only safe fields: ali-oss errors carry the
 *   signed request (Authorization, STS token), so they are never rethrown or logged as is.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import OSS from "ali-oss";
import { crashPoint } from "../core/crash-points.js";
import { crc64, parseOssCrc64 } from "../core/crc64.js";
import {
  DEFAULT_PART_CONCURRENCY,
  DEFAULT_PART_SIZE,
  IntegrityError,
  ObjectStoreError,
  type ExpectedContent,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
} from "./object-store.js";

export { IntegrityError, ObjectStoreError } from "./object-store.js";

type Headers = Record<string, string | string[] | undefined>;

export interface OssResponseLike {
  status: number;
  headers: Headers;
}

/** The part of an ali-oss client this store uses (ali-oss's own typings lack several options). */
export interface OssClientLike {
  put(name: string, file: string | Buffer, options?: Record<string, unknown>): Promise<{ res: OssResponseLike }>;
  get(name: string, options?: Record<string, unknown>): Promise<{ content: Buffer; res: OssResponseLike }>;
  head(name: string, options?: Record<string, unknown>): Promise<{ res: OssResponseLike; status?: number }>;
  delete(name: string, options?: Record<string, unknown>): Promise<unknown>;
  listV2(
    query: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<{
    objects?: Array<{ name: string; size: number | string; lastModified?: string }>;
    isTruncated: boolean;
    nextContinuationToken?: string | null;
  }>;
  multipartUpload(name: string, file: string, options: Record<string, unknown>): Promise<{ res: OssResponseLike }>;
}

export interface Logger {
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface OssObjectStoreOptions {
  bucket: string;
  /** e.g. `https://oss-cn-hangzhou-internal.aliyuncs.com` or `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** e.g. `oss-cn-hangzhou` (used when no endpoint is given, and for V4 signing). */
  region?: string;
  /** Use the VPC-internal endpoint derived from `region` (no endpoint given). */
  internal?: boolean;
  accessKeyId: string;
  accessKeySecret: string;
  /** STS security token (FC hands temporary credentials to the handler in its context). */
  stsToken?: string;
  secure?: boolean;
  /** Path-style requests (`/<bucket>/<key>`, ali-oss `sldEnable`). Default: on for IP / localhost endpoints. */
  pathStyle?: boolean;
  /** Sign with OSS V4 (OSS4-HMAC-SHA256) instead of V1. */
  authorizationV4?: boolean;
  /** Per-request timeout (default 60 s). */
  timeoutMs?: number;
  /** Retries after the first attempt on transient failures (default 3). */
  retries?: number;
  /** Backoff: first delay cap (default 200 ms), doubled per retry up to `retryMaxDelayMs` (default 10 s). */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Default multipart threshold when putFile gets none (default 32 MiB). */
  multipartThreshold?: number;
  /** Multipart part size (default 8 MiB; raised so a file never needs more than 10 000 parts). */
  partSize?: number;
  /** Parts uploaded in parallel (default 4). */
  partConcurrency?: number;
  /** Keys per ListObjectsV2 page (default 1000, the OSS maximum). */
  listPageSize?: number;
  logger?: Logger;
  /** An ali-oss client to use instead of building one (tests). */
  client?: OssClientLike;
}

/** Persisted multipart checkpoint. */
interface CheckpointFile {
  version: 1;
  bucket: string;
  key: string;
  file: string;
  size: number;
  md5: string;
  crc64: string;
  partSize: number;
  uploadId: string;
  doneParts: Array<{ number: number; etag: string }>;
}

/** ali-oss's in-memory checkpoint shape. */
interface AliCheckpoint {
  file: string;
  name: string;
  fileSize: number;
  partSize: number;
  uploadId: string;
  doneParts: Array<{ number: number; etag: string }>;
}

const MIN_PART_SIZE = 100 * 1024;
const MAX_PARTS = 10_000;
const RETRYABLE_CODES = new Set([
  "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED", "EAI_AGAIN", "ENETUNREACH",
  "EHOSTUNREACH", "UND_ERR_SOCKET", "InternalError", "ServiceUnavailable", "SlowDown",
  "RequestTimeout", "RequestError", "ResponseError", "ConnectionTimeoutError", "ResponseTimeoutError",
]);
const RETRYABLE_NAMES = new Set([
  "ConnectionTimeoutError", "ResponseTimeoutError", "RequestError", "ResponseError", "SocketError",
  "ConnectionResetError", "SocketAssignTimeoutError", "HttpClientRequestTimeoutError",
]);

interface ErrorLike {
  name?: string;
  code?: string;
  status?: number;
  message?: string;
  requestId?: string;
}

/** Whether a failed OSS call is worth repeating: 5xx, 429, timeouts and broken connections. */
export function isRetryableOssError(err: unknown): boolean {
  if (err instanceof IntegrityError) return false;
  if (err instanceof ObjectStoreError) return false;
  const e = (err ?? {}) as ErrorLike;
  if (typeof e.status === "number") {
    if (e.status >= 500 || e.status === 429) return true;
    if (e.status === -1 || e.status === -2) return true; // urllib: network error / timeout
    if (e.status >= 400) return false;
  }
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  return false;
}

function headerValue(headers: Headers | undefined, name: string): string | undefined {
  const v = headers?.[name] ?? headers?.[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function isLocalEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  try {
    const host = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`).hostname;
    return host === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith("[");
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class OssObjectStore implements ObjectStore {
  readonly description: string;
  readonly bucket: string;
  private readonly client: OssClientLike;
  private readonly retries: number;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly timeoutMs: number;
  private readonly defaultThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly listPageSize: number;
  private readonly logger: Logger | undefined;
  private readonly secrets: string[];

  readonly rateLimited = true;

  constructor(options: OssObjectStoreOptions) {
    this.bucket = options.bucket;
    this.description = `oss://${options.bucket}/`;
    this.retries = options.retries ?? 3;
    this.baseDelay = options.retryBaseDelayMs ?? 200;
    this.maxDelay = options.retryMaxDelayMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.defaultThreshold = options.multipartThreshold ?? 32 * 1024 * 1024;
    this.partSize = Math.max(MIN_PART_SIZE, options.partSize ?? DEFAULT_PART_SIZE);
    this.partConcurrency = Math.max(1, options.partConcurrency ?? DEFAULT_PART_CONCURRENCY);
    this.listPageSize = Math.min(1000, Math.max(1, options.listPageSize ?? 1000));
    this.logger = options.logger;
    this.secrets = [options.accessKeySecret, options.stsToken ?? ""].filter((s) => s.length >= 4);
    if (options.client) {
      this.client = options.client;
    } else {
      const config: Record<string, unknown> = {
        bucket: options.bucket,
        accessKeyId: options.accessKeyId,
        accessKeySecret: options.accessKeySecret,
        secure: options.secure ?? !(options.endpoint ?? "").startsWith("http://"),
        timeout: this.timeoutMs,
        sldEnable: options.pathStyle ?? isLocalEndpoint(options.endpoint),
        authorizationV4: options.authorizationV4 ?? false,
        retryMax: 0, // retries are ours (ali-oss's own never retry streams)
      };
      if (options.endpoint) config.endpoint = options.endpoint;
      if (options.region) config.region = options.region;
      if (options.internal !== undefined) config.internal = options.internal;
      if (options.stsToken) {
        config.stsToken = options.stsToken;
        // No refresh function: FC gives fresh credentials per invocation. A long interval keeps
        // ali-oss from warning on the console.
        config.refreshSTSTokenInterval = 3_600_000;
      }
      this.client = new (OSS as unknown as new (o: Record<string, unknown>) => OssClientLike)(config);
    }
  }

  // ---- ObjectStore ----------------------------------------------------------------------

  async putFile(key: string, path: string, expected: ExpectedContent, options: PutFileOptions = {}): Promise<void> {
    checkKey(key, "PutObject");
    const st = await stat(path);
    if (st.size !== expected.size) {
      throw new ObjectStoreError(
        `putFile ${this.url(key)}: local file is ${st.size} bytes, expected ${expected.size}`,
        "PutObject",
        key,
        "LocalFileMismatch",
      );
    }
    const threshold = Math.max(options.multipartThreshold ?? this.defaultThreshold, MIN_PART_SIZE);
    if (expected.size < threshold) {
      const res = await this.withRetry("PutObject", key, async () =>
        (
          await this.client.put(key, path, {
            headers: { "Content-MD5": expected.md5.toString("base64") },
            timeout: this.timeoutMs,
          })
        ).res,
      );
      await this.confirmCrc("PutObject", key, res, expected);
      return;
    }
    await this.multipart(key, path, expected, options);
  }

  async putBuffer(key: string, body: Buffer, known?: ExpectedContent): Promise<void> {
    checkKey(key, "PutObject");
    if (known && known.size !== body.length) {
      throw new ObjectStoreError(`putBuffer ${this.url(key)}: body is ${body.length} bytes, expected ${known.size}`, "PutObject", key, "LocalFileMismatch");
    }
    const expected = known ?? { size: body.length, crc64: crc64(body) };
    // ali-oss sends a Content-MD5 header it is given as it is, and computes one for a Buffer body otherwise
    const headers = known ? { "Content-MD5": known.md5.toString("base64") } : undefined;
    const res = await this.withRetry("PutObject", key, async () => (await this.client.put(key, body, { timeout: this.timeoutMs, headers })).res);
    await this.confirmCrc("PutObject", key, res, expected);
  }

  async getBuffer(key: string): Promise<Buffer> {
    checkKey(key, "GetObject");
    const { content, res } = await this.withRetry("GetObject", key, () => this.client.get(key, { timeout: this.timeoutMs }));
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content ?? "");
    const length = headerValue(res.headers, "content-length");
    if (length !== undefined && Number(length) !== body.length) {
      throw new IntegrityError(`GetObject ${this.url(key)}: got ${body.length} bytes, Content-Length ${length}`, key, {
        expected: length,
        actual: String(body.length),
      });
    }
    const remote = parseOssCrc64(headerValue(res.headers, "x-oss-hash-crc64ecma"));
    if (remote !== undefined) {
      const local = crc64(body);
      if (local !== remote) {
        throw new IntegrityError(
          `GetObject ${this.url(key)}: CRC64 of the bytes read (${local}) differs from the object's x-oss-hash-crc64ecma (${remote})`,
          key,
          { expected: remote.toString(), actual: local.toString() },
        );
      }
    }
    return body;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key, "HeadObject");
    try {
      const { res } = await this.withRetry("HeadObject", key, () => this.client.head(key, { timeout: this.timeoutMs }), {
        passThrough: (e) => (e as ErrorLike).status === 404,
      });
      const info: ObjectInfo = { key, size: Number(headerValue(res.headers, "content-length") ?? 0) };
      const lm = headerValue(res.headers, "last-modified");
      if (lm) info.lastModified = new Date(lm);
      const crc = parseOssCrc64(headerValue(res.headers, "x-oss-hash-crc64ecma"));
      if (crc !== undefined) info.crc64 = crc;
      return info;
    } catch (err) {
      if ((err as ErrorLike).status === 404) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query: Record<string, unknown> = { "max-keys": this.listPageSize };
      if (prefix) query.prefix = prefix;
      if (token) query["continuation-token"] = token;
      const page = await this.withRetry("ListObjectsV2", prefix, () => this.client.listV2({ ...query }, { timeout: this.timeoutMs }));
      for (const o of page.objects ?? []) {
        const info: ObjectInfo = { key: o.name, size: Number(o.size) };
        if (o.lastModified) info.lastModified = new Date(o.lastModified);
        yield info;
      }
      token = page.isTruncated ? (page.nextContinuationToken ?? undefined) : undefined;
      if (page.isTruncated && !token) {
        throw new ObjectStoreError(`ListObjectsV2 ${this.url(prefix)}: truncated page without a continuation token`, "ListObjectsV2", prefix);
      }
    } while (token);
  }

  /** Deletes an object (absent is fine). Not part of ObjectStore; for tools and tests. */
  async delete(key: string): Promise<void> {
    checkKey(key, "DeleteObject");
    await this.withRetry("DeleteObject", key, () => this.client.delete(key, { timeout: this.timeoutMs }));
  }

  // ---- multipart ------------------------------------------------------------------------

  private async multipart(key: string, path: string, expected: ExpectedContent, options: PutFileOptions): Promise<void> {
    const partSize = Math.max(this.partSize, Math.ceil(expected.size / MAX_PARTS));
    const cpPath = options.checkpointPath;
    const expectedMd5 = expected.md5.toString("hex");
    const expectedCrc = expected.crc64.toString(10);

    let checkpoint: AliCheckpoint | undefined;
    if (cpPath) {
      const saved = await readCheckpoint(cpPath);
      if (
        saved &&
        saved.bucket === this.bucket &&
        saved.key === key &&
        saved.file === path &&
        saved.size === expected.size &&
        saved.md5 === expectedMd5 &&
        saved.crc64 === expectedCrc &&
        saved.partSize >= MIN_PART_SIZE &&
        saved.uploadId
      ) {
        checkpoint = {
          file: path,
          name: key,
          fileSize: saved.size,
          partSize: saved.partSize,
          uploadId: saved.uploadId,
          doneParts: saved.doneParts.filter((p) => Number.isInteger(p.number) && typeof p.etag === "string"),
        };
        this.logger?.debug?.({ op: "MultipartUpload", key, uploadId: saved.uploadId, doneParts: checkpoint.doneParts.length }, "resuming multipart upload from checkpoint");
      } else if (saved) {
        // A checkpoint for something else (older content, another key). Its upload is left to
        // the bucket's lifecycle rule for incomplete multipart uploads.
        this.logger?.warn({ op: "MultipartUpload", key, staleKey: saved.key }, "ignoring a checkpoint that does not match this upload");
        await rm(cpPath, { force: true });
      }
    }

    const persist = async (cp: AliCheckpoint) => {
      if (!cpPath) return;
      const data: CheckpointFile = {
        version: 1,
        bucket: this.bucket,
        key,
        file: path,
        size: expected.size,
        md5: expectedMd5,
        crc64: expectedCrc,
        partSize: cp.partSize,
        uploadId: cp.uploadId,
        doneParts: cp.doneParts.map((p) => ({ number: p.number, etag: p.etag })),
      };
      await mkdir(dirname(cpPath), { recursive: true });
      // ".tmp." prefix: the same convention as every NAS temp file, so the reconciler removes
      // one orphaned by a crash between write and rename.
      const tmp = `${dirname(cpPath)}/.tmp.${basename(cpPath)}.${process.pid}.${randomBytes(4).toString("hex")}`;
      await writeFile(tmp, JSON.stringify(data));
      await rename(tmp, cpPath);
    };

    // Each attempt works on its own copy of the checkpoint: ali-oss keeps uploading parts that
    // were in flight when another part failed, and those late completions must not leak into
    // the next attempt or overwrite the persisted file.
    let attemptNo = 0;
    let current = -1;
    let persistChain: Promise<void> = Promise.resolve();
    let lastState: AliCheckpoint | undefined = checkpoint;

    try {
      const res = await this.withRetry(
        "MultipartUpload",
        key,
        async () => {
          const me = ++attemptNo;
          current = me;
          const cp = lastState ? { ...lastState, doneParts: lastState.doneParts.map((p) => ({ ...p })) } : undefined;
          let live: AliCheckpoint | undefined = cp;
          const progress = async (_fraction: number, state: AliCheckpoint | null) => {
            if (!state || current !== me) return;
            live = state;
            lastState = { ...state, file: path, doneParts: state.doneParts.map((p) => ({ ...p })) };
            const snapshot = lastState;
            persistChain = persistChain.then(() => persist(snapshot));
            await persistChain;
            // test hook: die between parts, after the checkpoint is on disk (inert unless set)
            if (snapshot.doneParts.length > 0) crashPoint("upload.mid-multipart");
            if (options.onProgress) {
              const sent = snapshot.doneParts.reduce(
                (sum, p) => sum + Math.min(snapshot.partSize, expected.size - (p.number - 1) * snapshot.partSize),
                0,
              );
              options.onProgress(sent, expected.size);
            }
          };
          try {
            const r = await this.client.multipartUpload(key, path, {
              ...(cp ? { checkpoint: cp } : {}),
              partSize,
              parallel: this.partConcurrency,
              timeout: this.timeoutMs,
              progress,
            });
            current = -1;
            return r.res;
          } catch (err) {
            current = -1;
            if (live) lastState = { ...live, file: path, doneParts: live.doneParts.map((p) => ({ ...p })) };
            const e = err as ErrorLike;
            // The upload id is gone (aborted, expired, or completed by an attempt whose reply
            // was lost): maybe the object is already there; otherwise start a new upload.
            if (e.name === "abort" || e.code === "NoSuchUpload") {
              const done = await this.matches(key, expected);
              if (done) return done;
              lastState = undefined;
              await persistChain;
              if (cpPath) await rm(cpPath, { force: true });
              throw Object.assign(new Error("multipart upload no longer exists; restarting"), { status: 503, code: "NoSuchUpload" });
            }
            throw err;
          }
        },
      );
      current = -1;
      await persistChain.catch(() => undefined);
      // Completed (verified or not, the upload id is spent): the checkpoint is useless now.
      if (cpPath) await rm(cpPath, { force: true });
      await this.confirmCrc("CompleteMultipartUpload", key, res, expected);
    } finally {
      current = -1;
      await persistChain.catch(() => undefined);
    }
  }

  /** HEAD the key; the response when the object already holds exactly `expected`. */
  private async matches(key: string, expected: { size: number; crc64: bigint }): Promise<OssResponseLike | undefined> {
    try {
      const { res } = await this.client.head(key, { timeout: this.timeoutMs });
      const crc = parseOssCrc64(headerValue(res.headers, "x-oss-hash-crc64ecma"));
      const size = Number(headerValue(res.headers, "content-length"));
      return crc === expected.crc64 && size === expected.size ? res : undefined;
    } catch {
      return undefined;
    }
  }

  // ---- verification, retries, errors ------------------------------------------------------

  private async confirmCrc(op: string, key: string, res: OssResponseLike, expected: { size: number; crc64: bigint }): Promise<void> {
    let remote = parseOssCrc64(headerValue(res.headers, "x-oss-hash-crc64ecma"));
    let source = "response";
    if (remote === undefined) {
      const info = await this.head(key);
      if (!info) throw new IntegrityError(`${op} ${this.url(key)}: object not found after upload`, key);
      if (info.size !== expected.size) {
        throw new IntegrityError(`${op} ${this.url(key)}: stored size ${info.size} differs from expected ${expected.size}`, key, {
          expected: String(expected.size),
          actual: String(info.size),
        });
      }
      remote = info.crc64;
      source = "HEAD";
    }
    if (remote === undefined) {
      throw new IntegrityError(`${op} ${this.url(key)}: the store returned no x-oss-hash-crc64ecma, cannot verify`, key);
    }
    if (remote !== expected.crc64) {
      throw new IntegrityError(
        `${op} ${this.url(key)}: CRC64 mismatch, expected ${expected.crc64} but the store reports ${remote} (${source})`,
        key,
        { expected: expected.crc64.toString(), actual: remote.toString() },
      );
    }
  }

  private backoff(retry: number): number {
    const cap = Math.min(this.maxDelay, this.baseDelay * 2 ** retry);
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }

  private async withRetry<T>(
    op: string,
    key: string,
    fn: () => Promise<T>,
    opts: { passThrough?: (err: unknown) => boolean } = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof IntegrityError) throw err;
        if (opts.passThrough?.(err)) throw this.toStoreError(err, op, key, false);
        const retryable = isRetryableOssError(err);
        if (!retryable || attempt >= this.retries) throw this.toStoreError(err, op, key, retryable);
        const delay = this.backoff(attempt);
        const e = err as ErrorLike;
        this.logger?.warn(
          { op, key, store: this.description, attempt: attempt + 1, of: this.retries + 1, status: e.status, code: e.code ?? e.name, delayMs: delay },
          "object store call failed, retrying",
        );
        await sleep(delay);
      }
    }
  }

  private toStoreError(err: unknown, op: string, key: string, exhausted: boolean): ObjectStoreError {
    if (err instanceof ObjectStoreError) return err;
    const e = (err ?? {}) as ErrorLike;
    const code = e.code ?? (e.name && e.name !== "Error" ? e.name.replace(/Error$/, "") || e.name : undefined);
    const status = typeof e.status === "number" ? e.status : undefined;
    const detail = this.redact(String(e.message ?? err)).split("\n")[0]!.slice(0, 300);
    const msg =
      `${op} ${this.url(key)} failed` +
      (code ? `: ${code}` : "") +
      (status !== undefined ? ` (HTTP ${status})` : "") +
      (exhausted ? ` after ${this.retries + 1} attempts` : "") +
      (detail ? ` - ${detail}` : "") +
      (e.requestId ? ` [request ${e.requestId}]` : "");
    return new ObjectStoreError(msg, op, key, code, status, e.requestId, exhausted);
  }

  private redact(s: string): string {
    let out = s
      .replace(/OSS [^\s:]+:[A-Za-z0-9+/=]+/g, "OSS ***")
      .replace(/OSS4-HMAC-SHA256 [^\s"']+/g, "OSS4-HMAC-SHA256 ***");
    for (const secret of this.secrets) out = out.split(secret).join("***");
    return out;
  }

  private url(key: string): string {
    return `${this.description}${key}`;
  }
}

function checkKey(key: string, op: string): void {
  if (typeof key !== "string" || key.length === 0 || key.startsWith("/") || key.startsWith("\\") || Buffer.byteLength(key) > 1023) {
    throw new ObjectStoreError(`${op}: invalid object key ${JSON.stringify(key)}`, op, String(key), "InvalidObjectName");
  }
}

async function readCheckpoint(path: string): Promise<CheckpointFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<CheckpointFile>;
    if (v.version !== 1 || typeof v.uploadId !== "string" || !Array.isArray(v.doneParts)) return undefined;
    return v as CheckpointFile;
  } catch {
    return undefined; // torn write of an older version: start over
  }
}

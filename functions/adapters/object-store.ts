/**
 * The archive's object store, as the data path sees it. Two implementations:
 * `OssObjectStore` (ali-oss, Alibaba Cloud OSS or any OSS-compatible endpoint) and
 * `LocalObjectStore` (a directory where each object is a file at its key, for local runs).
 */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
  /** CRC-64/XZ of the object when the store knows it cheaply (OSS HEAD); absent otherwise. */
  crc64?: bigint;
}

/** What the uploader knows about a local file before sending it; the store must confirm it. */
export interface ExpectedContent {
  size: number;
  /** raw 16-byte MD5 digest (sent as Content-MD5) */
  md5: Buffer;
  /** CRC-64/XZ (ECMA-182) of the content, compared with OSS's x-oss-hash-crc64ecma */
  crc64: bigint;
}

/** OssObjectStore's multipart defaults: bytes per part, and parts in flight at once. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_PART_CONCURRENCY = 4;

export interface PutFileOptions {
  /** Files at or above this size go through resumable multipart upload. */
  multipartThreshold?: number;
  /** Where a multipart upload's checkpoint is persisted so a later run resumes it. */
  checkpointPath?: string;
  /** Called with bytes sent so far (multipart only). */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

export interface ObjectStore {
  /** A short human description (e.g. `oss://bucket` or `file:///dir`), never containing secrets. */
  readonly description: string;
  /**
   * The service throttles requests above a rate (OSS does): upload paces its requests to it at
   * LOGPIPE_UPLOAD_REQUESTS_PER_SECOND (core/request-pacer.ts). A local directory is not paced.
   */
  readonly rateLimited?: boolean;
  /**
   * Uploads a local file to `key`. Resolves only once the store has confirmed the bytes
   * (Content-MD5 accepted and the returned CRC64 equals `expected.crc64`); otherwise rejects
   * with an error and the caller keeps its local copy.
   */
  putFile(key: string, path: string, expected: ExpectedContent, options?: PutFileOptions): Promise<void>;
  /**
   * An object already in memory (small sealed files, dead letters, markers). Same verification
   * as putFile; `expected`, when the caller has hashed the bytes already, saves hashing them again.
   */
  putBuffer(key: string, body: Buffer, expected?: ExpectedContent): Promise<void>;
  getBuffer(key: string): Promise<Buffer>;
  /** Metadata of one object, or undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** All objects under a prefix, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
}

/**
 * The store accepted a write but what it holds is not what was meant to be written (CRC64,
 * size or MD5 mismatch), or a read returned bytes that do not match the store's checksum.
 * The caller must keep its local copy. Never retried automatically.
 */
export class IntegrityError extends Error {
  override readonly name = "IntegrityError";
  constructor(
    message: string,
    readonly key: string,
    readonly details: { expected?: string; actual?: string } = {},
  ) {
    super(message);
  }
}

/**
 * A store operation failed. `code` is the store's error code when it gave one (OSS codes such
 * as `NoSuchKey`, `BadDigest`, `SignatureDoesNotMatch`; the local store uses `NoSuchKey` and
 * `InvalidObjectName` too). Carries no credentials, request headers or signatures.
 */
export class ObjectStoreError extends Error {
  override readonly name = "ObjectStoreError";
  constructor(
    message: string,
    readonly op: string,
    readonly key: string,
    readonly code?: string,
    readonly status?: number,
    readonly requestId?: string,
    /** true when the operation was attempted as often as allowed and each failure was transient */
    readonly retriesExhausted = false,
  ) {
    super(message);
  }
}

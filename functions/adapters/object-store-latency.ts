/**
 * An object-store latency model for benchmarks: an `ObjectStore` that forwards every call to a
 * real one (the OSS-compatible test server through ali-oss, or a local directory) and books each
 * OSS request it stands for on the handler's clock (NasLatencyDir.bookRoundTrip), so a PUT's
 * round trip overlaps with the uploads and NAS operations in flight beside it, as in the handler.
 * FC bills upload's duration, and an OSS PutObject is a network round trip it waits for; a
 * server on the same machine answers in well under a millisecond.
 *
 * Requests per call, as OssObjectStore makes them: putBuffer 1 PutObject; putFile below the
 * multipart threshold 1 PutObject, at or above it InitiateMultipartUpload + one UploadPart per
 * part (its default part size, that many at a time) + CompleteMultipartUpload; getBuffer 1
 * GetObject; head 1 HeadObject; list 1 ListObjectsV2 per 1,000 keys.
 *
 * Default: 100 ms per request, the low end of the 100–200 ms latency OSS's performance best
 * practices give for small files used by latency-sensitive applications
 * (https://www.alibabacloud.com/help/doc-detail/179398.htm, checked 2026-12-02). It is the only
 * published figure found; a request from FC over the region's internal endpoint may well be
 * faster, so treat what it books as an upper estimate, and pass another model to test others.
 * Transfer time per MB is not modelled (no published per-connection figure).
 *
 * With or without a model, it also measures the time the handler's event loop sat idle while a
 * request to the stand-in was outstanding (`standInIdleMs`): the stand-in is another process on
 * this machine doing OSS's side of the work (hashing, writing the object), which is not the
 * handler's. The bench's "off" figure (OSS requests counted, not waited) leaves that time out.
 */
import { performance } from "node:perf_hooks";
import pLimit from "p-limit";
import { DEFAULT_PART_CONCURRENCY, DEFAULT_PART_SIZE, type ExpectedContent, type ObjectInfo, type ObjectStore, type PutFileOptions } from "./object-store.js";

export interface ObjectStoreLatencyModel {
  name: string;
  /** per request (PutObject, UploadPart, GetObject, HeadObject, …), whatever its size */
  requestMs: number;
  /** where the figure comes from, for reports */
  source: string;
}

export const OSS_SMALL_OBJECT_LATENCY: ObjectStoreLatencyModel = {
  name: "OSS, small-object request",
  requestMs: 100,
  source:
    "100 ms per request: the low end of the 100-200 ms OSS gives for small files " +
    "(https://www.alibabacloud.com/help/doc-detail/179398.htm, checked 2026-12-02); transfer time per MB not modelled",
};

const LIST_PAGE = 1000;

export interface ObjectRequestCounts {
  requests: number;
  /** the requests' modelled time one after another (what overlapped is booked once, by the clock) */
  modelledMs: number;
  /** wall time the event loop sat idle while at least one request to the stand-in was outstanding */
  standInIdleMs: number;
}

export const emptyObjectRequestCounts = (): ObjectRequestCounts => ({ requests: 0, modelledMs: 0, standInIdleMs: 0 });

/** Adds `b` into `a` (several invocations' counters into one report). */
export function addObjectRequestCounts(a: ObjectRequestCounts, b: ObjectRequestCounts): ObjectRequestCounts {
  a.requests += b.requests;
  a.modelledMs += b.modelledMs;
  a.standInIdleMs += b.standInIdleMs ?? 0;
  return a;
}

/** The handler's clock the requests are booked on (NasLatencyDir's overlap clock). */
export interface RequestClock {
  /** spends one request's modelled time, from now */
  bookRoundTrip(ms: number): Promise<void>;
  /** holds the clock while the stand-in store does its real work (which takes no modelled time) */
  trackRealWork<T>(work: Promise<T>): Promise<T>;
}

export class LatencyObjectStore implements ObjectStore {
  readonly counts: ObjectRequestCounts = emptyObjectRequestCounts();
  readonly description: string;
  /** it stands for OSS, whatever it wraps (the OSS test server or a local directory) */
  readonly rateLimited = true;
  /** calls to the stand-in in progress, and the event loop's idle time when the first of them began */
  private outstanding = 0;
  private idleAtFirst = 0;

  /** Without a model, requests are counted and the stand-in's time measured, nothing booked. */
  constructor(
    private readonly inner: ObjectStore,
    readonly model: ObjectStoreLatencyModel | undefined,
    private readonly clock: RequestClock,
  ) {
    this.description = inner.description;
  }

  resetCounts(): void {
    Object.assign(this.counts, emptyObjectRequestCounts());
  }

  /** Books one request's modelled time, starting now (when the real client would send it). */
  private async request(): Promise<void> {
    this.counts.requests++;
    if (!this.model) return;
    this.counts.modelledMs += this.model.requestMs;
    return this.clock.bookRoundTrip(this.model.requestMs);
  }

  /**
   * The stand-in's work, its idle time measured: the event loop's idle time (libuv's, which
   * grows only while the loop waits for I/O) from the moment one call is outstanding to the
   * moment none is.
   */
  private async standIn<T>(work: Promise<T>): Promise<T> {
    if (this.outstanding++ === 0) this.idleAtFirst = performance.eventLoopUtilization().idle;
    try {
      return await work;
    } finally {
      if (--this.outstanding === 0) this.counts.standInIdleMs += performance.eventLoopUtilization().idle - this.idleAtFirst;
    }
  }

  /** The store's own work and the requests it stands for, both from the call's start. */
  private async alongside<T>(work: Promise<T>, requests: () => Promise<void> = () => this.request()): Promise<T> {
    const [result] = await Promise.all([this.clock.trackRealWork(this.standIn(work)), requests()]);
    return result;
  }

  putFile(key: string, path: string, expected: ExpectedContent, options?: PutFileOptions): Promise<void> {
    const work = this.inner.putFile(key, path, expected, options);
    const threshold = options?.multipartThreshold;
    if (threshold === undefined || expected.size < threshold) return this.alongside(work);
    return this.alongside(work, async () => {
      await this.request(); // InitiateMultipartUpload
      const limit = pLimit(DEFAULT_PART_CONCURRENCY);
      await Promise.all(Array.from({ length: Math.max(1, Math.ceil(expected.size / DEFAULT_PART_SIZE)) }, () => limit(() => this.request())));
      await this.request(); // CompleteMultipartUpload
    });
  }

  putBuffer(key: string, body: Buffer, expected?: ExpectedContent): Promise<void> {
    return this.alongside(this.inner.putBuffer(key, body, expected));
  }

  getBuffer(key: string): Promise<Buffer> {
    return this.alongside(this.inner.getBuffer(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.alongside(this.inner.head(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let n = 0;
    await this.request();
    for await (const o of this.inner.list(prefix)) {
      if (++n % LIST_PAGE === 0) await this.request();
      yield o;
    }
  }
}

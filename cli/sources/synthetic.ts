/**
 * Seeded generator of realistic JSON log lines, Zipf-skewed over N apps (a few apps log most
 * of the volume, as in real fleets). Same seed → same bytes, so runs and benchmarks repeat.
 */
import type { RecordSource, SourceBatch, SourceRecord } from "./types.js";

export interface SyntheticOptions {
  apps?: number;
  /** Stop after this many records … */
  records?: number;
  /** … or after this many value bytes (whichever comes first). */
  bytes?: number;
  seed?: number;
  topic?: string;
  partitions?: number;
  /** Zipf exponent (1.0–1.2 is typical of log volume per service). */
  skew?: number;
  /** Epoch ms of the first record; records advance ~1 ms each. */
  startTime?: number;
}

/** mulberry32: small, fast, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cumulative Zipf weights for sampling app ranks. */
export function zipfSampler(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = total += 1 / k ** s;
  return () => {
    const x = rand() * total;
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const SERVICES = ["pay-gw", "order-svc", "user-api", "risk-engine", "notify", "search", "catalog", "cart", "auth", "ledger", "report", "gateway"];
const LEVELS = ["INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"];
const PATHS = ["/api/v1/orders", "/api/v1/pay", "/api/v2/users/profile", "/healthz", "/api/v1/cart/items", "/internal/risk/score", "/api/v1/search"];
const MESSAGES = [
  "request completed", "cache miss, loading from db", "upstream timeout, retrying", "payment authorized",
  "user session refreshed", "rate limit exceeded for client", "order state changed", "slow query detected",
  "connection pool exhausted, waiting", "message published to topic", "risk score computed", "validation failed: missing field",
];

export function appName(rank: number): string {
  return `${SERVICES[rank % SERVICES.length]}-${String(rank).padStart(3, "0")}`;
}

export class SyntheticGenerator {
  private readonly rand: () => number;
  private readonly pickApp: () => number;
  private readonly apps: number;
  private now: number;
  constructor(private readonly opts: SyntheticOptions = {}) {
    this.rand = seededRandom(opts.seed ?? 42);
    this.apps = opts.apps ?? 50;
    this.pickApp = zipfSampler(this.apps, opts.skew ?? 1.1, this.rand);
    this.now = opts.startTime ?? Date.UTC(2026, 10, 25, 3, 0, 0);
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rand() * list.length)]!;
  }

  /** One log line (JSON object text) and its app. */
  next(): { app: string; value: Buffer; timestamp: number } {
    const app = appName(this.pickApp());
    this.now += 1 + Math.floor(this.rand() * 3);
    const r = this.rand;
    const level = this.pick(LEVELS);
    const line = {
      ts: new Date(this.now).toISOString(),
      level,
      appId: app,
      host: `${app}-${Math.floor(r() * 8)}.prod.internal`,
      traceId: Math.floor(r() * 2 ** 52).toString(16).padStart(13, "0") + Math.floor(r() * 2 ** 52).toString(16).padStart(13, "0"),
      method: r() < 0.7 ? "GET" : "POST",
      path: this.pick(PATHS),
      status: level === "ERROR" ? 500 : r() < 0.95 ? 200 : 404,
      latencyMs: Math.round(r() * r() * 2000),
      userId: `u${Math.floor(r() * 100000)}`,
      msg: this.pick(MESSAGES),
    };
    return { app, value: Buffer.from(JSON.stringify(line)), timestamp: this.now };
  }
}

export function syntheticSource(opts: SyntheticOptions = {}): RecordSource {
  const topic = opts.topic ?? "app-logs";
  const partitions = opts.partitions ?? 4;
  const maxRecords = opts.records ?? (opts.bytes ? Number.MAX_SAFE_INTEGER : 100_000);
  const maxBytes = opts.bytes ?? Number.MAX_SAFE_INTEGER;
  return {
    description: `synthetic (${opts.apps ?? 50} apps, seed ${opts.seed ?? 42})`,
    expectedRecords: opts.records,
    async *batches({ maxRecords: batchSize, signal }) {
      const gen = new SyntheticGenerator(opts);
      const offsets = new Array<number>(partitions).fill(0);
      let produced = 0;
      let bytes = 0;
      while (produced < maxRecords && bytes < maxBytes && !signal?.aborted) {
        const records: SourceRecord[] = [];
        // a trigger batch comes from one partition at a time, like the FC Kafka trigger's shards
        const partition = Math.floor(produced / batchSize) % partitions;
        while (records.length < batchSize && produced < maxRecords && bytes < maxBytes) {
          const { value, timestamp } = gen.next();
          records.push({ topic, partition, offset: offsets[partition]!++, timestamp, key: null, headers: {}, value });
          produced++;
          bytes += value.length;
        }
        const batch: SourceBatch = { records, ack: async () => {} };
        yield batch;
      }
    },
    async close() {},
  };
}

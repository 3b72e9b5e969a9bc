/**
 * Handler configuration, read from environment variables at cold start and validated with zod.
 * Every error names the variable and the form it expects, so a bad deploy fails loudly once
 * instead of crash-looping on every event.
 */
import { z } from "zod";

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "256MB", "1.5 GB", "4096" → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? (m[2] || "b").toLowerCase() : "";
  if (!m || !(unit in SIZE_UNITS)) throw new Error(`expected a size like 4096, 64KB, 256MB or 1GB, got "${text}"`);
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]!);
}

/** "90s", "10m", "1500ms", "2h" → milliseconds (a bare number is seconds). */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? (m[2] || "s").toLowerCase() : "";
  if (!m || !(unit in DURATION_UNITS)) throw new Error(`expected a duration like 1500ms, 90s, 10m or 2h, got "${text}"`);
  return Math.round(Number(m[1]) * DURATION_UNITS[unit]!);
}

const size = z.string().transform((s, ctx) => {
  try { return parseSize(s); } catch (e) { ctx.addIssue({ code: "custom", message: (e as Error).message }); return z.NEVER; }
});
const duration = z.string().transform((s, ctx) => {
  try { return parseDuration(s); } catch (e) { ctx.addIssue({ code: "custom", message: (e as Error).message }); return z.NEVER; }
});
const int = (min: number, max: number) => z.coerce.number({ invalid_type_error: `expected an integer ${min}–${max}` }).int(`expected an integer ${min}–${max}`).min(min, `expected an integer ${min}–${max}`).max(max, `expected an integer ${min}–${max}`);

/** How the app id of a record is found: `field:<json.path>`, `key`, or `header:<name>`, comma-separated fallbacks. */
export type AppIdSource = { kind: "field"; path: string[] } | { kind: "key" } | { kind: "header"; name: string };

export function parseAppIdSources(text: string): AppIdSource[] {
  const parts = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error(`expected field:<path>, key or header:<name>, got "${text}"`);
  return parts.map((p): AppIdSource => {
    if (p === "key") return { kind: "key" };
    const field = /^field:([^.\s]+(?:\.[^.\s]+)*)$/.exec(p);
    if (field) return { kind: "field", path: field[1]!.split(".") };
    const header = /^header:(\S+)$/.exec(p);
    if (header) return { kind: "header", name: header[1]! };
    throw new Error(`expected field:<path> (e.g. field:appId or field:ctx.app), key or header:<name>, got "${p}"`);
  });
}

const appIdSources = z.string().transform((s, ctx) => {
  try { return parseAppIdSources(s); } catch (e) { ctx.addIssue({ code: "custom", message: (e as Error).message }); return z.NEVER; }
});

/** The environment variables every handler understands, with their defaults. */
/** An object is keyed by the hour its generation started and `logpipe logs` reads one archive hour back. */
const SEAL_MAX_AGE_LIMIT_MS = 3_600_000;

export const envSchema = z.object({
  LOGPIPE_NAS_ROOT: z.string().min(1, "expected the NAS mount directory, e.g. /mnt/nas/logpipe").default("/mnt/nas/logpipe"),
  LOGPIPE_REDIS_URL: z.string().regex(/^rediss?:\/\//, "expected redis://[:password@]host:port[/db]").optional(),
  /** Kept apart from the URL so it can come from a secret; never logged. */
  LOGPIPE_REDIS_PASSWORD: z.string().optional(),
  LOGPIPE_APP_ID_SOURCE: appIdSources.default("field:appId"),
  LOGPIPE_MAX_WRITERS_PER_APP: int(1, 1000).default(10),
  LOGPIPE_MAX_APPS: int(1, 1_000_000).default(5000),
  LOGPIPE_MAX_RECORD_BYTES: size.default("16MB"),
  LOGPIPE_GZIP_LEVEL: int(1, 9).default(1),
  LOGPIPE_SEAL_BYTES: size.default("128MB"),
  /**
   * Seal windows: time is cut into windows of this length from the epoch (15m: :00, :15, :30, :45
   * UTC), and the first upload tick of each window seals every slot whose generation began in an
   * earlier one and holds LOGPIPE_SEAL_MIN_BYTES — all apps' seals in one tick, their uploads side
   * by side (upload.ts, sealCutoffs).
   */
  LOGPIPE_SEAL_AGE: duration.default("15m"),
  /**
   * The long tail, at the seal: a slot holding less than this (compressed) at LOGPIPE_SEAL_AGE is
   * sealed only at LOGPIPE_SEAL_MAX_AGE (one object per hour for a small app, not four); 0 seals
   * every slot at the seal age.
   */
  LOGPIPE_SEAL_MIN_BYTES: size.default("1MB"),
  /** Default: 4 × LOGPIPE_SEAL_AGE, at most 1 h (and never less than the seal age). */
  LOGPIPE_SEAL_MAX_AGE: duration.optional(),
  LOGPIPE_FUNCTION_TIMEOUT: duration.default("300s"),
  LOGPIPE_LOCK_TTL: duration.default("360s"),
  LOGPIPE_LOCK_MARGIN: duration.default("20s"),
  LOGPIPE_SLOT_WAIT: duration.default("20s"),
  LOGPIPE_REDRIVE_AGE: duration.default("10m"),
  /** An app is drained at once when this much of it is pending (split invokes compress for it). */
  LOGPIPE_DRAIN_BYTES: size.default("8MB"),
  /**
   * The sweep's step: apps with LOGPIPE_DRAIN_MIN_BYTES pending are drained at every second drain
   * age, slower ones at every 4th, 8th… (in step, so a staging file is read by few drains: see
   * drainSchedule); 0 drains the apps with the minimum pending at every tick.
   */
  LOGPIPE_DRAIN_AGE: duration.default("60s"),
  /**
   * The long tail: an app with less than this pending is drained at the step its pace gives, or
   * once its oldest data is LOGPIPE_DRAIN_MAX_AGE old (fewer, larger members); 0 drains every app
   * at the drain age.
   */
  LOGPIPE_DRAIN_MIN_BYTES: size.default("1MB"),
  /**
   * Default: LOGPIPE_SEAL_MAX_AGE. A small app's drain then also seals its slot (one member, one
   * object per drain: see sealAtDrain), so its records reach the archive within this age.
   */
  LOGPIPE_DRAIN_MAX_AGE: duration.optional(),
  /** Most pending bytes one drain takes for one app (the rest waits for the next drain). */
  LOGPIPE_DRAIN_MAX_BYTES: size.default("64MB"),
  /** Most pending bytes one compress invocation reads over all its apps (bounds its memory). */
  LOGPIPE_TASK_MAX_BYTES: size.default("256MB"),
  /** Apps per compress invocation the sweep sends (one lock + one member per app, one commit for all). */
  LOGPIPE_SWEEP_APPS_PER_TASK: int(1, 900).default(500), // 900 apps of 64-character names still fit the 64 KB task guard (fc-invoker.ts)
  /**
   * An app's section of a batch smaller than this goes to the staging file's tail region of the
   * app's tail shard instead of a section of its own: one Redis entry per region, drained with the
   * long tail (at LOGPIPE_DRAIN_MAX_AGE, or at LOGPIPE_TAIL_DRAIN_BYTES) by one task per shard. 0
   * keeps every app in its own section. 8 KB: ~30 records of a 10,000-record batch; at the bench's
   * rate such an app fills its slot's seal minimum in no less than an hour, so it gets one member
   * and one object an hour either way (docs/bench.md, "The tail threshold").
   */
  LOGPIPE_TAIL_SECTION_BYTES: size.default("8KB"),
  /**
   * A tail shard is also drained once its queued regions hold this much, before
   * LOGPIPE_DRAIN_MAX_AGE: at high rates the tail threshold (per batch) takes in apps that fill a
   * slot's seal minimum within the seal age, and they keep their seal-age freshness. 0: by age only.
   */
  LOGPIPE_TAIL_DRAIN_BYTES: size.default("128MB"),
  /** Tail shards: sweep tasks that drain the long tail's regions (one member per app per drain). */
  LOGPIPE_TAIL_SHARDS: int(1, 256).default(8),
  /** Routing decisions (admitted / overflowed) unused this long are forgotten. */
  LOGPIPE_APP_TTL: duration.default("7d"),
  LOGPIPE_TIMEZONE: z.string().default("UTC").refine((tz) => {
    try { new Intl.DateTimeFormat("en-US", { timeZone: tz }); return true; } catch { return false; }
  }, "expected an IANA time zone such as UTC or Asia/Shanghai"),
  LOGPIPE_OSS_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "expected an OSS bucket name (3–63 lowercase letters, digits, hyphens)").optional(),
  LOGPIPE_OSS_ENDPOINT: z.string().optional(),
  LOGPIPE_OSS_REGION: z.string().optional(),
  LOGPIPE_OSS_PREFIX: z.string().regex(/^[A-Za-z0-9._\/-]*$/, "expected a key prefix of letters, digits, . _ - /").default("logs").transform((p) => p.replace(/^\/+|\/+$/g, "")),
  LOGPIPE_MULTIPART_THRESHOLD: size.default("64MB"),
  /**
   * Objects upload sends at once (files of 1 MB and more: at most 4 of them, see upload.ts): a
   * bound on memory (up to 1 MB a small file) and on the requests in flight. 192: at OSS's
   * 100–200 ms per small PUT, 960–1,920 requests a second could be in flight, so the pace below is
   * what limits them (at 128 they were 640–1,280 a second, and an hourly wave of 3,000 small
   * objects waited ~2.4 s of billed time for its round trips: docs/bench.md).
   */
  LOGPIPE_UPLOAD_CONCURRENCY: int(1, 256).default(192),
  /**
   * OSS requests upload starts per second, at most (paced: core/request-pacer.ts). OSS throttles
   * an account above 2,000 a second on sequentially named objects, 10,000 otherwise
   * (https://www.alibabacloud.com/help/en/oss/user-guide/0004-00000302, checked 2026-12-05); 1,600
   * leaves room for readers (`logpipe logs`) and for a second upload tick running beside this one.
   */
  LOGPIPE_UPLOAD_REQUESTS_PER_SECOND: int(1, 10_000).default(1600),
  /** FC function name (or name:qualifier) split invokes asynchronously. */
  LOGPIPE_COMPRESS_FUNCTION: z.string().default("logpipe-compress"),
  /** Local runs and bundle tests: a directory used as the object store instead of OSS. */
  LOGPIPE_OBJECT_DIR: z.string().optional(),
  /** How split hands chunks to compress: `fc` (async InvokeFunction) or `inline` (same process; local runs). */
  LOGPIPE_INVOKE_MODE: z.enum(["fc", "inline"], { errorMap: () => ({ message: "expected fc or inline" }) }).default("fc"),
  LOGPIPE_FSYNC: z.enum(["true", "false"], { errorMap: () => ({ message: "expected true or false" }) }).default("true").transform((v) => v === "true"),
  LOGPIPE_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info"),
}).superRefine((c, ctx) => {
  if (c.LOGPIPE_LOCK_TTL <= c.LOGPIPE_FUNCTION_TIMEOUT) {
    ctx.addIssue({ code: "custom", path: ["LOGPIPE_LOCK_TTL"], message: `must be longer than LOGPIPE_FUNCTION_TIMEOUT (${c.LOGPIPE_FUNCTION_TIMEOUT} ms) so a lock cannot outlive its writer` });
  }
  if (c.LOGPIPE_SEAL_MAX_AGE !== undefined && c.LOGPIPE_SEAL_MAX_AGE < c.LOGPIPE_SEAL_AGE) {
    ctx.addIssue({ code: "custom", path: ["LOGPIPE_SEAL_MAX_AGE"], message: `must be at least LOGPIPE_SEAL_AGE (${c.LOGPIPE_SEAL_AGE} ms)` });
  }
  if (c.LOGPIPE_SEAL_MAX_AGE !== undefined && c.LOGPIPE_SEAL_MAX_AGE > SEAL_MAX_AGE_LIMIT_MS) {
    // an object is keyed by the hour its generation started; `logpipe logs` reads one hour back
    ctx.addIssue({ code: "custom", path: ["LOGPIPE_SEAL_MAX_AGE"], message: "must be at most 1h (logpipe logs looks one archive hour back for records sealed later)" });
  }
  if (c.LOGPIPE_LOCK_MARGIN >= c.LOGPIPE_LOCK_TTL) {
    ctx.addIssue({ code: "custom", path: ["LOGPIPE_LOCK_MARGIN"], message: "must be shorter than LOGPIPE_LOCK_TTL" });
  }
});

export type Env = z.input<typeof envSchema>;

export interface PipelineConfig {
  nasRoot: string;
  redisUrl?: string;
  redisPassword?: string;
  appIdSources: AppIdSource[];
  maxWritersPerApp: number;
  maxApps: number;
  maxRecordBytes: number;
  gzipLevel: number;
  sealBytes: number;
  sealAgeMs: number;
  sealMinBytes: number;
  sealMaxAgeMs: number;
  functionTimeoutMs: number;
  lockTtlMs: number;
  lockMarginMs: number;
  slotWaitMs: number;
  redriveAgeMs: number;
  drainBytes: number;
  drainAgeMs: number;
  drainMinBytes: number;
  drainMaxAgeMs: number;
  drainMaxBytes: number;
  taskMaxBytes: number;
  sweepAppsPerTask: number;
  tailSectionBytes: number;
  tailDrainBytes: number;
  tailShards: number;
  appTtlMs: number;
  timeZone: string;
  oss: { bucket?: string; endpoint?: string; region?: string };
  prefix: string;
  multipartThreshold: number;
  uploadConcurrency: number;
  uploadRequestsPerSecond: number;
  compressFunction: string;
  objectDir?: string;
  invokeMode: "fc" | "inline";
  fsync: boolean;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "silent";
}

export class ConfigError extends Error {
  constructor(public readonly issues: { key: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** LOGPIPE_SEAL_MAX_AGE when unset: 4 × the seal age, at most 1 h, never less than the seal age. */
export function defaultSealMaxAgeMs(sealAgeMs: number): number {
  return Math.max(sealAgeMs, Math.min(4 * sealAgeMs, SEAL_MAX_AGE_LIMIT_MS));
}

/** Validates the environment (only LOGPIPE_* keys are read) and returns the typed config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): PipelineConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(envSchema.innerType().shape)) {
    const v = env[key];
    if (v !== undefined && v !== "") picked[key] = v;
  }
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ key: String(i.path[0] ?? "?"), message: i.message })));
  }
  const c = parsed.data;
  const sealMaxAgeMs = c.LOGPIPE_SEAL_MAX_AGE ?? defaultSealMaxAgeMs(c.LOGPIPE_SEAL_AGE);
  return {
    nasRoot: c.LOGPIPE_NAS_ROOT,
    redisUrl: c.LOGPIPE_REDIS_URL,
    redisPassword: c.LOGPIPE_REDIS_PASSWORD,
    appIdSources: c.LOGPIPE_APP_ID_SOURCE,
    maxWritersPerApp: c.LOGPIPE_MAX_WRITERS_PER_APP,
    maxApps: c.LOGPIPE_MAX_APPS,
    maxRecordBytes: c.LOGPIPE_MAX_RECORD_BYTES,
    gzipLevel: c.LOGPIPE_GZIP_LEVEL,
    sealBytes: c.LOGPIPE_SEAL_BYTES,
    sealAgeMs: c.LOGPIPE_SEAL_AGE,
    sealMinBytes: c.LOGPIPE_SEAL_MIN_BYTES,
    sealMaxAgeMs,
    functionTimeoutMs: c.LOGPIPE_FUNCTION_TIMEOUT,
    lockTtlMs: c.LOGPIPE_LOCK_TTL,
    lockMarginMs: c.LOGPIPE_LOCK_MARGIN,
    slotWaitMs: c.LOGPIPE_SLOT_WAIT,
    redriveAgeMs: c.LOGPIPE_REDRIVE_AGE,
    drainBytes: c.LOGPIPE_DRAIN_BYTES,
    drainAgeMs: c.LOGPIPE_DRAIN_AGE,
    drainMinBytes: c.LOGPIPE_DRAIN_MIN_BYTES,
    drainMaxAgeMs: c.LOGPIPE_DRAIN_MAX_AGE ?? sealMaxAgeMs,
    drainMaxBytes: c.LOGPIPE_DRAIN_MAX_BYTES,
    taskMaxBytes: c.LOGPIPE_TASK_MAX_BYTES,
    sweepAppsPerTask: c.LOGPIPE_SWEEP_APPS_PER_TASK,
    tailSectionBytes: c.LOGPIPE_TAIL_SECTION_BYTES,
    tailDrainBytes: c.LOGPIPE_TAIL_DRAIN_BYTES,
    tailShards: c.LOGPIPE_TAIL_SHARDS,
    appTtlMs: c.LOGPIPE_APP_TTL,
    timeZone: c.LOGPIPE_TIMEZONE,
    oss: { bucket: c.LOGPIPE_OSS_BUCKET, endpoint: c.LOGPIPE_OSS_ENDPOINT, region: c.LOGPIPE_OSS_REGION },
    prefix: c.LOGPIPE_OSS_PREFIX,
    multipartThreshold: c.LOGPIPE_MULTIPART_THRESHOLD,
    uploadConcurrency: c.LOGPIPE_UPLOAD_CONCURRENCY,
    uploadRequestsPerSecond: c.LOGPIPE_UPLOAD_REQUESTS_PER_SECOND,
    compressFunction: c.LOGPIPE_COMPRESS_FUNCTION,
    objectDir: c.LOGPIPE_OBJECT_DIR,
    invokeMode: c.LOGPIPE_INVOKE_MODE,
    fsync: c.LOGPIPE_FSYNC,
    logLevel: c.LOGPIPE_LOG_LEVEL,
  };
}

/**
 * Stack configuration: every `logpipe:*` key, its zod schema, its TypeScript type, and one
 * function that validates a whole stack at start. An invalid stack fails before any resource
 * is declared, with one line per problem that names the key (`logpipe:trigger.batchCount`)
 * and the form it expects.
 *
 * `logpipe:release`, `logpipe:artifacts` and `logpipe:usage` are shared contracts: `logpipe
 * canary`, `logpipe promote` and `logpipe cost` read and write exactly these shapes.
 */
import { z } from "zod";
import { parseAppIdSources, parseDuration, parseSize } from "../functions/core/config.js";

export const PROJECT = "logpipe";
export const FUNCTION_KINDS = ["split", "compress", "upload"] as const;
export type FunctionKind = (typeof FUNCTION_KINDS)[number];

// ---------------------------------------------------------------------------------------------
// Small field helpers: each carries the message users see next to the key.

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
export const digestSchema = z
  .string({ invalid_type_error: 'expected a digest "sha256:<64 lowercase hex digits>"' })
  .regex(DIGEST_RE, 'expected a digest "sha256:<64 lowercase hex digits>"');
export type Digest = z.infer<typeof digestSchema>;

const int = (min: number, max: number, what = "an integer") =>
  z
    .number({ invalid_type_error: `expected ${what} ${min}–${max}`, required_error: `expected ${what} ${min}–${max}` })
    .int(`expected ${what} ${min}–${max}`)
    .min(min, `expected ${what} ${min}–${max}`)
    .max(max, `expected ${what} ${min}–${max}`);

const cidr = z
  .string({ invalid_type_error: "expected an IPv4 CIDR such as 10.20.1.0/24" })
  .refine(isIpv4Cidr, "expected an IPv4 CIDR such as 10.20.1.0/24");

const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "expected an OSS bucket name (3–63 lowercase letters, digits, hyphens)");

const resourceId = (prefix: string, example: string) =>
  z.string().regex(new RegExp(`^${prefix}[A-Za-z0-9_-]+$`), `expected an id like ${example}`);

const sizeText = z.string().refine((s) => tryParse(parseSize, s), "expected a size like 64MB, 128MB or 1GB");
const durationText = z.string().refine((s) => tryParse(parseDuration, s), "expected a duration like 90s, 15m or 2h");

function tryParse(fn: (s: string) => unknown, s: string): boolean {
  try {
    fn(s);
    return true;
  } catch {
    return false;
  }
}

export function isIpv4Cidr(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  return octets.every((o) => o <= 255) && bits >= 8 && bits <= 32;
}

function cidrRange(text: string): [number, number] {
  const [ip, bits] = text.split("/") as [string, string];
  const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(n / size) * size;
  return [start, start + size - 1];
}

/** True when `inner` lies entirely inside `outer` (both IPv4 CIDRs). */
export function cidrContains(outer: string, inner: string): boolean {
  const [os, oe] = cidrRange(outer);
  const [is, ie] = cidrRange(inner);
  return is >= os && ie <= oe;
}

/** RFC 1918 private ranges: a VPC-only whitelist must stay inside them. */
export function isPrivateCidr(text: string): boolean {
  return isIpv4Cidr(text) && ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].some((p) => cidrContains(p, text));
}

// ---------------------------------------------------------------------------------------------
// logpipe:release — what each function's alias `live` runs (shared with canary/promote).

export const functionReleaseSchema = z
  .object({
    stable: digestSchema,
    /**
     * The FC version id that already runs `stable`, while a canary is in flight. A version
     * freezes the code of $LATEST when it is published, and $LATEST carries the canary, so the
     * stable version cannot be (re)published next to a canary: the alias points at this id.
     * `logpipe canary start` writes it from the stack's outputs; promote/abort remove it.
     */
    stableVersionId: z.string({ invalid_type_error: "expected a published FC version id such as \"3\"" }).regex(/^\d+$/, "expected a published FC version id such as \"3\"").optional(),
    canary: digestSchema.optional(),
    canaryWeight: z
      .number({ invalid_type_error: "expected a number 0..1 (share of traffic for the canary)" })
      .min(0, "expected a number 0..1 (share of traffic for the canary)")
      .max(1, "expected a number 0..1 (share of traffic for the canary)")
      .optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.canaryWeight !== undefined && r.canary === undefined) {
      ctx.addIssue({ code: "custom", path: ["canaryWeight"], message: "is set but canary is not: set canary to the digest that receives this weight" });
    }
    if (r.canary !== undefined && r.canary === r.stable) {
      ctx.addIssue({ code: "custom", path: ["canary"], message: "equals stable: remove canary, or set it to a different digest" });
    }
    if (r.canary !== undefined && r.stableVersionId === undefined) {
      ctx.addIssue({
        code: "custom", path: ["canary"],
        message: "cannot be realized without stableVersionId: a version freezes $LATEST, which carries the canary, so the stable version must already be published. " +
          "Deploy stable alone first, then start the canary with `logpipe canary start` (it writes stableVersionId from the stack outputs), or set stableVersionId to the version that runs stable",
      });
    }
    if (r.stableVersionId !== undefined && r.canary === undefined) {
      ctx.addIssue({ code: "custom", path: ["stableVersionId"], message: "only goes with a canary: remove it (stable is published from the current config)" });
    }
  });
export type FunctionRelease = z.infer<typeof functionReleaseSchema>;

export const releaseSchema = z
  .object({ split: functionReleaseSchema, compress: functionReleaseSchema, upload: functionReleaseSchema })
  .strict();
export type Release = z.infer<typeof releaseSchema>;

// logpipe:artifacts — where a pinned digest's zip lives (never rebuilt). An OSS pin carries FC's
// code checksum (CRC-64/XZ, decimal): FC verifies the object's bytes against it when it deploys,
// so a replaced object cannot run different code under the same digest. `Code.checksum`:
// https://www.alibabacloud.com/help/en/functioncompute/fc/developer-reference/api-fc-2023-03-30-struct-inputcodelocation
// (checked 2026-12-01). `logpipe publish --stack S` uploads an artifact and writes its pin.
export const CRC64_RE = /^\d{1,20}$/;
export const artifactPinSchema = z
  .object({
    bucket: bucketName.optional(),
    object: z.string().min(1, "expected an OSS object key").optional(),
    checksum: z.string({ invalid_type_error: "expected FC's code checksum, the CRC-64 of the zip as a decimal string" }).regex(CRC64_RE, "expected FC's code checksum, the CRC-64 of the zip as a decimal string").optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.bucket === undefined) !== (p.object === undefined)) {
      ctx.addIssue({ code: "custom", path: [p.bucket === undefined ? "bucket" : "object"], message: "bucket and object go together (or leave both out to use dist/artifacts/<digest>.zip)" });
    }
    if (p.bucket !== undefined && p.checksum === undefined) {
      ctx.addIssue({ code: "custom", path: ["checksum"], message: "is required with bucket/object: without FC's CRC-64 check a replaced object would deploy other bytes under this digest (`logpipe publish --stack <stack>` writes it)" });
    }
    if (p.bucket === undefined && p.checksum !== undefined) {
      ctx.addIssue({ code: "custom", path: ["checksum"], message: "only applies to an OSS pin (bucket/object); a local dist/artifacts zip is checksummed when it is read" });
    }
  });
export type ArtifactPin = z.infer<typeof artifactPinSchema>;
export const artifactsSchema = z.record(digestSchema, artifactPinSchema);
export type Artifacts = z.infer<typeof artifactsSchema>;

// logpipe:usage — the traffic profile `logpipe cost` prices (validated here, consumed there).
export const usageSchema = z
  .object({
    gbPerDay: z.number({ invalid_type_error: "expected a positive number (GB of logs per day)" }).positive("expected a positive number (GB of logs per day)"),
    avgRecordBytes: z.number({ invalid_type_error: "expected a positive number of bytes" }).positive("expected a positive number of bytes"),
    apps: int(1, 1_000_000, "a whole number of apps"),
    retentionDays: int(1, 36_500, "a whole number of days"),
    cpuSecondsPerGb: z.number({ invalid_type_error: "expected a positive number (measured vCPU-seconds per GB)" }).positive("expected a positive number (measured vCPU-seconds per GB)").optional(),
  })
  .strict();
export type Usage = z.infer<typeof usageSchema>;

// ---------------------------------------------------------------------------------------------
// Infrastructure keys.

const vswitchToCreate = z.object({ zoneId: z.string().min(1, "expected a zone id such as cn-hangzhou-j"), cidr }).strict();
const existingVswitch = z
  .object({ id: resourceId("vsw-", "vsw-bp1..."), zoneId: z.string().min(1, "expected a zone id such as cn-hangzhou-j"), cidr })
  .strict();

export const networkSchema = z
  .object({
    create: z
      .object({ vpcCidr: cidr, vswitches: z.array(vswitchToCreate).min(1, "expected at least one vSwitch") })
      .strict()
      .optional(),
    existing: z
      .object({
        vpcId: resourceId("vpc-", "vpc-bp1..."),
        securityGroupId: resourceId("sg-", "sg-bp1..."),
        vswitches: z.array(existingVswitch).min(1, "expected at least one vSwitch"),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((n, ctx) => {
    if (!n.create === !n.existing) {
      ctx.addIssue({ code: "custom", path: [], message: "expected exactly one of create: {vpcCidr, vswitches} or existing: {vpcId, securityGroupId, vswitches}" });
    }
    n.create?.vswitches.forEach((v, i) => {
      if (isIpv4Cidr(n.create!.vpcCidr) && !cidrContains(n.create!.vpcCidr, v.cidr)) {
        ctx.addIssue({ code: "custom", path: ["create", "vswitches", i, "cidr"], message: `${v.cidr} is not inside vpcCidr ${n.create!.vpcCidr}` });
      }
    });
    const all = [...(n.create?.vswitches ?? []), ...(n.existing?.vswitches ?? [])];
    all.forEach((v, i) => {
      if (isIpv4Cidr(v.cidr) && !isPrivateCidr(v.cidr)) {
        ctx.addIssue({ code: "custom", path: [n.create ? "create" : "existing", "vswitches", i, "cidr"], message: `${v.cidr} is not a private (RFC 1918) range` });
      }
    });
  });
export type NetworkConfig = z.infer<typeof networkSchema>;

export const nasSchema = z
  .object({
    storageType: z.enum(["Performance", "Capacity", "Premium"]).default("Performance"),
    protocolType: z.literal("NFS").default("NFS"),
    encrypt: z.boolean().default(true),
    /** where the functions see the file system; becomes LOGPIPE_NAS_ROOT */
    mountDir: z.string().regex(/^\/mnt\/[A-Za-z0-9._/-]+$/, "expected an absolute directory under /mnt, e.g. /mnt/logpipe").default("/mnt/logpipe"),
    /** directory on the file system that is mounted */
    remoteDir: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "expected an absolute path on the file system, e.g. / or /logpipe").default("/"),
    userId: int(0, 65535, "a uid").default(10003),
    groupId: int(0, 65535, "a gid").default(10003),
  })
  .strict();
export type NasConfig = z.infer<typeof nasSchema>;

/**
 * KVStore instance classes come in two families, and each engine version is sold in one or both
 * (checked 2026-12-01):
 *  - classic standard master-replica `redis.master.<size>.default`: Redis 4.0 and 5.0 —
 *    https://www.alibabacloud.com/help/en/redis/product-overview/standard-master-replica-instances
 *  - cloud-native standard `redis.shard.<size>[.2].ce`: Redis 5.0, 6.0 and 7.0 —
 *    https://www.alibabacloud.com/help/en/redis/product-overview/instance-types-of-community-edition-instances
 * Verified (2026-12-01): Redis Open-Source Edition is sold with engines 5.0, 6.0 and 7.0
 * ("Commands supported by Redis Open-Source Edition",
 * https://help.aliyun.com/en/redis/developer-reference/commands-supported-by-apsaradb-for-redis-community-edition);
 * 4.0 appears only for older (classic) instances ("Which Redis versions…",
 * https://alibabacloud.com/help/en/redis/support/which-version-of-redis-is-apsaradb-for-redis-compatible-with).
 * NOT verified: the class codes themselves (the cloud-native instance-type table, with its
 * "instance type code (for API calls)" column, could not be read in full) and which engines the
 * classic codes take — see docs/deploy.md. A pair the service does not sell fails `pulumi up`
 * late (InvalidInstanceClass); it is refused here at start, naming both keys.
 */
export const REDIS_CLASS_FAMILIES = {
  classic: { pattern: /^redis\.master\.[a-z0-9]+\.default$/, engines: ["4.0", "5.0"], example: "redis.master.small.default" },
  "cloud-native": { pattern: /^redis\.shard\.[a-z0-9]+(\.\d+)?\.ce$/, engines: ["5.0", "6.0", "7.0"], example: "redis.shard.small.2.ce" },
} as const;
export type RedisClassFamily = keyof typeof REDIS_CLASS_FAMILIES;

export function redisClassFamily(instanceClass: string): RedisClassFamily | undefined {
  return (Object.keys(REDIS_CLASS_FAMILIES) as RedisClassFamily[]).find((f) => REDIS_CLASS_FAMILIES[f].pattern.test(instanceClass));
}

/** Persistence the data path's fault suite proves (a Redis restart loses at most ~1 s of writes: duplicates, never loss). */
export const REDIS_PERSISTENCE = { appendonly: "yes", appendfsync: "everysec" } as const;

export const redisSchema = z
  .object({
    instanceClass: z.string().min(1, "expected a KVStore instance class such as redis.shard.small.2.ce").default("redis.shard.small.2.ce"),
    engineVersion: z.enum(["4.0", "5.0", "6.0", "7.0"]).default("7.0"),
    /** defaults to the first vSwitch's zone */
    zoneId: z.string().optional(),
    releaseProtection: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) => {
    const family = redisClassFamily(r.instanceClass);
    if (!family) {
      ctx.addIssue({ code: "custom", path: ["instanceClass"], message: `"${r.instanceClass}" is neither a classic standard class (redis.master.<size>.default) nor a cloud-native standard class (redis.shard.<size>.2.ce); logpipe needs one standard (non-cluster) instance` });
      return;
    }
    const f = REDIS_CLASS_FAMILIES[family];
    if (!(f.engines as readonly string[]).includes(r.engineVersion)) {
      const other = (Object.keys(REDIS_CLASS_FAMILIES) as RedisClassFamily[]).find((k) => (REDIS_CLASS_FAMILIES[k].engines as readonly string[]).includes(r.engineVersion))!;
      ctx.addIssue({
        code: "custom", path: ["engineVersion"],
        message: `${r.engineVersion} is not sold with the ${family} class ${r.instanceClass} (${family} takes ${f.engines.join(", ")}): use a ${other} class such as ${REDIS_CLASS_FAMILIES[other].example}, or engineVersion ${f.engines.at(-1)}`,
      });
    }
  });
export type RedisConfig = z.infer<typeof redisSchema>;

export const archiveSchema = z
  .object({
    /** default: logpipe-<stack>-<account id> */
    bucketName: bucketName.optional(),
    prefix: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "expected a key prefix such as logs (letters, digits, . _ -, / between segments)").default("logs"),
    encryption: z.enum(["AES256", "KMS"]).default("AES256"),
    kmsKeyId: z.string().optional(),
    redundancyType: z.enum(["LRS", "ZRS"]).default("LRS"),
    lifecycle: z
      .object({
        iaAfterDays: int(1, 36_500, "a number of days").optional(),
        archiveAfterDays: int(1, 36_500, "a number of days").optional(),
        expireAfterDays: int(1, 36_500, "a number of days").optional(),
        abortMultipartAfterDays: int(1, 365, "a number of days").default(7),
      })
      .strict()
      .default({}),
    forceDestroy: z.boolean().default(false),
  })
  .strict()
  .superRefine((a, ctx) => {
    const { iaAfterDays: ia, archiveAfterDays: ar, expireAfterDays: ex } = a.lifecycle;
    if (ia !== undefined && ar !== undefined && ar <= ia) ctx.addIssue({ code: "custom", path: ["lifecycle", "archiveAfterDays"], message: `must be later than iaAfterDays (${ia})` });
    const last = ar ?? ia;
    if (ex !== undefined && last !== undefined && ex <= last) ctx.addIssue({ code: "custom", path: ["lifecycle", "expireAfterDays"], message: `must be later than the last transition (${last} days)` });
    if (a.encryption === "KMS" && !a.kmsKeyId) ctx.addIssue({ code: "custom", path: ["kmsKeyId"], message: "is required when encryption is KMS" });
    if (a.encryption === "AES256" && a.kmsKeyId) ctx.addIssue({ code: "custom", path: ["kmsKeyId"], message: "only applies when encryption is KMS" });
  });
export type ArchiveConfig = z.infer<typeof archiveSchema>;

export const kafkaSchema = z
  .object({
    /** an existing ApsaraMQ for Kafka instance … */
    instanceId: z.string().regex(/^alikafka_[A-Za-z0-9_-]+$/, "expected an instance id such as alikafka_post-cn-xxxx").optional(),
    /** … or one to create (small, for dev) */
    createInstance: z
      .object({
        specType: z.enum(["normal", "professional", "professionalForHighRead"]).default("normal"),
        diskType: z.union([z.literal(0), z.literal(1)], { errorMap: () => ({ message: "expected 0 (cloud efficiency) or 1 (SSD)" }) }).default(1),
        diskSize: int(500, 96_000, "a disk size in GB").default(500),
        ioMaxSpec: z.string().default("alikafka.hw.2xlarge"),
        partitionNum: int(50, 2000, "a partition quota").default(50),
      })
      .strict()
      .optional(),
    topic: z.string().regex(/^[A-Za-z0-9._-]{3,249}$/, "expected a topic name (3–249 letters, digits, . _ -)"),
    createTopic: z.boolean().default(false),
    partitions: int(1, 360, "a partition count").default(12),
    consumerGroup: z.string().regex(/^[A-Za-z0-9._-]{3,128}$/, "expected a consumer group id (3–128 letters, digits, . _ -)").default("logpipe-archiver"),
    createConsumerGroup: z.boolean().default(true),
    offsetReset: z.enum(["earliest", "latest"]).default("earliest"),
    /** add the vSwitch CIDRs to the instance's VPC whitelist (port 9092) so the trigger can reach it */
    allowVswitches: z.boolean().default(true),
  })
  .strict()
  .superRefine((k, ctx) => {
    if (!k.instanceId === !k.createInstance) {
      ctx.addIssue({ code: "custom", path: [], message: "expected exactly one of instanceId (existing instance) or createInstance: {...}" });
    }
    if (k.createInstance && !k.createTopic) {
      ctx.addIssue({ code: "custom", path: ["createTopic"], message: "must be true when createInstance is set (a new instance has no topics)" });
    }
  });
export type KafkaConfig = z.infer<typeof kafkaSchema>;

export const triggerSchema = z
  .object({
    /** runOptions.batchWindow.CountBasedWindow: records per invocation (FC's largest by default: fewer sections per GB, docs/bench.md) */
    batchCount: int(1, 10_000).default(10_000),
    /** runOptions.batchWindow.TimeBasedWindow: seconds to wait for a batch */
    batchWindowSeconds: int(0, 15).default(5),
    /**
     * eventSinkConfig.deliveryOption.concurrency: concurrent deliveries to split (Kafka sources
     * only; ≤ partitions is useful). FC 3.0 DeliveryOption has exactly eventSchema + concurrency:
     * https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-deliveryoption
     */
    deliveryConcurrency: int(1, 1000).default(2),
    retryStrategy: z.enum(["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]).default("EXPONENTIAL_DECAY_RETRY"),
    /** NONE blocks the partition on a failing batch (no skip); ALL skips it to the dead letter queue */
    errorsTolerance: z.enum(["NONE", "ALL"]).default("NONE"),
    /** eventSinkConfig.deliveryOption.eventSchema: CloudEvents (default) or RawData (only each record's data); split accepts both */
    eventSchema: z.enum(["CloudEvents", "RawData"]).default("CloudEvents"),
  })
  .strict();
export type TriggerConfig = z.infer<typeof triggerSchema>;

const functionSize = z
  .object({
    memorySize: int(128, 32_768, "a memory size in MB"),
    cpu: z.number({ invalid_type_error: "expected vCPUs, a multiple of 0.05" }).min(0.05).max(16),
    timeoutSeconds: int(1, 86_400, "a timeout in seconds"),
    diskSize: z.union([z.literal(512), z.literal(10240)], { errorMap: () => ({ message: "expected 512 or 10240 (MB)" }) }).default(512),
    /**
     * FC 3.0 standard runtimes (nodejs20 here) no longer support instance concurrency > 1:
     * https://www.alibabacloud.com/help/en/functioncompute/feature-updates-in-function-compute-3
     */
    instanceConcurrency: z
      .number({ invalid_type_error: "expected 1" })
      .refine((n) => n === 1, "must be 1: FC 3.0 standard runtimes (nodejs20) run one request per instance; scale with more instances (reservedConcurrency, trigger deliveryConcurrency)")
      .default(1),
    /** reserved (maximum) concurrency for this function; unset = account default */
    reservedConcurrency: int(1, 10_000).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.memorySize % 64 !== 0) ctx.addIssue({ code: "custom", path: ["memorySize"], message: "expected a multiple of 64 MB" });
    if (Math.abs(Math.round(f.cpu / 0.05) * 0.05 - f.cpu) > 1e-9) ctx.addIssue({ code: "custom", path: ["cpu"], message: "expected a multiple of 0.05 vCPU" });
    const ratio = f.memorySize / 1024 / f.cpu;
    if (ratio < 1 || ratio > 4) ctx.addIssue({ code: "custom", path: ["memorySize"], message: `memory GB per vCPU must be between 1 and 4 (FC rule), got ${ratio.toFixed(2)}` });
  });
export type FunctionSize = z.infer<typeof functionSize>;

export const functionsSchema = z
  .object({
    split: functionSize.default({ memorySize: 1024, cpu: 0.5, timeoutSeconds: 300 }),
    compress: functionSize.default({ memorySize: 2048, cpu: 1, timeoutSeconds: 300 }),
    upload: functionSize.default({ memorySize: 1024, cpu: 0.5, timeoutSeconds: 600 }),
  })
  .strict()
  .default({});
export type FunctionsConfig = z.infer<typeof functionsSchema>;

export const compressAsyncSchema = z
  .object({
    maxRetryAttempts: int(0, 8).default(3),
    maxEventAgeSeconds: int(1, 86_400).default(86_400),
  })
  .strict()
  .default({});
export type CompressAsyncConfig = z.infer<typeof compressAsyncSchema>;

export const deadLetterSchema = z
  .object({
    /** default: <namePrefix>-dlq */
    queueName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,119}$/, "expected an MNS queue name (letters, digits, -)").optional(),
    /** create the queue, or use one that already exists under queueName */
    create: z.boolean().default(true),
    messageRetentionSeconds: int(60, 604_800).default(604_800),
  })
  .strict()
  .default({})
  .superRefine((d, ctx) => {
    if (!d.create && !d.queueName) ctx.addIssue({ code: "custom", path: ["queueName"], message: "is required when create is false" });
  });
export type DeadLetterConfig = z.infer<typeof deadLetterSchema>;

export const pipelineSchema = z
  .object({
    appIdSource: z.string().refine((s) => tryParse(parseAppIdSources, s), "expected field:<path>, key or header:<name> (comma-separated fallbacks)").default("field:appId"),
    maxWritersPerApp: int(1, 1000).default(10),
    maxApps: int(1, 1_000_000).default(5000),
    maxRecordBytes: sizeText.default("16MB"),
    gzipLevel: int(1, 9).default(1),
    sealBytes: sizeText.default("128MB"),
    sealAge: durationText.default("15m"),
    /** a slot under this at sealAge waits for sealMaxAge (the long tail: fewer, larger objects) */
    sealMinBytes: sizeText.default("1MB"),
    /** default: 4 × sealAge, at most 1 h */
    sealMaxAge: durationText.optional(),
    redriveAge: durationText.default("10m"),
    timezone: z.string().refine((tz) => tryParse((t) => new Intl.DateTimeFormat("en-US", { timeZone: t }), tz), "expected an IANA time zone such as UTC or Asia/Shanghai").default("UTC"),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
    /** objects the upload function sends at once (LOGPIPE_UPLOAD_CONCURRENCY): a bound on memory and on requests in flight */
    uploadConcurrency: int(1, 256).default(192),
    /** OSS requests the upload function starts per second, at most (LOGPIPE_UPLOAD_REQUESTS_PER_SECOND; OSS throttles an account above 2,000 on sequential names) */
    uploadRequestsPerSecond: int(1, 10_000).default(1600),
    /** timer trigger of the upload function */
    uploadSchedule: z
      .string()
      .regex(/^(@every \d+[smh]|(CRON_TZ=\S+ )?\S+ \S+ \S+ \S+ \S+ \S+)$/, 'expected "@every 1m" or a 6-field cron such as "CRON_TZ=Asia/Shanghai 0 */5 * * * *"')
      .default("@every 1m"),
  })
  .strict()
  .default({});
export type PipelineConfig = z.infer<typeof pipelineSchema>;

export const loggingSchema = z
  .object({
    /** default: logpipe-<stack>-<account id> */
    project: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "expected an SLS project name (3–63 lowercase letters, digits, -)").optional(),
    retentionDays: int(1, 3650).default(30),
  })
  .strict()
  .default({});
export type LoggingConfig = z.infer<typeof loggingSchema>;

export const alarmsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** CloudMonitor contact groups (must exist) */
    contactGroups: z.array(z.string().min(1)).min(1, "expected at least one contact group").default(["云账号报警联系人"]),
    errorThreshold: int(1, 1_000_000).default(1),
    throttleThreshold: int(1, 1_000_000).default(1),
    periodSeconds: z.union([z.literal(60), z.literal(300), z.literal(900)], { errorMap: () => ({ message: "expected 60, 300 or 900" }) }).default(60),
    times: int(1, 10).default(3),
  })
  .strict()
  .default({});
export type AlarmsConfig = z.infer<typeof alarmsSchema>;

export const artifactStoreSchema = z
  .object({ bucket: bucketName, prefix: z.string().regex(/^[A-Za-z0-9._/-]+$/, "expected a key prefix").default("logpipe/artifacts") })
  .strict();
export type ArtifactStoreConfig = z.infer<typeof artifactStoreSchema>;

/**
 * The account's FC instance quota in the region: on-demand + provisioned instances of every
 * function together. Default 100 ("Specify the maximum number of instances",
 * https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/overview-of-configuring-the-maximum-number-of-on-demand-instances,
 * checked 2026-12-01; some pages say 300 — the Quota Center value of your account is what counts).
 * A function's limit may be at most 90 % of it, and all functions' limits together at most 90 %.
 * Raise it in Quota Center (console → Quota Center → Function Compute → instances per region),
 * then set `logpipe:quotas.regionInstances` to the granted value.
 */
export const QUOTA_FUNCTION_SHARE = 0.9;
export const quotasSchema = z
  .object({ regionInstances: int(1, 1_000_000, "an instance count").default(100) })
  .strict()
  .default({});
export type QuotasConfig = z.infer<typeof quotasSchema>;

const tagsSchema = z.record(z.string().max(128), z.string().max(128)).default({});

/** Every `logpipe:` key, in the order the docs list them. */
export const stackConfigShape = {
  namePrefix: z.string().regex(/^[a-z][a-z0-9-]{1,30}$/, "expected a lowercase name prefix (2–31 letters, digits, -) starting with a letter").optional(),
  tags: tagsSchema,
  network: networkSchema,
  nas: nasSchema.default({}),
  redis: redisSchema.default({}),
  archive: archiveSchema.default({}),
  kafka: kafkaSchema,
  trigger: triggerSchema.default({}),
  functions: functionsSchema,
  compressAsync: compressAsyncSchema,
  deadLetter: deadLetterSchema,
  pipeline: pipelineSchema,
  logging: loggingSchema,
  alarms: alarmsSchema,
  quotas: quotasSchema,
  /** protect stateful resources (NAS, Redis, queue, created topic/consumer group) from deletion and retain them on delete */
  protect: z.boolean({ invalid_type_error: "expected true or false" }).default(true),
  release: releaseSchema.optional(),
  artifacts: artifactsSchema.default({}),
  artifactStore: artifactStoreSchema.optional(),
  usage: usageSchema.optional(),
} as const;
export const stackConfigSchema = z.object(stackConfigShape).strict();
export type StackConfigInput = z.input<typeof stackConfigSchema>;

export interface StackConfig extends z.infer<typeof stackConfigSchema> {
  stack: string;
  region: string;
  namePrefix: string;
}

export const CONFIG_KEYS = Object.keys(stackConfigShape) as (keyof typeof stackConfigShape)[];
const REGION_RE = /^[a-z]{2}-[a-z0-9-]+$/;

export class StackConfigError extends Error {
  constructor(public readonly issues: { key: string; message: string }[]) {
    super(`invalid stack configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** "logpipe:trigger" + ["batchCount"] → "logpipe:trigger.batchCount" */
function keyName(path: (string | number)[]): string {
  const [head, ...rest] = path;
  let out = `${PROJECT}:${String(head)}`;
  for (const p of rest) out += typeof p === "number" ? `[${p}]` : `.${p}`;
  return out;
}

/**
 * Validates a stack's raw configuration: a map of fully qualified keys (`logpipe:network`,
 * `alicloud:region`) to values, where structured values may be objects or JSON strings (as the
 * Pulumi engine passes them). Unknown `logpipe:` keys are errors (a typo must not silently
 * fall back to a default).
 */
export function parseStackConfig(raw: Record<string, unknown>, stack: string): StackConfig {
  const issues: { key: string; message: string }[] = [];
  const input: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(raw)) {
    const [ns, key] = fullKey.includes(":") ? (fullKey.split(/:(.*)/s, 2) as [string, string]) : [PROJECT, fullKey];
    if (ns !== PROJECT) continue;
    if (!(CONFIG_KEYS as string[]).includes(key)) {
      issues.push({ key: `${PROJECT}:${key}`, message: `unknown key (known: ${CONFIG_KEYS.join(", ")})` });
      continue;
    }
    input[key] = decode(value, `${PROJECT}:${key}`, issues);
  }
  const region = raw["alicloud:region"];
  if (typeof region !== "string" || !REGION_RE.test(region)) {
    issues.push({ key: "alicloud:region", message: `expected a region id such as cn-hangzhou, got ${JSON.stringify(region)}` });
  }
  issues.push(...retiredKeyIssues(input));
  const parsed = stackConfigSchema.safeParse(input);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (i.path.length === 0 && i.code === "unrecognized_keys") continue;
      issues.push({ key: keyName(i.path), message: describeIssue(i) });
    }
  }
  if (parsed.success) issues.push(...quotaIssues(parsed.data));
  if (issues.length > 0 || !parsed.success) throw new StackConfigError(dedupe(issues));
  const cfg = parsed.data;
  const namePrefix = cfg.namePrefix ?? `logpipe-${stack.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`;
  return { ...cfg, stack, region: region as string, namePrefix };
}

function decode(value: unknown, key: string, issues: { key: string; message: string }[]): unknown {
  if (typeof value !== "string") return value;
  const t = value.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch (e) {
      issues.push({ key, message: `expected a YAML/JSON object: ${(e as Error).message}` });
      return undefined;
    }
  }
  if (t === "true" || t === "false") return t === "true";
  return value;
}

function describeIssue(i: z.ZodIssue): string {
  if (i.code === "invalid_type" && i.received === "undefined") return `is required (${i.message === "Required" ? `expected ${i.expected}` : i.message})`;
  if (i.code === "unrecognized_keys") return `unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  if (i.code === "invalid_enum_value") return `expected one of ${i.options.map((o) => JSON.stringify(o)).join(", ")}, got ${JSON.stringify(i.received)}`;
  if (i.code === "invalid_type") return `${i.message} (expected ${i.expected}, got ${i.received})`;
  return i.message;
}

/** The digests a stack runs for one function: stable first, then the canary if any. */
export function releaseDigests(r: FunctionRelease): Digest[] {
  return r.canary ? [r.stable, r.canary] : [r.stable];
}

/** Keys that meant something else before: a clear error instead of zod's "unknown field". */
const RETIRED_KEYS: { key: string; path: [string, string]; message: string }[] = [
  {
    key: "logpipe:trigger.concurrency", path: ["trigger", "concurrency"],
    message: "renamed to deliveryConcurrency: FC 3.0 sets the Kafka trigger's concurrency in eventSinkConfig.deliveryOption.concurrency (runOptions has no maximumTasks)",
  },
  {
    key: "logpipe:trigger.maximumTasks", path: ["trigger", "maximumTasks"],
    message: "is not an FC 3.0 field: use deliveryConcurrency (eventSinkConfig.deliveryOption.concurrency)",
  },
  {
    key: "logpipe:redis.appendOnly", path: ["redis", "appendOnly"],
    message: "removed: logpipe always deploys appendonly yes + appendfsync everysec, the persistence its fault suite proves; delete the key",
  },
];

function retiredKeyIssues(input: Record<string, unknown>): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  for (const r of RETIRED_KEYS) {
    const section = input[r.path[0]];
    if (section && typeof section === "object" && r.path[1] in (section as Record<string, unknown>)) {
      out.push({ key: r.key, message: r.message });
      const { [r.path[1]]: _retired, ...rest } = section as Record<string, unknown>;
      input[r.path[0]] = rest; // reported once, not again as an unknown field (the caller's object is not touched)
    }
  }
  return out;
}

/** Reserved concurrency must fit the region's instance quota (see quotasSchema). */
export function quotaIssues(cfg: Pick<z.infer<typeof stackConfigSchema>, "functions" | "quotas">): { key: string; message: string }[] {
  const quota = cfg.quotas.regionInstances;
  const cap = Math.floor(quota * QUOTA_FUNCTION_SHARE);
  const out: { key: string; message: string }[] = [];
  const raise = "raise the quota in Quota Center (Function Compute: instances per region) and set logpipe:quotas.regionInstances to the granted value";
  let sum = 0;
  for (const kind of FUNCTION_KINDS) {
    const r = cfg.functions[kind].reservedConcurrency;
    if (r === undefined) continue;
    sum += r;
    if (r > cap) out.push({ key: `${PROJECT}:functions.${kind}.reservedConcurrency`, message: `${r} exceeds ${cap}, 90 % of the region's instance quota ${quota} (logpipe:quotas.regionInstances): lower it, or ${raise}` });
  }
  if (out.length === 0 && sum > cap) {
    out.push({ key: `${PROJECT}:functions`, message: `reserved concurrency of all functions together is ${sum}, more than ${cap} (90 % of the region's instance quota ${quota}): lower it, or ${raise}` });
  }
  return out;
}

function dedupe(issues: { key: string; message: string }[]): { key: string; message: string }[] {
  const seen = new Set<string>();
  return issues.filter((i) => (seen.has(`${i.key}\0${i.message}`) ? false : (seen.add(`${i.key}\0${i.message}`), true)));
}

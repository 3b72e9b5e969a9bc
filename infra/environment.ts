/**
 * The handlers' environment (see `envSchema` in functions/core/config.ts), derived from stack
 * config. Checked against the handlers' own schema at start, so a stack that would make a
 * handler refuse to boot fails here instead, naming the function and the variable.
 */
import * as pulumi from "@pulumi/pulumi";
import { envSchema } from "../functions/core/config.js";
import type { FunctionKind, StackConfig } from "./config.js";
import { RUNTIME_ENV } from "./runtime-env.js";

export interface EnvInputs {
  nasRoot: string;
  redisUrl: pulumi.Input<string>;
  redisPassword: pulumi.Input<string>;
  bucketName: pulumi.Input<string>;
  ossEndpoint: string;
  compressQualifiedName: pulumi.Input<string>;
}

/** Lock TTL = function timeout + this: a lock always outlives the invocation that took it. */
export const LOCK_TTL_MARGIN_SECONDS = 60;

/** Plain (non-Output) variables for one function. */
export function plainEnv(cfg: StackConfig, kind: FunctionKind, nasRoot: string, ossEndpoint: string): Record<string, string> {
  const p = cfg.pipeline;
  const timeout = cfg.functions[kind].timeoutSeconds;
  return {
    LOGPIPE_NAS_ROOT: nasRoot,
    LOGPIPE_APP_ID_SOURCE: p.appIdSource,
    LOGPIPE_MAX_WRITERS_PER_APP: String(p.maxWritersPerApp),
    LOGPIPE_MAX_APPS: String(p.maxApps),
    LOGPIPE_MAX_RECORD_BYTES: p.maxRecordBytes,
    LOGPIPE_GZIP_LEVEL: String(p.gzipLevel),
    LOGPIPE_SEAL_BYTES: p.sealBytes,
    LOGPIPE_SEAL_AGE: p.sealAge,
    LOGPIPE_SEAL_MIN_BYTES: p.sealMinBytes,
    ...(p.sealMaxAge ? { LOGPIPE_SEAL_MAX_AGE: p.sealMaxAge } : {}),
    LOGPIPE_REDRIVE_AGE: p.redriveAge,
    LOGPIPE_FUNCTION_TIMEOUT: `${timeout}s`,
    LOGPIPE_LOCK_TTL: `${timeout + LOCK_TTL_MARGIN_SECONDS}s`,
    LOGPIPE_TIMEZONE: p.timezone,
    LOGPIPE_LOG_LEVEL: p.logLevel,
    LOGPIPE_UPLOAD_CONCURRENCY: String(p.uploadConcurrency),
    LOGPIPE_UPLOAD_REQUESTS_PER_SECOND: String(p.uploadRequestsPerSecond),
    LOGPIPE_OSS_REGION: `oss-${cfg.region}`,
    LOGPIPE_OSS_ENDPOINT: ossEndpoint,
    LOGPIPE_OSS_PREFIX: cfg.archive.prefix,
    LOGPIPE_FSYNC: "true",
    ...RUNTIME_ENV[kind],
  };
}

/** Validates a function's environment with the handlers' schema (Outputs replaced by valid placeholders). */
export function checkEnv(kind: FunctionKind, plain: Record<string, string>): void {
  const candidate = {
    ...plain,
    LOGPIPE_REDIS_URL: "redis://placeholder:6379/0",
    LOGPIPE_REDIS_PASSWORD: "placeholder",
    LOGPIPE_OSS_BUCKET: "placeholder-bucket",
    LOGPIPE_COMPRESS_FUNCTION: "placeholder:live",
  };
  const parsed = envSchema.safeParse(candidate);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new Error(`the ${kind} function's environment would be rejected by the handler (check logpipe:pipeline and logpipe:functions.${kind}):\n  ${lines.join("\n  ")}`);
  }
}

export function functionEnv(cfg: StackConfig, kind: FunctionKind, inputs: EnvInputs): pulumi.Input<Record<string, pulumi.Input<string>>> {
  const plain = plainEnv(cfg, kind, inputs.nasRoot, inputs.ossEndpoint);
  checkEnv(kind, plain);
  return {
    ...plain,
    LOGPIPE_REDIS_URL: inputs.redisUrl,
    LOGPIPE_REDIS_PASSWORD: pulumi.secret(inputs.redisPassword),
    LOGPIPE_OSS_BUCKET: inputs.bucketName,
    LOGPIPE_COMPRESS_FUNCTION: inputs.compressQualifiedName,
  };
}

/**
 * The stack-config and stack-output shapes the operations commands read and write.
 *
 * The Pulumi program (infra/config.ts) owns the schemas of these keys; they are re-exported here so
 * canary/promote/cost validate exactly what the program accepts. Output shapes are checked here.
 */
import { z } from "zod";

import { FUNCTION_KINDS, type FunctionKind } from "../../infra/config.js";

export const FUNCTIONS = FUNCTION_KINDS;
export type FunctionKey = FunctionKind;

export const RELEASE_KEY = "logpipe:release";
export const ARTIFACTS_KEY = "logpipe:artifacts";
export const USAGE_KEY = "logpipe:usage";
export const REGION_KEY = "alicloud:region";

export {
  digestSchema, functionReleaseSchema, releaseSchema, artifactPinSchema, artifactsSchema, usageSchema,
  type FunctionRelease, type Release, type ArtifactPin, type Artifacts, type Usage,
} from "../../infra/config.js";
import { digestSchema, usageSchema as contractUsageSchema } from "../../infra/config.js";

const finite = (what: string, min: number, max: number) =>
  z.number({ invalid_type_error: `${what} must be a number` }).finite(`${what} must be a finite number`)
    .min(min, `${what} must be at least ${min}`).max(max, `${what} must be at most ${max}`);

/**
 * A `--usage file.yaml` profile: the `logpipe:usage` contract plus cost-only knobs (kept out of
 * the stack config, whose schema is strict). Upper bounds reject absurd input early.
 */
export const costUsageSchema = contractUsageSchema.extend({
  gbPerDay: finite("gbPerDay", 0.000001, 1_000_000),
  avgRecordBytes: finite("avgRecordBytes", 1, 32 * 1024 * 1024),
  cpuSecondsPerGb: finite("cpuSecondsPerGb", 0.000001, 3600).optional(),
  /** Raw bytes / gzip bytes; default from the repo's probe (gzip level 1 on NDJSON logs). */
  compressionRatio: finite("compressionRatio", 1, 100).optional(),
  /** GB read back from IA / Archive per month (retrieval fees). */
  retrievalGbPerMonth: finite("retrievalGbPerMonth", 0, 1_000_000_000).optional(),
  /** Bytes of function logs (SLS) per invocation. */
  logBytesPerInvocation: finite("logBytesPerInvocation", 0, 10_000_000).optional(),
}).strict();
export type CostUsage = z.infer<typeof costUsageSchema>;

/** Stack outputs the operations commands read. */
export const artifactsOutputSchema = z.record(z.object({ digest: digestSchema, versionId: z.union([z.string(), z.number()]).transform(String) }).passthrough());
export const aliasesOutputSchema = z.record(z.object({
  name: z.string(),
  versionId: z.union([z.string(), z.number()]).transform(String),
  additionalVersionWeight: z.record(z.number()).nullish(),
}).passthrough());
export const functionNamesOutputSchema = z.record(z.string());

/** Formats zod issues as "key.path: message; …" under a config key name. */
export function describeZodError(prefix: string, err: z.ZodError): string {
  return err.issues.map((i) => `${[prefix, ...i.path.map(String)].join(".")}: ${i.message}`).join("; ");
}

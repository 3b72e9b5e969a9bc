/**
 * The archive's object store from command-line flags, shared by the commands that read or write
 * it: `--out DIR` (a local object store at DIR/objects, as `logpipe local` writes it) or
 * `--oss-bucket B` with `--oss-endpoint E` and/or `--oss-region R` (credentials only from the
 * environment: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / ALIBABA_CLOUD_SECURITY_TOKEN — never flags,
 * so they stay out of shell history and process lists, and are never printed).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { OssObjectStore } from "../../functions/adapters/oss-store.js";
import { UsageError } from "../ops/errors.js";

export const DEFAULT_OUT_DIR = "./.logpipe";

export interface ObjectStoreFlags {
  out?: string;
  ossBucket?: string;
  ossEndpoint?: string;
  ossRegion?: string;
}

export interface ResolvedObjectStore {
  store: ObjectStore;
  kind: "local" | "oss";
  /** e.g. `file:///abs/.logpipe/objects/` or `oss://bucket/`; never contains credentials. */
  description: string;
  /** Local store only: the directory (exists or not). */
  dir?: string;
}

export function addObjectStoreOptions(cmd: Command): Command {
  return cmd
    .option("--out <dir>", `local run directory; objects are read from DIR/objects (default ${DEFAULT_OUT_DIR})`)
    .option("--oss-bucket <bucket>", "read from this OSS bucket instead (credentials from ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)")
    .option("--oss-endpoint <url>", "OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000")
    .option("--oss-region <region>", "OSS region, e.g. oss-cn-hangzhou (enough without --oss-endpoint)");
}

const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export function objectStoreFromFlags(flags: ObjectStoreFlags, env: NodeJS.ProcessEnv = process.env): ResolvedObjectStore {
  const oss = flags.ossBucket !== undefined || flags.ossEndpoint !== undefined || flags.ossRegion !== undefined;
  if (oss) {
    if (flags.out !== undefined) throw new UsageError("--out and --oss-bucket are alternatives: give one object store");
    if (!flags.ossBucket) throw new UsageError("--oss-bucket: required with --oss-endpoint/--oss-region");
    if (!BUCKET.test(flags.ossBucket)) throw new UsageError(`--oss-bucket: expected an OSS bucket name (3–63 lowercase letters, digits, hyphens), got "${flags.ossBucket}"`);
    if (!flags.ossEndpoint && !flags.ossRegion) throw new UsageError("--oss-endpoint or --oss-region: one is required with --oss-bucket");
    if (flags.ossEndpoint) {
      try {
        new URL(flags.ossEndpoint.includes("://") ? flags.ossEndpoint : `https://${flags.ossEndpoint}`);
      } catch {
        throw new UsageError(`--oss-endpoint: expected a URL such as https://oss-cn-hangzhou.aliyuncs.com, got "${flags.ossEndpoint}"`);
      }
    }
    const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
    const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    if (!accessKeyId || !accessKeySecret) {
      throw new UsageError("OSS credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS) in the environment");
    }
    const store = new OssObjectStore({
      bucket: flags.ossBucket,
      endpoint: flags.ossEndpoint,
      region: flags.ossRegion,
      accessKeyId,
      accessKeySecret,
      stsToken: env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined,
    });
    return { store, kind: "oss", description: store.description };
  }
  const out = path.resolve(flags.out ?? DEFAULT_OUT_DIR);
  const dir = path.join(out, "objects");
  const store = new LocalObjectStore(dir);
  return { store, kind: "local", description: store.description, dir };
}

/** True when the local store's directory does not exist at all (nothing was ever archived there). */
export function localStoreMissing(r: ResolvedObjectStore): boolean {
  return r.kind === "local" && r.dir !== undefined && !existsSync(r.dir);
}

/**
 * `logpipe publish --stack S`: build the artifacts, upload each zip to the stack's artifact store
 * (`logpipe:artifactStore` {bucket, prefix}) as `<prefix>/<digest>.zip`, and write the pin
 * `logpipe:artifacts.<digest> = {bucket, object, checksum}` into the stack file in one step
 * (with --set-stable also `logpipe:release.<fn>.stable`). The checksum is FC's code checksum,
 * the CRC-64 of the zip, checked against OSS's own `x-oss-hash-crc64ecma` of the upload.
 * An object already stored under a digest is never overwritten (`x-oss-forbid-overwrite`);
 * if its CRC-64 differs from the build's, publish refuses.
 */
import type { Artifact } from "./artifacts.js";
import { ARTIFACTS_KEY, FUNCTIONS, RELEASE_KEY, type FunctionKey } from "../ops/contracts.js";
import { ConfigError, OpsError, UsageError } from "../ops/errors.js";
import { StackConfigFile, type ProjectInfo } from "../ops/stack-config.js";
import { unifiedDiff } from "../ops/diff.js";

/** The ali-oss calls publish makes (ali-oss's client satisfies it; tests use the OSS test server). */
export interface ArtifactBucket {
  put(name: string, body: Buffer, options: { headers: Record<string, string> }): Promise<{ res: { headers: Record<string, unknown> } }>;
  head(name: string): Promise<{ res: { headers: Record<string, unknown> } }>;
}

export interface PublishOptions {
  stack: string;
  fns?: FunctionKey[];
  /** also make each published digest the function's stable release */
  setStable?: boolean;
  dryRun?: boolean;
}

export interface PublishDeps {
  project: ProjectInfo;
  build: (fns: readonly string[]) => Promise<Pick<Artifact, "fn" | "digest" | "zip" | "crc64">[]>;
  bucket: (store: { bucket: string; region?: string }) => ArtifactBucket;
  log: (line: string) => void;
}

export interface PublishedArtifact {
  function: string;
  digest: string;
  bucket: string;
  object: string;
  checksum: string;
  uploaded: boolean;
}

export interface PublishResult {
  stack: string;
  configFile: string;
  artifacts: PublishedArtifact[];
  diff: string;
  written: boolean;
}

export async function publish(o: PublishOptions, deps: PublishDeps): Promise<PublishResult> {
  const cfg = StackConfigFile.load(deps.project, o.stack);
  const store = cfg.get("logpipe:artifactStore") as { bucket?: unknown; prefix?: unknown } | undefined;
  if (!store || typeof store.bucket !== "string") {
    throw new ConfigError(`${cfg.relativePath}: set logpipe:artifactStore {bucket, prefix} (the OSS bucket that holds artifacts) before publishing`);
  }
  const prefix = (typeof store.prefix === "string" ? store.prefix : "logpipe/artifacts").replace(/\/+$/, "");
  const fns = o.fns?.length ? o.fns : [...FUNCTIONS];
  if (o.setStable && cfg.has(RELEASE_KEY)) {
    for (const fn of fns) {
      const rel = cfg.functionRelease(fn);
      if (rel.canary) throw new UsageError(`${o.stack} has a canary of ${fn} in flight: finish or abort it before --set-stable`);
    }
  }
  const built = await deps.build(fns);
  const bucket = o.dryRun ? undefined : deps.bucket({ bucket: store.bucket, region: cfg.region() });
  const out: PublishedArtifact[] = [];
  for (const a of built) {
    const object = `${prefix}/${a.digest}.zip`;
    let uploaded = false;
    if (bucket) {
      uploaded = await putOnce(bucket, object, a);
      deps.log(`${a.fn}: ${uploaded ? "uploaded" : "already stored"} oss://${store.bucket}/${object} (crc64 ${a.crc64})`);
    }
    out.push({ function: a.fn, digest: a.digest, bucket: store.bucket, object, checksum: a.crc64, uploaded });
  }
  const before = cfg.toString();
  for (const p of out) {
    cfg.setIn(ARTIFACTS_KEY, [p.digest], { bucket: p.bucket, object: p.object, checksum: p.checksum });
    if (o.setStable) cfg.setStable(p.function as FunctionKey, p.digest);
  }
  const diff = unifiedDiff(before, cfg.toString(), cfg.relativePath);
  if (!o.dryRun && diff) cfg.save();
  return { stack: o.stack, configFile: cfg.relativePath, artifacts: out, diff, written: !o.dryRun && !!diff };
}

/** Uploads unless the object exists; either way the stored bytes' CRC-64 must be the build's. */
async function putOnce(bucket: ArtifactBucket, object: string, a: Pick<Artifact, "digest" | "zip" | "crc64">): Promise<boolean> {
  try {
    const res = await bucket.put(object, a.zip, { headers: { "x-oss-forbid-overwrite": "true", "Content-Type": "application/zip", "x-oss-server-side-encryption": "AES256" } });
    checkCrc(object, res.res.headers, a.crc64);
    return true;
  } catch (e) {
    const err = e as { code?: string; status?: number; message?: string };
    if (err.code !== "FileAlreadyExists" && err.status !== 409) {
      if (e instanceof OpsError) throw e;
      throw new OpsError(`upload of ${object} failed: ${err.code ?? err.status ?? ""} ${err.message ?? ""}`.trim());
    }
    const head = await bucket.head(object);
    checkCrc(object, head.res.headers, a.crc64);
    return false;
  }
}

function checkCrc(object: string, headers: Record<string, unknown>, expected: string): void {
  const got = headers["x-oss-hash-crc64ecma"];
  if (got === undefined) throw new OpsError(`OSS returned no x-oss-hash-crc64ecma for ${object}; cannot verify the bytes`);
  if (String(got) !== expected) {
    throw new OpsError(`oss object ${object} has CRC-64 ${String(got)} but the build's is ${expected}: different bytes under the same digest — refusing to pin it (inspect or delete that object)`);
  }
}

/**
 * Where each function's code comes from. A stack that pins `logpipe:release` never rebuilds:
 * each digest resolves to an OSS object (`logpipe:artifacts`) or to the local content-addressed
 * file `dist/artifacts/<digest>.zip` (checked against its digest). A stack without a release
 * builds from source exactly like `npm run build` and runs those digests as stable.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { ARTIFACTS_DIR, artifactFileFor, buildAll, type Artifact } from "../cli/build/artifacts.js";
import { crc64Decimal } from "../cli/build/zip.js";
import { FUNCTION_KINDS, StackConfigError, releaseDigests, type Digest, type FunctionKind, type Release, type StackConfig } from "./config.js";

export type CodeSource =
  | { kind: "oss"; digest: Digest; bucket: string; object: string; crc64: string }
  | { kind: "local"; digest: Digest; file?: string; zip: Buffer; crc64: string };

export interface ResolvedRelease {
  release: Release;
  sources: Map<Digest, CodeSource>;
  builtFromSource: boolean;
}

export interface ResolveOptions {
  artifactsDir?: string;
  /** replaces the esbuild build (tests) */
  build?: () => Promise<Pick<Artifact, "fn" | "digest" | "zip" | "crc64">[]>;
}

export async function resolveRelease(cfg: StackConfig, opts: ResolveOptions = {}): Promise<ResolvedRelease> {
  const dir = opts.artifactsDir ?? ARTIFACTS_DIR;
  const sources = new Map<Digest, CodeSource>();
  if (!cfg.release) {
    const built = await (opts.build ?? (() => buildAll()))();
    const release = {} as Release;
    for (const kind of FUNCTION_KINDS) {
      const a = built.find((b) => b.fn === kind);
      if (!a) throw new Error(`build produced no artifact for ${kind}`);
      release[kind] = { stable: a.digest };
      sources.set(a.digest, { kind: "local", digest: a.digest, zip: a.zip, crc64: a.crc64 });
    }
    return { release, sources, builtFromSource: true };
  }
  const issues: { key: string; message: string }[] = [];
  for (const kind of FUNCTION_KINDS) {
    const r = cfg.release[kind];
    for (const digest of releaseDigests(r)) {
      if (sources.has(digest)) continue;
      const role = digest === r.stable ? "stable" : "canary";
      const pin = cfg.artifacts[digest];
      if (pin?.bucket && pin.object && pin.checksum) {
        sources.set(digest, { kind: "oss", digest, bucket: pin.bucket, object: pin.object, crc64: pin.checksum });
        continue;
      }
      const file = artifactFileFor(digest, dir);
      if (!existsSync(file)) {
        issues.push({ key: `logpipe:release.${kind}.${role}`, message: `artifact ${digest} is not available: pin it in logpipe:artifacts ("${digest}": {bucket, object}) or put it at dist/artifacts/${digest}.zip (logpipe build)` });
        continue;
      }
      const zip = readFileSync(file);
      const actual = `sha256:${createHash("sha256").update(zip).digest("hex")}`;
      if (actual !== digest) {
        issues.push({ key: `logpipe:release.${kind}.${role}`, message: `dist/artifacts/${digest}.zip has digest ${actual}; refusing a file that does not match its name` });
        continue;
      }
      sources.set(digest, { kind: "local", digest, file, zip, crc64: crc64Decimal(zip) });
    }
  }
  if (issues.length > 0) throw new StackConfigError(issues);
  return { release: cfg.release, sources, builtFromSource: false };
}

export function shortDigest(digest: string): string {
  return digest.slice("sha256:".length, "sha256:".length + 12);
}

export type { FunctionKind };

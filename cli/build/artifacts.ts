/**
 * Builds the three FC artifacts: esbuild bundles `functions/<fn>/index.ts` into one CommonJS file
 * for the Node 20 runtime (plus its source map), and the pair is zipped deterministically.
 * `npm run build` writes
 *   dist/artifacts/<fn>.zip            the artifact
 *   dist/artifacts/<digest>.zip        the same bytes under their content address
 *   dist/artifacts/manifest.json       { "<fn>": "<digest>" }
 *   dist/artifacts/build-info.json     sizes, CRC-64 and bundle inputs per function
 * The Pulumi program builds the same way in memory when a stack pins no release.
 */
import { build, type Metafile } from "esbuild";
import { existsSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc64Decimal, deterministicZip, digestOf } from "./zip.js";

export const FUNCTIONS = ["split", "compress", "upload"] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ARTIFACTS_DIR = path.join(REPO_ROOT, "dist", "artifacts");

/** Modules left out of the bundle: ali-oss requires proxy-agent optionally, and FC never needs it. */
export const EXTERNALS = ["proxy-agent"];

/**
 * The esbuild options that change how the deployed code runs, not just where it goes: `npm run
 * bench` builds its child with them too, so it times the code FC runs (keepNames adds a
 * `__name(…)` call wherever a named function or class is made).
 */
export const RUNTIME_BUILD_OPTIONS = {
  keepNames: true,
  define: { "process.env.NODE_ENV": '"production"' },
} as const;

export interface Artifact {
  fn: string;
  digest: string;
  zip: Buffer;
  /** CRC-64/XZ of the zip as a decimal string (FC `code.checksum`) */
  crc64: string;
  bundleBytes: number;
  /** repo-relative source files that went into the bundle */
  inputs: string[];
}

export interface BuildOptions {
  /** repository root holding functions/<fn>/index.ts (default: this repo) */
  root?: string;
  /** entry file relative to root (default functions/<fn>/index.ts) */
  entry?: string;
}

export function entryPath(fn: string, root = REPO_ROOT): string {
  return path.join(root, "functions", fn, "index.ts");
}

/** Bundles and zips one function in memory. */
export async function buildFunction(fn: string, opts: BuildOptions = {}): Promise<Artifact> {
  const root = opts.root ?? REPO_ROOT;
  const entry = opts.entry ? path.resolve(root, opts.entry) : entryPath(fn, root);
  if (!existsSync(entry)) throw new Error(`cannot build ${fn}: ${path.relative(root, entry)} does not exist`);
  // A fixed, repo-relative output location keeps source-map paths identical on every machine.
  const outfile = path.join(root, "dist", "bundle", fn, "index.js");
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: "linked",
    sourcesContent: false,
    external: EXTERNALS,
    write: false,
    metafile: true,
    logLevel: "silent",
    ...RUNTIME_BUILD_OPTIONS,
    legalComments: "none",
    // Prefer the Node entry points (ioredis/ali-oss ship browser builds too).
    mainFields: ["main", "module"],
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${fn}: ${result.errors.map((e) => e.text).join("; ")}`);
  const js = result.outputFiles.find((f) => f.path === outfile);
  const map = result.outputFiles.find((f) => f.path === `${outfile}.map`);
  if (!js || !map) throw new Error(`esbuild produced no output for ${fn}`);
  const zip = await deterministicZip([
    { name: "index.js", data: Buffer.from(js.contents) },
    { name: "index.js.map", data: Buffer.from(map.contents) },
  ]);
  return {
    fn,
    digest: digestOf(zip),
    zip,
    crc64: crc64Decimal(zip),
    bundleBytes: js.contents.byteLength,
    inputs: inputsOf(result.metafile!),
  };
}

function inputsOf(meta: Metafile): string[] {
  return Object.keys(meta.inputs).sort();
}

/** Builds every function (in order) in memory. */
export async function buildAll(opts: BuildOptions = {}, fns: readonly string[] = FUNCTIONS): Promise<Artifact[]> {
  const out: Artifact[] = [];
  for (const fn of fns) out.push(await buildFunction(fn, opts));
  return out;
}

export interface WrittenArtifacts {
  dir: string;
  manifest: Record<string, string>;
  artifacts: Artifact[];
}

/** Writes artifacts, their content-addressed copies and the manifest (atomically, file by file). */
export async function writeArtifacts(artifacts: Artifact[], dir = ARTIFACTS_DIR): Promise<WrittenArtifacts> {
  await mkdir(dir, { recursive: true });
  const manifest: Record<string, string> = {};
  const info: Record<string, unknown> = {};
  for (const a of artifacts) {
    await atomicWrite(path.join(dir, `${a.fn}.zip`), a.zip);
    await atomicWrite(path.join(dir, `${a.digest}.zip`), a.zip);
    manifest[a.fn] = a.digest;
    info[a.fn] = { digest: a.digest, zipBytes: a.zip.length, bundleBytes: a.bundleBytes, crc64: a.crc64, inputs: a.inputs.length };
  }
  await atomicWrite(path.join(dir, "manifest.json"), Buffer.from(JSON.stringify(manifest, null, 2) + "\n"));
  await atomicWrite(path.join(dir, "build-info.json"), Buffer.from(JSON.stringify(info, null, 2) + "\n"));
  return { dir, manifest, artifacts };
}

async function atomicWrite(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** `dist/artifacts/<digest>.zip` for a digest (content-addressed copy). */
export function artifactFileFor(digest: string, dir = ARTIFACTS_DIR): string {
  return path.join(dir, `${digest}.zip`);
}

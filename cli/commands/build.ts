/**
 * `logpipe build [fn...] [--out DIR] [--json]` — bundle each handler with esbuild and zip it
 * deterministically (see cli/build/artifacts.ts). `npm run build` runs this.
 * Exit codes: 0 built, 1 build failure, 2 usage error.
 */
import type { Command } from "commander";
import Table from "cli-table3";
import path from "node:path";
import { ARTIFACTS_DIR, FUNCTIONS, buildAll, writeArtifacts } from "../build/artifacts.js";
import { colorEnabled } from "../ops/cost-format.js";
import { ensureWritableDir } from "../support/run-dir.js";

export function register(program: Command): void {
  program
    .command("build")
    .description("bundle split/compress/upload with esbuild into deterministic zips under dist/artifacts (digest = sha256 of the zip)")
    .argument("[functions...]", `functions to build (default: ${FUNCTIONS.join(", ")})`)
    .option("--out <dir>", "output directory", ARTIFACTS_DIR)
    .option("--json", "print the manifest as JSON")
    .action(async (fns: string[], opts: { out: string; json?: boolean }) => {
      const wanted = fns.length > 0 ? fns : [...FUNCTIONS];
      const unknown = wanted.filter((f) => !(FUNCTIONS as readonly string[]).includes(f));
      if (unknown.length > 0) {
        process.stderr.write(`logpipe build: unknown function(s) ${unknown.join(", ")} (expected ${FUNCTIONS.join(", ")})\n`);
        process.exitCode = 2;
        return;
      }
      let written;
      try {
        ensureWritableDir("--out", path.resolve(opts.out));
      } catch (e) {
        process.stderr.write(`logpipe build: ${(e as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      try {
        written = await writeArtifacts(await buildAll({}, wanted), path.resolve(opts.out));
      } catch (e) {
        process.stderr.write(`logpipe build: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ dir: written.dir, manifest: written.manifest, artifacts: written.artifacts.map(({ zip, inputs, ...a }) => ({ ...a, zipBytes: zip.length, inputs: inputs.length })) }, null, 2) + "\n");
        return;
      }
      // cli-table3 paints headers red by default: plain unless stdout is a terminal that wants colour
      const table = new Table({ head: ["function", "digest", "zip", "bundle", "crc64"], style: { head: colorEnabled(process.stdout) ? ["bold"] : [], border: [], compact: true } });
      for (const a of written.artifacts) table.push([a.fn, shortDigest(a.digest), kib(a.zip.length), kib(a.bundleBytes), a.crc64]);
      process.stdout.write(table.toString() + "\n");
      const rel = path.relative(process.cwd(), written.dir);
      const shown = rel === "" ? "." : rel.startsWith("..") ? written.dir : rel;
      process.stdout.write(`wrote ${shown}/{<fn>.zip,<digest>.zip,manifest.json} (full digests in manifest.json and --json)\n`);
    });
}

/** `sha256:c5e06e806e9c…`: enough to tell releases apart, and the table fits 100 columns. */
function shortDigest(d: string): string {
  return d.length > 19 ? `${d.slice(0, 19)}…` : d;
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(0)} KiB`;
}

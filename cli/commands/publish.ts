/**
 * `logpipe publish --stack S [--function fn...] [--set-stable] [--dry-run] [--json]` — build the
 * artifacts, upload them to the stack's artifact store and pin digest + FC code checksum in the
 * stack file (cli/build/publish.ts). Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (+ _SECURITY_TOKEN).
 * Exit codes: 0 published, 1 upload/build failure, 2 usage or configuration error.
 */
import type { Command } from "commander";
import { printJson, runAction, table } from "../ops/output.js";
import { ConfigError } from "../ops/errors.js";
import { FUNCTIONS } from "../ops/contracts.js";
import { findProjectRoot, parseFunctionArg, readProject } from "../ops/stack-config.js";

export function register(program: Command): void {
  program.command("publish")
    .description("build, upload the artifacts to logpipe:artifactStore and pin digest + CRC-64 checksum in the stack file")
    .requiredOption("--stack <name>", "stack (stacks/Pulumi.<name>.yaml)")
    .option("--function <fn...>", `only these functions (${FUNCTIONS.join(", ")})`)
    .option("--set-stable", "also make the published digests the stack's stable release")
    .option("--endpoint <url>", "OSS endpoint (default https://oss-<region>.aliyuncs.com, or $LOGPIPE_OSS_ENDPOINT)")
    .option("--dry-run", "build and show the config change; upload and write nothing")
    .option("--project-dir <dir>", "repository root (default: nearest directory with Pulumi.yaml)")
    .option("--json", "machine-readable output")
    .action((o) => runAction("publish", async () => {
      const [{ publish }, { buildAll }, OSS] = await Promise.all([import("../build/publish.js"), import("../build/artifacts.js"), import("ali-oss")]);
      const project = readProject(findProjectRoot(o.projectDir ?? process.cwd()));
      const log = (line: string) => (o.json ? process.stderr : process.stdout).write(line + "\n");
      const endpoint: string | undefined = o.endpoint ?? process.env.LOGPIPE_OSS_ENDPOINT;
      const res = await publish(
        { stack: o.stack, fns: (o.function as string[] | undefined)?.map(parseFunctionArg), setStable: !!o.setStable, dryRun: !!o.dryRun },
        {
          project, log, build: (fns) => buildAll({}, fns),
          bucket: ({ bucket, region }) => {
            const id = process.env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret = process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
            if (!id || !secret) throw new ConfigError("OSS credentials missing: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET");
            const Client = (OSS as unknown as { default: new (o: Record<string, unknown>) => never }).default;
            return new Client({
              bucket, accessKeyId: id, accessKeySecret: secret, stsToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN,
              ...(endpoint ? { endpoint, secure: endpoint.startsWith("https"), sldEnable: !/aliyuncs\.com/.test(endpoint) } : { region: `oss-${region ?? "cn-hangzhou"}`, secure: true }),
            });
          },
        },
      );
      if (o.json) { printJson(res); return 0; }
      process.stdout.write(table(["function", "digest", "checksum (CRC-64)", "object"], res.artifacts.map((a) => [a.function, a.digest.slice(0, 19), a.checksum, a.uploaded ? "uploaded" : o.dryRun ? "-" : "already stored"])) + "\n");
      if (res.diff) process.stdout.write(`\n${res.diff}\n`);
      process.stdout.write(o.dryRun ? "dry run: nothing uploaded or written\n" : res.written ? `pinned in ${res.configFile}: commit it with the code it pins\n` : `${res.configFile} already pins these artifacts\n`);
      return 0;
    }));
}

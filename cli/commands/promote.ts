/**
 * `logpipe promote <from> <to>` — copy the artifact digests <from> runs into <to>'s stack config
 * (logpipe:release + logpipe:artifacts), show the diff, and with --yes run `pulumi up` on <to>.
 */
import type { Command } from "commander";
import path from "node:path";
import { AutomationStackRunner } from "../ops/automation.js";
import { FUNCTIONS } from "../ops/contracts.js";
import { currentActor, LocalCanaryStore, type CanaryStore } from "../ops/journal.js";
import { ConfigError, UsageError } from "../ops/errors.js";
import { canaryStoreFor } from "./canary.js";
import type { CanaryState } from "../ops/canary.js";
import { printJson, runAction, table } from "../ops/output.js";
import { promote } from "../ops/promote.js";
import { findProjectRoot, parseFunctionArg, readProject } from "../ops/stack-config.js";
import { short } from "../ops/canary.js";

export function register(program: Command): void {
  program.command("promote <from> <to>")
    .description("copy the artifact digests stack <from> runs into <to>'s config (no rebuild); --yes also runs pulumi up on <to>")
    .option("--function <fn...>", `only these functions (${FUNCTIONS.join(", ")})`)
    .option("--yes", "apply: run pulumi up on <to> after writing its config")
    .option("--dry-run", "show the config diff without writing anything")
    .option("--as-canary", "write the digests as <to>'s canary (weight 0) for `logpipe canary start` instead of as stable")
    .option("--project-dir <dir>", "repository root (default: nearest directory with Pulumi.yaml)")
    .option("--state-dir <dir>", "canary state kept in this local directory (default: <to>'s logpipe:artifactStore bucket, shared, else .logpipe/canary)")
    .option("--json", "machine-readable output")
    .action((from: string, to: string, o) => runAction("promote", async () => {
      const project = readProject(findProjectRoot(o.projectDir ?? process.cwd()));
      const log = (line: string) => (o.json ? process.stderr : process.stdout).write(line + "\n");
      // never promote over an unfinished canary, wherever its state lives (shared OSS store or local)
      let store: CanaryStore;
      try {
        store = await canaryStoreFor({ stack: to, stateDir: o.stateDir }, project, () => {});
      } catch (e) {
        if (!(e instanceof ConfigError) || !o.dryRun) throw e;
        log(`note: ${e.message.replace(/: set ALIBABA[\s\S]*$/, "")} — not checked in this dry run (no credentials)`);
        store = new LocalCanaryStore(path.resolve(project.root, ".logpipe/canary"));
      }
      if (store.kind === "oss") {
        for (const fn of (o.function as string[] | undefined)?.map(parseFunctionArg) ?? FUNCTIONS) {
          const st = (await store.readState<CanaryState>(to, fn))?.state;
          if (st && ["running", "paused", "failed"].includes(st.status)) {
            throw new UsageError(`${to} has a canary run of ${fn} in state "${st.status}" (${store.where(to, fn)}, started by ${st.startedBy}); finish or abort it first`);
          }
        }
      }
      const res = await promote(
        { from, to, functions: (o.function as string[] | undefined)?.map(parseFunctionArg), yes: !!o.yes, dryRun: !!o.dryRun, asCanary: !!o.asCanary },
        {
          project, runner: new AutomationStackRunner(project), actor: currentActor(), now: Date.now, log,
          canaryStateDir: store.kind === "local" ? (store as LocalCanaryStore).dir : path.resolve(project.root, ".logpipe/canary"),
          auditFile: path.resolve(project.root, ".logpipe/promote", `${to}.jsonl`),
        },
      );
      if (o.json) { printJson(res); return 0; }
      for (const w of res.warnings) process.stdout.write(`warning: ${w}\n`);
      process.stdout.write(table(["function", `${to} now`, `${from} runs (version)`, "change"], res.changes.map((c) => [
        c.function, c.previous ? short(c.previous) : "-", `${short(c.digest)} (v${c.versionIdInFrom})`, c.changed ? (o.asCanary ? "→ canary" : "→ stable") : "up to date",
      ])) + "\n");
      if (res.diff) process.stdout.write(`\n${res.diff}\n\n`);
      else process.stdout.write(`${res.configFile} already has what ${from} runs\n`);
      if (o.dryRun) process.stdout.write("dry run: nothing written\n");
      else if (!res.applied && res.diff) process.stdout.write(`written to ${res.configFile}; apply with \`logpipe promote ${from} ${to} --yes\` or \`pulumi up -s ${to}\`\n`);
      else process.stdout.write(`applied: pulumi up on ${to} (${Object.entries(res.upChanges ?? {}).map(([k, v]) => `${k} ${v}`).join(", ")})\n`);
      return 0;
    }));
}

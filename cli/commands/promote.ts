/**
 * `logpipe promote <from> <to>` — copy the artifact digests <from> runs into <to>'s stack config
 * (logpipe:release + logpipe:artifacts), show the diff, and with --yes run `pulumi up` on <to>.
 */
import type { Command } from "commander";
import path from "node:path";
import { AutomationStackRunner } from "../ops/automation.js";
import { FUNCTIONS } from "../ops/contracts.js";
import { currentActor } from "../ops/journal.js";
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
    .option("--json", "machine-readable output")
    .action((from: string, to: string, o) => runAction("promote", async () => {
      const project = readProject(findProjectRoot(o.projectDir ?? process.cwd()));
      const log = (line: string) => (o.json ? process.stderr : process.stdout).write(line + "\n");
      const res = await promote(
        { from, to, functions: (o.function as string[] | undefined)?.map(parseFunctionArg), yes: !!o.yes, dryRun: !!o.dryRun, asCanary: !!o.asCanary },
        {
          project, runner: new AutomationStackRunner(project), actor: currentActor(), now: Date.now, log,
          canaryStateDir: path.resolve(project.root, process.env.LOGPIPE_CANARY_DIR ?? ".logpipe/canary"),
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

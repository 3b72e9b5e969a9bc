/**
 * `logpipe cost --stack NAME` — what the stack would create (the Pulumi program under mocks,
 * `planStack`), priced with a dated price table and a usage profile; table / json / markdown,
 * diff against another stack or a saved report, budget exit code, Firehose and self-hosted
 * comparisons, break-even chart, right-sizing. docs/cost.md explains the model and the sources.
 * The engine is cli/ops/cost.ts (pricing) + cli/ops/cost-run.ts (driver).
 */
import type { Command } from "commander";
import { runCost } from "../ops/cost-run.js";
import { colorEnabled } from "../ops/cost-format.js";
import { runAction } from "../ops/output.js";

export function register(program: Command): void {
  program.command("cost")
    .description("price what a stack would create (program under mocks) with a dated price table and a usage profile")
    .requiredOption("--stack <name>", "stack (stacks/Pulumi.<name>.yaml)")
    .option("--usage <file>", "traffic YAML/JSON: gbPerDay, avgRecordBytes, apps, retentionDays (default: logpipe:usage in the stack config)")
    .option("--profile <file>", "measured usage profile (bench/profile.json format) or `logpipe local --json` output (default: bench/profile.json)")
    .option("--format <fmt>", "table | json | markdown", "table")
    .option("--json", "same as --format json")
    .option("--compare <stack|file.json>", "diff against another stack or a report saved with --format json")
    .option("--budget <amount>", "exit 1 when the monthly total exceeds this amount (in the report currency)")
    .option("--site <cn|intl>", "price on the China site (CNY) or the international site (USD); default from alicloud:region")
    .option("--prices <file>", "price overlay (JSON, same shape as the built-in tables): fills what the tables exclude, e.g. Redis classes, OSS, fx.USDCNY")
    .option("--init-prices <file>", "write an overlay template listing every price this stack's report excludes, then exit")
    .option("--chart <file>", "also write a chart of monthly cost vs GB/day (logpipe against the comparisons): .svg or .png")
    .option("--no-firehose", "skip the Firehose comparison")
    .option("--project-dir <dir>", "repository root (default: nearest directory with Pulumi.yaml)")
    .action((o) => runAction("cost", async () => {
      const res = await runCost({ ...o, color: colorEnabled(process.stdout) });
      process.stdout.write(res.stdout + "\n");
      if (res.stderr) process.stderr.write(`logpipe cost: ${res.stderr}\n`);
      return res.code;
    }));
}


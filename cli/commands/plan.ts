/**
 * `logpipe plan --stack NAME [--config-file FILE] [--json] [--placeholder-artifacts]` — every
 * resource the stack would create, computed by running the Pulumi program under mocks with
 * the stack's config file (no Pulumi CLI, no cloud credentials). Secrets are masked.
 * Exit codes: 0 planned, 1 program failure, 2 usage or configuration error.
 */
import type { Command } from "commander";
import Table from "cli-table3";
import { PlanError, planStackDetailed, type PlannedResource } from "../plan/index.js";
import { listStacks } from "../plan/stack-file.js";
import { colorEnabled } from "../ops/cost-format.js";

/** The inputs worth a glance in the table, per resource type (the JSON has all of them). */
const KEY_INPUTS: Record<string, string[]> = {
  "alicloud:fc/v3Function:V3Function": ["functionName", "memorySize", "cpu", "timeout", "diskSize", "description"],
  "alicloud:fc/v3FunctionVersion:V3FunctionVersion": ["functionName", "description"],
  "alicloud:fc/v3Alias:V3Alias": ["functionName", "aliasName", "versionId", "additionalVersionWeight"],
  "alicloud:fc/v3Trigger:V3Trigger": ["functionName", "qualifier", "triggerType"],
  "alicloud:fc/v3AsyncInvokeConfig:V3AsyncInvokeConfig": ["functionName", "qualifier", "maxAsyncRetryAttempts"],
  "alicloud:fc/v3ConcurrencyConfig:V3ConcurrencyConfig": ["functionName", "reservedConcurrency"],
  "alicloud:kvstore/instance:Instance": ["dbInstanceName", "instanceClass", "engineVersion", "securityIps", "password"],
  "alicloud:nas/fileSystem:FileSystem": ["storageType", "protocolType", "encryptType", "zoneId"],
  "alicloud:nas/accessRule:AccessRule": ["sourceCidrIp", "rwAccessType"],
  "alicloud:oss/bucket:Bucket": ["bucket", "redundancyType", "serverSideEncryptionRule"],
  "alicloud:oss/bucketAcl:BucketAcl": ["acl"],
  "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock": ["blockPublicAccess"],
  "alicloud:vpc/network:Network": ["vpcName", "cidrBlock"],
  "alicloud:vpc/switch:Switch": ["vswitchName", "cidrBlock", "zoneId"],
  "alicloud:alikafka/instance:Instance": ["name", "specType", "diskSize", "ioMaxSpec"],
  "alicloud:alikafka/topic:Topic": ["topic", "partitionNum"],
  "alicloud:alikafka/consumerGroup:ConsumerGroup": ["consumerId"],
  "alicloud:ram/role:Role": ["roleName"],
  "alicloud:ram/policy:Policy": ["policyName"],
  "alicloud:log/project:Project": ["projectName"],
  "alicloud:log/store:Store": ["logstoreName", "retentionPeriod"],
  "alicloud:cms/alarm:Alarm": ["metric", "enabled"],
  "alicloud:message/serviceQueue:ServiceQueue": ["queueName"],
};

function keyInputs(r: PlannedResource): string {
  const keys = KEY_INPUTS[r.type] ?? [];
  return keys
    .filter((k) => r.inputs[k] !== undefined)
    .map((k) => {
      const v = r.inputs[k];
      const s = typeof v === "string" ? v : JSON.stringify(v);
      return `${k}=${s.length > 60 ? s.slice(0, 57) + "..." : s}`;
    })
    .join("\n");
}

export function register(program: Command): void {
  program
    .command("plan")
    .description("list every resource a stack would create (Pulumi program under mocks; secrets masked)")
    .requiredOption("--stack <name>", `stack name (${listStacks().join(", ") || "see stacks/"})`)
    .option("--config-file <file>", "use this config file instead of stacks/Pulumi.<stack>.yaml")
    .option("--placeholder-artifacts", "do not bundle the handlers for a stack without logpipe:release")
    .option("--all", "include component resources (logpipe:infra:*) in the table")
    .option("--json", "print {stack, resources, outputs} as JSON")
    .action(async (opts: { stack: string; configFile?: string; placeholderArtifacts?: boolean; all?: boolean; json?: boolean }) => {
      let result;
      try {
        result = await planStackDetailed(opts.stack, { configFile: opts.configFile, artifacts: opts.placeholderArtifacts ? "placeholder" : "build" });
      } catch (e) {
        const err = e as Error;
        process.stderr.write(`logpipe plan: ${err.message}\n`);
        process.exitCode = e instanceof PlanError && e.kind === "config" ? 2 : 1;
        return;
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ stack: result.stack, resources: result.resources, outputs: result.outputs }, null, 2) + "\n");
        return;
      }
      const shown = result.resources.filter((r) => opts.all || !r.type.startsWith("logpipe:"));
      // ≤ 100 columns; cli-table3 paints headers red by default: plain unless stdout is a terminal that wants colour
      const table = new Table({
        head: ["type", "name", "key inputs"], wordWrap: true, wrapOnWordBoundary: false, colWidths: [30, 26, 40],
        style: { head: colorEnabled(process.stdout) ? ["bold"] : [], border: [] },
      });
      for (const r of shown) table.push([r.type.replace(/^alicloud:/, ""), r.name, keyInputs(r)]);
      process.stdout.write(table.toString() + "\n");
      const counts = new Map<string, number>();
      for (const r of result.resources) if (!r.type.startsWith("logpipe:")) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
      process.stdout.write(`stack ${result.stack}: ${[...counts.values()].reduce((a, b) => a + b, 0)} resources (${result.resources.length - shown.length} components hidden), verified under mocks only\n`);
    });
}

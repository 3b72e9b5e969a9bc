/**
 * `logpipe cost` driver: loads the stack config and usage profile, runs `planStack` (the Pulumi
 * program under mocks), prices the result, renders it, diffs it, checks the budget.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { computeCost, siteForRegion, type CostReport, type Site } from "./cost.js";
import { diffReports, loadReport, money, renderDiff, renderMarkdown, renderTable } from "./cost-format.js";
import { costUsageSchema, describeZodError, type CostUsage } from "./contracts.js";
import { ConfigError, OpsError, UsageError } from "./errors.js";
import { loadPriceTable, mergePriceTables } from "./prices/index.js";
import { StackConfigFile, findProjectRoot, readProject, stackConfigPath, type ProjectInfo } from "./stack-config.js";
import { parsePositiveNumberArg } from "./units.js";
import type { PlannedResource } from "../plan/types.js";

export interface CostOptions {
  stack: string;
  usageFile?: string;
  site?: Site;
  pricesOverride?: string;
  firehose?: boolean;
  /** for tests: supply the planned resources instead of running the program */
  plan?: (stack: string) => Promise<PlannedResource[]>;
}

export function readUsageFile(file: string): CostUsage {
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`--usage ${file}: ${(e as Error).message}`);
  }
  const body = raw && typeof raw === "object" && "logpipe:usage" in (raw as object) ? (raw as Record<string, unknown>)["logpipe:usage"] : raw;
  const r = costUsageSchema.safeParse(body);
  if (!r.success) throw new ConfigError(`--usage ${file}: ${describeZodError("usage", r.error)}`);
  return r.data;
}

async function defaultPlan(stack: string): Promise<PlannedResource[]> {
  const { planStack, PlanError } = await import("../plan/index.js");
  try {
    return await planStack(stack, { artifacts: "placeholder" });
  } catch (e) {
    if (e instanceof PlanError) {
      const issues = e.issues.map((i) => `${i.key}: ${i.message}`).join("; ");
      throw e.kind === "config" ? new ConfigError(`stack ${stack}: ${issues || e.message}`) : new OpsError(`planning stack ${stack} failed: ${e.message}`);
    }
    throw e;
  }
}

export async function costForStack(project: ProjectInfo, o: CostOptions): Promise<CostReport> {
  const cfg = StackConfigFile.load(project, o.stack);
  const usage = o.usageFile ? readUsageFile(o.usageFile) : cfg.usage();
  if (!usage) throw new ConfigError(`no usage profile for ${o.stack}: add logpipe:usage {gbPerDay, avgRecordBytes, apps, retentionDays} to ${cfg.relativePath} or pass --usage file.yaml`);
  const site = o.site ?? siteForRegion(cfg.region());
  let prices = loadPriceTable(site);
  if (o.pricesOverride) prices = mergePriceTables(prices, loadPriceTable(o.pricesOverride));
  const resources = await (o.plan ?? defaultPlan)(o.stack);
  return computeCost({
    stack: o.stack, resources, usage, usageSource: o.usageFile ? path.basename(o.usageFile) : `${cfg.relativePath} logpipe:usage`,
    prices, site, firehose: o.firehose === false ? undefined : loadPriceTable("firehose"),
  });
}

export async function runCost(argv: {
  stack: string; usage?: string; format?: string; json?: boolean; compare?: string; budget?: string; site?: string; prices?: string; firehose?: boolean; projectDir?: string;
}, plan?: (stack: string) => Promise<PlannedResource[]>): Promise<{ code: number; stdout: string; stderr: string }> {
  const format = argv.json ? "json" : (argv.format ?? "table");
  if (!["table", "json", "markdown"].includes(format)) throw new UsageError(`--format: expected table, json or markdown, got "${format}"`);
  if (argv.site !== undefined && argv.site !== "cn" && argv.site !== "intl") throw new UsageError(`--site: expected cn or intl, got "${argv.site}"`);
  const budget = argv.budget !== undefined ? parsePositiveNumberArg(argv.budget, "--budget") : undefined;
  const project = readProject(findProjectRoot(argv.projectDir ?? process.cwd()));
  const base = { usageFile: argv.usage, site: argv.site as Site | undefined, pricesOverride: argv.prices, firehose: argv.firehose, plan };
  const report = await costForStack(project, { ...base, stack: argv.stack });

  let compare: CostReport | undefined;
  if (argv.compare) {
    const isStack = !/\.json$/i.test(argv.compare) && existsSync(stackConfigPath(project, argv.compare));
    if (isStack) compare = await costForStack(project, { ...base, stack: argv.compare, site: (argv.site as Site | undefined) ?? report.site });
    else if (existsSync(argv.compare)) compare = loadReport(argv.compare);
    else throw new UsageError(`--compare: "${argv.compare}" is neither a stack (stacks/Pulumi.${argv.compare}.yaml) nor a saved report file`);
  }
  const diff = compare ? diffReports(compare, report) : undefined;

  let stdout: string;
  if (format === "json") stdout = JSON.stringify(diff ? { ...report, diff } : report, null, 2);
  else if (format === "markdown") stdout = renderMarkdown(report) + (diff ? `\n\n${renderDiff(diff, "markdown")}` : "");
  else stdout = renderTable(report) + (diff ? `\n\n${renderDiff(diff, "table")}` : "");

  let code = 0, stderr = "";
  if (budget !== undefined && report.total > budget) {
    code = 1;
    stderr = `over budget: ${money(report.total, report.currency)}/month > ${money(budget, report.currency)}` +
      (report.unpricedCount ? ` (and ${report.unpricedCount} resource(s) are not fully priced, so the real total is higher)` : "");
  } else if (budget !== undefined && report.unpricedCount) {
    stderr = `within budget on priced resources (${money(report.total, report.currency)} ≤ ${money(budget, report.currency)}), but ${report.unpricedCount} resource(s) are not fully priced`;
  }
  return { code, stdout, stderr };
}


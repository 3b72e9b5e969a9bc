/**
 * `logpipe cost` driver: loads the stack config and usage profile, runs `planStack` (the Pulumi
 * program under mocks), prices the result, renders it, diffs it, checks the budget.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { computeCost, siteForRegion, type CostInput, type CostReport, type Site } from "./cost.js";
import { diffReports, loadReport, money, renderDiff, renderMarkdown, renderTable } from "./cost-format.js";
import { costUsageSchema, describeZodError, type CostUsage } from "./contracts.js";
import { ConfigError, OpsError, UsageError } from "./errors.js";
import { loadPriceTable, mergePriceTables, type PriceTable } from "./prices/index.js";
import { DEFAULT_PROFILE_PATH, readProfile, type LoadedProfile } from "../cost/profile.js";
import { chartData, chartXs, renderPng, renderSvg, type ChartData } from "../cost/chart.js";
import { StackConfigFile, findProjectRoot, readProject, stackConfigPath, type ProjectInfo } from "./stack-config.js";
import { parsePositiveNumberArg } from "./units.js";
import type { PlannedResource } from "../plan/types.js";

export interface CostOptions {
  stack: string;
  usageFile?: string;
  profileFile?: string;
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

/** The profile named in the output: relative to the repository when it lives inside it. */
export function loadProfile(project: ProjectInfo, file?: string): LoadedProfile {
  const abs = path.resolve(file ?? DEFAULT_PROFILE_PATH);
  if (!existsSync(abs)) throw new ConfigError(file ? `--profile ${file}: no such file` : `default profile ${DEFAULT_PROFILE_PATH} is missing: run npm run bench or pass --profile`);
  const rel = path.relative(project.root, abs);
  return readProfile(abs, rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel);
}

interface Priced { report: CostReport; resources: PlannedResource[]; input: CostInput }

async function price(project: ProjectInfo, o: CostOptions): Promise<Priced> {
  const cfg = StackConfigFile.load(project, o.stack);
  const usage = o.usageFile ? readUsageFile(o.usageFile) : cfg.usage();
  if (!usage) throw new ConfigError(`no usage for ${o.stack}: add logpipe:usage {gbPerDay, avgRecordBytes, apps, retentionDays} to ${cfg.relativePath} or pass --usage file.yaml`);
  const site = o.site ?? siteForRegion(cfg.region());
  let prices = loadPriceTable(site);
  let firehose = o.firehose === false ? undefined : loadPriceTable("firehose");
  if (o.pricesOverride) {
    const over = loadPriceTable(o.pricesOverride);
    // an overlay may carry firehose.* (USD) items for the comparison and site items in the site's currency
    const fh = Object.fromEntries(Object.entries(over.items).filter(([k]) => k.startsWith("firehose.")));
    const rest = { ...over, items: Object.fromEntries(Object.entries(over.items).filter(([k]) => !k.startsWith("firehose."))) };
    if (Object.keys(rest.items).length || over.currency === prices.currency) prices = mergePriceTables(prices, rest);
    if (firehose && Object.keys(fh).length) firehose = mergePriceTables(firehose, { ...over, currency: firehose.currency, items: fh, unpriced: {} });
  }
  const resources = await (o.plan ?? defaultPlan)(o.stack);
  const input: CostInput = {
    stack: o.stack, resources, usage, usageSource: o.usageFile ? path.basename(o.usageFile) : `${cfg.relativePath} logpipe:usage`,
    profile: loadProfile(project, o.profileFile), prices, site, firehose,
  };
  return { report: computeCost(input), resources, input };
}

export async function costForStack(project: ProjectInfo, o: CostOptions): Promise<CostReport> {
  return (await price(project, o)).report;
}

/** An overlay template with every key this stack's report could not price. */
export function pricesTemplate(p: Priced): PriceTable & { todo: Record<string, unknown> } {
  const t = p.input.prices;
  const todo: Record<string, unknown> = {};
  for (const [k, reason] of Object.entries(t.unpriced)) {
    if (k === "kvstore" || k === "alikafka" || k === "sls" || k === "eventbridge") continue; // instance-class keys below
    todo[k] = { unit: unitOf(k), price: null, source: "vendor URL", asOf: "YYYY-MM-DD", why: reason };
  }
  for (const r of p.report.resources) {
    if (r.status !== "unpriced" && r.status !== "partial") continue;
    const plan = p.resources.find((x) => x.name === r.name && x.type === r.type);
    if (r.type === "alicloud:kvstore/instance:Instance") todo[`kvstore.${String(plan?.inputs.instanceClass ?? "?")}`] = { unit: "instance-month", price: null, source: "vendor URL or contract", asOf: "YYYY-MM-DD", why: r.reason };
    if (r.type === "alicloud:alikafka/instance:Instance") todo[`alikafka.${String(plan?.inputs.specType ?? "normal")}.${String(plan?.inputs.ioMaxSpec ?? "?")}`] = { unit: "instance-month", price: null, source: "vendor URL or contract", asOf: "YYYY-MM-DD", why: r.reason };
    if (r.type === "alicloud:fc/v3Trigger:V3Trigger") todo["eventbridge.cuHour"] = { unit: "CU-hour", price: null, source: "vendor URL", asOf: "YYYY-MM-DD", why: r.reason };
  }
  return {
    table: "overlay", site: t.site, currency: t.currency, retrieved: "YYYY-MM-DD",
    notes: [`Overlay for ${t.table}: move each entry you can price from "todo" into "items" with its price (${t.currency}), its source (a vendor URL or your contract) and the date (asOf), then run: logpipe cost --stack ${p.report.stack} --prices THIS_FILE. Entries left in todo stay excluded. firehose.* items are in USD.`],
    items: {}, unpriced: {}, todo,
  };
}

function unitOf(k: string): string {
  if (k.startsWith("oss.storage") || k.startsWith("nas.")) return "GB-month";
  if (k.startsWith("oss.request")) return "10,000 requests";
  if (k.startsWith("oss.retrieval")) return "GB";
  if (k === "fx.USDCNY") return "CNY per USD";
  if (k === "mns.queueDay") return "queue-day";
  return "see why";
}

export interface CostArgs {
  stack: string; usage?: string; profile?: string; format?: string; json?: boolean; compare?: string; budget?: string; site?: string;
  prices?: string; initPrices?: string; chart?: string; firehose?: boolean; projectDir?: string; color?: boolean;
}

export async function runCost(argv: CostArgs, plan?: (stack: string) => Promise<PlannedResource[]>): Promise<{ code: number; stdout: string; stderr: string }> {
  const format = argv.json ? "json" : (argv.format ?? "table");
  if (!["table", "json", "markdown"].includes(format)) throw new UsageError(`--format: expected table, json or markdown, got "${format}"`);
  if (argv.site !== undefined && argv.site !== "cn" && argv.site !== "intl") throw new UsageError(`--site: expected cn or intl, got "${argv.site}"`);
  if (argv.chart !== undefined && !/\.(svg|png)$/i.test(argv.chart)) throw new UsageError(`--chart: expected a file name ending in .svg or .png, got "${argv.chart}"`);
  const budget = argv.budget !== undefined ? parsePositiveNumberArg(argv.budget, "--budget") : undefined;
  const project = readProject(findProjectRoot(argv.projectDir ?? process.cwd()));
  const base = { usageFile: argv.usage, profileFile: argv.profile, site: argv.site as Site | undefined, pricesOverride: argv.prices, firehose: argv.firehose, plan };
  const priced = await price(project, { ...base, stack: argv.stack });
  const report = priced.report;

  if (argv.initPrices) {
    if (existsSync(argv.initPrices)) throw new UsageError(`--init-prices ${argv.initPrices}: file exists; refusing to overwrite it`);
    const tpl = pricesTemplate(priced);
    writeFileSync(argv.initPrices, JSON.stringify(tpl, null, 2) + "\n");
    return { code: 0, stdout: `wrote ${argv.initPrices}: ${Object.keys(tpl.todo).length} price(s) to fill in (${Object.keys(tpl.todo).join(", ")})`, stderr: "" };
  }

  let chart: ChartData | undefined;
  if (argv.chart) {
    const xs = chartXs(report.usage.gbPerDay);
    const reports = xs.map((x) => computeCost({ ...priced.input, usage: { ...priced.input.usage, gbPerDay: x } }));
    chart = chartData(reports, xs);
    const svg = renderSvg(chart, `logpipe cost, stack ${report.stack} (${report.usage.apps} apps): monthly cost vs GB/day`);
    writeFileSync(argv.chart, /\.png$/i.test(argv.chart) ? await renderPng(svg) : svg);
  }

  let compare: CostReport | undefined;
  if (argv.compare) {
    const isStack = !/\.json$/i.test(argv.compare) && existsSync(stackConfigPath(project, argv.compare));
    if (isStack) compare = await costForStack(project, { ...base, stack: argv.compare, site: (argv.site as Site | undefined) ?? report.site });
    else if (existsSync(argv.compare)) compare = loadReport(argv.compare);
    else throw new UsageError(`--compare: "${argv.compare}" is neither a stack (stacks/Pulumi.${argv.compare}.yaml) nor a saved report file`);
  }
  const diff = compare ? diffReports(compare, report) : undefined;

  let stdout: string;
  if (format === "json") stdout = JSON.stringify({ ...report, ...(diff ? { diff } : {}), ...(chart ? { chart: { file: argv.chart, ...chart } } : {}) }, null, 2);
  else if (format === "markdown") stdout = renderMarkdown(report) + (diff ? `\n\n${renderDiff(diff, "markdown")}` : "");
  else stdout = renderTable(report, { color: argv.color }) + (diff ? `\n\n${renderDiff(diff, "table")}` : "");
  if (chart && format !== "json") stdout += `\n\nChart: ${argv.chart}`;

  let code = 0, stderr = "";
  const ex = report.excludes.length ? ` (excludes: ${report.excludes.join(", ")})` : "";
  if (budget !== undefined && report.total > budget) {
    code = 1;
    stderr = `over budget: ${money(report.total, report.currency)}/month > ${money(budget, report.currency)}${ex}`;
  } else if (budget !== undefined && report.excludes.length) {
    stderr = `within budget on priced resources (${money(report.total, report.currency)} ≤ ${money(budget, report.currency)}), but the total excludes: ${report.excludes.join(", ")}`;
  }
  return { code, stdout, stderr };
}

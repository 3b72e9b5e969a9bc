/**
 * Cost engine: prices the resources a stack would create (PlannedResource[] from `planStack`)
 * with a dated price table and a measured usage profile. Pure: no I/O, so tests feed hand-built
 * resource lists and check totals computed by hand.
 *
 * FC is billed as FC bills it: per function, (vCPU × 1 + memory GB × 0.15 + disk beyond 512 MB ×
 * 0.05) CU per active second × billed duration, + 75 CU per 10,000 invocations, each function's
 * CU rounded up per hour, CU tiers on the account's monthly total. Billed duration per GB and
 * invocations per GB come from the usage profile (bench/profile.json by default), not from
 * hand-typed CPU figures. Storage: compressed GB/day through the bucket's lifecycle (with minimum
 * storage durations). Every assumption is listed in the report; every resource is priced or
 * named in `excludes`.
 */
import { defaultSealMaxAgeMs, parseDuration, parseSize } from "../../functions/core/config.js";
import type { PlannedResource } from "../plan/types.js";
import { tieredCost, type PriceTable, type Tier } from "./prices/index.js";
import type { CostUsage } from "./contracts.js";
import { FUNCTION_ROLES, profileAt, usageAtRate, type FunctionRole, type FunctionUsage, type LoadedProfile } from "../cost/profile.js";

export const GiB = 1024 ** 3;
export const DAYS_PER_MONTH = 30;
export const HOURS_PER_MONTH = DAYS_PER_MONTH * 24;
export const DEFAULT_LOG_BYTES_PER_INVOCATION = 1024;
/** Peak ÷ average traffic used to size the always-on self-hosted baseline (assumption, shown). */
export const DEFAULT_PEAK_TO_AVERAGE = 2;

export type Site = "cn" | "intl";

export interface CostLine {
  component: string;
  quantity: number;
  unit: string;
  unitPrice: number | null;
  monthly: number | null;
  source?: string;
  note?: string;
}

export type ResourceStatus = "priced" | "partial" | "free" | "unpriced";

export interface ResourceCost {
  name: string;
  type: string;
  status: ResourceStatus;
  monthly: number;
  lines: CostLine[];
  reason?: string;
  /** what the price table is missing for this resource (the --prices overlay keys) */
  missing?: string[];
}

export interface Comparison {
  name: string;
  currency: "CNY" | "USD";
  /** null when an input price is missing (see excludes) */
  monthly: number | null;
  perGb: number | null;
  lines: CostLine[];
  notes: string[];
  excludes: string[];
}

export interface FunctionUsageReport {
  role: FunctionRole;
  name: string;
  cpu: number;
  memoryGb: number;
  handlerSecondsPerGb: number;
  billedSecondsPerMonth: number;
  invocationsPerMonth: number;
  cuPerMonth: number;
}

export interface RightSizing {
  function: string;
  role: FunctionRole;
  current: { cpu: number; memoryMb: number; monthly: number };
  recommended: { cpu: number; memoryMb: number; monthly: number };
  saving: number;
  reason: string;
}

export interface SourceRef { key: string; source: string; asOf: string }

export interface CostReport {
  stack: string;
  site: Site;
  currency: "CNY" | "USD";
  priceTable: { name: string; retrieved: string };
  usage: CostUsage & { compressionRatio: number };
  usageSource: string;
  profile: { name: string; kind: string; command: string; dataPath: string; recordedAt: string; apps: number; note?: string };
  overrides: string[];
  derived: {
    monthlyGb: number;
    recordsPerMonth: number;
    batchRecords: number;
    invocationsPerMonth: Record<string, number>;
    cuPerMonth: number;
    storedGb: Record<string, number>;
    objectsPerMonth: number;
    functions: FunctionUsageReport[];
  };
  resources: ResourceCost[];
  total: number;
  /** priced part split into what does not grow with traffic and what does */
  fixedMonthly: number;
  variableMonthly: number;
  unpricedCount: number;
  /** names of what the total leaves out (unpriced resources and unpriced parts) */
  excludes: string[];
  perGb: { processing: number; storage: number; total: number };
  comparisons: Comparison[];
  fx?: { usdToCny: number; source: string; asOf: string };
  rightSizing: RightSizing[];
  sources: SourceRef[];
  assumptions: string[];
}

interface Ctx {
  prices: PriceTable;
  usage: CostUsage & { compressionRatio: number };
  resources: PlannedResource[];
  site: Site;
  assumptions: string[];
  used: Map<string, SourceRef>;
}

const FREE_TYPES: Record<string, string> = {
  "alicloud:ram/role:Role": "RAM roles are not billed",
  "alicloud:ram/policy:Policy": "RAM policies are not billed",
  "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment": "not billed",
  "alicloud:fc/v3FunctionVersion:V3FunctionVersion": "versions are not billed; invocations are (on the function)",
  "alicloud:fc/v3Alias:V3Alias": "aliases are not billed",
  "alicloud:fc/v3AsyncInvokeConfig:V3AsyncInvokeConfig": "configuration only",
  "alicloud:fc/v3ConcurrencyConfig:V3ConcurrencyConfig": "configuration only",
  "alicloud:oss/bucketAcl:BucketAcl": "configuration only",
  "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock": "configuration only",
  "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption": "configuration only",
  "alicloud:oss/bucketVersioning:BucketVersioning": "configuration only",
  "alicloud:nas/accessGroup:AccessGroup": "configuration only",
  "alicloud:nas/accessRule:AccessRule": "configuration only",
  "alicloud:nas/mountTarget:MountTarget": "mount targets are not billed; capacity is (on the file system)",
  "alicloud:log/storeIndex:StoreIndex": "index usage is billed on the logstore",
  "alicloud:alikafka/topic:Topic": "included in the Kafka instance",
  "alicloud:alikafka/consumerGroup:ConsumerGroup": "included in the Kafka instance",
  "alicloud:alikafka/instanceAllowedIpAttachment:InstanceAllowedIpAttachment": "configuration only (IP allow list)",
  "alicloud:kvstore/backupPolicy:BackupPolicy": "configuration only",
  "alicloud:vpc/network:Network": "VPCs are not billed",
  "alicloud:vpc/switch:Switch": "vSwitches are not billed",
  "alicloud:ecs/securityGroup:SecurityGroup": "security groups are not billed",
  "alicloud:ecs/securityGroupRule:SecurityGroupRule": "not billed",
  "random:index/randomPassword:RandomPassword": "local value, not a cloud resource",
};

export interface CostInput {
  stack: string;
  resources: PlannedResource[];
  usage: CostUsage;
  usageSource: string;
  profile: LoadedProfile;
  prices: PriceTable;
  site: Site;
  firehose?: PriceTable;
}

const FC_TYPE = "alicloud:fc/v3Function:V3Function";

export function computeCost(input: CostInput): CostReport {
  const prof = input.profile.profile;
  const at = profileAt(prof, input.usage.apps);
  const overrides: string[] = [];
  const usage = { ...input.usage, compressionRatio: input.usage.compressionRatio ?? prof.compressionRatio };
  if (input.usage.compressionRatio !== undefined) overrides.push(`compressionRatio ${input.usage.compressionRatio} from ${input.usageSource} replaces the measured ${prof.compressionRatio}`);
  // per GB + per hour ÷ the stack's GB per hour, when the profile splits them (bench's two-rate steady state)
  const rated = Object.fromEntries(FUNCTION_ROLES.map((k) => [k, usageAtRate(at.functions[k], input.usage.gbPerDay)])) as Record<FunctionRole, FunctionUsage & { projected: boolean }>;
  const projected = FUNCTION_ROLES.every((k) => rated[k].projected);
  let perFn: Record<FunctionRole, FunctionUsage> = projected ? rated : at.functions;
  if (input.usage.cpuSecondsPerGb !== undefined) {
    // an explicit, flagged override: the total billed seconds per GB, split as the profile splits it
    const measured = FUNCTION_ROLES.reduce((s, k) => s + perFn[k].handlerSecondsPerGb, 0);
    const f = measured > 0 ? input.usage.cpuSecondsPerGb / measured : 0;
    perFn = Object.fromEntries(FUNCTION_ROLES.map((k) => [k, { ...perFn[k], handlerSecondsPerGb: perFn[k].handlerSecondsPerGb * f }])) as Record<FunctionRole, FunctionUsage>;
    overrides.push(`cpuSecondsPerGb ${input.usage.cpuSecondsPerGb} from ${input.usageSource} replaces the measured ${round(measured, 1)} handler-s/GB (split across functions as measured)`);
  }
  const assumptions: string[] = [
    "GB = 2^30 bytes; a month = 30 days (Alibaba Cloud's monthly-price convention).",
    `FC usage from the measured profile ${input.profile.name} (${prof.source.command}; ${prof.source.dataPath}; recorded ${prof.source.recordedAt})${at.note ? `: ${at.note}` : ""}.`,
    ...(projected
      ? [`Handler seconds and invocations projected to ${round(usage.gbPerDay, 1)} GB/day from the profile's per-GB and per-hour parts (measured at ${round(at.functions.compress.measuredGbPerDay ?? NaN, 1)} GB/day): ${FUNCTION_ROLES.map((k) => `${k} ${round(perFn[k].handlerSecondsPerGb, 1)} s/GB`).join(", ")}.`]
      : []),
    "Handler seconds were measured on one full core; a function configured below 1 vCPU is assumed to take proportionally longer (÷ vCPU), and above 1 vCPU no shorter (the handlers are single-threaded).",
    `Compression ${round(usage.compressionRatio, 2)}× ${input.usage.compressionRatio === undefined ? `(measured, ${input.profile.name})` : `(override from ${input.usageSource})`}.`,
    "Traffic is spread evenly over the day and over the apps.",
  ];
  const ctx: Ctx = { prices: input.prices, usage, resources: input.resources, site: input.site, assumptions, used: new Map() };

  const monthlyGb = usage.gbPerDay * DAYS_PER_MONTH;
  const recordsPerDay = (usage.gbPerDay * GiB) / usage.avgRecordBytes;
  const shape = pipelineShape(ctx, recordsPerDay, perFn);
  const oss = ossShape(ctx);

  const fcFunctions = input.resources.filter((r) => r.type === FC_TYPE);
  const fc = priceFunctions(ctx, fcFunctions, shape, perFn);
  const out: ResourceCost[] = [];
  for (const r of input.resources) {
    if (r.type.startsWith("logpipe:") || r.type.startsWith("pulumi:")) continue; // components: their children are listed
    if (r.type === FC_TYPE) { out.push(fc.costs.get(r.name)!); continue; }
    out.push(priceResource(ctx, r, shape, oss, recordsPerDay));
  }
  const total = round(out.reduce((s, r) => s + r.monthly, 0), 2);
  const storage = out.filter((r) => r.type === "alicloud:oss/bucket:Bucket").reduce((s, r) => s + r.monthly, 0);
  const variable = out.filter((r) => r.type === FC_TYPE || r.type === "alicloud:oss/bucket:Bucket" || r.type === "alicloud:log/store:Store").reduce((s, r) => s + r.monthly, 0);
  const excludes = excludedNames(out);
  const report: CostReport = {
    stack: input.stack, site: input.site, currency: input.prices.currency,
    priceTable: { name: input.prices.table, retrieved: input.prices.retrieved },
    usage, usageSource: input.usageSource,
    profile: { name: input.profile.name, kind: input.profile.kind, command: prof.source.command, dataPath: prof.source.dataPath, recordedAt: prof.source.recordedAt, apps: usage.apps, note: at.note },
    overrides,
    derived: {
      monthlyGb, recordsPerMonth: recordsPerDay * DAYS_PER_MONTH, batchRecords: shape.batchRecords,
      invocationsPerMonth: shape.invocationsPerMonth, cuPerMonth: fc.cuTotal,
      storedGb: oss.storedGb, objectsPerMonth: oss.objectsPerMonth, functions: fc.functions,
    },
    resources: out, total, fixedMonthly: round(total - variable, 2), variableMonthly: round(variable, 2),
    unpricedCount: out.filter((r) => r.status === "unpriced" || r.status === "partial").length,
    excludes,
    perGb: monthlyGb > 0 ? { processing: (total - storage) / monthlyGb, storage: storage / monthlyGb, total: total / monthlyGb } : { processing: 0, storage: 0, total: 0 },
    comparisons: [], rightSizing: [], sources: [], assumptions,
  };
  const fx = input.prices.items["fx.USDCNY"];
  if (fx?.price !== undefined) { report.fx = { usdToCny: fx.price, source: fx.source, asOf: fx.asOf }; use(ctx, "fx.USDCNY"); }
  report.comparisons.push(selfHosted(ctx, perFn, monthlyGb));
  if (input.firehose) report.comparisons.push(...firehoseComparisons(input.firehose, usage, recordsPerDay, oss.objectsPerMonth));
  report.rightSizing = rightSizing(ctx, fcFunctions, shape, perFn, fc);
  report.sources = [...ctx.used.values()].sort((a, b) => a.key.localeCompare(b.key));
  if (input.firehose) for (const [k, it] of Object.entries(input.firehose.items)) report.sources.push({ key: k, source: it.source, asOf: it.asOf });
  return report;
}

function use(ctx: Ctx, key: string): PriceTable["items"][string] | undefined {
  const it = ctx.prices.items[key];
  if (it) ctx.used.set(key, { key, source: it.source, asOf: it.asOf });
  return it;
}

/** "12 × cms.Alarm", "redis (kvstore.Instance)", "archive: storage Archive ZRS" … grouped by type. */
function excludedNames(out: ResourceCost[]): string[] {
  const byType = new Map<string, ResourceCost[]>();
  for (const r of out) if (r.status === "unpriced" || r.status === "partial") byType.set(r.type, [...(byType.get(r.type) ?? []), r]);
  const names: string[] = [];
  for (const [type, list] of byType) {
    const t = shortTypeName(type);
    if (list.length > 1) names.push(`${list.length} × ${t}`);
    else if (list[0]!.status === "partial") names.push(`${t} (${(list[0]!.missing ?? []).join(", ") || "part"})`);
    else names.push(t);
  }
  return names;
}

export function shortTypeName(t: string): string {
  const m = /^alicloud:([^/]+)\/[^:]+:(.+)$/.exec(t);
  return m ? `${m[1]}.${m[2]}` : t;
}

// ------------------------------------------------------------------------------------ FC

interface PipelineShape {
  batchRecords: number;
  invocationsPerMonth: Record<FunctionRole, number>;
  splitTasks: number;
}

function pipelineShape(ctx: Ctx, recordsPerDay: number, perFn: Record<FunctionRole, FunctionUsage>): PipelineShape {
  const u = ctx.usage;
  const trig = ctx.resources.find((r) => r.type === "alicloud:fc/v3Trigger:V3Trigger" && r.inputs.triggerType === "eventbridge");
  const cfg = parseJsonInput(trig?.inputs.triggerConfig);
  const runOptions = (cfg?.runOptions ?? {}) as Record<string, unknown>;
  const bw = (runOptions.batchWindow ?? {}) as Record<string, unknown>;
  const count = num(bw.CountBasedWindow) ?? 100;
  const windowSec = num(bw.TimeBasedWindow) ?? 0;
  // concurrent deliveries: FC 3.0 DeliveryOption.concurrency (eventSinkConfig.deliveryOption)
  const delivery = ((cfg?.eventSinkConfig as Record<string, unknown> | undefined)?.deliveryOption ?? {}) as Record<string, unknown>;
  const tasks = Math.max(1, num(delivery.concurrency) ?? 1);
  if (!trig) ctx.assumptions.push("No Kafka (eventbridge) trigger in the plan: assumed batches of 100 records.");
  const perTaskPerSec = recordsPerDay / 86_400 / tasks;
  const payloadCap = Math.floor((32 * 1024 * 1024) / u.avgRecordBytes);
  const byTime = windowSec > 0 ? perTaskPerSec * windowSec : 1;
  const batch = Math.max(1, Math.min(count, payloadCap, Math.max(1, byTime)));
  ctx.assumptions.push(`Kafka trigger batches: min(CountBasedWindow ${count}, ${windowSec}s × ${round(perTaskPerSec, 2)} records/s per delivery × ${tasks} concurrent deliveries, 32 MB payload) = ${round(batch, 2)} records per split invocation.`);
  const monthlyGb = u.gbPerDay * DAYS_PER_MONTH;
  const timer = ctx.resources.find((r) => r.type === "alicloud:fc/v3Trigger:V3Trigger" && r.inputs.triggerType === "timer");
  const cron = String(parseJsonInput(timer?.inputs.triggerConfig)?.cronExpression ?? "@every 1m");
  const tick = cronIntervalSeconds(cron);
  if (tick.note) ctx.assumptions.push(tick.note);
  ctx.assumptions.push(`Invocations: split from the trigger's batches; compress ${round(perFn.compress.invocationsPerGb, 1)} per GB (measured); upload one per timer tick (${cron}).`);
  return {
    batchRecords: batch, splitTasks: tasks,
    invocationsPerMonth: {
      split: (recordsPerDay / batch) * DAYS_PER_MONTH,
      compress: perFn.compress.invocationsPerGb * monthlyGb,
      upload: (86_400 / tick.seconds) * DAYS_PER_MONTH,
    },
  };
}

/** "@every 1m" → 60; 6-field cron "0 *\/5 * * * *" → 300. */
export function cronIntervalSeconds(expr: string): { seconds: number; note?: string } {
  const every = /^@every\s+(\d+)([smh])$/.exec(expr.trim());
  if (every) return { seconds: Number(every[1]) * { s: 1, m: 60, h: 3600 }[every[2] as "s" | "m" | "h"] };
  const fields = expr.replace(/^CRON_TZ=\S+\s+/, "").trim().split(/\s+/);
  if (fields.length === 6) {
    const [sec, min, hour] = fields as [string, string, string];
    const step = (f: string) => (f === "*" ? 1 : /^\*\/(\d+)$/.test(f) ? Number(/^\*\/(\d+)$/.exec(f)![1]) : null);
    if (sec !== "*" && step(min) !== null && hour === "*") return { seconds: 60 * step(min)! };
    if (sec === "*" || step(sec) !== null) return { seconds: step(sec) ?? 1 };
    if (/^\d+$/.test(min) && step(hour) !== null) return { seconds: 3600 * step(hour)! };
  }
  return { seconds: 60, note: `Timer "${expr}": interval not derived, assumed one tick per minute.` };
}


export interface CuFactors { cpu: number; mem: number; disk: number; inv: number }

/**
 * CU of one function for a month, as FC's billing page computes it: (vCPU × cpu factor +
 * memory GB × mem factor + disk GB beyond 512 MB × disk factor) × billed seconds + invocations
 * × inv factor / 10,000; with `hourlyRoundUp`, each hour's CU is rounded up to a whole CU.
 */
export function functionCu(shape: { cpu: number; memoryGb: number; diskGb: number }, billedSeconds: number, invocations: number, k: CuFactors, hourlyRoundUp = false): { active: number; invocations: number; total: number } {
  const active = (shape.cpu * k.cpu + shape.memoryGb * k.mem + Math.max(0, shape.diskGb - 0.5) * k.disk) * billedSeconds;
  const inv = (invocations * k.inv) / 10_000;
  const raw = active + inv;
  return { active, invocations: inv, total: hourlyRoundUp && raw > 0 ? Math.ceil(raw / HOURS_PER_MONTH - 1e-9) * HOURS_PER_MONTH : raw };
}

/** Billed seconds per GB at `cpu` vCPUs from seconds measured on one full core. */
export function durationScale(cpu: number): number {
  return cpu > 0 && cpu < 1 ? 1 / cpu : 1;
}

function cuFactors(ctx: Ctx): CuFactors {
  return {
    cpu: use(ctx, "fc.cuPerVcpuSecond")?.price ?? 1, mem: use(ctx, "fc.cuPerGbSecondMemory")?.price ?? 0.15,
    disk: use(ctx, "fc.cuPerGbSecondDisk")?.price ?? 0.05, inv: use(ctx, "fc.cuPer10kInvocations")?.price ?? 75,
  };
}

interface FcPriced {
  costs: Map<string, ResourceCost>;
  cuTotal: number;
  functions: FunctionUsageReport[];
  /** average price per CU after tiers (null if no fc.cu) */
  avgPrice: number | null;
}

function priceFunctions(ctx: Ctx, fns: PlannedResource[], shape: PipelineShape, perFn: Record<FunctionRole, FunctionUsage>): FcPriced {
  const k = cuFactors(ctx);
  const hourly = use(ctx, "fc.hourlyRoundUp") !== undefined;
  const cuItem = use(ctx, "fc.cu");
  const monthlyGb = ctx.usage.gbPerDay * DAYS_PER_MONTH;
  const per: { r: PlannedResource; role: FunctionRole; cu: number; lines: CostLine[]; report: FunctionUsageReport }[] = [];
  for (const r of fns) {
    const role = functionRole(r);
    if (!role) { ctx.assumptions.push(`FC function ${r.name}: not recognised as split/compress/upload; no usage priced for it.`); continue; }
    const cpu = num(r.inputs.cpu) ?? 0.35;
    const memoryGb = (num(r.inputs.memorySize) ?? 512) / 1024;
    const diskGb = (num(r.inputs.diskSize) ?? 512) / 1024;
    const seconds = monthlyGb * perFn[role].handlerSecondsPerGb * durationScale(cpu);
    const inv = shape.invocationsPerMonth[role];
    const cu = functionCu({ cpu, memoryGb, diskGb }, seconds, inv, k, hourly);
    const lines: CostLine[] = [
      { component: `active: (${cpu} vCPU + ${memoryGb} GB × ${k.mem}${diskGb > 0.5 ? ` + ${round(diskGb - 0.5, 2)} GB disk × ${k.disk}` : ""}) × ${human(seconds)} s`, quantity: round(cu.active, 0), unit: "CU", unitPrice: null, monthly: null },
      { component: `invocations: ${human(inv)} × ${k.inv} / 10,000`, quantity: round(cu.invocations, 0), unit: "CU", unitPrice: null, monthly: null },
    ];
    if (hourly && cu.total > cu.active + cu.invocations + 1e-6) lines.push({ component: "hourly round-up to whole CU", quantity: round(cu.total - cu.active - cu.invocations, 0), unit: "CU", unitPrice: null, monthly: null });
    per.push({ r, role, cu: cu.total, lines, report: { role, name: r.name, cpu, memoryGb, handlerSecondsPerGb: perFn[role].handlerSecondsPerGb, billedSecondsPerMonth: seconds, invocationsPerMonth: inv, cuPerMonth: cu.total } });
  }
  const cuTotal = per.reduce((s, x) => s + x.cu, 0);
  const tiers = cuItem?.tiers as Tier[] | undefined;
  const totalCost = tiers ? tieredCost(cuTotal, tiers) : null;
  const avgPrice = totalCost !== null && cuTotal > 0 ? totalCost / cuTotal : tiers ? tieredCost(1, tiers) : null;
  const costs = new Map<string, ResourceCost>();
  for (const x of per) {
    for (const l of x.lines) { l.unitPrice = avgPrice; l.monthly = avgPrice === null ? null : round(l.quantity * avgPrice, 4); }
    const monthly = avgPrice === null ? 0 : x.cu * avgPrice;
    costs.set(x.r.name, {
      name: x.r.name, type: x.r.type, status: avgPrice === null ? "unpriced" : "priced", monthly: round(monthly, 4), lines: x.lines,
      missing: avgPrice === null ? ["fc.cu"] : undefined,
      reason: avgPrice === null ? "no fc.cu price in the table" : `${x.role}: ${human(x.cu)} CU of ${human(cuTotal)} CU/month; tiers apply to the account's total`,
    });
  }
  for (const r of fns) if (!costs.has(r.name)) costs.set(r.name, { name: r.name, type: r.type, status: "unpriced", monthly: 0, lines: [], reason: "not recognised as split/compress/upload", missing: ["usage profile"] });
  return { costs, cuTotal, functions: per.map((x) => x.report), avgPrice };
}

function functionRole(r: PlannedResource): FunctionRole | undefined {
  const hay = `${r.name} ${String(r.inputs.functionName ?? "")}`.toLowerCase();
  return (["compress", "split", "upload"] as const).find((k) => hay.includes(k));
}

/**
 * Cheapest shape per function under the model: the handlers are single-threaded, so vCPUs above
 * 1 only add CU; below 1 the measured seconds stretch by 1/vCPU. Candidates keep ≥ 1 GB memory
 * (split holds a 32 MB batch at ~3.7× its size; FC allows 1–4 GB per vCPU).
 */
function rightSizing(ctx: Ctx, fns: PlannedResource[], shape: PipelineShape, perFn: Record<FunctionRole, FunctionUsage>, fc: FcPriced): RightSizing[] {
  if (fc.avgPrice === null) return [];
  const k = cuFactors(ctx);
  const monthlyGb = ctx.usage.gbPerDay * DAYS_PER_MONTH;
  const out: RightSizing[] = [];
  for (const f of fc.functions) {
    const r = fns.find((x) => x.name === f.name)!;
    const diskGb = (num(r.inputs.diskSize) ?? 512) / 1024;
    const cost = (cpu: number, memoryGb: number) => functionCu({ cpu, memoryGb, diskGb }, monthlyGb * perFn[f.role].handlerSecondsPerGb * durationScale(cpu), shape.invocationsPerMonth[f.role], k).total * fc.avgPrice!;
    const now = cost(f.cpu, f.memoryGb);
    const candidates = [{ cpu: 1, mem: Math.max(1, Math.min(f.memoryGb, f.memoryGb / f.cpu)) }, { cpu: 1, mem: 1 }];
    const best = candidates.map((c) => ({ ...c, monthly: cost(c.cpu, c.mem) })).sort((a, b) => a.monthly - b.monthly)[0]!;
    if (best.monthly >= now * 0.99 || (best.cpu === f.cpu && best.mem === f.memoryGb)) continue;
    out.push({
      function: f.name, role: f.role,
      current: { cpu: f.cpu, memoryMb: f.memoryGb * 1024, monthly: round(now, 2) },
      recommended: { cpu: best.cpu, memoryMb: best.mem * 1024, monthly: round(best.monthly, 2) },
      saving: round(now - best.monthly, 2),
      reason: f.cpu > 1
        ? `${f.role} is single-threaded (one gzip stream per invocation): ${f.cpu} vCPU bills ${f.cpu}× the vCPU-seconds for the same handler time; 2 vCPU pays off only if gzip runs in parallel`
        : f.cpu < 1 ? `at ${f.cpu} vCPU the measured handler time stretches ×${round(1 / f.cpu, 2)}, so memory is billed longer; 1 vCPU finishes sooner for less`
        : `memory ${f.memoryGb} GB is more than the 1 GB floor this function needs`,
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------ OSS

interface OssShape {
  storedGb: Record<string, number>;
  /** days each cohort spends in a class, billed (minimum durations applied) */
  billedDays: Record<string, number>;
  retentionDays: number;
  transitions: { from: string; to: string }[];
  objectsPerMonth: number;
  objectBytes: number;
  bucket?: PlannedResource;
}

function ossShape(ctx: Ctx): OssShape {
  const u = ctx.usage;
  const bucket = ctx.resources.find((r) => r.type === "alicloud:oss/bucket:Bucket");
  const rules = (Array.isArray(bucket?.inputs.lifecycleRules) ? bucket!.inputs.lifecycleRules : []) as Record<string, unknown>[];
  const main = rules.find((r) => Array.isArray(r.transitions) || Array.isArray(r.expirations)) ?? {};
  const trans = ((main.transitions ?? []) as Record<string, unknown>[])
    .map((t) => ({ days: num(t.days) ?? 0, cls: String(t.storageClass) }))
    .filter((t) => t.days > 0)
    .sort((a, b) => a.days - b.days);
  const expire = num(((main.expirations ?? []) as Record<string, unknown>[])[0]?.days);
  let retention = u.retentionDays;
  if (expire !== undefined) {
    if (expire !== u.retentionDays) ctx.assumptions.push(`Usage retentionDays ${u.retentionDays} differs from the bucket's expiration (${expire} days); the bucket rule decides: ${expire} days.`);
    retention = expire;
  } else if (bucket) {
    ctx.assumptions.push(`The bucket has no expiration rule: objects are assumed deleted after the usage profile's ${u.retentionDays} days.`);
  }
  const minDays: Record<string, number> = { IA: use(ctx, "oss.minDays.IA")?.price ?? 30, Archive: use(ctx, "oss.minDays.Archive")?.price ?? 60, ColdArchive: use(ctx, "oss.minDays.ColdArchive")?.price ?? 180 };
  const classes: { cls: string; from: number; to: number }[] = [];
  let start = 0, cls = String(bucket?.inputs.storageClass ?? "Standard");
  for (const t of trans) {
    if (t.days >= retention) break;
    classes.push({ cls, from: start, to: t.days });
    start = t.days;
    cls = t.cls;
  }
  classes.push({ cls, from: start, to: retention });
  const cGbPerDay = u.gbPerDay / u.compressionRatio;
  const storedGb: Record<string, number> = {}, billedDays: Record<string, number> = {};
  for (const c of classes) {
    const days = c.to - c.from;
    const billed = Math.max(days, minDays[c.cls] ?? 0);
    storedGb[c.cls] = (storedGb[c.cls] ?? 0) + cGbPerDay * days;
    billedDays[c.cls] = (billedDays[c.cls] ?? 0) + billed;
    if (billed > days) ctx.assumptions.push(`${c.cls}: objects stay ${days} days, less than the ${minDays[c.cls]}-day minimum; billed for ${billed} days.`);
  }
  // sealed objects: per app, by size or by age, whichever seals first
  const fnEnv = (ctx.resources.find((r) => r.type === FC_TYPE)?.inputs.environmentVariables ?? {}) as Record<string, string>;
  const sealBytes = safe(() => parseSize(fnEnv.LOGPIPE_SEAL_BYTES ?? "128MB"), 128 * 1024 * 1024);
  const appBytesPerDay = (cGbPerDay * GiB) / u.apps;
  const seal = sealAgeFor(fnEnv, appBytesPerDay);
  const recordsPerAppPerDay = (u.gbPerDay * GiB) / u.avgRecordBytes / u.apps;
  const perAppPerDay = Math.max(appBytesPerDay / sealBytes, Math.min(86_400 / seal.ageSec, recordsPerAppPerDay));
  const objectsPerMonth = perAppPerDay * u.apps * DAYS_PER_MONTH;
  ctx.assumptions.push(`Objects: each app's active file seals at ${round(sealBytes / 1024 / 1024)} MB or ${round(seal.ageSec / 60)} min${seal.small ? ` (the average app fills less than LOGPIPE_SEAL_MIN_BYTES per ${round(seal.sealAgeSec / 60)} min, so it waits for LOGPIPE_SEAL_MAX_AGE)` : ""} → ${round(perAppPerDay, 2)} objects/app/day (one active slot per app, every app the average size; multipart parts not counted).`);
  return {
    storedGb, billedDays, retentionDays: retention,
    transitions: classes.slice(1).map((c, i) => ({ from: classes[i]!.cls, to: c.cls })),
    objectsPerMonth, objectBytes: objectsPerMonth > 0 ? (u.gbPerDay / u.compressionRatio) * DAYS_PER_MONTH * GiB / objectsPerMonth : 0, bucket,
  };
}

function priceBucket(ctx: Ctx, r: PlannedResource, oss: OssShape): ResourceCost {
  const p = ctx.prices.items;
  const red = String(r.inputs.redundancyType ?? "LRS");
  const cGbPerDay = ctx.usage.gbPerDay / ctx.usage.compressionRatio;
  const lines: CostLine[] = [];
  const missing: Missing[] = [];
  const line = (component: string, key: string, qty: number, unit: string, divisor = 1) => {
    const it = use(ctx, key);
    if (!it || it.price === undefined) {
      missing.push({ label: component.replace(/ \(.*$/, ""), key, reason: ctx.prices.unpriced[key] ?? `no ${key} in ${ctx.prices.table}` });
      lines.push({ component, quantity: round(qty, 4), unit, unitPrice: null, monthly: null, note: ctx.prices.unpriced[key] ?? "no price" });
      return;
    }
    lines.push({ component, quantity: round(qty, 4), unit, unitPrice: it.price, monthly: round((qty / divisor) * it.price, 4), source: `${it.source} (${it.asOf})` });
  };
  for (const [cls, days] of Object.entries(oss.billedDays)) {
    const key = `oss.storage.${cls === "Standard" ? "standard" : cls}.${red}`;
    const stayed = oss.storedGb[cls]! / cGbPerDay;
    line(`storage ${cls} ${red} (${round(oss.storedGb[cls]!, 2)} GB stored${days > stayed + 1e-9 ? `, billed as ${days} days per daily cohort (minimum duration)` : ""})`, key, cGbPerDay * days, "GB-month");
  }
  line(`PUT requests (${round(oss.objectsPerMonth)} objects uploaded)`, "oss.request.put.Standard", oss.objectsPerMonth, "requests", 10_000);
  for (const t of oss.transitions) {
    line(`lifecycle ${t.from} → ${t.to} (PUT requests of ${t.from})`, `oss.request.put.${t.from === "Standard" ? "Standard" : t.from}`, oss.objectsPerMonth, "requests", 10_000);
  }
  const lastCls = Object.keys(oss.billedDays).at(-1) ?? "Standard";
  if (ctx.site === "cn") {
    line(`lifecycle expiration (PUT requests of ${lastCls})`, `oss.request.put.${lastCls === "Standard" ? "Standard" : lastCls}`, oss.objectsPerMonth, "requests", 10_000);
  } else {
    lines.push({ component: "lifecycle expiration", quantity: round(oss.objectsPerMonth), unit: "requests", unitPrice: 0, monthly: 0, source: use(ctx, "oss.lifecycle.transitionBilledAs")?.source, note: "free outside the Chinese mainland" });
  }
  if (ctx.usage.retrievalGbPerMonth) {
    const cold = lastCls === "Standard" ? undefined : lastCls;
    if (cold) line(`retrieval from ${cold}`, `oss.retrieval.${cold}`, ctx.usage.retrievalGbPerMonth, "GB");
  }
  return finish(r, lines, missing, `${oss.retentionDays}-day retention, ${Object.entries(oss.storedGb).map(([c, g]) => `${c} ${round(g, 1)} GB`).join(", ")} at steady state`);
}

// ------------------------------------------------------------------------------------ others

function priceResource(ctx: Ctx, r: PlannedResource, shape: PipelineShape, oss: OssShape, recordsPerDay: number): ResourceCost {
  if (FREE_TYPES[r.type]) return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: FREE_TYPES[r.type] };
  if (r.type === "alicloud:fc/v3Trigger:V3Trigger") {
    if (r.inputs.triggerType === "eventbridge") return priceEventStream(ctx, r, recordsPerDay);
    return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: "FC timer triggers are not billed; the invocations they cause are (on the function)" };
  }
  if (r.type === "alicloud:oss/bucket:Bucket") return priceBucket(ctx, r, oss);
  if (r.type === "alicloud:nas/fileSystem:FileSystem") return priceNas(ctx, r);
  if (r.type === "alicloud:log/store:Store") return priceLogstore(ctx, r, shape);
  if (r.type === "alicloud:log/project:Project") return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: "usage is billed on the logstore" };
  if (r.type === "alicloud:cms/alarm:Alarm") {
    const it = use(ctx, "cms.alarm");
    if (it?.price === 0) return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: `alarm rules on cloud-service metrics: ${it.source}` };
    return fixedItem(ctx, r, "cms.alarm", "alarm rule", 1);
  }
  if (r.type === "alicloud:message/serviceQueue:ServiceQueue") return fixedItem(ctx, r, "mns.queueDay", "queue-days (one queue × 30 days; the dead-letter queue's requests are rare, within the free 20 M/month)", DAYS_PER_MONTH, "mns.queueDay");
  if (r.type === "alicloud:kvstore/instance:Instance") {
    const cls = String(r.inputs.instanceClass ?? "?");
    return fixedItem(ctx, r, `kvstore.${cls}`, `instance ${cls}`, 1, "kvstore");
  }
  if (r.type === "alicloud:alikafka/instance:Instance") {
    const spec = `${String(r.inputs.specType ?? "normal")}.${String(r.inputs.ioMaxSpec ?? "?")}`;
    return fixedItem(ctx, r, `alikafka.${spec}`, `instance ${spec}, ${String(r.inputs.diskSize ?? "?")} GB disk`, 1, "alikafka");
  }
  return unpriced(r, `no pricing rule for ${r.type}`, [], [r.type]);
}

/** A per-instance (or per-day) price looked up by `key`; unpriced with the table's reason under `reasonKey`. */
function fixedItem(ctx: Ctx, r: PlannedResource, key: string, what: string, qty: number, reasonKey = key): ResourceCost {
  const it = use(ctx, key);
  if (it?.price !== undefined) {
    const monthly = round(it.price * qty, 4);
    return { name: r.name, type: r.type, status: "priced", monthly, lines: [{ component: what, quantity: qty, unit: it.unit, unitPrice: it.price, monthly, source: `${it.source} (${it.asOf})` }] };
  }
  return unpriced(r, `${what}: ${ctx.prices.unpriced[reasonKey] ?? ctx.prices.unpriced[key] ?? `no ${key} in ${ctx.prices.table}`}`, [], [key]);
}

/**
 * The Kafka trigger is an EventBridge event stream. Billed either per CU-hour (1 CU = 5,000
 * events/s or 50 MB/s) or per million events (64 KB each); the cheaper method is priced, the
 * other shown as a note.
 */
function priceEventStream(ctx: Ctx, r: PlannedResource, recordsPerDay: number): ResourceCost {
  const u = ctx.usage;
  const eps = recordsPerDay / 86_400;
  const mbps = (u.gbPerDay * 1024) / 86_400;
  const cus = Math.max(1, Math.ceil(Math.max(eps / 5000, mbps / 50)));
  const events = recordsPerDay * DAYS_PER_MONTH * Math.ceil(u.avgRecordBytes / 65_536);
  const cuItem = use(ctx, "eventbridge.cuHour"), evItem = use(ctx, "eventbridge.perMillionEvents");
  if (cuItem?.price === undefined && evItem?.price === undefined) return unpriced(r, `EventBridge event stream: ${ctx.prices.unpriced.eventbridge ?? "no eventbridge.* prices in the table"}`, [], ["eventbridge.cuHour"]);
  const byCu = cuItem?.price !== undefined ? cus * HOURS_PER_MONTH * cuItem.price : Infinity;
  const byEvents = evItem?.price !== undefined ? (events / 1e6) * evItem.price : Infinity;
  const line: CostLine = byCu <= byEvents
    ? { component: `event stream by CU quota: ${cus} CU (${human(eps)} events/s, ${round(mbps, 1)} MB/s average) × ${HOURS_PER_MONTH} h`, quantity: cus * HOURS_PER_MONTH, unit: "CU-hours", unitPrice: cuItem!.price!, monthly: round(byCu, 4), source: `${cuItem!.source} (${cuItem!.asOf})`, note: Number.isFinite(byEvents) ? `billed by event volume instead: ${human(events)} events → ${round(byEvents, 2)}` : undefined }
    : { component: `event stream by event volume: ${human(events)} events`, quantity: events / 1e6, unit: "million events", unitPrice: evItem!.price!, monthly: round(byEvents, 4), source: `${evItem!.source} (${evItem!.asOf})` };
  ctx.assumptions.push(`Kafka trigger (EventBridge event stream): ${cus} CU sized for the average rate; a stream sized for peak needs more CUs.`);
  return finish(r, [line], [], "");
}

/**
 * How long an average app's active file lives before its seal, from the functions' environment:
 * LOGPIPE_SEAL_AGE, or LOGPIPE_SEAL_MAX_AGE when the app fills less than LOGPIPE_SEAL_MIN_BYTES
 * (compressed) in a seal age — the rule of functions/core/upload.ts (sealIsDue) and, for a small
 * app, of its drain at LOGPIPE_DRAIN_MAX_AGE (default: the seal max age) that seals at once
 * (sealAtDrain in functions/core/seal.ts), with the handler defaults.
 */
export function sealAgeFor(fnEnv: Record<string, string>, appCompressedBytesPerDay: number): { ageSec: number; sealAgeSec: number; small: boolean } {
  const sealAgeMs = safe(() => parseDuration(fnEnv.LOGPIPE_SEAL_AGE ?? "15m"), 900_000);
  const minBytes = safe(() => parseSize(fnEnv.LOGPIPE_SEAL_MIN_BYTES ?? "1MB"), 1024 * 1024);
  const maxAgeMs = fnEnv.LOGPIPE_SEAL_MAX_AGE ? safe(() => parseDuration(fnEnv.LOGPIPE_SEAL_MAX_AGE!), sealAgeMs) : defaultSealMaxAgeMs(sealAgeMs);
  const small = minBytes > 0 && (appCompressedBytesPerDay * sealAgeMs) / 86_400_000 < minBytes;
  return { ageSec: (small ? maxAgeMs : sealAgeMs) / 1000, sealAgeSec: sealAgeMs / 1000, small };
}

function priceNas(ctx: Ctx, r: PlannedResource): ResourceCost {
  const u = ctx.usage;
  const kind = String(r.inputs.fileSystemType ?? "standard");
  const st = String(r.inputs.storageType ?? "Capacity");
  const fnEnv = (ctx.resources.find((x) => x.type === FC_TYPE)?.inputs.environmentVariables ?? {}) as Record<string, string>;
  const seal = sealAgeFor(fnEnv, (u.gbPerDay * GiB) / u.compressionRatio / u.apps);
  const sealAgeSec = seal.ageSec;
  // a small app's records wait in staging, uncompressed, until its drain at the seal max age
  // (which seals them at once: sealAtDrain); a larger app's wait compressed in its active file
  const residentGb = seal.small ? (u.gbPerDay * sealAgeSec) / 86_400 : (u.gbPerDay * sealAgeSec) / 86_400 / u.compressionRatio + (u.gbPerDay * 60) / 86_400;
  const key = kind === "extreme" ? "nas.extreme" : `nas.${kind}.${st}`;
  const billedGb = kind === "extreme" ? num(r.inputs.capacity) ?? 100 : residentGb;
  ctx.assumptions.push(kind === "extreme" ? `Extreme NAS is billed on its provisioned capacity (${billedGb} GiB).` : (seal.small ? `NAS holds an average (small) app's records in staging for up to ${round(sealAgeSec / 60)} min, uncompressed, until the drain that seals them: ~${round(residentGb, 2)} GB resident.` : `NAS holds active files for up to ${round(sealAgeSec / 60)} min plus ~1 min of staging chunks: ~${round(residentGb, 2)} GB resident.`));
  const it = use(ctx, key);
  const component = kind === "extreme" ? `Extreme capacity (${billedGb} GiB provisioned)` : `${st} capacity (~${round(residentGb, 2)} GB resident)`;
  if (!it || it.price === undefined) return unpriced(r, `${kind === "extreme" ? "Extreme" : st} NAS: ${ctx.prices.unpriced[key] ?? `no ${key} in ${ctx.prices.table}`}`, [{ component, quantity: round(billedGb, 4), unit: "GB-month", unitPrice: null, monthly: null }], [key]);
  return finish(r, [{ component, quantity: round(billedGb, 4), unit: "GB-month", unitPrice: it.price, monthly: round(billedGb * it.price, 4), source: `${it.source} (${it.asOf})` }], [], "");
}

function priceLogstore(ctx: Ctx, r: PlannedResource, shape: PipelineShape): ResourceCost {
  const perInv = ctx.usage.logBytesPerInvocation ?? DEFAULT_LOG_BYTES_PER_INVOCATION;
  const inv = Object.values(shape.invocationsPerMonth).reduce((s, x) => s + x, 0);
  const rawGb = (inv * perInv) / GiB;
  ctx.assumptions.push(`Function logs: ${perInv} bytes per invocation (${ctx.usage.logBytesPerInvocation === undefined ? "assumption; set usage.logBytesPerInvocation" : "from the usage profile"}) → ${human(rawGb)} GB/month raw, compressed 5:1 by SLS.`);
  const it = use(ctx, "sls.writeTraffic");
  const lines: CostLine[] = [];
  if (it?.price !== undefined) lines.push({ component: `write traffic (${round(rawGb / 5, 3)} GB compressed)`, quantity: round(rawGb / 5, 4), unit: "GB", unitPrice: it.price, monthly: round((rawGb / 5) * it.price, 4), source: `${it.source} (${it.asOf})` });
  return finish(r, lines, [{ label: "index, storage and shards", key: "sls", reason: ctx.prices.unpriced.sls ?? "not in the price table" }], "");
}

interface Missing { label: string; key: string; reason: string }

function finish(r: PlannedResource, lines: CostLine[], missing: Missing[], reason: string): ResourceCost {
  const priced = lines.filter((l) => l.monthly !== null);
  const monthly = round(priced.reduce((s, l) => s + (l.monthly ?? 0), 0), 4);
  const status: ResourceStatus = missing.length === 0 ? "priced" : priced.length ? "partial" : "unpriced";
  return {
    name: r.name, type: r.type, status, monthly, lines,
    reason: [reason, ...groupByReason(missing)].filter(Boolean).join("; ") || undefined,
    missing: missing.length ? missing.map((m) => m.label) : undefined,
  };
}

/** "unpriced: storage Standard ZRS, storage IA ZRS: <reason>" — one entry per distinct reason. */
function groupByReason(missing: Missing[]): string[] {
  const by = new Map<string, string[]>();
  for (const m of missing) by.set(m.reason, [...(by.get(m.reason) ?? []), m.label]);
  return [...by].map(([reason, labels]) => `unpriced: ${labels.join(", ")}: ${reason}`);
}

function unpriced(r: PlannedResource, reason: string, lines: CostLine[] = [], missing: string[] = []): ResourceCost {
  return { name: r.name, type: r.type, status: "unpriced", monthly: 0, lines, reason, missing };
}

// ------------------------------------------------------------------------------------ comparisons

/**
 * The self-hosted option: one always-on consumer sized for peak (peak = average ×
 * DEFAULT_PEAK_TO_AVERAGE), cores = peak MB/s ÷ the MB/s one core sustains per the profile,
 * 2 GB per vCPU, priced at FC's active rates for 24 × 30 hours (an always-on instance; ECS may
 * be cheaper — price it with a `selfhosted.vcpuMonth` overlay item).
 */
function selfHosted(ctx: Ctx, perFn: Record<FunctionRole, FunctionUsage>, monthlyGb: number): Comparison {
  const sPerGb = FUNCTION_ROLES.reduce((s, k) => s + perFn[k].handlerSecondsPerGb, 0);
  const mbPerCoreSec = sPerGb > 0 ? 1024 / sPerGb : Infinity;
  const avgMbps = (ctx.usage.gbPerDay * 1024) / 86_400;
  const vcpus = Math.max(1, Math.ceil((avgMbps * DEFAULT_PEAK_TO_AVERAGE) / mbPerCoreSec));
  const notes = [`${vcpus} vCPU: peak ${round(avgMbps * DEFAULT_PEAK_TO_AVERAGE, 2)} MB/s (${DEFAULT_PEAK_TO_AVERAGE}× the average, assumption) ÷ ${round(mbPerCoreSec, 2)} MB/s per core (${round(sPerGb, 1)} handler-s/GB measured)`];
  const ecs = use(ctx, "selfhosted.vcpuMonth");
  if (ecs?.price !== undefined) {
    const m = vcpus * ecs.price;
    return { name: "self-hosted consumer (always on, sized for peak)", currency: ctx.prices.currency, monthly: round(m, 2), perGb: monthlyGb > 0 ? m / monthlyGb : null, lines: [{ component: `${vcpus} vCPU always on`, quantity: vcpus, unit: "vCPU-month", unitPrice: ecs.price, monthly: round(m, 2), source: `${ecs.source} (${ecs.asOf})` }], notes, excludes: ["OSS storage (same as logpipe)"] };
  }
  const k = cuFactors(ctx);
  const tiers = ctx.prices.items["fc.cu"]?.tiers as Tier[] | undefined;
  const cu = (vcpus * k.cpu + vcpus * 2 * k.mem) * HOURS_PER_MONTH * 3600;
  const m = tiers ? tieredCost(cu, tiers) : null;
  notes.push("priced at FC active rates around the clock (1 CU per vCPU-s + 0.15 per GB-s, 2 GB per vCPU); an ECS instance may cost less: add selfhosted.vcpuMonth to a --prices overlay");
  return { name: "self-hosted consumer (always on, sized for peak)", currency: ctx.prices.currency, monthly: m === null ? null : round(m, 2), perGb: m === null || monthlyGb <= 0 ? null : m / monthlyGb, lines: [{ component: `${vcpus} vCPU + ${vcpus * 2} GB × 720 h`, quantity: round(cu, 0), unit: "CU", unitPrice: m === null ? null : m / cu, monthly: m === null ? null : round(m, 2) }], notes, excludes: m === null ? ["fc.cu"] : [] };
}

function firehoseComparisons(t: PriceTable, u: CostUsage & { compressionRatio: number }, recordsPerDay: number, logpipeObjects: number): Comparison[] {
  const p = t.items;
  const price = (k: string) => p[k]?.price;
  const src = (k: string) => (p[k] ? `${p[k]!.source} (${p[k]!.asOf})` : undefined);
  const monthlyGb = u.gbPerDay * DAYS_PER_MONTH;
  const recordsPerMonth = recordsPerDay * DAYS_PER_MONTH;
  const bufBytes = price("firehose.bufferMaxBytes") ?? 128 * 1024 * 1024;
  const bufSec = price("firehose.bufferMaxSeconds") ?? 900;
  const appBytesPerDay = (u.gbPerDay * GiB) / u.apps;
  const objPerAppPerDay = Math.max(appBytesPerDay / bufBytes, Math.min(86_400 / bufSec, recordsPerDay / u.apps));
  const objects = objPerAppPerDay * u.apps * DAYS_PER_MONTH;
  const dp: CostLine[] = [
    { component: "dynamic partitioning: data processed", quantity: round(monthlyGb, 2), unit: "GB", unitPrice: price("firehose.dp.gb") ?? null, monthly: price("firehose.dp.gb") === undefined ? null : round(monthlyGb * price("firehose.dp.gb")!, 4), source: src("firehose.dp.gb") },
    { component: `dynamic partitioning: ${human(objects)} S3 objects (${u.apps} partitions, ${bufBytes / 1024 / 1024} MB / ${bufSec} s buffers)`, quantity: round(objects, 0), unit: "objects", unitPrice: price("firehose.dp.objects") ?? null, monthly: price("firehose.dp.objects") === undefined ? null : round((objects / 1000) * price("firehose.dp.objects")!, 4), source: src("firehose.dp.objects") },
  ];
  const common = [
    "Amazon Data Firehose, dynamic partitioning by app into S3 (us-east-1); S3 storage and requests not included.",
    `Firehose's default limit is 500 active partitions per stream; ${u.apps} apps ${u.apps > 500 ? "exceed it (ask for a raise to 5,000)" : "fit"}.`,
  ];
  const make = (name: string, ingestGb: number | null, ingestKey: string, detail: string, extra: string[] = []): Comparison => {
    const ip = price(ingestKey);
    const lines: CostLine[] = [{ component: `ingestion: ${detail}`, quantity: ingestGb === null ? 0 : round(ingestGb, 2), unit: "GB", unitPrice: ip ?? null, monthly: ip === undefined || ingestGb === null ? null : round(ingestGb * ip, 4), source: src(ingestKey) }, ...dp.map((l) => ({ ...l }))];
    const missing = lines.filter((l) => l.monthly === null);
    const m = missing.length ? null : round(lines.reduce((s, l) => s + (l.monthly ?? 0), 0), 2);
    return { name, currency: t.currency, monthly: m, perGb: m === null || monthlyGb <= 0 ? null : m / monthlyGb, lines, notes: [...common, ...extra], excludes: missing.length ? [t.unpriced[ingestKey] ? `${ingestKey} (${t.unpriced[ingestKey]})` : ingestKey] : [] };
  };
  const perLine = Math.ceil(u.avgRecordBytes / 5120) * 5120;
  const maxRecord = price("firehose.maxRecordBytes") ?? 1_024_000;
  const linesPerRecord = Math.max(1, Math.floor(maxRecord / (u.avgRecordBytes + 1)));
  const batchedRecordBytes = linesPerRecord * (u.avgRecordBytes + 1);
  const batchedBilled = Math.ceil(batchedRecordBytes / 5120) * 5120;
  const batchedGb = (recordsPerMonth / linesPerRecord) * batchedBilled / GiB;
  return [
    make("Firehose, direct PUT, one log line per record", (recordsPerMonth * perLine) / GiB, "firehose.ingest", `${human(recordsPerMonth)} records × ${perLine / 1024} KB (5 KB rounding)`),
    make("Firehose, direct PUT, lines batched into records", batchedGb, "firehose.ingest", `${linesPerRecord.toLocaleString("en-US")} lines per ${round(batchedRecordBytes / 1024, 0)} KB record`, ["Batching needs a producer that packs newline-delimited lines and a JQ/Lambda step to split them for partitioning (JQ hours not included)."]),
    make("Firehose from Amazon MSK (no 5 KB rounding)", monthlyGb, "firehose.ingest.msk", `${human(monthlyGb)} GB, no per-record rounding`, ["The MSK cluster itself is not included (logpipe reuses the existing Kafka instance)."]),
  ];
}

/** 128849018.88 → "128.8 M"; 42949672960 → "42.9 G"; 70200 → "70.2 k"; 12.5 → "12.5". */
export function human(x: number): string {
  const a = Math.abs(x);
  const f = (v: number, s: string) => `${Number(v.toFixed(Math.abs(v) >= 1000 ? 0 : 1))} ${s}`.trim();
  if (a >= 1e9) return f(x / 1e9, "G");
  if (a >= 1e6) return f(x / 1e6, "M");
  if (a >= 1e4) return f(x / 1e3, "k");
  if (a >= 100) return String(Math.round(x));
  return String(Number(x.toFixed(a >= 1 ? 1 : 3)));
}

// ------------------------------------------------------------------------------------ utils

function parseJsonInput(v: unknown): Record<string, unknown> | undefined {
  if (v && typeof v === "object") return v as Record<string, unknown>;
  if (typeof v !== "string") return undefined;
  try { return JSON.parse(v) as Record<string, unknown>; } catch { return undefined; }
}

function num(v: unknown): number | undefined {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

function safe<T>(fn: () => T, fallback: T): T {
  try { return fn(); } catch { return fallback; }
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Chinese-mainland regions bill on the China site in CNY; others default to the international site. */
export function siteForRegion(region: string | undefined): Site {
  return region && /^cn-/.test(region) && region !== "cn-hongkong" ? "cn" : "intl";
}

/**
 * Cost engine: prices the resources a stack would create (PlannedResource[] from `planStack`)
 * with a dated price table and a usage profile. Pure: no I/O, so tests feed hand-built resource
 * lists and check totals computed by hand.
 *
 * Usage → FC: invocations come from the pipeline's own shape (split: one per trigger batch;
 * compress: one per group of up to MAX_POINTERS_PER_INVOCATION app chunks of a batch; upload: one per timer tick), CPU from measured
 * vCPU-seconds per GB. Storage: compressed GB/day through the bucket's lifecycle (with minimum
 * storage durations). Every assumption is listed in the report.
 */
import { parseDuration, parseSize } from "../../functions/core/config.js";
import { MAX_POINTERS_PER_INVOCATION } from "../../functions/core/deps.js";
import type { PlannedResource } from "../plan/types.js";
import { tieredCost, type PriceTable, type Tier } from "./prices/index.js";
import type { CostUsage } from "./contracts.js";

export const GiB = 1024 ** 3;
export const DAYS_PER_MONTH = 30;

/** Until measured on this code by `npm run bench` (logpipe local reports vCPU-s/GB). */
export const DEFAULT_CPU_SECONDS_PER_GB = 2.0;
export const DEFAULT_CPU_SOURCE = "default 2.0 vCPU-s/GB until measured by `npm run bench`; override with logpipe:usage.cpuSecondsPerGb";
/** Share of the CPU seconds per function (compress is CPU-bound, split/upload IO-bound). Assumption. */
export const DEFAULT_CPU_SHARES = { split: 0.25, compress: 0.65, upload: 0.10 } as const;
/** gzip level 1 on NDJSON logs: ratio 3.8× (../shared/reference/probes.md, "Compression"). */
export const DEFAULT_COMPRESSION_RATIO = 3.8;
export const DEFAULT_LOG_BYTES_PER_INVOCATION = 1024;

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
}

export interface FirehoseEstimate {
  currency: "USD";
  table: string;
  monthlyGb: number;
  billedIngestGb: number;
  objectsPerMonth: number;
  lines: CostLine[];
  monthly: number;
  perGb: number;
  notes: string[];
}

export interface CostReport {
  stack: string;
  site: Site;
  currency: "CNY" | "USD";
  priceTable: { name: string; retrieved: string };
  usage: CostUsage & { cpuSecondsPerGb: number; compressionRatio: number };
  usageSource: string;
  derived: {
    monthlyGb: number;
    recordsPerMonth: number;
    batchRecords: number;
    invocationsPerMonth: Record<string, number>;
    cuPerMonth: number;
    storedGb: Record<string, number>;
    objectsPerMonth: number;
  };
  resources: ResourceCost[];
  total: number;
  unpricedCount: number;
  perGb: { processing: number; storage: number; total: number };
  firehose?: FirehoseEstimate;
  assumptions: string[];
}

interface Ctx {
  prices: PriceTable;
  usage: CostUsage & { cpuSecondsPerGb: number; compressionRatio: number };
  resources: PlannedResource[];
  site: Site;
  assumptions: string[];
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

const UNPRICED_TYPES: Record<string, string> = {
  "alicloud:kvstore/instance:Instance": "kvstore",
  "alicloud:alikafka/instance:Instance": "alikafka",
  "alicloud:message/serviceQueue:ServiceQueue": "mns",
  "alicloud:cms/alarm:Alarm": "cms",
};

export interface CostInput {
  stack: string;
  resources: PlannedResource[];
  usage: CostUsage;
  usageSource: string;
  prices: PriceTable;
  site: Site;
  firehose?: PriceTable;
}

export function computeCost(input: CostInput): CostReport {
  const usage = {
    ...input.usage,
    cpuSecondsPerGb: input.usage.cpuSecondsPerGb ?? DEFAULT_CPU_SECONDS_PER_GB,
    compressionRatio: input.usage.compressionRatio ?? DEFAULT_COMPRESSION_RATIO,
  };
  const assumptions: string[] = [
    "GB = 2^30 bytes; a month = 30 days (Alibaba Cloud's monthly-price convention).",
    input.usage.cpuSecondsPerGb === undefined ? `CPU: ${DEFAULT_CPU_SOURCE}.` : `CPU: ${usage.cpuSecondsPerGb} vCPU-s/GB from ${input.usageSource}.`,
    `CPU split across functions: split ${DEFAULT_CPU_SHARES.split * 100}%, compress ${DEFAULT_CPU_SHARES.compress * 100}%, upload ${DEFAULT_CPU_SHARES.upload * 100}% (assumption); billed active time = CPU time / vCPUs (IO waits add to it).`,
    input.usage.compressionRatio === undefined ? `Compression ${DEFAULT_COMPRESSION_RATIO}× (gzip -1 on NDJSON, ../shared/reference/probes.md).` : `Compression ${usage.compressionRatio}× from ${input.usageSource}.`,
    "Traffic is spread evenly over the day and over the apps.",
  ];
  const ctx: Ctx = { prices: input.prices, usage, resources: input.resources, site: input.site, assumptions };

  const monthlyGb = usage.gbPerDay * DAYS_PER_MONTH;
  const recordsPerDay = (usage.gbPerDay * GiB) / usage.avgRecordBytes;
  const fc = fcUsage(ctx, recordsPerDay);
  const oss = ossShape(ctx);

  const out: ResourceCost[] = [];
  const fcFunctions = input.resources.filter((r) => r.type === "alicloud:fc/v3Function:V3Function");
  const fcCosts = priceFunctions(ctx, fcFunctions, fc);
  for (const r of input.resources) {
    if (r.type.startsWith("logpipe:") || r.type.startsWith("pulumi:")) continue; // components: their children are listed
    if (r.type === "alicloud:fc/v3Function:V3Function") { out.push(fcCosts.costs.get(r.name)!); continue; }
    out.push(priceResource(ctx, r, fc, oss));
  }
  const total = round(out.reduce((s, r) => s + r.monthly, 0));
  const storage = out.filter((r) => r.type === "alicloud:oss/bucket:Bucket").reduce((s, r) => s + r.monthly, 0);
  const report: CostReport = {
    stack: input.stack, site: input.site, currency: input.prices.currency,
    priceTable: { name: input.prices.table, retrieved: input.prices.retrieved },
    usage, usageSource: input.usageSource,
    derived: {
      monthlyGb, recordsPerMonth: recordsPerDay * DAYS_PER_MONTH, batchRecords: fc.batchRecords,
      invocationsPerMonth: fc.invocationsPerMonth, cuPerMonth: fcCosts.cuTotal,
      storedGb: oss.storedGb, objectsPerMonth: oss.objectsPerMonth,
    },
    resources: out, total, unpricedCount: out.filter((r) => r.status === "unpriced" || r.status === "partial").length,
    perGb: monthlyGb > 0 ? { processing: (total - storage) / monthlyGb, storage: storage / monthlyGb, total: total / monthlyGb } : { processing: 0, storage: 0, total: 0 },
    assumptions,
  };
  if (input.firehose) report.firehose = firehoseEstimate(input.firehose, usage, recordsPerDay);
  return report;
}

// ------------------------------------------------------------------------------------ FC

interface FcUsage {
  batchRecords: number;
  invocationsPerMonth: Record<string, number>;
}

function fcUsage(ctx: Ctx, recordsPerDay: number): FcUsage {
  const u = ctx.usage;
  const trig = ctx.resources.find((r) => r.type === "alicloud:fc/v3Trigger:V3Trigger" && r.inputs.triggerType === "eventbridge");
  const cfg = parseJsonInput(trig?.inputs.triggerConfig);
  const runOptions = (cfg?.runOptions ?? {}) as Record<string, unknown>;
  const bw = (runOptions.batchWindow ?? {}) as Record<string, unknown>;
  const count = num(bw.CountBasedWindow) ?? 100;
  const windowSec = num(bw.TimeBasedWindow) ?? 0;
  const tasks = Math.max(1, num(runOptions.maximumTasks) ?? 1);
  if (!trig) ctx.assumptions.push("No Kafka (eventbridge) trigger in the plan: assumed batches of 100 records.");
  const perTaskPerSec = recordsPerDay / 86_400 / tasks;
  const payloadCap = Math.floor((32 * 1024 * 1024) / u.avgRecordBytes);
  const byTime = windowSec > 0 ? perTaskPerSec * windowSec : 1;
  const batch = Math.max(1, Math.min(count, payloadCap, Math.max(1, byTime)));
  ctx.assumptions.push(`Kafka trigger batches: min(CountBasedWindow ${count}, ${windowSec}s × ${round(perTaskPerSec, 2)} records/s per task × ${tasks} tasks, 32 MB payload) = ${round(batch, 2)} records per split invocation.`);
  const splitPerDay = recordsPerDay / batch;
  // one compress per app present in a batch: expected distinct apps among `batch` records when
  // traffic is spread evenly over `apps` apps (≤ min(apps, batch))
  const appsPerBatch = u.apps === 1 ? 1 : u.apps * (1 - Math.pow(1 - 1 / u.apps, batch));
  // split hands a batch's chunks (one per app) to compress in groups of MAX_POINTERS_PER_INVOCATION
  const compressPerBatch = Math.ceil(appsPerBatch / MAX_POINTERS_PER_INVOCATION);
  const compressPerDay = splitPerDay * compressPerBatch;
  ctx.assumptions.push(`Compress: ${round(appsPerBatch, 2)} distinct apps (chunks) expected per ${round(batch, 2)}-record batch over ${u.apps} evenly loaded apps, grouped ${MAX_POINTERS_PER_INVOCATION} chunks per invocation → ${compressPerBatch} invocation(s) per batch.`);

  const timer = ctx.resources.find((r) => r.type === "alicloud:fc/v3Trigger:V3Trigger" && r.inputs.triggerType === "timer");
  const cron = String(parseJsonInput(timer?.inputs.triggerConfig)?.cronExpression ?? "@every 1m");
  const tick = cronIntervalSeconds(cron);
  if (tick.note) ctx.assumptions.push(tick.note);
  const uploadPerDay = 86_400 / tick.seconds;
  return {
    batchRecords: batch,
    invocationsPerMonth: { split: splitPerDay * DAYS_PER_MONTH, compress: compressPerDay * DAYS_PER_MONTH, upload: uploadPerDay * DAYS_PER_MONTH },
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

function priceFunctions(ctx: Ctx, fns: PlannedResource[], fc: FcUsage) {
  const p = ctx.prices.items;
  const cuTier = p["fc.cu"]?.tiers as Tier[] | undefined;
  const k = { cpu: p["fc.cuPerVcpuSecond"]?.price ?? 1, mem: p["fc.cuPerGbSecondMemory"]?.price ?? 0.15, disk: p["fc.cuPerGbSecondDisk"]?.price ?? 0.05, inv: p["fc.cuPer10kInvocations"]?.price ?? 75 };
  const monthlyGb = ctx.usage.gbPerDay * DAYS_PER_MONTH;
  const per: { r: PlannedResource; role: string; cu: number; lines: CostLine[] }[] = [];
  for (const r of fns) {
    const role = functionRole(r);
    const cpu = num(r.inputs.cpu) ?? 0.35;
    const memGb = (num(r.inputs.memorySize) ?? 512) / 1024;
    const diskGb = Math.max(0, ((num(r.inputs.diskSize) ?? 512) - 512) / 1024);
    const share = role ? DEFAULT_CPU_SHARES[role] : 0;
    const cpuSeconds = monthlyGb * ctx.usage.cpuSecondsPerGb * share;
    const activeSeconds = cpu > 0 ? cpuSeconds / cpu : 0;
    const inv = role ? fc.invocationsPerMonth[role]! : 0;
    const cuCpu = k.cpu * cpu * activeSeconds, cuMem = k.mem * memGb * activeSeconds, cuDisk = k.disk * diskGb * activeSeconds, cuInv = (k.inv * inv) / 10_000;
    const src = p["fc.cuPerVcpuSecond"]?.source;
    per.push({
      r, role: role ?? "?", cu: cuCpu + cuMem + cuDisk + cuInv,
      lines: [
        { component: `vCPU (${cpu} vCPU × ${round(activeSeconds)} s active)`, quantity: round(cuCpu), unit: "CU", unitPrice: null, monthly: null, source: src },
        { component: `memory (${memGb} GB × ${round(activeSeconds)} s)`, quantity: round(cuMem), unit: "CU", unitPrice: null, monthly: null, source: src },
        ...(diskGb > 0 ? [{ component: `disk beyond 512 MB (${round(diskGb, 3)} GB)`, quantity: round(cuDisk), unit: "CU", unitPrice: null, monthly: null, source: src }] : []),
        { component: `invocations (${round(inv)} / month)`, quantity: round(cuInv), unit: "CU", unitPrice: null, monthly: null, source: src },
      ],
    });
    if (!role) ctx.assumptions.push(`FC function ${r.name}: not recognised as split/compress/upload; only invocation-free base costs (none) applied.`);
  }
  const cuTotal = per.reduce((s, x) => s + x.cu, 0);
  const costs = new Map<string, ResourceCost>();
  const totalCost = cuTier ? tieredCost(cuTotal, cuTier) : null;
  for (const x of per) {
    const monthly = totalCost === null || cuTotal === 0 ? null : (totalCost * x.cu) / cuTotal;
    const avg = monthly !== null && x.cu > 0 ? monthly / x.cu : null;
    for (const l of x.lines) { l.unitPrice = avg; l.monthly = avg === null ? null : round(l.quantity * avg, 4); }
    costs.set(x.r.name, {
      name: x.r.name, type: x.r.type, status: monthly === null ? "unpriced" : "priced", monthly: round(monthly ?? 0, 4), lines: x.lines,
      reason: monthly === null ? "no fc.cu price in the table" : `${x.role}: ${round(x.cu)} CU of ${round(cuTotal)} CU/month; tiers applied to the account total (${p["fc.cu"]?.source})`,
    });
  }
  return { costs, cuTotal };
}

function functionRole(r: PlannedResource): "split" | "compress" | "upload" | undefined {
  const hay = `${r.name} ${String(r.inputs.functionName ?? "")}`.toLowerCase();
  return (["compress", "split", "upload"] as const).find((k) => hay.includes(k));
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
  const minDays: Record<string, number> = { IA: ctx.prices.items["oss.minDays.IA"]?.price ?? 30, Archive: ctx.prices.items["oss.minDays.Archive"]?.price ?? 60 };
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
  const fnEnv = (ctx.resources.find((r) => r.type === "alicloud:fc/v3Function:V3Function")?.inputs.environmentVariables ?? {}) as Record<string, string>;
  const sealBytes = safe(() => parseSize(fnEnv.LOGPIPE_SEAL_BYTES ?? "128MB"), 128 * 1024 * 1024);
  const sealAgeSec = safe(() => parseDuration(fnEnv.LOGPIPE_SEAL_AGE ?? "15m"), 900_000) / 1000;
  const appBytesPerDay = (cGbPerDay * GiB) / u.apps;
  const recordsPerAppPerDay = (u.gbPerDay * GiB) / u.avgRecordBytes / u.apps;
  const perAppPerDay = Math.max(appBytesPerDay / sealBytes, Math.min(86_400 / sealAgeSec, recordsPerAppPerDay));
  const objectsPerMonth = perAppPerDay * u.apps * DAYS_PER_MONTH;
  ctx.assumptions.push(`Objects: each app's active file seals at ${round(sealBytes / 1024 / 1024)} MB or ${round(sealAgeSec / 60)} min → ${round(perAppPerDay, 2)} objects/app/day (one active slot per app; multipart parts not counted).`);
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
  const missing: string[] = [];
  const line = (component: string, key: string, qty: number, unit: string, divisor = 1) => {
    const it = p[key];
    if (!it || it.price === undefined) {
      missing.push(`${component}: ${ctx.prices.unpriced[key] ?? `no ${key} in ${ctx.prices.table}`}`);
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
    lines.push({ component: "lifecycle expiration", quantity: round(oss.objectsPerMonth), unit: "requests", unitPrice: 0, monthly: 0, source: p["oss.lifecycle.transitionBilledAs"]?.source, note: "free outside the Chinese mainland" });
  }
  if (ctx.usage.retrievalGbPerMonth) {
    const cold = lastCls === "Standard" ? undefined : lastCls;
    if (cold) line(`retrieval from ${cold}`, `oss.retrieval.${cold}`, ctx.usage.retrievalGbPerMonth, "GB");
  }
  return finish(r, lines, missing, `${oss.retentionDays}-day retention, ${Object.entries(oss.storedGb).map(([c, g]) => `${c} ${round(g, 1)} GB`).join(", ")} at steady state`);
}

// ------------------------------------------------------------------------------------ others

function priceResource(ctx: Ctx, r: PlannedResource, fc: FcUsage, oss: OssShape): ResourceCost {
  if (FREE_TYPES[r.type]) return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: FREE_TYPES[r.type] };
  if (r.type === "alicloud:fc/v3Trigger:V3Trigger") {
    if (r.inputs.triggerType === "eventbridge") return unpriced(r, ctx.prices.unpriced.eventbridge ?? "EventBridge event-streaming charges not in the price table");
    return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: "FC triggers are not billed; the invocations they cause are (on the function)" };
  }
  if (r.type === "alicloud:oss/bucket:Bucket") return priceBucket(ctx, r, oss);
  if (r.type === "alicloud:nas/fileSystem:FileSystem") return priceNas(ctx, r);
  if (r.type === "alicloud:log/store:Store") return priceLogstore(ctx, r, fc);
  if (r.type === "alicloud:log/project:Project") return { name: r.name, type: r.type, status: "free", monthly: 0, lines: [], reason: "usage is billed on the logstore" };
  if (r.type === "alicloud:kvstore/instance:Instance") {
    const cls = String(r.inputs.instanceClass ?? "?");
    const it = ctx.prices.items[`kvstore.${cls}`];
    if (it?.price !== undefined) {
      return { name: r.name, type: r.type, status: "priced", monthly: it.price, lines: [{ component: `instance ${cls}`, quantity: 1, unit: "instance-month", unitPrice: it.price, monthly: it.price, source: `${it.source} (${it.asOf})` }] };
    }
    return unpriced(r, `instance class ${cls}: ${ctx.prices.unpriced.kvstore ?? "not in the price table"} — add "kvstore.${cls}" to a --prices override file`);
  }
  const key = UNPRICED_TYPES[r.type];
  if (key) return unpriced(r, ctx.prices.unpriced[key] ?? `no price for ${r.type}`);
  return unpriced(r, `no pricing rule for ${r.type}`);
}

function priceNas(ctx: Ctx, r: PlannedResource): ResourceCost {
  const u = ctx.usage;
  const kind = String(r.inputs.fileSystemType ?? "standard");
  const st = String(r.inputs.storageType ?? "Capacity");
  const fnEnv = (ctx.resources.find((x) => x.type === "alicloud:fc/v3Function:V3Function")?.inputs.environmentVariables ?? {}) as Record<string, string>;
  const sealAgeSec = safe(() => parseDuration(fnEnv.LOGPIPE_SEAL_AGE ?? "15m"), 900_000) / 1000;
  // active files (compressed) for up to one seal age + raw staging chunks for about a minute
  const residentGb = (u.gbPerDay * sealAgeSec) / 86_400 / u.compressionRatio + (u.gbPerDay * 60) / 86_400;
  ctx.assumptions.push(`NAS holds active files for up to ${round(sealAgeSec / 60)} min plus ~1 min of staging chunks: ~${round(residentGb, 2)} GB resident.`);
  const key = `nas.${kind}.${st}`;
  const it = ctx.prices.items[key];
  if (!it || it.price === undefined) return unpriced(r, `${st} NAS: ${ctx.prices.unpriced[key] ?? `no ${key} in ${ctx.prices.table}`}`, [{ component: `${st} capacity (~${round(residentGb, 2)} GB resident)`, quantity: round(residentGb, 4), unit: "GB-month", unitPrice: null, monthly: null }]);
  return finish(r, [{ component: `${st} capacity (~${round(residentGb, 2)} GB resident)`, quantity: round(residentGb, 4), unit: "GB-month", unitPrice: it.price, monthly: round(residentGb * it.price, 4), source: `${it.source} (${it.asOf})` }], [], "");
}

function priceLogstore(ctx: Ctx, r: PlannedResource, fc: FcUsage): ResourceCost {
  const perInv = ctx.usage.logBytesPerInvocation ?? DEFAULT_LOG_BYTES_PER_INVOCATION;
  const inv = Object.values(fc.invocationsPerMonth).reduce((s, x) => s + x, 0);
  const rawGb = (inv * perInv) / GiB;
  ctx.assumptions.push(`Function logs: ${perInv} bytes per invocation (${ctx.usage.logBytesPerInvocation === undefined ? "assumption; set usage.logBytesPerInvocation" : "from the usage profile"}) → ${round(rawGb, 2)} GB/month raw, compressed 5:1 by SLS.`);
  const it = ctx.prices.items["sls.writeTraffic"];
  const lines: CostLine[] = [];
  const missing: string[] = [];
  if (it?.price !== undefined) lines.push({ component: `write traffic (${round(rawGb / 5, 3)} GB compressed)`, quantity: round(rawGb / 5, 4), unit: "GB", unitPrice: it.price, monthly: round((rawGb / 5) * it.price, 4), source: `${it.source} (${it.asOf})` });
  missing.push(`index, storage and shards: ${ctx.prices.unpriced.sls ?? "not in the price table"}`);
  return finish(r, lines, missing, "");
}

function finish(r: PlannedResource, lines: CostLine[], missing: string[], reason: string): ResourceCost {
  const priced = lines.filter((l) => l.monthly !== null);
  const monthly = round(priced.reduce((s, l) => s + (l.monthly ?? 0), 0), 4);
  const status: ResourceStatus = missing.length === 0 ? "priced" : priced.length ? "partial" : "unpriced";
  return { name: r.name, type: r.type, status, monthly, lines, reason: [reason, ...missing.map((m) => `unpriced: ${m}`)].filter(Boolean).join("; ") };
}

function unpriced(r: PlannedResource, reason: string, lines: CostLine[] = []): ResourceCost {
  return { name: r.name, type: r.type, status: "unpriced", monthly: 0, lines, reason };
}

// ------------------------------------------------------------------------------------ Firehose

function firehoseEstimate(t: PriceTable, u: CostUsage & { compressionRatio: number }, recordsPerDay: number): FirehoseEstimate {
  const p = t.items;
  const monthlyGb = u.gbPerDay * DAYS_PER_MONTH;
  const recordsPerMonth = recordsPerDay * DAYS_PER_MONTH;
  const billedRecordBytes = Math.ceil(u.avgRecordBytes / 5120) * 5120;
  const billedIngestGb = (recordsPerMonth * billedRecordBytes) / GiB;
  const bufBytes = p["firehose.bufferMaxBytes"]?.price ?? 128 * 1024 * 1024;
  const bufSec = p["firehose.bufferMaxSeconds"]?.price ?? 900;
  const appBytesPerDay = (u.gbPerDay * GiB) / u.apps;
  const objPerAppPerDay = Math.max(appBytesPerDay / bufBytes, Math.min(86_400 / bufSec, recordsPerDay / u.apps));
  const objectsPerMonth = objPerAppPerDay * u.apps * DAYS_PER_MONTH;
  const lines: CostLine[] = [
    { component: `ingestion (${round(billedIngestGb, 2)} GB billed: ${round(recordsPerMonth)} records × ${billedRecordBytes / 1024} KB)`, quantity: round(billedIngestGb, 4), unit: "GB", unitPrice: p["firehose.ingest"]!.price!, monthly: round(billedIngestGb * p["firehose.ingest"]!.price!, 4), source: `${p["firehose.ingest"]!.source} (${p["firehose.ingest"]!.asOf})` },
    { component: "dynamic partitioning, data processed", quantity: round(monthlyGb, 4), unit: "GB", unitPrice: p["firehose.dp.gb"]!.price!, monthly: round(monthlyGb * p["firehose.dp.gb"]!.price!, 4), source: `${p["firehose.dp.gb"]!.source} (${p["firehose.dp.gb"]!.asOf})` },
    { component: `dynamic partitioning, ${round(objectsPerMonth)} S3 objects (${u.apps} partitions, ${bufBytes / 1024 / 1024} MB / ${bufSec} s buffers)`, quantity: round(objectsPerMonth, 2), unit: "objects", unitPrice: p["firehose.dp.objects"]!.price!, monthly: round((objectsPerMonth / 1000) * p["firehose.dp.objects"]!.price!, 4), source: `${p["firehose.dp.objects"]!.source} (${p["firehose.dp.objects"]!.asOf})` },
  ];
  const monthly = round(lines.reduce((s, l) => s + (l.monthly ?? 0), 0), 4);
  return {
    currency: "USD", table: `${t.table} (${t.retrieved})`, monthlyGb, billedIngestGb, objectsPerMonth, lines, monthly, perGb: monthlyGb > 0 ? monthly / monthlyGb : 0,
    notes: [
      "Amazon Data Firehose with dynamic partitioning by app (Direct PUT source), delivering to S3; S3 storage and requests not included.",
      `Optional JQ parsing adds USD ${p["firehose.dp.jqHour"]?.price}/JQ-hour (not included).`,
      `Firehose's default limit is 500 active partitions per stream; ${u.apps} apps ${u.apps > 500 ? "exceed it (records beyond go to the error prefix unless raised to 5000)" : "fit"}.`,
    ],
  };
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

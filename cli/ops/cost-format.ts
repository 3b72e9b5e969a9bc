/** Renders cost reports (table / markdown / json) and diffs two reports (stack vs stack or saved JSON). */
import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";
import type { CostReport, ResourceCost } from "./cost.js";
import { table } from "./output.js";

const SYMBOL = { CNY: "¥", USD: "$" } as const;

export function money(x: number, currency: "CNY" | "USD", digits = 2): string {
  const v = Math.abs(x) < 0.005 && x !== 0 ? x.toPrecision(2) : x.toFixed(digits);
  return `${SYMBOL[currency]}${v}`;
}

function shortType(t: string): string {
  const m = /^alicloud:([^/]+)\/[^:]+:(.+)$/.exec(t);
  return m ? `${m[1]}.${m[2]}` : t;
}

function statusLabel(r: ResourceCost): string {
  return r.status === "priced" ? "" : r.status === "free" ? "free" : r.status === "partial" ? "PARTIAL" : "UNPRICED";
}

export function renderTable(r: CostReport): string {
  const c = r.currency;
  const rows: string[][] = [];
  const sorted = [...r.resources].sort((a, b) => order(a) - order(b) || b.monthly - a.monthly);
  for (const res of sorted) {
    if (res.status === "free") continue;
    rows.push([res.name, shortType(res.type), statusLabel(res), res.status === "unpriced" ? "?" : money(res.monthly, c)]);
    for (const l of res.lines) {
      rows.push([`  └ ${l.component}`, `${fmtQty(l.quantity)} ${l.unit}`, l.unitPrice === null ? "" : `@ ${money(l.unitPrice, c, 6)}`, l.monthly === null ? "?" : money(l.monthly, c)]);
    }
    if (res.status !== "priced" && res.reason) rows.push([`  └ ${res.reason}`.slice(0, 160), "", "", ""]);
  }
  const free = r.resources.filter((x) => x.status === "free");
  if (free.length) rows.push([`(${free.length} resources with no charge: ${[...new Set(free.map((x) => shortType(x.type)))].join(", ")})`, "", "free", money(0, c)]);
  const out: string[] = [];
  out.push(`Stack ${r.stack} — ${r.site === "cn" ? "China site" : "international site"}, prices ${r.priceTable.name} (recorded ${r.priceTable.retrieved}), usage from ${r.usageSource}`);
  out.push(`Usage: ${r.usage.gbPerDay} GB/day, ${r.usage.avgRecordBytes} B/record, ${r.usage.apps} apps, ${r.usage.retentionDays} days retention, ${r.usage.cpuSecondsPerGb} vCPU-s/GB`);
  out.push(table(["resource", "type / quantity", "status / unit price", `monthly (${c})`], rows));
  out.push(`Total: ${money(r.total, c)} / month${r.unpricedCount ? `  (+ ${r.unpricedCount} resource(s) unpriced or partly priced — see above)` : ""}`);
  out.push(`Per GB ingested: ${money(r.perGb.total, c, 4)} (processing ${money(r.perGb.processing, c, 4)}, storage ${money(r.perGb.storage, c, 4)})`);
  if (r.firehose) {
    out.push(`Firehose equivalent (${r.firehose.table}): ${money(r.firehose.perGb, "USD", 4)}/GB, ${money(r.firehose.monthly, "USD")}/month — ` +
      r.firehose.lines.map((l) => `${l.component}: ${money(l.monthly ?? 0, "USD")}`).join("; "));
    if (r.currency !== "USD") out.push("  (different currency: no exchange rate is applied)");
  }
  out.push("Assumptions:", ...r.assumptions.map((a) => `  - ${a}`));
  return out.join("\n");
}

function order(r: ResourceCost): number {
  return { priced: 0, partial: 1, unpriced: 2, free: 3 }[r.status];
}

function fmtQty(q: number): string {
  return Math.abs(q) >= 1000 ? Math.round(q).toLocaleString("en-US") : String(q);
}

export function renderMarkdown(r: CostReport): string {
  const c = r.currency;
  const out: string[] = [];
  out.push(`### logpipe cost: \`${r.stack}\` — ${money(r.total, c)}/month`);
  out.push("");
  out.push(`Prices: \`${r.priceTable.name}\` (recorded ${r.priceTable.retrieved}). Usage (${r.usageSource}): ${r.usage.gbPerDay} GB/day, ${r.usage.avgRecordBytes} B/record, ${r.usage.apps} apps, ${r.usage.retentionDays} days, ${r.usage.cpuSecondsPerGb} vCPU-s/GB.`);
  out.push("");
  out.push(`| Resource | Type | Status | Monthly (${c}) |`);
  out.push("|---|---|---|---:|");
  for (const res of [...r.resources].sort((a, b) => order(a) - order(b) || b.monthly - a.monthly)) {
    if (res.status === "free") continue;
    out.push(`| ${res.name} | \`${shortType(res.type)}\` | ${res.status}${res.status !== "priced" && res.reason ? `: ${escapeMd(res.reason)}` : ""} | ${res.status === "unpriced" ? "?" : money(res.monthly, c)} |`);
  }
  const free = r.resources.filter((x) => x.status === "free").length;
  out.push(`| _${free} free resources_ | | | ${money(0, c)} |`);
  out.push(`| **Total** | | ${r.unpricedCount ? `${r.unpricedCount} unpriced/partial` : ""} | **${money(r.total, c)}** |`);
  out.push("");
  out.push(`**Per GB ingested:** ${money(r.perGb.total, c, 4)} (processing ${money(r.perGb.processing, c, 4)}, storage ${money(r.perGb.storage, c, 4)})`);
  if (r.firehose) out.push(`**Firehose equivalent:** ${money(r.firehose.perGb, "USD", 4)}/GB (${money(r.firehose.monthly, "USD")}/month; ingest + dynamic partitioning + per-object; ${r.firehose.table})`);
  out.push("");
  out.push("<details><summary>Assumptions</summary>", "", ...r.assumptions.map((a) => `- ${escapeMd(a)}`), "", "</details>");
  return out.join("\n");
}

function escapeMd(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

// ------------------------------------------------------------------------------------ diff

export interface CostDiffRow { key: string; name: string; type: string; before: number | null; after: number | null; delta: number; statusBefore?: string; statusAfter?: string }
export interface CostDiff { base: string; head: string; currency: "CNY" | "USD"; rows: CostDiffRow[]; totalBefore: number; totalAfter: number; delta: number }

export function diffReports(base: CostReport, head: CostReport): CostDiff {
  if (base.currency !== head.currency) throw new ConfigError(`cannot compare ${base.currency} (${base.stack}) with ${head.currency} (${head.stack}); use --site to price both on the same site`);
  const key = (r: ResourceCost) => `${r.type}|${r.name}`;
  const a = new Map(base.resources.map((r) => [key(r), r]));
  const b = new Map(head.resources.map((r) => [key(r), r]));
  const rows: CostDiffRow[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k), y = b.get(k);
    const before = x ? x.monthly : null, after = y ? y.monthly : null;
    const delta = (after ?? 0) - (before ?? 0);
    if (Math.abs(delta) < 1e-9 && x?.status === y?.status) continue;
    rows.push({ key: k, name: (y ?? x)!.name, type: (y ?? x)!.type, before, after, delta, statusBefore: x?.status, statusAfter: y?.status });
  }
  rows.sort((p, q) => Math.abs(q.delta) - Math.abs(p.delta));
  return { base: base.stack, head: head.stack, currency: head.currency, rows, totalBefore: base.total, totalAfter: head.total, delta: head.total - base.total };
}

export function renderDiff(d: CostDiff, format: "table" | "markdown"): string {
  const c = d.currency;
  const sign = (x: number) => `${x >= 0 ? "+" : "-"}${money(Math.abs(x), c)}`;
  const cell = (x: number | null, st?: string) => (x === null ? "—" : st === "unpriced" ? "?" : money(x, c));
  if (format === "markdown") {
    const out = [`### logpipe cost diff: \`${d.base}\` → \`${d.head}\`: ${sign(d.delta)}/month (${money(d.totalBefore, c)} → ${money(d.totalAfter, c)})`, "",
      `| Resource | Type | ${d.base} | ${d.head} | Change |`, "|---|---|---:|---:|---:|"];
    for (const r of d.rows) out.push(`| ${r.name} | \`${shortType(r.type)}\` | ${cell(r.before, r.statusBefore)} | ${cell(r.after, r.statusAfter)} | ${sign(r.delta)} |`);
    if (!d.rows.length) out.push("| _no changes_ | | | | |");
    return out.join("\n");
  }
  return [`Diff ${d.base} → ${d.head}: ${sign(d.delta)} / month (${money(d.totalBefore, c)} → ${money(d.totalAfter, c)})`,
    table(["resource", "type", d.base, d.head, "change"], d.rows.map((r) => [r.name, shortType(r.type), cell(r.before, r.statusBefore), cell(r.after, r.statusAfter), sign(r.delta)]))].join("\n");
}

/** A report saved earlier with `--format json`. */
export function loadReport(file: string): CostReport {
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`--compare ${file}: ${(e as Error).message}`); }
  const r = raw as Partial<CostReport>;
  if (!r || !Array.isArray(r.resources) || typeof r.total !== "number" || (r.currency !== "CNY" && r.currency !== "USD")) {
    throw new ConfigError(`--compare ${file}: not a report written by \`logpipe cost --format json\``);
  }
  return r as CostReport;
}

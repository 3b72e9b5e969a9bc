/**
 * Renders cost reports (table / markdown; json is the report itself) and diffs two reports.
 * Tables fit 100 columns: identical rows are grouped (`12 × cms.Alarm`), numbers are human
 * (128.8 M), full reasons go to a numbered notes section, and the total names what it excludes.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";
import { human, shortTypeName, type Comparison, type CostReport, type ResourceCost } from "./cost.js";

const SYMBOL = { CNY: "¥", USD: "$" } as const;
export const TABLE_WIDTH = 100;

export function money(x: number, currency: "CNY" | "USD", digits = 2): string {
  const sign = x < 0 ? "-" : "";
  const a = Math.abs(x);
  const v = a < 0.005 && a !== 0 ? a.toPrecision(2) : a.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${sign}${SYMBOL[currency]}${v}`;
}

export interface RenderOptions { color?: boolean }

/** Colour only on a terminal; NO_COLOR turns it off, FORCE_COLOR (not "0") on. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return Boolean(stream.isTTY);
}

const paint = (on: boolean | undefined, code: string, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

function fit(s: string, w: number, right = false): string {
  const t = s.length > w ? `${s.slice(0, w - 1)}…` : s;
  return right ? t.padStart(w) : t.padEnd(w);
}

/** Wraps at word boundaries to `width`, indenting continuation lines. */
export function wrap(text: string, width: number, indent = "    "): string[] {
  const out: string[] = [];
  const lead = /^\s*/.exec(text)![0];
  let line = lead;
  for (const word of text.trim().split(/\s+/)) {
    if (line.trim() && line.length + 1 + word.length > width) { out.push(line); line = indent + word; } else line = line.trim() ? `${line} ${word}` : `${line}${word}`;
  }
  if (line) out.push(line);
  return out;
}

interface Row { label: string; type: string; detail: string; monthly: string; unpriced: boolean; sub: { text: string; monthly: string }[] }

/** Groups resources that would print the same row: same type, status, cost and reason. */
export function groupedRows(r: CostReport, notes: Notes): Row[] {
  const c = r.currency;
  const groups = new Map<string, ResourceCost[]>();
  const order = (x: ResourceCost) => ({ priced: 0, partial: 1, unpriced: 2, free: 3 })[x.status];
  for (const res of [...r.resources].sort((a, b) => order(a) - order(b) || b.monthly - a.monthly)) {
    if (res.status === "free") continue;
    const key = res.lines.length ? `one|${res.type}|${res.name}` : `${res.type}|${res.status}|${res.monthly}|${res.reason ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), res]);
  }
  const rows: Row[] = [];
  for (const list of groups.values()) {
    const res = list[0]!;
    const n = list.length;
    const ref = res.status !== "priced" && res.status !== "free" && res.reason ? ` [${notes.ref(res.reason)}]` : "";
    const detail = res.status === "free" ? "free" : res.status === "unpriced" ? `unpriced${ref}` : res.status === "partial" ? `partly priced${ref}` : "";
    rows.push({
      label: n > 1 ? `${n} × ${shortTypeName(res.type)}` : res.name,
      type: shortTypeName(res.type), detail,
      monthly: res.status === "unpriced" ? "excluded" : money(res.monthly * n, c), unpriced: res.status === "unpriced" || res.status === "partial",
      sub: res.lines.map((l) => ({ text: `${l.component}${l.quantity ? ` = ${human(l.quantity)} ${l.unit}` : ""}`, monthly: l.monthly === null ? "excluded" : money(l.monthly, c) })),
    });
  }
  const free = r.resources.filter((x) => x.status === "free");
  if (free.length) {
    const byType = new Map<string, number>();
    for (const x of free) byType.set(shortTypeName(x.type), (byType.get(shortTypeName(x.type)) ?? 0) + 1);
    rows.push({ label: `${free.length} resources`, type: "no charge", detail: "free", monthly: money(0, c), unpriced: false,
      sub: [{ text: [...byType].map(([t, n]) => (n > 1 ? `${n} × ${t}` : t)).join(", "), monthly: "" }] });
  }
  return rows;
}

class Notes {
  readonly list: string[] = [];
  ref(text: string): number {
    const i = this.list.indexOf(text);
    if (i >= 0) return i + 1;
    this.list.push(text);
    return this.list.length;
  }
}

function totalLine(r: CostReport): string {
  return `${money(r.total, r.currency)} / month` + (r.excludes.length ? ` — excludes: ${r.excludes.join(", ")}` : "");
}

function comparisonValue(x: Comparison, r: CostReport): string {
  if (x.monthly === null) return `excluded (${x.excludes.join(", ")})`;
  const own = money(x.monthly, x.currency);
  if (x.currency === r.currency) return own;
  if (!r.fx) return `${own} (no dated exchange rate: not converted)`;
  const v = x.currency === "USD" ? x.monthly * r.fx.usdToCny : x.monthly / r.fx.usdToCny;
  return `${own} ≈ ${money(v, r.currency)}`;
}

export function renderTable(r: CostReport, opts: RenderOptions = {}): string {
  const c = r.currency, W = TABLE_WIDTH;
  const notes = new Notes();
  const out: string[] = [];
  out.push(...wrap(`Stack ${r.stack}: ${r.site === "cn" ? "China site" : "international site"} (${c}), prices ${r.priceTable.name} recorded ${r.priceTable.retrieved}`, W));
  out.push(...wrap(`Usage: ${human(r.usage.gbPerDay)} GB/day, ${r.usage.avgRecordBytes} B/record, ${r.usage.apps} apps, ${r.usage.retentionDays} days (${r.usageSource}); compression ${Number(r.usage.compressionRatio.toFixed(2))}×`, W));
  out.push(...wrap(`Profile: ${r.profile.name} (${r.profile.command}; ${r.profile.dataPath}; ${r.profile.recordedAt})`, W));
  for (const o of r.overrides) out.push(...wrap(paint(opts.color, "33", `OVERRIDE: ${o}`), W));
  out.push("");
  const cols = [30, 18, 34, 15];
  const line = (a: string, b: string, d: string, m: string) => `${fit(a, cols[0]!)} ${fit(b, cols[1]!)} ${fit(d, cols[2]!)} ${fit(m, cols[3]!, true)}`;
  out.push(line("RESOURCE", "TYPE", "DETAIL", `MONTHLY (${c})`));
  for (const row of groupedRows(r, notes)) {
    const text = line(row.label, row.type, row.detail, row.monthly);
    out.push(row.unpriced ? paint(opts.color, "33", text) : text);
    for (const s of row.sub) {
      if (s.monthly === "") { out.push(...wrap(`  └ ${s.text}`, W, "    ")); continue; }
      out.push(`${fit(`  └ ${s.text}`, W - cols[3]! - 1)} ${fit(s.monthly, cols[3]!, true)}`);
    }
  }
  out.push("─".repeat(W));
  out.push(...wrap(paint(opts.color, "1", `Total: ${totalLine(r)}`), W));
  out.push(...wrap(`  Fixed ${money(r.fixedMonthly, c)} + traffic-driven ${money(r.variableMonthly, c)}. Per GB ingested: ${money(r.perGb.total, c, 4)} (processing ${money(r.perGb.processing, c, 4)}, storage ${money(r.perGb.storage, c, 4)})`, W));
  if (r.comparisons.length) {
    out.push("", "Compared with:");
    for (const x of r.comparisons) {
      out.push(...wrap(`  ${x.name}: ${comparisonValue(x, r)}${x.perGb !== null ? `, ${money(x.perGb, x.currency, 4)}/GB` : ""}`, W));
      for (const n of x.notes) out.push(...wrap(`    - ${n}`, W, "      "));
    }
    if (r.fx) out.push(...wrap(`  Exchange rate: 1 USD = ${r.fx.usdToCny} CNY (${r.fx.source}, ${r.fx.asOf})`, W));
  }
  if (r.rightSizing.length) {
    out.push("", "Right-sizing (from the measured profile):");
    for (const s of r.rightSizing) {
      out.push(...wrap(`  ${s.function}: ${s.current.cpu} vCPU / ${s.current.memoryMb} MB → ${s.recommended.cpu} vCPU / ${s.recommended.memoryMb} MB saves ${money(s.saving, c)}/month (${money(s.current.monthly, c)} → ${money(s.recommended.monthly, c)}): ${s.reason}`, W, "      "));
    }
  }
  if (notes.list.length) {
    out.push("", "Notes:");
    notes.list.forEach((n, i) => out.push(...wrap(`  [${i + 1}] ${n}`, W, "      ")));
  }
  out.push("", "Assumptions:");
  for (const a of r.assumptions) out.push(...wrap(`  - ${a}`, W, "    "));
  out.push("", ...wrap(`Sources: ${r.sources.length} dated vendor prices (listed with --format json or markdown). Fill gaps with --prices FILE (template: logpipe cost --init-prices FILE).`, W));
  return out.join("\n");
}

export function renderMarkdown(r: CostReport): string {
  const c = r.currency;
  const notes = new Notes();
  const out: string[] = [];
  out.push(`### logpipe cost: \`${r.stack}\` — ${money(r.total, c)}/month${r.excludes.length ? ` (excludes: ${r.excludes.join(", ")})` : ""}`);
  out.push("");
  out.push(`Prices: \`${r.priceTable.name}\` (recorded ${r.priceTable.retrieved}). Usage (${r.usageSource}): ${r.usage.gbPerDay} GB/day, ${r.usage.avgRecordBytes} B/record, ${r.usage.apps} apps, ${r.usage.retentionDays} days. Profile: \`${r.profile.name}\` (${escapeMd(r.profile.dataPath)}, ${r.profile.recordedAt}).`);
  for (const o of r.overrides) out.push("", `**Override:** ${escapeMd(o)}`);
  out.push("");
  out.push(`| Resource | Type | Status | Monthly (${c}) |`);
  out.push("|---|---|---|---:|");
  for (const row of groupedRows(r, notes)) out.push(`| ${escapeMd(row.label)} | \`${row.type}\` | ${escapeMd(row.detail)} | ${row.monthly} |`);
  out.push(`| **Total** | | ${r.excludes.length ? `excludes: ${escapeMd(r.excludes.join(", "))}` : ""} | **${money(r.total, c)}** |`);
  out.push("");
  out.push(`**Per GB ingested:** ${money(r.perGb.total, c, 4)} (processing ${money(r.perGb.processing, c, 4)}, storage ${money(r.perGb.storage, c, 4)}); fixed ${money(r.fixedMonthly, c)}/month.`);
  if (r.comparisons.length) {
    out.push("", "| Compared with | Monthly | Per GB |", "|---|---:|---:|");
    for (const x of r.comparisons) out.push(`| ${escapeMd(x.name)} | ${escapeMd(comparisonValue(x, r))} | ${x.perGb === null ? "" : money(x.perGb, x.currency, 4)} |`);
  }
  if (r.rightSizing.length) {
    out.push("", "**Right-sizing:**", ...r.rightSizing.map((s) => `- \`${s.function}\`: ${s.current.cpu} vCPU / ${s.current.memoryMb} MB → ${s.recommended.cpu} vCPU / ${s.recommended.memoryMb} MB, saves ${money(s.saving, c)}/month — ${escapeMd(s.reason)}`));
  }
  if (notes.list.length) out.push("", "**Notes:**", ...notes.list.map((n, i) => `${i + 1}. ${escapeMd(n)}`));
  out.push("", "<details><summary>Assumptions and sources</summary>", "", ...r.assumptions.map((a) => `- ${escapeMd(a)}`), "", ...r.sources.map((s) => `- \`${s.key}\`: ${escapeMd(s.source)} (${s.asOf})`), "", "</details>");
  return out.join("\n");
}

function escapeMd(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

// ------------------------------------------------------------------------------------ diff

export interface CostDiffRow { key: string; name: string; type: string; before: number | null; after: number | null; delta: number; statusBefore?: string; statusAfter?: string }
export interface CostDiff { base: string; head: string; currency: "CNY" | "USD"; rows: CostDiffRow[]; totalBefore: number; totalAfter: number; delta: number; excludesBefore: string[]; excludesAfter: string[] }

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
    if (x && y && Math.abs(delta) < 1e-9 && x.status === y.status) continue;
    if ((x?.status === "free" || !x) && (y?.status === "free" || !y) && Math.abs(delta) < 1e-9) continue; // a free resource added/removed changes nothing
    rows.push({ key: k, name: (y ?? x)!.name, type: (y ?? x)!.type, before, after, delta, statusBefore: x?.status, statusAfter: y?.status });
  }
  rows.sort((p, q) => Math.abs(q.delta) - Math.abs(p.delta));
  return { base: base.stack, head: head.stack, currency: head.currency, rows, totalBefore: base.total, totalAfter: head.total, delta: head.total - base.total, excludesBefore: base.excludes ?? [], excludesAfter: head.excludes ?? [] };
}

export function renderDiff(d: CostDiff, format: "table" | "markdown"): string {
  const c = d.currency;
  const sign = (x: number) => `${x >= 0 ? "+" : "-"}${money(Math.abs(x), c)}`;
  const cell = (x: number | null, st?: string) => (x === null ? (st === undefined ? "absent" : "—") : st === "unpriced" ? "excluded" : money(x, c));
  const change = (r: CostDiffRow) => (r.statusBefore === undefined ? `added ${sign(r.delta)}` : r.statusAfter === undefined ? `removed ${sign(r.delta)}` : r.statusAfter === "unpriced" || r.statusBefore === "unpriced" ? `${r.statusBefore} → ${r.statusAfter}` : sign(r.delta));
  const head = `${d.base} → ${d.head}: ${sign(d.delta)}/month (${money(d.totalBefore, c)} → ${money(d.totalAfter, c)})`;
  const exNote = d.excludesBefore.join(",") !== d.excludesAfter.join(",") ? `excludes changed: [${d.excludesBefore.join(", ")}] → [${d.excludesAfter.join(", ")}]` : "";
  if (format === "markdown") {
    const out = [`### logpipe cost diff: \`${d.base}\` → \`${d.head}\`: ${sign(d.delta)}/month (${money(d.totalBefore, c)} → ${money(d.totalAfter, c)})`, ""];
    if (!d.rows.length) return [...out, "No changes."].join("\n");
    out.push(`| Resource | Type | ${d.base} | ${d.head} | Change |`, "|---|---|---:|---:|---:|");
    for (const r of d.rows) out.push(`| ${r.name} | \`${shortTypeName(r.type)}\` | ${cell(r.before, r.statusBefore)} | ${cell(r.after, r.statusAfter)} | ${change(r)} |`);
    if (exNote) out.push("", exNote);
    return out.join("\n");
  }
  if (!d.rows.length) return `Diff ${head}\nno changes`;
  const cols = [30, 16, 15, 15, 20];
  const row = (v: string[]) => v.map((s, i) => fit(s, cols[i]!, i >= 2)).join(" ");
  return [`Diff ${head}`, row(["RESOURCE", "TYPE", d.base.toUpperCase(), d.head.toUpperCase(), "CHANGE"]),
    ...d.rows.map((r) => row([r.name, shortTypeName(r.type), cell(r.before, r.statusBefore), cell(r.after, r.statusAfter), change(r)])),
    ...(exNote ? wrap(exNote, TABLE_WIDTH) : [])].join("\n");
}

/** A report saved earlier with `--format json`. */
export function loadReport(file: string): CostReport {
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`--compare ${file}: ${(e as Error).message}`); }
  const r = raw as Partial<CostReport>;
  if (!r || !Array.isArray(r.resources) || typeof r.total !== "number" || (r.currency !== "CNY" && r.currency !== "USD")) {
    throw new ConfigError(`--compare ${file}: not a report written by \`logpipe cost --format json\``);
  }
  return { ...r, excludes: r.excludes ?? [] } as CostReport;
}

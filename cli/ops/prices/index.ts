/**
 * Dated price tables (JSON beside this file). Each figure has a unit, a source and the date it
 * was recorded; items we could not find are listed under "unpriced" with the reason, so the cost
 * report can show them instead of guessing.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigError } from "../errors.js";

const item = z.object({
  unit: z.string(),
  price: z.number().nonnegative().optional(),
  tiers: z.array(z.object({ upTo: z.number().positive().nullable(), price: z.number().nonnegative() })).min(1).optional(),
  source: z.string().min(1),
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
}).strict().refine((i) => (i.price === undefined) !== (i.tiers === undefined), "an item has either price or tiers");

export const priceTableSchema = z.object({
  table: z.string(),
  site: z.string(),
  currency: z.enum(["CNY", "USD"]),
  retrieved: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  notes: z.array(z.string()).default([]),
  items: z.record(item),
  unpriced: z.record(z.string()).default({}),
  /** in a template written by `logpipe cost --init-prices`: items still to fill in (ignored) */
  todo: z.record(z.unknown()).optional(),
}).strict();
export type PriceTable = z.infer<typeof priceTableSchema>;
export type PriceItem = z.infer<typeof item>;
export type Tier = { upTo: number | null; price: number };

const DIR = path.dirname(fileURLToPath(import.meta.url));
export const BUILTIN_TABLES = { cn: "alibaba-cn.json", intl: "alibaba-intl.json", firehose: "firehose.json" } as const;

export function loadPriceTable(fileOrBuiltin: string): PriceTable {
  const file = fileOrBuiltin in BUILTIN_TABLES ? path.join(DIR, BUILTIN_TABLES[fileOrBuiltin as keyof typeof BUILTIN_TABLES]) : fileOrBuiltin;
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`price table ${file}: ${(e as Error).message}`); }
  const r = priceTableSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`price table ${file}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** Overlays a user's table (e.g. contracted prices, Redis classes) on a built-in one. */
export function mergePriceTables(base: PriceTable, over: PriceTable): PriceTable {
  if (over.currency !== base.currency) throw new ConfigError(`price override is in ${over.currency} but the ${base.table} table is in ${base.currency}`);
  const unpriced = { ...base.unpriced };
  for (const k of Object.keys(over.items)) delete unpriced[k];
  return { ...base, table: `${base.table}+${over.table}`, items: { ...base.items, ...over.items }, unpriced: { ...unpriced, ...over.unpriced }, notes: [...base.notes, ...over.notes] };
}

/** Cost of `qty` units under graduated tiers (each tier's price applies to the units inside it). */
export function tieredCost(qty: number, tiers: Tier[]): number {
  let cost = 0, lower = 0;
  for (const t of tiers) {
    const upper = t.upTo ?? Infinity;
    if (qty <= lower) break;
    cost += (Math.min(qty, upper) - lower) * t.price;
    lower = upper;
  }
  return cost;
}

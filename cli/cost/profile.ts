/**
 * Usage profile: what one GB of logs costs the pipeline in FC terms, as measured — handler
 * seconds (billed active time) and invocations per GB for each function, at one or more app
 * counts, plus the compression ratio. `logpipe cost` prices a stack with it; `npm run bench`
 * writes it (`writeProfile`); `logpipe cost --profile FILE` also reads `logpipe local --json`.
 * Format documented in docs/cost.md.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigError } from "../ops/errors.js";

export const PROFILE_FORMAT = "logpipe-usage-profile/1";
export const FUNCTION_ROLES = ["split", "compress", "upload"] as const;
export type FunctionRole = (typeof FUNCTION_ROLES)[number];

/** The committed bench result; `logpipe cost` uses it unless --profile names another file. */
export const DEFAULT_PROFILE_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bench/profile.json");

const positive = (what: string) => z.number({ invalid_type_error: `${what} must be a number` }).finite().nonnegative(`${what} must be ≥ 0`);

const functionUsageSchema = z.object({
  /** summed invocation durations (what FC bills as active time) per GiB of raw records */
  handlerSecondsPerGb: positive("handlerSecondsPerGb"),
  /** invocations per GiB of raw records */
  invocationsPerGb: positive("invocationsPerGb"),
  /**
   * The same, split into a part per GB and a part per hour (what apps cost by being there:
   * members per drain age, objects per seal age, the timer), solved by `npm run bench` from the
   * steady state at two ingest rates; with them, `logpipe cost` projects to the stack's rate:
   * per GB + per hour ÷ (GB per hour). Absent in older profiles and `logpipe local` reports.
   */
  perGbSeconds: z.number().finite().optional(),
  perHourSeconds: z.number().finite().optional(),
  perGbInvocations: z.number().finite().optional(),
  perHourInvocations: z.number().finite().optional(),
  /** the rate the measured figures above were taken at (GB of raw records per day) */
  measuredGbPerDay: z.number().positive().optional(),
}).strict();

const pointSchema = z.object({
  apps: z.number().int().positive("apps must be a positive whole number"),
  functions: z.object({ split: functionUsageSchema, compress: functionUsageSchema, upload: functionUsageSchema }).strict(),
}).strict();

export const usageProfileSchema = z.object({
  format: z.literal(PROFILE_FORMAT),
  source: z.object({
    /** the command that produced the figures, e.g. "npm run bench" */
    command: z.string().min(1),
    /** which data path / commit was measured */
    dataPath: z.string().min(1),
    recordedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}/, "expected an ISO date"),
    machine: z.string().optional(),
    notes: z.array(z.string()).default([]),
  }).strict(),
  /** raw bytes ÷ gzip bytes, measured on the same data */
  compressionRatio: z.number().min(1, "compressionRatio must be ≥ 1").max(100),
  points: z.array(pointSchema).min(1, "at least one measured app count"),
}).strict();

export type UsageProfile = z.infer<typeof usageProfileSchema>;
export type FunctionUsage = z.infer<typeof functionUsageSchema>;
export type ProfilePoint = z.infer<typeof pointSchema>;

/** Validates and writes a profile (2-space JSON + newline). The bench calls this. */
export function writeProfile(file: string, data: UsageProfile): void {
  const r = usageProfileSchema.safeParse(data);
  if (!r.success) throw new ConfigError(`profile ${file}: ${issues(r.error)}`);
  writeFileSync(file, JSON.stringify(r.data, null, 2) + "\n");
}

export interface LoadedProfile {
  profile: UsageProfile;
  /** the file, as named in the output (relative to the repository when inside it) */
  name: string;
  /** "profile" or "logpipe local --json" */
  kind: "profile" | "local-report";
}

/** Reads a usage profile, or the JSON `logpipe local --json` prints (see fromLocalReport). */
export function readProfile(file: string, shownAs = file): LoadedProfile {
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`--profile ${shownAs}: ${(e as Error).message}`); }
  if (raw && typeof raw === "object" && (raw as Record<string, unknown>).format === PROFILE_FORMAT) {
    const r = usageProfileSchema.safeParse(raw);
    if (!r.success) throw new ConfigError(`--profile ${shownAs}: ${issues(r.error)}`);
    return { profile: r.data, name: shownAs, kind: "profile" };
  }
  return { profile: fromLocalReport(raw, shownAs), name: shownAs, kind: "local-report" };
}

/**
 * `logpipe local --json` → profile. Reads only: rawBytes, handlerSeconds.{split,compress,upload},
 * invocations.{split,compress,upload}, and, when present, verify.apps[].{rawBytes,compressedBytes}
 * (compression ratio; else verify's totals) and config / source for the label. The app count is
 * verify.apps.length, else `apps` if a later version prints it. Unknown fields are ignored.
 */
export function fromLocalReport(raw: unknown, shownAs: string): UsageProfile {
  const o = (raw ?? {}) as Record<string, unknown>;
  const fail = (what: string) => new ConfigError(`--profile ${shownAs}: neither a usage profile (format "${PROFILE_FORMAT}") nor \`logpipe local --json\` output (${what})`);
  const rawBytes = Number(o.rawBytes);
  if (!(rawBytes > 0)) throw fail("no rawBytes");
  const hs = o.handlerSeconds as Record<string, unknown> | undefined;
  const inv = o.invocations as Record<string, unknown> | undefined;
  if (!hs || !inv) throw fail("no handlerSeconds / invocations");
  const gb = rawBytes / 1024 ** 3;
  const fn = (k: FunctionRole): FunctionUsage => {
    const s = Number(hs[k]), n = Number(inv[k]);
    if (!Number.isFinite(s) || !Number.isFinite(n)) throw fail(`handlerSeconds.${k} / invocations.${k} missing`);
    return { handlerSecondsPerGb: s / gb, invocationsPerGb: n / gb };
  };
  const verify = o.verify as { apps?: { rawBytes: number; compressedBytes: number }[] } | undefined;
  const apps = Array.isArray(verify?.apps) && verify!.apps!.length ? verify!.apps!.length : Number(o.apps);
  if (!(apps >= 1)) throw fail("no app count (verify.apps or apps)");
  const rawSum = verify?.apps?.reduce((s, a) => s + a.rawBytes, 0) ?? 0;
  const gzSum = verify?.apps?.reduce((s, a) => s + a.compressedBytes, 0) ?? 0;
  const ratio = rawSum > 0 && gzSum > 0 ? rawSum / gzSum : undefined;
  if (ratio === undefined) throw fail("no verify.apps to measure compression (run without --no-verify)");
  return {
    format: PROFILE_FORMAT,
    source: { command: "logpipe local --json", dataPath: `${String(o.source ?? "local run")}, ${String(o.coordStore ?? "")}`.replace(/, $/, ""), recordedAt: new Date().toISOString().slice(0, 10), notes: [`read from ${shownAs}`] },
    compressionRatio: Math.max(1, ratio),
    points: [{ apps: Math.round(apps), functions: { split: fn("split"), compress: fn("compress"), upload: fn("upload") } }],
  };
}

/**
 * The profile at `apps`: linear in log(apps) between measured points; outside the measured range
 * the nearest point is used and `note` says so.
 */
export function profileAt(p: UsageProfile, apps: number): { functions: Record<FunctionRole, FunctionUsage>; note?: string } {
  const pts = [...p.points].sort((a, b) => a.apps - b.apps);
  const first = pts[0]!, last = pts.at(-1)!;
  if (pts.length === 1 || apps <= first.apps) {
    return { functions: first.functions, note: apps === first.apps ? undefined : `${apps} apps is outside the measured range (${pts.map((x) => x.apps).join(", ")} apps): the ${first.apps}-app figures are used` };
  }
  if (apps >= last.apps) {
    return { functions: last.functions, note: apps === last.apps ? undefined : `${apps} apps is beyond the largest measured count (${last.apps}): its figures are used, which may understate the cost` };
  }
  const i = pts.findIndex((x) => x.apps >= apps);
  const hi = pts[i]!, lo = pts[i - 1]!;
  const t = (Math.log(apps) - Math.log(lo.apps)) / (Math.log(hi.apps) - Math.log(lo.apps));
  const mix = (a: number, b: number) => a + (b - a) * t;
  const functions = Object.fromEntries(FUNCTION_ROLES.map((k) => {
    const a = lo.functions[k], b = hi.functions[k];
    const out: FunctionUsage = { handlerSecondsPerGb: mix(a.handlerSecondsPerGb, b.handlerSecondsPerGb), invocationsPerGb: mix(a.invocationsPerGb, b.invocationsPerGb) };
    for (const f of RATE_FIELDS) if (a[f] !== undefined && b[f] !== undefined) out[f] = mix(a[f]!, b[f]!);
    return [k, out];
  })) as Record<FunctionRole, FunctionUsage>;
  return { functions, note: hi.apps === apps ? undefined : `interpolated between the ${lo.apps}- and ${hi.apps}-app measurements (linear in log apps)` };
}

const RATE_FIELDS = ["perGbSeconds", "perHourSeconds", "perGbInvocations", "perHourInvocations", "measuredGbPerDay"] as const;

/**
 * A function's usage at `gbPerDay`: projected from its per-GB and per-hour parts when the
 * profile has them (never below the per-GB part), else as measured; `projected` says which.
 */
export function usageAtRate(u: FunctionUsage, gbPerDay: number): FunctionUsage & { projected: boolean } {
  if (u.perGbSeconds === undefined || u.perHourSeconds === undefined || u.perGbInvocations === undefined || u.perHourInvocations === undefined || !(gbPerDay > 0)) return { ...u, projected: false };
  const gbPerHour = gbPerDay / 24;
  return {
    ...u,
    handlerSecondsPerGb: Math.max(0, u.perGbSeconds + Math.max(0, u.perHourSeconds) / gbPerHour),
    invocationsPerGb: Math.max(0, u.perGbInvocations + Math.max(0, u.perHourInvocations) / gbPerHour),
    projected: true,
  };
}

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
}

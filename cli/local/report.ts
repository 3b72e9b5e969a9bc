/** Renders a `logpipe local` report for people (tables) — `--json` prints the object itself. */
import { loadPriceTable, tieredCost } from "../ops/prices/index.js";
import { table } from "../ops/output.js";
import { appIdFromSegment } from "../../functions/core/routing.js";
import type { LocalRunReport } from "./run.js";
import { median } from "./verify.js";

const mb = (n: number) => (n / 1024 ** 2).toFixed(n < 10 * 1024 ** 2 ? 2 : 1);
const kb = (n: number) => (n / 1024).toFixed(0);

/**
 * FC cost per GB implied by the measured invocation time (FC bills active time × vCPU, plus
 * memory): handler seconds at a 1 vCPU : 2 GB instance shape, plus invocations, at the first CU
 * tier. Every compress invocation is a drain task (many apps each), counted as FC bills it.
 */
export function fcCostPerGb(r: Pick<LocalRunReport, "handlerSecondsPerGb" | "invocations" | "rawBytes">, memoryGbPerVcpu = 2): { cuPerGb: number; cnyPerGb: number; usdPerGb: number; source: string } {
  const cn = loadPriceTable("cn");
  const intl = loadPriceTable("intl");
  const gb = r.rawBytes / 1024 ** 3 || 1;
  const item = (t: typeof cn, k: string) => t.items[k]?.price ?? 0;
  const invocations = r.invocations.split + r.invocations.compress + r.invocations.upload;
  const cuPerGb =
    r.handlerSecondsPerGb * (item(cn, "fc.cuPerVcpuSecond") + item(cn, "fc.cuPerGbSecondMemory") * memoryGbPerVcpu) +
    (invocations / gb / 10_000) * item(cn, "fc.cuPer10kInvocations");
  const firstTier = (t: typeof cn) => tieredCost(1, t.items["fc.cu"]?.tiers ?? []);
  return { cuPerGb, cnyPerGb: cuPerGb * firstTier(cn), usdPerGb: cuPerGb * firstTier(intl), source: `${cn.items["fc.cu"]?.source ?? "price table"} (as of ${cn.items["fc.cu"]?.asOf})` };
}

export function renderReport(r: LocalRunReport): string {
  const v = r.verify;
  const out: string[] = [];
  const verdict = !v ? "not verified (--no-verify)" : r.ok ? "OK — every record archived exactly once" : "FAILED — see counts above";
  out.push(
    table(["records in", "archived", "dead-lettered", "lost", "duplicated", "misrouted", "objects", "verdict"], [
      [r.records, v?.archived ?? "-", v?.deadLettered ?? "-", v?.lost ?? "-", v?.duplicated ?? "-", v?.misrouted ?? "-", v?.objects ?? "-", verdict],
    ]),
  );
  if (v && v.apps.length > 0) {
    const shown = v.apps.slice(0, 15);
    const rows = shown.map((a) => [
      appIdFromSegment(a.app), a.records, mb(a.rawBytes), mb(a.compressedBytes), (a.rawBytes / Math.max(1, a.compressedBytes)).toFixed(1) + "×", a.objects, kb(median(a.objectSizes)),
    ]);
    if (v.apps.length > shown.length) {
      const rest = v.apps.slice(shown.length);
      const sum = (f: (a: (typeof rest)[number]) => number) => rest.reduce((s, a) => s + f(a), 0);
      rows.push([`… ${rest.length} more apps`, sum((a) => a.records), mb(sum((a) => a.rawBytes)), mb(sum((a) => a.compressedBytes)), "", sum((a) => a.objects), ""]);
    }
    out.push(table(["app", "records", "raw MB", "gzip MB", "ratio", "objects", "median KB"], rows, { align: ["left", "right", "right", "right", "right", "right", "right"] }));
  }
  const cost = fcCostPerGb(r);
  out.push(
    table(["throughput", "handler s/GB", "process CPU s/GB", "FC CU/GB", "FC cost/GB", "invocations (split/compress/upload)", "retries (split/compress)"], [[
      `${r.mbPerSecond.toFixed(1)} MB/s (${mb(r.rawBytes)} MB in ${r.seconds.toFixed(1)} s)`,
      r.handlerSecondsPerGb.toFixed(1),
      r.cpuSecondsPerGb.toFixed(1),
      cost.cuPerGb.toFixed(0),
      `¥${cost.cnyPerGb.toFixed(4)} / $${cost.usdPerGb.toFixed(5)}`,
      `${r.invocations.split}/${r.invocations.compress}/${r.invocations.upload}`,
      `${r.invocations.splitRetries}/${r.invocations.compressRetries}`,
    ]]),
  );
  const phase = (p: LocalRunReport["phases"]["ingest"]) =>
    `${p.handlerSecondsPerGb.toFixed(1)} (${[p.handlerSeconds.split, p.handlerSeconds.compress, p.handlerSeconds.upload].map((x) => x.toFixed(1)).join("/")} s, ${p.invocations.split}/${p.invocations.compress}/${p.invocations.upload} invocations)`;
  out.push(`handler s/GB by phase: ingest ${phase(r.phases.ingest)}; final flush ${phase(r.phases.flush)} — a run that stops drains, seals and uploads every app once, however little it holds`);
  out.push(`source: ${r.source}   objects: ${r.objectStore}   locks: ${r.coordStore}   max writers/app: ${r.config.maxWritersPerApp}` +
    (r.maxConcurrentWritersPerApp !== undefined ? ` (peak measured ${r.maxConcurrentWritersPerApp})` : ""));
  const s = (ms: number) => (ms / 1000).toFixed(1) + " s";
  out.push(`freshness: record age at upload p50 ${s(r.freshness.p50Ms)}, p99 ${s(r.freshness.p99Ms)} since staging (the seal window and max age bound it; a local run's final flush uploads the rest)   ` +
    `gzip members: ${r.drains.members}   redelivered records dropped: ${r.duplicatesDropped}`);
  const possibleDup = r.reconcile.reduce((n, e) => n + e.possibleDuplicates, 0);
  if (r.reconcile.length > 0) out.push(`reconcile: ${r.reconcile.length} repair(s) (${[...new Set(r.reconcile.map((e) => e.kind))].join(", ")}), possible duplicates ${possibleDup}`);
  if (r.deadLetteredBatches > 0) out.push(`dead-lettered batches: ${r.deadLetteredBatches} (under ${r.config.prefix}/_deadletter/)`);
  if (r.leftOnNas > 0) out.push(`WARNING: ${r.leftOnNas} file(s) left on NAS after the final flush`);
  for (const e of v?.examples ?? []) out.push(`  ! ${e}`);
  for (const e of r.uploads.errors.slice(0, 5)) out.push(`  upload error (retried): ${e}`);
  out.push(`handler s/GB = summed invocation time (what FC bills), less ${r.coreWaitSeconds.toFixed(1)} s the handlers' threads waited for a core of this machine (an FC instance has its own vCPU); ` +
    `process CPU includes the generator, trigger emulator and verification. Cost: ${cost.source}.`);
  return out.join("\n");
}

/** The health gate between canary steps: compares the canary version's metrics to thresholds. */
import type { VersionMetrics } from "./metrics.js";
import { formatPercent } from "./units.js";

export interface GateThresholds {
  /** Max (function + server) errors / invocations of the canary version, 0..1. */
  maxErrorRate: number;
  /** Max estimated p99 latency of the canary version (ms). */
  maxP99Ms?: number;
  /** Max relative increase of the canary's average latency over stable's (0.5 = +50 %). */
  maxLatencyIncrease?: number;
  /** Fewer canary invocations than this in the window = too little traffic to judge. */
  minInvocations: number;
}

export type Verdict = "pass" | "fail" | "insufficient-traffic";

export interface GateResult {
  verdict: Verdict;
  reasons: string[];
  canary: VersionMetrics;
  stable: VersionMetrics | null;
  canaryErrorRate: number | null;
  stableErrorRate: number | null;
}

export function evaluateGate(canary: VersionMetrics, stable: VersionMetrics | null, t: GateThresholds): GateResult {
  const rate = (m: VersionMetrics | null) => (m && m.invocations > 0 ? m.errors / m.invocations : null);
  const canaryErrorRate = rate(canary), stableErrorRate = rate(stable);
  const base = { canary, stable, canaryErrorRate, stableErrorRate };
  if (canary.invocations < t.minInvocations) {
    return { ...base, verdict: "insufficient-traffic", reasons: [`canary served ${canary.invocations} invocations, fewer than the ${t.minInvocations} needed to judge`] };
  }
  const reasons: string[] = [];
  if (canaryErrorRate! > t.maxErrorRate) {
    reasons.push(`canary error rate ${formatPercent(canaryErrorRate!)} (${canary.errors}/${canary.invocations}) exceeds ${formatPercent(t.maxErrorRate)}` +
      (stableErrorRate !== null ? `; stable is at ${formatPercent(stableErrorRate)}` : ""));
  }
  if (t.maxP99Ms !== undefined && canary.p99EstimateMs !== null && canary.p99EstimateMs > t.maxP99Ms) {
    reasons.push(`canary p99 (estimate) ${Math.round(canary.p99EstimateMs)} ms exceeds ${t.maxP99Ms} ms`);
  }
  if (t.maxLatencyIncrease !== undefined && stable && stable.invocations >= t.minInvocations &&
      canary.avgLatencyMs !== null && stable.avgLatencyMs !== null && stable.avgLatencyMs > 0) {
    const inc = canary.avgLatencyMs / stable.avgLatencyMs - 1;
    if (inc > t.maxLatencyIncrease) {
      reasons.push(`canary average latency ${Math.round(canary.avgLatencyMs)} ms is ${formatPercent(inc, 0)} above stable's ${Math.round(stable.avgLatencyMs)} ms (limit +${formatPercent(t.maxLatencyIncrease, 0)})`);
    }
  }
  return { ...base, verdict: reasons.length ? "fail" : "pass", reasons: reasons.length ? reasons : ["within thresholds"] };
}

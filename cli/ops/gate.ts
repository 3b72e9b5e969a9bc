/**
 * The health gate between canary steps: compares the canary version's FC metrics to thresholds,
 * and the pipeline's own signals (dead letters, `_unrouted` rate, slot waits: per FC version,
 * from the functions' logs; Kafka consumer lag of the trigger's group) to stable's.
 */
import type { Datapoint, PipelineSignals, VersionMetrics } from "./metrics.js";
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
  /** Dead letters of the canary version allowed above stable's rate (per invocation) before it fails. Default 0. */
  maxDeadLetters?: number;
  /** Max increase of the canary's `_unrouted` share of records over stable's (0.01 = 1 point). */
  maxUnroutedIncrease?: number;
  /** Max relative increase of slot waits per invocation over stable's (1 = twice as many). */
  maxSlotWaitIncrease?: number;
  /** Max growth of the trigger's consumer lag (messages) over the window. */
  maxLagGrowth?: number;
  /** pipeline signals: required (unreadable = the gate cannot judge: roll back), optional (noted), off */
  signals?: "required" | "optional" | "off";
}

/** What the pipeline-signal part of a gate saw. */
export interface SignalEvidence {
  canary?: PipelineSignals;
  stable?: PipelineSignals | null;
  /** the consumer group's lag series over the window */
  lag?: Datapoint[];
  /** why (part of) the signals could not be read */
  unavailable?: string[];
}

export type Verdict = "pass" | "fail" | "insufficient-traffic";

export interface GateResult {
  verdict: Verdict;
  reasons: string[];
  canary: VersionMetrics;
  stable: VersionMetrics | null;
  canaryErrorRate: number | null;
  stableErrorRate: number | null;
  signals?: SignalEvidence;
}

export function evaluateGate(canary: VersionMetrics, stable: VersionMetrics | null, t: GateThresholds, signals?: SignalEvidence): GateResult {
  const rate = (m: VersionMetrics | null) => (m && m.invocations > 0 ? m.errors / m.invocations : null);
  const canaryErrorRate = rate(canary), stableErrorRate = rate(stable);
  const base = { canary, stable, canaryErrorRate, stableErrorRate, ...(signals ? { signals } : {}) };
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
  if (signals?.canary && signals.canary.invocations === 0 && canary.invocations > 0) {
    // FC ran the canary version but none of its lines are in SLS (no fcVersion, or the logs are not indexed): unknown, not zero
    signals = { ...signals, canary: undefined, stable: undefined, unavailable: [...(signals.unavailable ?? []), `no log lines of the canary version in SLS although FC counts ${canary.invocations} invocations`] };
    base.signals = signals;
  }
  if (signals) reasons.push(...signalFailures(canary, stable, t, signals));
  const notes = signals?.unavailable?.length && t.signals !== "required" ? [`pipeline signals not judged: ${signals.unavailable.join("; ")}`] : [];
  if (signals?.unavailable?.length && t.signals === "required") reasons.push(`pipeline signals unreadable (--signals required): ${signals.unavailable.join("; ")}`);
  return { ...base, verdict: reasons.length ? "fail" : "pass", reasons: reasons.length ? reasons : ["within thresholds", ...notes] };
}

/** Pipeline-signal reasons to fail: the canary version does worse than stable on the same input. */
export function signalFailures(canaryFc: VersionMetrics, stableFc: VersionMetrics | null, t: GateThresholds, e: SignalEvidence): string[] {
  const out: string[] = [];
  const c = e.canary, s = e.stable ?? undefined;
  const perInv = (n: number, m: VersionMetrics | null | undefined) => (m && m.invocations > 0 ? n / m.invocations : 0);
  if (c) {
    // dead letters: compared per invocation, so stable's share of bad input is not blamed on the canary
    const excess = perInv(c.deadLetters, canaryFc) - perInv(s?.deadLetters ?? 0, stableFc);
    const allowed = t.maxDeadLetters ?? 0;
    if (c.deadLetters > allowed && excess > 1e-12) {
      out.push(`canary dead-lettered ${c.deadLetters} input${c.deadLetters === 1 ? "" : "s"} (${fmtRate(perInv(c.deadLetters, canaryFc))}/invocation) ` +
        `against stable's ${s?.deadLetters ?? 0} (${fmtRate(perInv(s?.deadLetters ?? 0, stableFc))}/invocation); allowed ${allowed}`);
    }
    const share = (x: PipelineSignals | undefined) => (x && x.records > 0 ? x.unrouted / x.records : 0);
    const inc = share(c) - share(s);
    if (c.records > 0 && inc > (t.maxUnroutedIncrease ?? 0.01)) {
      out.push(`canary routed ${formatPercent(share(c))} of its records to _unrouted (${c.unrouted}/${c.records}) against stable's ${formatPercent(share(s))} (limit +${formatPercent(t.maxUnroutedIncrease ?? 0.01)})`);
    }
    const cw = perInv(c.slotWaits, canaryFc), sw = perInv(s?.slotWaits ?? 0, stableFc);
    if (c.slotWaits > 0 && cw > sw * (1 + (t.maxSlotWaitIncrease ?? 1)) + 0.05) {
      out.push(`canary slot waits ${fmtRate(cw)}/invocation (${c.slotWaits}) against stable's ${fmtRate(sw)} (limit +${formatPercent(t.maxSlotWaitIncrease ?? 1, 0)})`);
    }
  }
  const lag = e.lag ?? [];
  if (lag.length >= 2) {
    const sorted = [...lag].sort((a, b) => a.timestamp - b.timestamp);
    const growth = sorted.at(-1)!.value - sorted[0]!.value;
    const limit = t.maxLagGrowth ?? 10_000;
    if (growth > limit) out.push(`the trigger's consumer lag grew by ${Math.round(growth)} messages over the window (${Math.round(sorted[0]!.value)} → ${Math.round(sorted.at(-1)!.value)}; limit ${limit})`);
  }
  return out;
}

function fmtRate(x: number): string {
  return x === 0 ? "0" : x >= 0.01 ? x.toFixed(2) : x.toExponential(1);
}

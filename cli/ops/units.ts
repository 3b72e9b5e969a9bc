/** Parsing of the human units the operations commands accept (durations, percentages, money). */
import { UsageError } from "./errors.js";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "5m", "1500ms", "2h" → ms. A bare number is seconds. */
export function parseDurationArg(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(text));
  const unit = m ? (m[2] || "s").toLowerCase() : "";
  if (!m || !(unit in DURATION_UNITS)) throw new UsageError(`${what}: expected a duration like 90s, 5m or 1h, got "${text}"`);
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[unit]!);
  if (ms <= 0) throw new UsageError(`${what}: must be greater than zero, got "${text}"`);
  if (ms > 7 * 86_400_000) throw new UsageError(`${what}: at most 7 days, got "${text}"`);
  return ms;
}

/** "1%", "0.5 %", "0.5" → fraction 0..1 (a bare number is a percentage too: "0.5" = 0.5 %). */
export function parsePercentArg(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(String(text));
  if (!m) throw new UsageError(`${what}: expected a percentage like 1% or 0.5%, got "${text}"`);
  const n = Number(m[1]);
  const frac = n / 100;
  if (!(frac >= 0 && frac <= 1)) throw new UsageError(`${what}: must be between 0% and 100%, got "${text}"`);
  return frac;
}

/** "5,25,50,100" → [5,25,50,100]: strictly increasing percentages in (0,100]. */
export function parseStepsArg(text: string): number[] {
  const parts = String(text).split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new UsageError(`--steps: expected a list like 5,25,50,100, got "${text}"`);
  const steps = parts.map((p) => {
    const n = Number(p.replace(/%$/, ""));
    if (!Number.isFinite(n) || n <= 0 || n > 100) throw new UsageError(`--steps: each step must be a percentage in (0, 100], got "${p}"`);
    return n;
  });
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) throw new UsageError(`--steps: steps must increase, got ${steps.join(",")}`);
  }
  return steps;
}

export function parsePositiveNumberArg(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(String(text).replace(/[_,]/g, ""));
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${what}: expected a non-negative number, got "${text}"`);
  if (n > max) throw new UsageError(`${what}: at most ${max}, got "${text}"`);
  return n;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatPercent(frac: number, digits = 2): string {
  return `${Number((frac * 100).toFixed(digits))}%`;
}

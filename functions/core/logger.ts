/**
 * Structured JSON logs (pino). Secrets are redacted by path wherever they might appear, and
 * nothing in the data path logs record contents or credentials.
 */
import { pino, destination, type DestinationStream, type Logger } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "password", "*.password", "accessKeySecret", "*.accessKeySecret", "securityToken", "*.securityToken",
  "credentials", "*.credentials", "LOGPIPE_REDIS_PASSWORD", "*.LOGPIPE_REDIS_PASSWORD",
];

export function createLogger(opts: { level?: string; base?: Record<string, unknown>; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: opts.base ?? {},
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    (opts.destination as DestinationStream | undefined) ?? destination({ dest: 1, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: "silent" });

/**
 * Pipeline signals: stable names under a line's `metrics` field ({"metrics": {"<name>": n}}),
 * summed per FC version by the canary gate (cli/ops/metrics.ts) with the SLS queries of
 * infra/fc-metrics.ts. Each line of an invocation also carries `fcVersion` (the FC version that
 * ran it) and `fcQualifier` (the alias or version it was invoked through). Renaming one is a
 * breaking change for the gate and the alarms.
 */
export const SIGNAL_NAMES = {
  /** 1 on each summary line: the lines of a version are there at all (else its signals are unknown, not zero) */
  invocations: "invocations",
  /** records split staged (the denominator of the `_unrouted` rate) */
  records: "records",
  /** records routed to `_unrouted` (no app id found) */
  unrouted: "unrouted",
  /** inputs written as dead letters (one per dead-letter line) */
  deadLetters: "dead_letters",
  /** apps a compress drain skipped because every slot writer was busy */
  slotWaits: "slot_waits",
} as const;
export type SignalName = (typeof SIGNAL_NAMES)[keyof typeof SIGNAL_NAMES];

/** The signal counts of one invocation's result (the summary line), by function. */
export function invocationSignals(fn: string, result: object): Partial<Record<SignalName, number>> {
  const r = result as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  const one = { [SIGNAL_NAMES.invocations]: 1 };
  if (fn === "split") return { ...one, [SIGNAL_NAMES.records]: num(r.records), [SIGNAL_NAMES.unrouted]: num(r.unrouted) };
  if (fn === "compress") return { ...one, [SIGNAL_NAMES.slotWaits]: num(r.busy) };
  return one;
}

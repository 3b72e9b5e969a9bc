/**
 * The one definition of the FC 3.0 CloudMonitor metrics logpipe reads: the alarms infra creates
 * (infra/alarms.ts) and the canary gate (cli/ops/metrics.ts) both use these names and dimensions.
 *
 * Sources (checked 2026-12-01):
 *  - namespace `acs_fc`; FC 3.0 has no service level, a function's dimensions are
 *    {"region", "functionName"}: "Monitoring data",
 *    https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/user-guide/monitoring-data
 *  - metric names, function level (Function*) and per version/alias (FunctionQualifier*, with the
 *    extra dimension "qualifier"): "Monitoring metrics",
 *    https://www.alibabacloud.com/help/en/functioncompute/fc/monitoring-metrics-1
 * FC 2.0 tools add a `serviceName` dimension; FC 3.0 functions have none, and a query with it
 * returns no data points (which a gate must never read as "healthy").
 */
export const FC_NAMESPACE = "acs_fc";
export const FC_METRICS_DOC = "https://www.alibabacloud.com/help/en/functioncompute/fc/monitoring-metrics-1";

export interface FcMetric {
  /** all versions of the function together */
  function: string;
  /** one version or alias (dimension `qualifier`) */
  qualifier: string;
  /** CloudMonitor statistic the value is read with */
  statistic: "Sum" | "Average" | "Maximum";
}

export const FC_METRICS = {
  invocations: { function: "FunctionTotalInvocations", qualifier: "FunctionQualifierTotalInvocations", statistic: "Sum" },
  functionErrors: { function: "FunctionFunctionErrors", qualifier: "FunctionQualifierFunctionErrors", statistic: "Sum" },
  serverErrors: { function: "FunctionServerErrors", qualifier: "FunctionQualifierServerErrors", statistic: "Sum" },
  concurrencyThrottles: { function: "FunctionConcurrencyThrottles", qualifier: "FunctionQualifierConcurrencyThrottles", statistic: "Sum" },
  resourceThrottles: { function: "FunctionResourceThrottles", qualifier: "FunctionQualifierResourceThrottles", statistic: "Sum" },
  latencyAvg: { function: "FunctionLatencyAvg", qualifier: "FunctionQualifierLatencyAvg", statistic: "Average" },
  latencyMax: { function: "FunctionLatencyMax", qualifier: "FunctionQualifierLatencyMax", statistic: "Maximum" },
} as const satisfies Record<string, FcMetric>;
export type FcMetricKey = keyof typeof FC_METRICS;

/** Dimensions of a function's metrics, or of one qualifier's (version id or alias). */
export function fcDimensions(region: string, functionName: string, qualifier?: string): Record<string, string> {
  return qualifier === undefined ? { region, functionName } : { region, functionName, qualifier };
}

/** What the alarms watch, and which threshold of logpipe:alarms applies. */
export const ALARMED_METRICS: { key: FcMetricKey; threshold: "error" | "throttle" }[] = [
  { key: "functionErrors", threshold: "error" },
  { key: "serverErrors", threshold: "error" },
  { key: "concurrencyThrottles", threshold: "throttle" },
  { key: "resourceThrottles", threshold: "throttle" },
];

/** The canary gate's errors: function + server errors (client errors are the caller's). */
export const GATE_ERROR_METRICS: FcMetricKey[] = ["functionErrors", "serverErrors"];

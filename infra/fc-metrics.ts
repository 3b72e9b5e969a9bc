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

// ---------------------------------------------------------------------------------------------
// The pipeline's own signals (one definition for the canary gate and the alarms).
//
// The functions log, per FC version (`fcVersion` on every line, from the invocation context's
// `service.versionId`: "Context", https://help.aliyun.com/en/functioncompute/context-1-1, checked
// 2026-12-01), a `metrics` object with stable names (functions/core/logger.ts SIGNAL_NAMES). FC
// ships each stdout line to the function's SLS logstore as the field `message` (FC log fields
// functionName, message, qualifier, versionId: https://www.alibabacloud.com/help/doc-detail/171396.htm,
// checked 2026-12-01). A signal is the sum of `metrics.<name>` over one function's lines of one
// version, read with GetLogs and a query "<search> | <analytic SQL>" (GetLogs:
// https://alibabacloud.com/help/en/sls/developer-reference/use-getlogs-to-query-logs; syntax:
// https://www.alibabacloud.com/help/en/sls/user-guide/search-syntax, both checked 2026-12-01).
// The analytic part needs `message` indexed with analytics enabled (see docs/deploy.md).
// ---------------------------------------------------------------------------------------------
import { SIGNAL_NAMES, type SignalName } from "../functions/core/logger.js";

/** The logstore the functions log to (infra/logging.ts LOGSTORE; kept here so the CLI does not load the Pulumi provider). */
export const FUNCTION_LOGSTORE = "functions";

export interface PipelineSignal {
  /** name under `metrics` in the log line */
  metric: SignalName;
  /** functions that log it */
  functions: readonly ("split" | "compress" | "upload")[];
  /** the line it is on (full-text search narrows the scan before the SQL) */
  search: string;
}

export const PIPELINE_SIGNALS = {
  records: { metric: SIGNAL_NAMES.records, functions: ["split"], search: "metrics" },
  unrouted: { metric: SIGNAL_NAMES.unrouted, functions: ["split"], search: "metrics" },
  deadLetters: { metric: SIGNAL_NAMES.deadLetters, functions: ["split", "compress"], search: "dead_letters" },
  slotWaits: { metric: SIGNAL_NAMES.slotWaits, functions: ["compress"], search: "slot_waits" },
  invocations: { metric: SIGNAL_NAMES.invocations, functions: ["split", "compress", "upload"], search: "metrics" },
} as const satisfies Record<string, PipelineSignal>;
export type PipelineSignalKey = keyof typeof PIPELINE_SIGNALS;

/** The GetLogs query that sums one signal over one function's lines (optionally of one FC version). */
export function signalSql(key: PipelineSignalKey, where: { fn: string; version?: string }): string {
  const s = PIPELINE_SIGNALS[key];
  if (!/^[a-z]+$/.test(where.fn)) throw new Error(`signalSql: bad function "${where.fn}"`);
  if (where.version !== undefined && !/^\d+$/.test(where.version)) throw new Error(`signalSql: FC version must be digits, got "${where.version}"`);
  const conds = [`json_extract_scalar(message, '$.fn') = '${where.fn}'`];
  if (where.version !== undefined) conds.push(`json_extract_scalar(message, '$.fcVersion') = '${where.version}'`);
  return `${s.search} | select coalesce(sum(cast(json_extract_scalar(message, '$.metrics.${s.metric}') as double)), 0) as value where ${conds.join(" and ")}`;
}

/**
 * Consumer lag of the Kafka trigger's consumer group, from CloudMonitor namespace `acs_kafka`
 * ("CloudMonitor (V2 reserved instances)", ApsaraMQ for Kafka,
 * https://www.alibabacloud.com/help/en/apsaramq-for-kafka/cloud-message-queue-for-kafka/user-guide/monitoring-and-alerting,
 * checked 2026-12-01: the namespace is acs_kafka and unconsumed-message metrics are computed
 * from committed offsets). NOT VERIFIED: the metric name and its dimension keys — no page read
 * here lists them. `message_accumulation` with {instanceId, groupId} is what the CloudMonitor
 * console's metric list is believed to show; confirm with CloudMonitor DescribeMetricMetaList
 * (Namespace=acs_kafka) and override with `logpipe canary start --lag-metric` if it differs.
 */
export const KAFKA_NAMESPACE = "acs_kafka";
export const KAFKA_LAG = { metric: "message_accumulation", statistic: "Maximum" as const, verified: false };
export function kafkaLagDimensions(instanceId: string, consumerGroup: string): Record<string, string> {
  return { instanceId, groupId: consumerGroup };
}

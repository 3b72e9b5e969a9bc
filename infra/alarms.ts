/**
 * PipelineAlarms: CloudMonitor rules on each function's errors and throttles (namespace
 * `acs_fc`, dimensions userId/region/functionName), sent to the configured contact groups.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { AlarmsConfig } from "./config.js";
import type { Tags } from "./util.js";

export interface PipelineAlarmsArgs {
  config: AlarmsConfig;
  region: string;
  accountId: pulumi.Input<string>;
  functionNames: Record<string, pulumi.Input<string>>;
  tags: Tags;
}

/** metric → which threshold applies */
export const ALARM_METRICS = {
  FunctionFunctionErrors: "error",
  FunctionServerErrors: "error",
  FunctionConcurrencyThrottles: "throttle",
  FunctionResourceThrottles: "throttle",
} as const;

export class PipelineAlarms extends pulumi.ComponentResource {
  readonly alarmNames: string[] = [];

  constructor(name: string, args: PipelineAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:PipelineAlarms", name, {}, opts);
    const c = args.config;
    for (const [kind, fnName] of Object.entries(args.functionNames)) {
      for (const [metric, which] of Object.entries(ALARM_METRICS)) {
        const alarmName = `${name}-${kind}-${metric}`;
        new alicloud.cms.Alarm(alarmName, {
          name: pulumi.interpolate`${fnName} ${metric}`,
          project: "acs_fc",
          metric,
          metricDimensions: pulumi.all([args.accountId, fnName]).apply(([userId, functionName]) => JSON.stringify([{ userId, region: args.region, functionName }])),
          period: c.periodSeconds,
          contactGroups: c.contactGroups,
          enabled: c.enabled,
          escalationsCritical: {
            statistics: "Sum",
            comparisonOperator: ">=",
            threshold: String(which === "error" ? c.errorThreshold : c.throttleThreshold),
            times: c.times,
          },
          silenceTime: 3600,
          tags: args.tags,
        }, { parent: this });
        this.alarmNames.push(alarmName);
      }
    }
    this.registerOutputs({ alarms: this.alarmNames.length });
  }
}

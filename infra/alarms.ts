/**
 * PipelineAlarms: CloudMonitor rules on each function's errors and throttles, sent to the
 * configured contact groups. Metric names, namespace and dimensions: infra/fc-metrics.ts (the
 * same definitions the canary gate reads).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { AlarmsConfig } from "./config.js";
import type { Tags } from "./util.js";
import { ALARMED_METRICS, FC_METRICS, FC_NAMESPACE, KAFKA_LAG, KAFKA_NAMESPACE, fcDimensions, kafkaLagDimensions } from "./fc-metrics.js";

export interface PipelineAlarmsArgs {
  config: AlarmsConfig;
  region: string;
  accountId: pulumi.Input<string>;
  functionNames: Record<string, pulumi.Input<string>>;
  tags: Tags;
  /**
   * Kafka consumer lag of the trigger's group, the same definition the canary gate reads
   * (infra/fc-metrics.ts KAFKA_LAG; its metric name is not verified, see docs/deploy.md).
   */
  consumerLag?: { instanceId: pulumi.Input<string>; consumerGroup: pulumi.Input<string>; threshold: number };
}

export class PipelineAlarms extends pulumi.ComponentResource {
  readonly alarmNames: string[] = [];

  constructor(name: string, args: PipelineAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:PipelineAlarms", name, {}, opts);
    const c = args.config;
    for (const [kind, fnName] of Object.entries(args.functionNames)) {
      for (const { key, threshold: which } of ALARMED_METRICS) {
        const metric = FC_METRICS[key].function;
        const alarmName = `${name}-${kind}-${metric}`;
        new alicloud.cms.Alarm(alarmName, {
          name: pulumi.interpolate`${fnName} ${metric}`,
          project: FC_NAMESPACE,
          metric,
          metricDimensions: pulumi.output(fnName).apply((functionName) => JSON.stringify([fcDimensions(args.region, functionName)])),
          period: c.periodSeconds,
          contactGroups: c.contactGroups,
          enabled: c.enabled,
          escalationsCritical: {
            statistics: FC_METRICS[key].statistic,
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
    if (args.consumerLag) {
      const l = args.consumerLag;
      const alarmName = `${name}-kafka-consumer-lag`;
      new alicloud.cms.Alarm(alarmName, {
        name: pulumi.interpolate`${l.consumerGroup} consumer lag`,
        project: KAFKA_NAMESPACE,
        metric: KAFKA_LAG.metric,
        metricDimensions: pulumi.all([l.instanceId, l.consumerGroup]).apply(([i, g]) => JSON.stringify([kafkaLagDimensions(i, g)])),
        period: c.periodSeconds,
        contactGroups: c.contactGroups,
        enabled: c.enabled,
        escalationsCritical: { statistics: KAFKA_LAG.statistic, comparisonOperator: ">=", threshold: String(l.threshold), times: c.times },
        silenceTime: 3600,
        tags: args.tags,
      }, { parent: this });
      this.alarmNames.push(alarmName);
    }
    this.registerOutputs({ alarms: this.alarmNames.length });
  }
}

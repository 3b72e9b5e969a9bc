/**
 * KafkaTrigger: the split function's `eventbridge` trigger in event-streaming mode, reading the
 * topic through the VPC, batching by count and time, with concurrency, retry strategy, error
 * tolerance and dead-letter queue from stack config. Targets the `live` alias.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { TriggerConfig } from "./config.js";
import { LIVE_ALIAS } from "./pipeline-function.js";

export interface KafkaTriggerArgs {
  functionName: pulumi.Input<string>;
  /** alias the trigger invokes (default `live`) */
  qualifier?: string;
  config: TriggerConfig;
  region: string;
  kafka: { instanceId: pulumi.Input<string>; topic: pulumi.Input<string>; consumerGroup: pulumi.Input<string>; offsetReset: "earliest" | "latest" };
  network: { vpcId: pulumi.Input<string>; vswitchIds: pulumi.Input<string[]>; securityGroupId: pulumi.Input<string> };
  deadLetterArn: pulumi.Input<string>;
}

/**
 * The trigger's config document. Field names and shapes, FC 3.0 API (checked 2026-12-01):
 *  - DeliveryOption has exactly `concurrency` (Kafka sources only) and `eventSchema`:
 *    https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-deliveryoption
 *  - RunOptions (mode, batchWindow, retryStrategy, errorsTolerance, deadLetterQueue) — no maximumTasks:
 *    https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-runoptions
 *  - SourceKafkaParameters.VSwitchIds is a string holding one vSwitch id (the docs' example,
 *    "vsw-bp179l3llg3jjxwrq72****"); `Network: PublicNetwork` means "through this VPC":
 *    https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-sourcekafkaparameters
 */
export interface KafkaTriggerConfigDoc {
  triggerEnable: boolean;
  asyncInvocationType: boolean;
  eventRuleFilterPattern: string;
  eventSourceConfig: {
    eventSourceType: "Kafka";
    eventSourceParameters: {
      sourceKafkaParameters: {
        RegionId: string; InstanceId: string; Topic: string; ConsumerGroup: string; OffsetReset: string;
        Network: "PublicNetwork"; VpcId: string; VSwitchIds: string; SecurityGroupId: string;
      };
    };
  };
  eventSinkConfig: { deliveryOption: { concurrency: number; eventSchema: "CloudEvents" | "RawData" } };
  runOptions: {
    mode: "event-streaming";
    batchWindow: { CountBasedWindow: number; TimeBasedWindow: number };
    retryStrategy: { PushRetryStrategy: string };
    errorsTolerance: string;
    deadLetterQueue: { Arn: string };
  };
}

/** Pure: the trigger's JSON config. The event source reads through the first vSwitch. */
export function kafkaTriggerConfig(
  c: TriggerConfig,
  region: string,
  k: { instanceId: string; topic: string; consumerGroup: string; offsetReset: string },
  n: { vpcId: string; vswitchIds: string[]; securityGroupId: string },
  deadLetterArn: string,
): KafkaTriggerConfigDoc {
  if (n.vswitchIds.length === 0) throw new Error("KafkaTrigger: at least one vSwitch is required");
  return {
    triggerEnable: true,
    asyncInvocationType: false, // sync: the batch is acknowledged only when split has handed every chunk on
    eventRuleFilterPattern: "{}",
    eventSourceConfig: {
      eventSourceType: "Kafka",
      eventSourceParameters: {
        sourceKafkaParameters: {
          RegionId: region,
          InstanceId: k.instanceId,
          Topic: k.topic,
          ConsumerGroup: k.consumerGroup,
          OffsetReset: k.offsetReset,
          Network: "PublicNetwork",
          VpcId: n.vpcId,
          VSwitchIds: n.vswitchIds[0]!,
          SecurityGroupId: n.securityGroupId,
        },
      },
    },
    eventSinkConfig: { deliveryOption: { concurrency: c.deliveryConcurrency, eventSchema: c.eventSchema } },
    runOptions: {
      mode: "event-streaming",
      batchWindow: { CountBasedWindow: c.batchCount, TimeBasedWindow: c.batchWindowSeconds },
      retryStrategy: { PushRetryStrategy: c.retryStrategy },
      errorsTolerance: c.errorsTolerance,
      deadLetterQueue: { Arn: deadLetterArn },
    },
  };
}

export class KafkaTrigger extends pulumi.ComponentResource {
  readonly triggerName: pulumi.Output<string>;
  readonly triggerConfig: pulumi.Output<string>;

  constructor(name: string, args: KafkaTriggerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:KafkaTrigger", name, {}, opts);
    this.triggerConfig = pulumi
      .all([args.kafka.instanceId, args.kafka.topic, args.kafka.consumerGroup, args.network.vpcId, args.network.vswitchIds, args.network.securityGroupId, args.deadLetterArn])
      .apply(([instanceId, topic, consumerGroup, vpcId, vswitchIds, securityGroupId, dlq]) =>
        JSON.stringify(kafkaTriggerConfig(args.config, args.region, { instanceId, topic, consumerGroup, offsetReset: args.kafka.offsetReset }, { vpcId, vswitchIds, securityGroupId }, dlq)),
      );
    const trigger = new alicloud.fc.V3Trigger(`${name}-trigger`, {
      functionName: args.functionName,
      qualifier: args.qualifier ?? LIVE_ALIAS,
      triggerName: "kafka",
      triggerType: "eventbridge",
      triggerConfig: this.triggerConfig,
      description: "Kafka topic → split (event streaming)",
    }, { parent: this, deleteBeforeReplace: true }); // fixed trigger name: a replacement must not collide with the old one
    this.triggerName = trigger.triggerName;
    this.registerOutputs({ triggerName: this.triggerName });
  }
}

/**
 * KafkaSource: the topic logpipe consumes and its consumer group, on an existing ApsaraMQ for
 * Kafka instance (prod) or on a small one created here (dev).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { KafkaConfig } from "./config.js";
import { statefulOptions, type Tags } from "./util.js";

export interface KafkaSourceArgs {
  namePrefix: string;
  config: KafkaConfig;
  vpcId: pulumi.Input<string>;
  vswitchIds: pulumi.Input<string[]>;
  securityGroupId: pulumi.Input<string>;
  /** CIDRs the event stream connects from (the vSwitches) */
  vswitchCidrs: string[];
  /** protect + retain a created topic and consumer group (records, committed offsets) */
  protect: boolean;
  tags: Tags;
}

export class KafkaSource extends pulumi.ComponentResource {
  readonly instanceId: pulumi.Output<string>;
  readonly topic: pulumi.Output<string>;
  readonly consumerGroup: pulumi.Output<string>;

  constructor(name: string, args: KafkaSourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:KafkaSource", name, {}, opts);
    const { config } = args;
    if (config.createInstance) {
      const c = config.createInstance;
      const instance = new alicloud.alikafka.Instance(`${name}-instance`, {
        name: `${args.namePrefix}-kafka`,
        deployType: 5, // VPC access only
        diskType: c.diskType,
        diskSize: c.diskSize,
        ioMaxSpec: c.ioMaxSpec,
        specType: c.specType,
        partitionNum: c.partitionNum,
        paidType: "PostPaid",
        vpcId: args.vpcId,
        vswitchId: pulumi.output(args.vswitchIds).apply((ids) => ids[0]!),
        securityGroup: args.securityGroupId,
        tags: args.tags,
      }, { parent: this });
      this.instanceId = instance.id;
    } else {
      this.instanceId = pulumi.output(config.instanceId!);
    }
    if (config.allowVswitches) {
      args.vswitchCidrs.forEach((cidr, i) => new alicloud.alikafka.InstanceAllowedIpAttachment(`${name}-allow-${i}`, {
        instanceId: this.instanceId,
        allowedType: "vpc",
        portRange: "9092/9092",
        allowedIp: cidr,
      }, { parent: this }));
    }
    if (config.createTopic) {
      const topic = new alicloud.alikafka.Topic(`${name}-topic`, {
        instanceId: this.instanceId,
        topic: config.topic,
        partitionNum: config.partitions,
        localTopic: false,
        remark: "application logs archived by logpipe",
        tags: args.tags,
      }, { parent: this, ...statefulOptions(args.protect) });
      this.topic = topic.topic;
    } else {
      this.topic = pulumi.output(config.topic);
    }
    if (config.createConsumerGroup) {
      const group = new alicloud.alikafka.ConsumerGroup(`${name}-group`, {
        instanceId: this.instanceId,
        consumerId: config.consumerGroup,
        remark: "logpipe split trigger",
        tags: args.tags,
      }, { parent: this, ...statefulOptions(args.protect) }); // holds the trigger's committed offsets
      this.consumerGroup = group.consumerId;
    } else {
      this.consumerGroup = pulumi.output(config.consumerGroup);
    }
    this.registerOutputs({ instanceId: this.instanceId, topic: this.topic, consumerGroup: this.consumerGroup });
  }
}

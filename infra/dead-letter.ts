/**
 * DeadLetterQueue: an MNS queue that receives what the pipeline gives up on — Kafka trigger
 * batches that exhausted their retries, and async compress invocations that failed for good
 * (the upload function's reconciler also re-drives their staging chunks from NAS).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { DeadLetterConfig } from "./config.js";
import { arn, statefulOptions, type Tags } from "./util.js";

export interface DeadLetterQueueArgs {
  namePrefix: string;
  config: DeadLetterConfig;
  region: string;
  accountId: pulumi.Input<string>;
  /** protect + retain the queue (it holds dead-lettered records) */
  protect: boolean;
  tags: Tags;
}

export class DeadLetterQueue extends pulumi.ComponentResource {
  readonly queueName: pulumi.Output<string>;
  /** ARN form EventBridge's deadLetterQueue expects */
  readonly queueArn: pulumi.Output<string>;
  /** ARN form FC async-invoke destinations expect */
  readonly messagesArn: pulumi.Output<string>;

  constructor(name: string, args: DeadLetterQueueArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:DeadLetterQueue", name, {}, opts);
    const queueName = args.config.queueName ?? `${args.namePrefix}-dlq`;
    if (args.config.create) {
      const q = new alicloud.message.ServiceQueue(`${name}-queue`, {
        queueName,
        messageRetentionPeriod: args.config.messageRetentionSeconds,
        maximumMessageSize: 65536,
        tags: args.tags,
      }, { parent: this, ...statefulOptions(args.protect) });
      this.queueName = q.queueName;
    } else {
      this.queueName = pulumi.output(queueName);
    }
    this.queueArn = pulumi.all([args.accountId, this.queueName]).apply(([acct, q]) => arn.mnsQueue(args.region, acct, q));
    this.messagesArn = pulumi.all([args.accountId, this.queueName]).apply(([acct, q]) => arn.mnsQueueMessages(args.region, acct, q));
    this.registerOutputs({ queueName: this.queueName, queueArn: this.queueArn });
  }
}

/** TimerTrigger: runs the upload function (seal, upload, reconcile) on a schedule, via `live`. */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { LIVE_ALIAS } from "./pipeline-function.js";

export interface TimerTriggerArgs {
  functionName: pulumi.Input<string>;
  qualifier?: string;
  /** "@every 1m" or "CRON_TZ=Asia/Shanghai 0 *\/5 * * * *" */
  cronExpression: string;
  payload?: string;
}

export function timerTriggerConfig(cronExpression: string, payload = ""): { cronExpression: string; enable: boolean; payload: string } {
  if (!/^(@every \d+[smh]|(CRON_TZ=\S+ )?\S+ \S+ \S+ \S+ \S+ \S+)$/.test(cronExpression)) {
    throw new Error(`TimerTrigger: cronExpression "${cronExpression}" is neither "@every <n>m" nor a 6-field cron`);
  }
  return { cronExpression, enable: true, payload };
}

export class TimerTrigger extends pulumi.ComponentResource {
  readonly triggerName: pulumi.Output<string>;

  constructor(name: string, args: TimerTriggerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:TimerTrigger", name, {}, opts);
    const trigger = new alicloud.fc.V3Trigger(`${name}-trigger`, {
      functionName: args.functionName,
      qualifier: args.qualifier ?? LIVE_ALIAS,
      triggerName: "timer",
      triggerType: "timer",
      triggerConfig: JSON.stringify(timerTriggerConfig(args.cronExpression, args.payload)),
      description: "seal, upload and reconcile",
    }, { parent: this, deleteBeforeReplace: true }); // fixed trigger name
    this.triggerName = trigger.triggerName;
    this.registerOutputs({ triggerName: this.triggerName });
  }
}

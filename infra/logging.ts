/**
 * FunctionLogs: the SLS project and logstore the three functions write their logs to, with a
 * full-text index so the FC console and `logpipe` can query them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { LoggingConfig } from "./config.js";
import type { Tags } from "./util.js";

export interface FunctionLogsArgs {
  projectName: pulumi.Input<string>;
  config: LoggingConfig;
  tags: Tags;
}

export const LOGSTORE = "functions";

export class FunctionLogs extends pulumi.ComponentResource {
  readonly project: pulumi.Output<string>;
  readonly logstore: pulumi.Output<string>;

  constructor(name: string, args: FunctionLogsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:FunctionLogs", name, {}, opts);
    const project = new alicloud.log.Project(`${name}-project`, { projectName: args.projectName, description: "logpipe function logs", tags: args.tags }, { parent: this });
    const store = new alicloud.log.Store(`${name}-store`, {
      projectName: project.projectName,
      logstoreName: LOGSTORE,
      retentionPeriod: args.config.retentionDays,
      shardCount: 2,
      autoSplit: true,
      maxSplitShardCount: 16,
      appendMeta: true,
    }, { parent: this, retainOnDelete: true }); // function logs outlive the stack (the investigation after an incident needs them)
    new alicloud.log.StoreIndex(`${name}-index`, {
      project: project.projectName,
      logstore: store.logstoreName,
      fullText: { caseSensitive: false, token: ", '\";=()[]{}?@&<>/:\n\t\r" },
    }, { parent: this });
    this.project = project.projectName;
    this.logstore = store.logstoreName;
    this.registerOutputs({ project: this.project, logstore: this.logstore });
  }
}

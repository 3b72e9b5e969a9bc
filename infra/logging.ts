/**
 * FunctionLogs: the SLS project and logstore the three functions write their logs to, with a
 * full-text index so the FC console and `logpipe` can query them, and an analytic field index on
 * `message` (the stdout line, JSON) so the canary gate's signal SQL (infra/fc-metrics.ts
 * signalSql: json_extract_scalar(message, ...)) can run.
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

const TOKEN = ", '\";=()[]{}?@&<>/:\n\t\r";

/**
 * Field indexes the functions' lines need for analytics. SLS runs the SQL after `|` only on fields
 * indexed with analytics on ("doc_value"); the full-text index alone serves the search part.
 * Provider fields (alicloud.log.StoreIndex `fieldSearches[].name/type/enableAnalytics/token`,
 * `maxTextLen`; `type` defaults to "long", so "text" is set): Pulumi registry, alicloud
 * log.StoreIndex, https://www.pulumi.com/registry/packages/alicloud/api-docs/log/storeindex/
 * (checked 2026-12-01). SLS index semantics (type text/json/double/long, doc_value = analytics,
 * max_text_len 64..16384 bytes, default 2048, the longest field value kept):
 * https://www.alibabacloud.com/help/en/sls/developer-reference/api-getindex and
 * https://www.alibabacloud.com/help/en/sls/developer-reference/api-createindex (checked 2026-12-01).
 * A line longer than the kept length reaches the SQL cut short (its JSON unreadable, its metrics
 * lost), so the maximum is kept.
 */
export const ANALYTIC_FIELDS = [{ name: "message", type: "text" }] as const;
export const MAX_TEXT_LEN = 16384;

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
      fullText: { caseSensitive: false, token: TOKEN },
      fieldSearches: ANALYTIC_FIELDS.map((f) => ({ name: f.name, type: f.type, enableAnalytics: true, caseSensitive: false, token: TOKEN })),
      maxTextLen: MAX_TEXT_LEN,
    }, { parent: this });
    this.project = project.projectName;
    this.logstore = store.logstoreName;
    this.registerOutputs({ project: this.project, logstore: this.logstore });
  }
}

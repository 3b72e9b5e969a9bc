/**
 * CompressAsyncConfig: how FC retries the asynchronous split → compress hand-off, and where an
 * invocation that still fails goes (the dead-letter queue). Applies to the `live` alias, which
 * is what split invokes (`LOGPIPE_COMPRESS_FUNCTION = <compress>:live`).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { CompressAsyncConfig as Config } from "./config.js";
import { LIVE_ALIAS } from "./pipeline-function.js";

export interface CompressAsyncConfigArgs {
  functionName: pulumi.Input<string>;
  qualifier?: string;
  config: Config;
  onFailureDestination: pulumi.Input<string>;
}

export class CompressAsyncConfig extends pulumi.ComponentResource {
  constructor(name: string, args: CompressAsyncConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:CompressAsyncConfig", name, {}, opts);
    new alicloud.fc.V3AsyncInvokeConfig(`${name}-async`, {
      functionName: args.functionName,
      qualifier: args.qualifier ?? LIVE_ALIAS,
      maxAsyncRetryAttempts: args.config.maxRetryAttempts,
      maxAsyncEventAgeInSeconds: args.config.maxEventAgeSeconds,
      destinationConfig: { onFailure: { destination: args.onFailureDestination } },
    }, { parent: this });
    this.registerOutputs({});
  }
}

/**
 * PipelineFunction: one FC 3.0 function with grey release.
 *  - the function ($LATEST) carries the newest code of the release (canary when set, else stable);
 *  - one `V3FunctionVersion` per digest in the release, named after the digest and kept when it
 *    leaves the config (`retainOnDelete`), so the stable version survives a canary's removal and
 *    rollbacks/promotions never republish;
 *  - alias `live` = stable version + `additionalVersionWeight {canaryVersion: canaryWeight}`.
 * Triggers and async configs target `live`, never $LATEST.
 *
 * A version snapshots the function's code when it is published, so a digest must be the
 * function's code the first time its version is created: add a canary to a stack whose stable
 * version already exists (that is how `logpipe canary` works), never both on a new stack.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { Digest, FunctionKind, FunctionRelease } from "./config.js";
import { releaseDigests } from "./config.js";
import { shortDigest } from "./artifacts.js";

export const LIVE_ALIAS = "live";
export const RUNTIME = "nodejs20";
export const HANDLER = "index.handler";

type FunctionCode = alicloud.types.input.fc.V3FunctionCode;

export interface PipelineFunctionArgs
  extends Omit<alicloud.fc.V3FunctionArgs, "code" | "functionName" | "handler" | "runtime" | "description"> {
  kind: FunctionKind;
  functionName: string;
  release: FunctionRelease;
  /** code input for a digest */
  codeFor: (digest: Digest) => pulumi.Input<FunctionCode>;
}

/** Pure: which digest $LATEST carries and the alias routing for a release. */
export function aliasPlan(release: FunctionRelease): { latest: Digest; stable: Digest; canary?: Digest; canaryWeight: number } {
  if (release.canary !== undefined) {
    const w = release.canaryWeight ?? 0;
    if (!(w >= 0 && w <= 1)) throw new Error(`canaryWeight ${w} is outside [0, 1]`);
    return { latest: release.canary, stable: release.stable, canary: release.canary, canaryWeight: w };
  }
  return { latest: release.stable, stable: release.stable, canaryWeight: 0 };
}

export class PipelineFunction extends pulumi.ComponentResource {
  readonly functionName: pulumi.Output<string>;
  readonly functionArn: pulumi.Output<string>;
  /** digest → published version id */
  readonly versionIds: Record<Digest, pulumi.Output<string>>;
  readonly stableDigest: Digest;
  readonly stableVersionId: pulumi.Output<string>;
  readonly aliasName: pulumi.Output<string>;
  readonly aliasVersionId: pulumi.Output<string>;
  readonly additionalVersionWeight: pulumi.Output<Record<string, number>>;
  /** `<name>:live` */
  readonly qualifiedName: pulumi.Output<string>;

  constructor(name: string, args: PipelineFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:PipelineFunction", name, {}, opts);
    const { kind, functionName, release, codeFor, ...fnArgs } = args;
    const plan = aliasPlan(release);
    const fn = new alicloud.fc.V3Function(`${name}-fn`, {
      ...fnArgs,
      functionName,
      runtime: RUNTIME,
      handler: HANDLER,
      code: codeFor(plan.latest),
      // The digest in the description makes every code change a visible update of the function.
      description: `logpipe ${kind} ${plan.latest}`,
    }, { parent: this });

    this.versionIds = {};
    const versions = new Map<Digest, alicloud.fc.V3FunctionVersion>();
    for (const digest of releaseDigests(release)) {
      const v = new alicloud.fc.V3FunctionVersion(`${name}-v-${shortDigest(digest)}`, {
        functionName,
        description: `logpipe ${kind} ${digest}`,
      }, { parent: this, dependsOn: [fn], retainOnDelete: true });
      versions.set(digest, v);
      this.versionIds[digest] = v.versionId;
    }
    const stable = versions.get(plan.stable)!;
    const canary = plan.canary ? versions.get(plan.canary)! : undefined;
    const weights: pulumi.Output<Record<string, number>> = canary
      ? canary.versionId.apply((id) => ({ [id]: plan.canaryWeight }))
      : pulumi.output({} as Record<string, number>);
    const alias = new alicloud.fc.V3Alias(`${name}-live`, {
      functionName,
      aliasName: LIVE_ALIAS,
      versionId: stable.versionId,
      additionalVersionWeight: weights,
      description: canary ? `stable ${plan.stable}, canary ${plan.canary} at ${plan.canaryWeight}` : `stable ${plan.stable}`,
    }, { parent: this, dependsOn: [...versions.values()] });

    this.functionName = fn.functionName;
    this.functionArn = fn.functionArn;
    this.stableDigest = plan.stable;
    this.stableVersionId = stable.versionId;
    this.aliasName = alias.aliasName;
    this.aliasVersionId = alias.versionId.apply((v) => v ?? "");
    this.additionalVersionWeight = alias.additionalVersionWeight.apply((w) => ({ ...(w ?? {}) }));
    this.qualifiedName = pulumi.interpolate`${fn.functionName}:${LIVE_ALIAS}`;
    this.registerOutputs({ functionName: this.functionName, versionIds: this.versionIds, aliasName: this.aliasName, aliasVersionId: this.aliasVersionId });
  }
}

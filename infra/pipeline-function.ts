/**
 * PipelineFunction: one FC 3.0 function with grey release.
 *  - the function ($LATEST) carries the newest code of the release (canary when set, else stable);
 *  - a version freezes $LATEST's code *and* configuration (environment, VPC, NAS, role, runtime,
 *    handler, sizes, logging) when it is published. Each version's description carries
 *    `cfg:<hash>`, a hash of the digest and everything a version freezes, and a change of the
 *    description replaces the version, so any change of frozen config publishes a new version
 *    (old ones are kept: `retainOnDelete`) and `live` moves to it;
 *  - while a canary is in flight, stable is not republished (it would freeze the canary's code
 *    from $LATEST): the alias points at `stableVersionId`, the version that already runs it;
 *  - alias `live` = stable version + `additionalVersionWeight {canaryVersion: canaryWeight}`.
 * Triggers and async configs target `live`, never $LATEST.
 * Versions: https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/manage-versions (checked 2026-12-01).
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { Digest, FunctionKind, FunctionRelease } from "./config.js";
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
export function aliasPlan(release: FunctionRelease): { latest: Digest; stable: Digest; stableVersionId?: string; canary?: Digest; canaryWeight: number } {
  if (release.canary !== undefined) {
    const w = release.canaryWeight ?? 0;
    if (!(w >= 0 && w <= 1)) throw new Error(`canaryWeight ${w} is outside [0, 1]`);
    if (release.stableVersionId === undefined) throw new Error(`a canary needs stableVersionId (the version that already runs ${release.stable})`);
    return { latest: release.canary, stable: release.stable, stableVersionId: release.stableVersionId, canary: release.canary, canaryWeight: w };
  }
  return { latest: release.stable, stable: release.stable, canaryWeight: 0 };
}

/** JSON with sorted keys: the same config hashes the same however it was built. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v as object).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v ?? null);
}

/** Pure: the 16-hex hash naming what a version freezes (digest + frozen configuration). */
export function frozenConfigHash(digest: Digest, frozen: Record<string, unknown>): string {
  return createHash("sha256").update(stableJson({ digest, frozen })).digest("hex").slice(0, 16);
}

/** The version description: `logpipe <kind> <digest> cfg:<hash>`. */
export function versionDescription(kind: FunctionKind, digest: Digest, hash: string): string {
  return `logpipe ${kind} ${digest} cfg:${hash}`;
}

/** Function inputs a published version freezes (everything but code, name and tags). */
export const FROZEN_INPUTS = [
  "runtime", "handler", "memorySize", "cpu", "diskSize", "timeout", "instanceConcurrency", "internetAccess",
  "role", "vpcConfig", "nasConfig", "logConfig", "environmentVariables", "layers", "customDns", "instanceLifecycleConfig",
] as const;

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

  /** digest → the hash in its version's description (a secret-free Output) */
  readonly configHashes: Record<Digest, pulumi.Output<string>>;

  constructor(name: string, args: PipelineFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:PipelineFunction", name, {}, opts);
    const { kind, functionName, release, codeFor, ...fnArgs } = args;
    const plan = aliasPlan(release);
    const fnInputs = { ...fnArgs, functionName, runtime: RUNTIME, handler: HANDLER };
    const fn = new alicloud.fc.V3Function(`${name}-fn`, {
      ...fnInputs,
      code: codeFor(plan.latest),
      // The digest in the description makes every code change a visible update of the function.
      description: `logpipe ${kind} ${plan.latest}`,
    }, { parent: this, deleteBeforeReplace: true }); // fixed function name

    // What a version published now would freeze. Secrets (the Redis password) are hashed, and
    // only the hash leaves the secret: a 64-bit prefix of SHA-256 over a random 24-char password.
    const frozen = pulumi.all(Object.fromEntries(FROZEN_INPUTS.map((k) => [k, (fnInputs as Record<string, unknown>)[k]])) as Record<string, pulumi.Input<unknown>>);

    this.versionIds = {};
    this.configHashes = {};
    const published = plan.canary ? [plan.canary] : [plan.stable];
    const versions = new Map<Digest, alicloud.fc.V3FunctionVersion>();
    for (const digest of published) {
      const hash = pulumi.unsecret(frozen.apply((f) => frozenConfigHash(digest, f as Record<string, unknown>)));
      const v = new alicloud.fc.V3FunctionVersion(`${name}-v-${shortDigest(digest)}`, {
        functionName,
        description: hash.apply((h) => versionDescription(kind, digest, h)),
      }, { parent: this, dependsOn: [fn], retainOnDelete: true, replaceOnChanges: ["description"] });
      versions.set(digest, v);
      this.versionIds[digest] = v.versionId;
      this.configHashes[digest] = hash;
    }
    const stableVersionId: pulumi.Output<string> = plan.stableVersionId !== undefined ? pulumi.output(plan.stableVersionId) : versions.get(plan.stable)!.versionId;
    if (plan.stableVersionId !== undefined) this.versionIds[plan.stable] = stableVersionId;
    const canary = plan.canary ? versions.get(plan.canary)! : undefined;
    const weights: pulumi.Output<Record<string, number>> = canary
      ? canary.versionId.apply((id) => ({ [id]: plan.canaryWeight }))
      : pulumi.output({} as Record<string, number>);
    const alias = new alicloud.fc.V3Alias(`${name}-live`, {
      functionName,
      aliasName: LIVE_ALIAS,
      versionId: stableVersionId,
      additionalVersionWeight: weights,
      description: canary ? `stable ${plan.stable}, canary ${plan.canary} at ${plan.canaryWeight}` : `stable ${plan.stable}`,
    }, { parent: this, dependsOn: [...versions.values()], deleteBeforeReplace: true });

    this.functionName = fn.functionName;
    this.functionArn = fn.functionArn;
    this.stableDigest = plan.stable;
    this.stableVersionId = stableVersionId;
    this.aliasName = alias.aliasName;
    this.aliasVersionId = alias.versionId.apply((v) => v ?? "");
    this.additionalVersionWeight = alias.additionalVersionWeight.apply((w) => ({ ...(w ?? {}) }));
    this.qualifiedName = pulumi.interpolate`${fn.functionName}:${LIVE_ALIAS}`;
    this.registerOutputs({ functionName: this.functionName, versionIds: this.versionIds, aliasName: this.aliasName, aliasVersionId: this.aliasVersionId });
  }
}

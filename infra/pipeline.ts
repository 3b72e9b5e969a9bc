/**
 * PipelineFunctions: the three functions (split → compress → upload) with their roles, VPC,
 * NAS mount, SLS logging, environment and grey-release aliases.
 *
 * Least privilege, per role (no `*` action or resource anywhere):
 *  - split:    invoke compress (async pointer hand-off); write its own logs. NAS is reached over
 *              the VPC mount, which needs no RAM permission.
 *  - compress: write its own logs; send to the dead-letter queue (its async failure destination).
 *  - upload:   put/get/list objects and manage multipart uploads under `<bucket>/<prefix>/` only;
 *              invoke compress (the reconciler re-drives orphaned staging chunks); write its logs.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { FUNCTION_KINDS, type Digest, type FunctionKind, type StackConfig } from "./config.js";
import type { CodeSource, ResolvedRelease } from "./artifacts.js";
import { functionEnv } from "./environment.js";
import { FunctionRole } from "./function-role.js";
import { PipelineFunction } from "./pipeline-function.js";
import { arn, type PolicyStatement, type Tags } from "./util.js";

export interface PipelineFunctionsArgs {
  config: StackConfig;
  release: ResolvedRelease;
  accountId: pulumi.Input<string>;
  network: { vpcId: pulumi.Input<string>; vswitchIds: pulumi.Input<string[]>; securityGroupId: pulumi.Input<string> };
  nas: { serverAddr: pulumi.Input<string>; mountDir: string; userId: number; groupId: number };
  redis: { url: pulumi.Input<string>; password: pulumi.Input<string> };
  archive: { bucketName: pulumi.Input<string>; prefix: string; internalEndpoint: string };
  logs: { project: pulumi.Input<string>; logstore: pulumi.Input<string> };
  deadLetter: { queueName: pulumi.Input<string> };
  /** uploads local artifacts to OSS when set (`logpipe:artifactStore`) */
  artifactStore?: { bucket: string; prefix: string };
  tags: Tags;
}

export function functionNameFor(cfg: Pick<StackConfig, "namePrefix">, kind: FunctionKind): string {
  return `${cfg.namePrefix}-${kind}`;
}

export class PipelineFunctions extends pulumi.ComponentResource {
  readonly functions: Record<FunctionKind, PipelineFunction>;
  readonly roles: Record<FunctionKind, FunctionRole>;

  constructor(name: string, args: PipelineFunctionsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:PipelineFunctions", name, {}, opts);
    const cfg = args.config;
    const region = cfg.region;
    const names = Object.fromEntries(FUNCTION_KINDS.map((k) => [k, functionNameFor(cfg, k)])) as Record<FunctionKind, string>;
    const compressQualified = `${names.compress}:live`;

    const logStatement: pulumi.Output<PolicyStatement> = pulumi
      .all([args.accountId, args.logs.project, args.logs.logstore])
      .apply(([acct, project, store]) => ({ Effect: "Allow" as const, Action: ["log:PostLogStoreLogs"], Resource: [arn.logstore(region, acct, project, store)] }));
    const invokeCompress: pulumi.Output<PolicyStatement> = pulumi.output(args.accountId).apply((acct) => ({
      Effect: "Allow" as const,
      Action: ["fc:InvokeFunction"],
      Resource: [arn.fcFunction(region, acct, names.compress), `${arn.fcFunction(region, acct, names.compress)}/*`],
    }));
    const sendDeadLetter: pulumi.Output<PolicyStatement> = pulumi.all([args.accountId, args.deadLetter.queueName]).apply(([acct, q]) => ({
      Effect: "Allow" as const,
      Action: ["mns:SendMessage"],
      Resource: [arn.mnsQueue(region, acct, q), arn.mnsQueueMessages(region, acct, q)],
    }));
    const archiveObjects: pulumi.Output<PolicyStatement[]> = pulumi.output(args.archive.bucketName).apply((bucket) => [
      {
        Effect: "Allow" as const,
        Action: ["oss:PutObject", "oss:GetObject", "oss:AbortMultipartUpload", "oss:ListParts"],
        Resource: [arn.ossObjects(bucket, args.archive.prefix)],
      },
      {
        Effect: "Allow" as const,
        Action: ["oss:ListObjects"],
        Resource: [arn.ossBucket(bucket)],
        Condition: { StringLike: { "oss:Prefix": [`${args.archive.prefix}/*`] } },
      },
    ]);
    const statements: Record<FunctionKind, pulumi.Input<PolicyStatement>[]> = {
      split: [invokeCompress, logStatement],
      compress: [logStatement, sendDeadLetter],
      upload: [archiveObjects.apply((s) => s[0]!), archiveObjects.apply((s) => s[1]!), invokeCompress, logStatement],
    };

    const codeFor = this.codeResolver(name, args.release, args.artifactStore);
    this.roles = {} as Record<FunctionKind, FunctionRole>;
    this.functions = {} as Record<FunctionKind, PipelineFunction>;
    for (const kind of FUNCTION_KINDS) {
      const size = cfg.functions[kind];
      const role = new FunctionRole(`${name}-${kind}-role`, {
        roleName: `${names[kind]}-role`,
        description: `logpipe ${kind} function (${cfg.stack})`,
        statements: statements[kind],
        tags: args.tags,
      }, { parent: this });
      this.roles[kind] = role;
      this.functions[kind] = new PipelineFunction(`${name}-${kind}`, {
        kind,
        functionName: names[kind],
        release: args.release.release[kind],
        codeFor,
        role: role.arn,
        memorySize: size.memorySize,
        cpu: size.cpu,
        diskSize: size.diskSize,
        timeout: size.timeoutSeconds,
        instanceConcurrency: size.instanceConcurrency,
        internetAccess: false,
        vpcConfig: { vpcId: args.network.vpcId, vswitchIds: args.network.vswitchIds, securityGroupId: args.network.securityGroupId },
        nasConfig: {
          userId: args.nas.userId,
          groupId: args.nas.groupId,
          mountPoints: [{ serverAddr: args.nas.serverAddr, mountDir: args.nas.mountDir, enableTls: false }],
        },
        logConfig: { project: args.logs.project, logstore: args.logs.logstore, enableRequestMetrics: true, enableInstanceMetrics: true, logBeginRule: "DefaultRegex" },
        environmentVariables: functionEnv(cfg, kind, {
          nasRoot: args.nas.mountDir,
          redisUrl: args.redis.url,
          redisPassword: args.redis.password,
          bucketName: args.archive.bucketName,
          ossEndpoint: args.archive.internalEndpoint,
          compressQualifiedName: compressQualified,
        }),
        tags: args.tags,
      }, { parent: this, dependsOn: [role] });
      if (size.reservedConcurrency !== undefined) {
        new alicloud.fc.V3ConcurrencyConfig(`${name}-${kind}-concurrency`, {
          functionName: this.functions[kind].functionName,
          reservedConcurrency: size.reservedConcurrency,
        }, { parent: this });
      }
    }
    this.registerOutputs({ functionNames: Object.fromEntries(FUNCTION_KINDS.map((k) => [k, this.functions[k].functionName])) });
  }

  /** digest → code input; local zips are inlined, or uploaded once to the artifact store. */
  private codeResolver(name: string, release: ResolvedRelease, store: PipelineFunctionsArgs["artifactStore"]) {
    const uploaded = new Map<Digest, alicloud.oss.BucketObject>();
    return (digest: Digest): pulumi.Input<alicloud.types.input.fc.V3FunctionCode> => {
      const src: CodeSource | undefined = release.sources.get(digest);
      if (!src) throw new Error(`no code source for ${digest}`);
      // FC checks the object's CRC-64 against `checksum` when it deploys the code.
      if (src.kind === "oss") return { ossBucketName: src.bucket, ossObjectName: src.object, checksum: src.crc64 };
      if (!store) return { zipFile: src.zip.toString("base64"), checksum: src.crc64 };
      let obj = uploaded.get(digest);
      if (!obj) {
        if (!src.file) throw new Error(`artifact ${digest} has no local file to upload to the artifact store (run logpipe build)`);
        obj = new alicloud.oss.BucketObject(`${name}-artifact-${digest.slice(7, 19)}`, {
          bucket: store.bucket,
          key: `${store.prefix.replace(/\/+$/, "")}/${digest}.zip`,
          source: src.file,
          contentType: "application/zip",
          serverSideEncryption: "AES256",
          acl: "private",
        }, { parent: this, retainOnDelete: true });
        uploaded.set(digest, obj);
      }
      return { ossBucketName: obj.bucket, ossObjectName: obj.key, checksum: src.crc64 };
    };
  }
}

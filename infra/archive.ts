/**
 * Archive: the OSS bucket the upload function writes `<prefix>/<app>/dt=…/hour=…/…` into.
 * Private ACL, public access blocked, server-side encryption on, and a lifecycle that moves
 * the archive prefix to IA, then Archive, then expires it (each step optional, from config),
 * and aborts multipart uploads that never completed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { ArchiveConfig } from "./config.js";
import type { Tags } from "./util.js";

export interface ArchiveArgs {
  config: ArchiveConfig;
  bucketName: pulumi.Input<string>;
  region: string;
  tags: Tags;
}

type LifecycleRule = alicloud.types.input.oss.BucketLifecycleRule;

/** Pure: the lifecycle rules for a prefix (validated ordering lives in the config schema). */
export function lifecycleRules(config: ArchiveConfig): LifecycleRule[] {
  const { iaAfterDays, archiveAfterDays, expireAfterDays, abortMultipartAfterDays } = config.lifecycle;
  const prefix = `${config.prefix}/`;
  const rules: LifecycleRule[] = [];
  const transitions = [
    ...(iaAfterDays !== undefined ? [{ days: iaAfterDays, storageClass: "IA" }] : []),
    ...(archiveAfterDays !== undefined ? [{ days: archiveAfterDays, storageClass: "Archive" }] : []),
  ];
  if (transitions.length > 0 || expireAfterDays !== undefined) {
    rules.push({
      id: "logpipe-tiering",
      enabled: true,
      prefix,
      ...(transitions.length > 0 ? { transitions } : {}),
      ...(expireAfterDays !== undefined ? { expirations: [{ days: expireAfterDays }] } : {}),
    });
  }
  rules.push({ id: "logpipe-abort-multipart", enabled: true, prefix, abortMultipartUploads: [{ days: abortMultipartAfterDays }] });
  return rules;
}

export class Archive extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly prefix: string;
  /** VPC endpoint the functions use */
  readonly internalEndpoint: string;

  constructor(name: string, args: ArchiveArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:Archive", name, {}, opts);
    const { config } = args;
    const bucket = new alicloud.oss.Bucket(`${name}-bucket`, {
      bucket: args.bucketName,
      storageClass: "Standard",
      redundancyType: config.redundancyType,
      serverSideEncryptionRule: {
        sseAlgorithm: config.encryption,
        ...(config.encryption === "KMS" ? { kmsMasterKeyId: config.kmsKeyId } : {}),
      },
      lifecycleRules: lifecycleRules(config),
      forceDestroy: config.forceDestroy,
      tags: args.tags,
    }, { parent: this, protect: !config.forceDestroy, retainOnDelete: !config.forceDestroy });
    new alicloud.oss.BucketAcl(`${name}-acl`, { bucket: bucket.bucket, acl: "private" }, { parent: this });
    new alicloud.oss.BucketPublicAccessBlock(`${name}-block-public`, { bucket: bucket.bucket, blockPublicAccess: true }, { parent: this });
    this.bucketName = bucket.bucket;
    this.prefix = config.prefix;
    this.internalEndpoint = `https://oss-${args.region}-internal.aliyuncs.com`;
    this.registerOutputs({ bucketName: this.bucketName, prefix: this.prefix, internalEndpoint: this.internalEndpoint });
  }
}

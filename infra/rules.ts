/**
 * logpipe's guardrails as pure functions over declared resources (`{type, name, inputs}`), shared
 * by the `@pulumi/policy` pack (infra/policy) and the tests. Each returns the violations found.
 */
import { isPrivateCidr } from "./config.js";
import { policyViolations, type PolicyDocument } from "./util.js";

export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

export interface Rule {
  name: string;
  description: string;
  /** `secretsMasked`: inputs come from a mock run where secrets read "[secret]" (the password check needs it). */
  check(resources: DeclaredResource[], opts?: { secretsMasked?: boolean }): string[];
}

/** Provider type tokens of the resources the rules (and the policy tests) look at. */
export const RESOURCE_TYPES = {
  bucket: "alicloud:oss/bucket:Bucket",
  bucketAcl: "alicloud:oss/bucketAcl:BucketAcl",
  publicBlock: "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock",
  redis: "alicloud:kvstore/instance:Instance",
  redisConn: "alicloud:kvstore/connection:Connection",
  policy: "alicloud:ram/policy:Policy",
  fn: "alicloud:fc/v3Function:V3Function",
  version: "alicloud:fc/v3FunctionVersion:V3FunctionVersion",
  alias: "alicloud:fc/v3Alias:V3Alias",
  trigger: "alicloud:fc/v3Trigger:V3Trigger",
  async: "alicloud:fc/v3AsyncInvokeConfig:V3AsyncInvokeConfig",
  role: "alicloud:ram/role:Role",
  attach: "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment",
  mount: "alicloud:nas/mountTarget:MountTarget",
  accessRule: "alicloud:nas/accessRule:AccessRule",
  alarm: "alicloud:cms/alarm:Alarm",
} as const;
const T = RESOURCE_TYPES;

const ofType = (rs: DeclaredResource[], t: string) => rs.filter((r) => r.type === t);
const isUnknownOrSecret = (v: unknown) => v === undefined || v === "[secret]";

export const RULES: Rule[] = [
  {
    name: "archive-bucket-private",
    description: "OSS buckets are private, encrypted, and block public access",
    check(rs) {
      const out: string[] = [];
      for (const b of ofType(rs, T.bucket)) {
        const name = b.inputs.bucket;
        if (b.inputs.acl !== undefined && b.inputs.acl !== "private") out.push(`${b.name}: acl ${b.inputs.acl}`);
        if (b.inputs.policy !== undefined) out.push(`${b.name}: has a bucket policy`);
        if (!["AES256", "KMS"].includes(b.inputs.serverSideEncryptionRule?.sseAlgorithm)) out.push(`${b.name}: no server-side encryption`);
        const acls = ofType(rs, T.bucketAcl).filter((a) => a.inputs.bucket === name);
        if (acls.length === 0 || acls.some((a) => a.inputs.acl !== "private")) out.push(`${b.name}: no private BucketAcl`);
        if (!ofType(rs, T.publicBlock).some((p) => p.inputs.bucket === name && p.inputs.blockPublicAccess === true)) out.push(`${b.name}: public access not blocked`);
      }
      return out;
    },
  },
  {
    name: "redis-vpc-only",
    description: "Redis has no public endpoint, a private whitelist, password auth and a secret password",
    check(rs, opts) {
      const out: string[] = [];
      for (const c of ofType(rs, T.redisConn)) out.push(`${c.name}: a public Redis connection string`);
      for (const r of ofType(rs, T.redis)) {
        if (r.inputs.enablePublic === true) out.push(`${r.name}: enablePublic`);
        const ips: string[] = r.inputs.securityIps ?? [];
        if (ips.length === 0) out.push(`${r.name}: empty whitelist`);
        for (const ip of ips) if (!isPrivateCidr(ip)) out.push(`${r.name}: whitelist entry ${ip} is not private`);
        if (r.inputs.vpcAuthMode !== "Open") out.push(`${r.name}: password authentication off (vpcAuthMode ${r.inputs.vpcAuthMode})`);
        if (opts?.secretsMasked && !isUnknownOrSecret(r.inputs.password)) out.push(`${r.name}: password is not a secret`);
      }
      return out;
    },
  },
  {
    name: "ram-policies-scoped",
    description: "no RAM policy grants a * action or a * resource",
    check(rs) {
      return ofType(rs, T.policy).flatMap((p) => {
        if (typeof p.inputs.policyDocument !== "string") return [];
        try {
          return policyViolations(JSON.parse(p.inputs.policyDocument) as PolicyDocument, p.name);
        } catch {
          return [`${p.name}: policy document is not JSON`];
        }
      });
    },
  },
  {
    name: "functions-in-vpc-with-nas",
    description: "every function runs in the VPC with the NAS mounted and no internet access",
    check(rs) {
      const out: string[] = [];
      for (const f of ofType(rs, T.fn)) {
        const vpc = f.inputs.vpcConfig ?? {};
        if (!vpc.vpcId || !(vpc.vswitchIds?.length > 0) || !vpc.securityGroupId) out.push(`${f.name}: not in a VPC`);
        const mounts = f.inputs.nasConfig?.mountPoints ?? [];
        if (mounts.length === 0 || mounts.some((m: any) => !m.serverAddr || !m.mountDir)) out.push(`${f.name}: NAS not mounted`);
        if (f.inputs.internetAccess !== false) out.push(`${f.name}: internet access not disabled`);
        if (!f.inputs.role) out.push(`${f.name}: no role`);
      }
      return out;
    },
  },
  {
    name: "invocations-target-live",
    description: "triggers and async-invoke configs target the alias live",
    check(rs) {
      return [...ofType(rs, T.trigger), ...ofType(rs, T.async)].filter((t) => t.inputs.qualifier !== "live").map((t) => `${t.name}: qualifier ${t.inputs.qualifier ?? "LATEST"}`);
    },
  },
  {
    name: "alias-weights-valid",
    description: "alias weights are in [0,1], sum to at most 1, and name versions of the same function",
    check(rs) {
      const out: string[] = [];
      const versionCount = new Map<string, number>();
      for (const v of ofType(rs, T.version)) versionCount.set(v.inputs.functionName, (versionCount.get(v.inputs.functionName) ?? 0) + 1);
      for (const a of ofType(rs, T.alias)) {
        const weights: Record<string, number> = a.inputs.additionalVersionWeight ?? {};
        let sum = 0;
        for (const [id, w] of Object.entries(weights)) {
          if (!(typeof w === "number" && w >= 0 && w <= 1)) out.push(`${a.name}: weight ${w} for version ${id} outside [0,1]`);
          if (id === a.inputs.versionId) out.push(`${a.name}: the canary version is the main version`);
          sum += typeof w === "number" ? w : 0;
        }
        if (sum > 1) out.push(`${a.name}: weights sum to ${sum}`);
        if ((versionCount.get(a.inputs.functionName) ?? 0) === 0) out.push(`${a.name}: no version is published for ${a.inputs.functionName}`);
      }
      return out;
    },
  },
];

export function checkAll(resources: DeclaredResource[], opts?: { secretsMasked?: boolean }): { rule: string; violation: string }[] {
  return RULES.flatMap((r) => r.check(resources, opts).map((violation) => ({ rule: r.name, violation })));
}

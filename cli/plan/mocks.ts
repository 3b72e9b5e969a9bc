/**
 * Pulumi mocks for running the logpipe program without the Pulumi engine or a cloud: every
 * resource is recorded with its inputs, and the provider-computed outputs the program reads
 * (ids, ARNs, domains, version ids) get stable fake values.
 */
import type * as pulumiTypes from "@pulumi/pulumi";
import type { MockOverrides } from "./types.js";

/** What a secret looks like inside mock inputs. */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const MASK = "[secret]";

export interface RecordedResource {
  type: string;
  name: string;
  urn?: string;
  custom: boolean;
  id: string;
  /** inputs as the program passed them (secrets still wrapped) */
  inputs: Record<string, unknown>;
}

export const MOCK_ACCOUNT_ID = "1234567890123456";
export const MOCK_REDIS_PASSWORD = "MockRedisPassw0rdAbCdEf12";

export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Removes secret wrappers (tests that inspect values). */
export function unwrapSecrets<T = unknown>(v: unknown): T {
  if (isSecretValue(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map((x) => unwrapSecrets(x)) as T;
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)])) as T;
  return v as T;
}

const SENSITIVE_KEY = /(password|secret|token|accesskey)/i;

/**
 * Masks secrets as "[secret]". A secret scalar is masked whole; a secret map (e.g. a function's
 * environment, secret because one entry is) keeps its structure and masks the leaves that are
 * known secret values or whose key names a credential.
 */
export function maskSecrets(v: unknown, known: Set<string>, inSecret = false, key = ""): unknown {
  if (isSecretValue(v)) {
    const inner = v.value;
    if (typeof inner === "object" && inner !== null) return maskSecrets(inner, known, true, key);
    return MASK;
  }
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x, known, inSecret, key));
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x, known, inSecret, k)]));
  if (typeof v === "string" && known.has(v)) return MASK;
  if (inSecret && SENSITIVE_KEY.test(key)) return MASK;
  return v;
}

function wholeSecretScalars(resources: RecordedResource[]): Set<string> {
  const out = new Set<string>([MOCK_REDIS_PASSWORD]);
  const walk = (v: unknown) => {
    if (isSecretValue(v)) {
      if (typeof v.value === "string") out.add(v.value);
      else walk(v.value);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) Object.values(v).forEach(walk);
  };
  resources.forEach((r) => walk(r.inputs));
  return out;
}

export function maskAll(resources: RecordedResource[]): { known: Set<string>; mask: (v: unknown) => unknown } {
  const known = wholeSecretScalars(resources);
  return { known, mask: (v) => maskSecrets(v, known) };
}

/** Fake provider outputs per resource type. */
function computed(type: string, name: string, inputs: Record<string, any>, state: { versionSeq: Map<string, number>; overrides: MockOverrides }): Record<string, unknown> {
  const region = "cn-hangzhou";
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      return { result: MOCK_REDIS_PASSWORD, bcryptHash: "mock" };
    case "alicloud:kvstore/instance:Instance":
      return { connectionDomain: state.overrides.redisHost ?? `r-${name}.redis.rds.aliyuncs.com`, privateIp: "10.0.0.10", port: inputs.port ?? 6379 };
    case "alicloud:nas/mountTarget:MountTarget":
      return { mountTargetDomain: `${name}-0000.${region}.nas.aliyuncs.com`, status: "Active" };
    case "alicloud:nas/accessGroup:AccessGroup":
      return { accessGroupName: inputs.accessGroupName };
    case "alicloud:fc/v3Function:V3Function":
      return { functionArn: `acs:fc:${region}:${MOCK_ACCOUNT_ID}:functions/${inputs.functionName}`, functionId: `${name}-fid` };
    case "alicloud:fc/v3FunctionVersion:V3FunctionVersion": {
      const fn = String(inputs.functionName);
      const next = (state.versionSeq.get(fn) ?? 0) + 1;
      state.versionSeq.set(fn, next);
      return { versionId: String(next) };
    }
    case "alicloud:fc/v3Trigger:V3Trigger":
      return { triggerId: `${name}-tid`, status: "Enabled" };
    case "alicloud:ram/role:Role":
      return { arn: `acs:ram::${MOCK_ACCOUNT_ID}:role/${String(inputs.roleName).toLowerCase()}`, roleId: `${name}-rid` };
    case "alicloud:oss/bucket:Bucket":
      return { intranetEndpoint: `oss-${region}-internal.aliyuncs.com`, extranetEndpoint: `oss-${region}.aliyuncs.com` };
    case "alicloud:alikafka/consumerGroup:ConsumerGroup":
      return { consumerId: inputs.consumerId };
    default:
      return {};
  }
}

export interface MockRecorder {
  resources: RecordedResource[];
  mocks: pulumiTypes.runtime.Mocks;
}

export function createMocks(overrides: MockOverrides = {}): MockRecorder {
  const resources: RecordedResource[] = [];
  const state = { versionSeq: new Map<string, number>(), overrides };
  const mocks: pulumiTypes.runtime.Mocks = {
    newResource(args) {
      const inputs = (args.inputs ?? {}) as Record<string, unknown>;
      const plain = unwrapSecrets<Record<string, any>>(inputs);
      const id = args.id || `${args.name}-id`;
      resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, id, inputs });
      return { id, state: { ...inputs, ...computed(args.type, args.name, plain, state) } };
    },
    call(args) {
      switch (args.token) {
        case "alicloud:index/getAccount:getAccount":
        case "alicloud:index/getCallerIdentity:getCallerIdentity":
          return { id: MOCK_ACCOUNT_ID, accountId: MOCK_ACCOUNT_ID };
        default:
          return {};
      }
    },
  };
  return { resources, mocks };
}

/** Object store the fault-suite processes share: a local directory or the OSS test server. */
import { LocalObjectStore } from "../../../functions/adapters/local-object-store.js";
import type { ObjectStore } from "../../../functions/adapters/object-store.js";
import { OssObjectStore } from "../../../functions/adapters/oss-store.js";

export type ObjectsSpec =
  | { kind: "local"; dir: string }
  | { kind: "oss"; endpoint: string; bucket: string; accessKeyId: string; accessKeySecret: string; partSize?: number; timeoutMs?: number; retries?: number };

export function objectStoreFrom(spec: ObjectsSpec): ObjectStore {
  if (spec.kind === "local") return new LocalObjectStore(spec.dir, { fsync: false });
  return new OssObjectStore({
    endpoint: spec.endpoint, bucket: spec.bucket, accessKeyId: spec.accessKeyId, accessKeySecret: spec.accessKeySecret,
    secure: false, pathStyle: true, partSize: spec.partSize ?? 100 * 1024, partConcurrency: 2,
    timeoutMs: spec.timeoutMs ?? 10_000, retries: spec.retries ?? 3, retryBaseDelayMs: 20, retryMaxDelayMs: 200,
  });
}


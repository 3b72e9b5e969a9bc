/**
 * Policy: every stack file validates, and invalid configuration fails at start with an error
 * that names the key and the expected form (never a silent default).
 */
import { describe, expect, it } from "vitest";
import { StackConfigError, artifactsSchema, parseStackConfig, releaseSchema, usageSchema } from "../../infra/config.js";
import { STACKS, rawStack } from "./helpers.js";

const D1 = `sha256:${"a".repeat(64)}`;
const D2 = `sha256:${"b".repeat(64)}`;

function errorOf(raw: Record<string, unknown>, stack = "test"): StackConfigError {
  try {
    parseStackConfig(raw, stack);
  } catch (e) {
    expect(e).toBeInstanceOf(StackConfigError);
    return e as StackConfigError;
  }
  throw new Error("expected the configuration to be rejected");
}

function keysOf(e: StackConfigError): string[] {
  return e.issues.map((i) => i.key);
}

describe("stack files", () => {
  for (const stack of STACKS) {
    it(`stacks/Pulumi.${stack}.yaml validates`, () => {
      const cfg = parseStackConfig(rawStack(stack), stack);
      expect(cfg.namePrefix).toBe(`logpipe-${stack}`);
      expect(cfg.region).toBe("cn-hangzhou");
    });
  }

  it("differ where they should: dev creates, prod adopts and pins", () => {
    const dev = parseStackConfig(rawStack("dev"), "dev");
    const prod = parseStackConfig(rawStack("prod"), "prod");
    expect(dev.network.create).toBeDefined();
    expect(dev.kafka.createInstance).toBeDefined();
    expect(dev.release).toBeUndefined(); // builds from source
    expect(prod.network.existing).toBeDefined();
    expect(prod.kafka.instanceId).toMatch(/^alikafka_/);
    expect(prod.release).toBeDefined();
    expect(prod.trigger.deliveryConcurrency).toBeGreaterThan(dev.trigger.deliveryConcurrency);
    expect(prod.archive.lifecycle.expireAfterDays!).toBeGreaterThan(dev.archive.lifecycle.expireAfterDays!);
    // prod runs exactly what staging runs as stable
    const staging = parseStackConfig(rawStack("staging"), "staging");
    for (const fn of ["split", "compress", "upload"] as const) expect(prod.release![fn].stable).toBe(staging.release![fn].stable);
    // every pinned digest resolves to an artifact location
    for (const fn of ["split", "compress", "upload"] as const) expect(prod.artifacts[prod.release![fn].stable]?.bucket).toBeTruthy();
  });

  it("accept structured values as JSON strings (the engine's PULUMI_CONFIG form)", () => {
    const raw = rawStack("prod");
    for (const [k, v] of Object.entries(raw)) if (typeof v === "object") raw[k] = JSON.stringify(v);
    expect(parseStackConfig(raw, "prod").trigger.batchCount).toBe(10000);
  });
});

describe("invalid configuration names the key", () => {
  const cases: [string, (raw: Record<string, any>) => void, string, RegExp][] = [
    ["batch count above the trigger's limit", (r) => (r["logpipe:trigger"].batchCount = 20000), "logpipe:trigger.batchCount", /1–10000/],
    ["batch window above 15 s", (r) => (r["logpipe:trigger"].batchWindowSeconds = 30), "logpipe:trigger.batchWindowSeconds", /0–15/],
    ["unknown retry strategy", (r) => (r["logpipe:trigger"].retryStrategy = "FOREVER"), "logpipe:trigger.retryStrategy", /BACKOFF_RETRY/],
    ["canary weight above 1", (r) => { r["logpipe:release"].split.canaryWeight = 1.5; }, "logpipe:release.split.canaryWeight", /0\.\.1/],
    ["canary weight below 0", (r) => { r["logpipe:release"].split.canaryWeight = -0.1; }, "logpipe:release.split.canaryWeight", /0\.\.1/],
    ["canary weight without canary", (r) => { r["logpipe:release"].compress.canaryWeight = 0.2; }, "logpipe:release.compress.canaryWeight", /canary is not/],
    ["digest not sha256", (r) => { r["logpipe:release"].upload.stable = "md5:abc"; }, "logpipe:release.upload.stable", /sha256:<64/],
    ["missing function in release", (r) => { delete r["logpipe:release"].upload; }, "logpipe:release.upload", /required/],
    ["artifact pin with bucket only", (r) => { const d = Object.keys(r["logpipe:artifacts"])[0]!; r["logpipe:artifacts"][d] = { bucket: "logpipe-artifacts-cnhz" }; }, "logpipe:artifacts.sha256:dfbd0648eaa6835a41d49335bd2476a3d751cb0b5cc2c3a24ebe4cb0f1c12cdd.object", /bucket and object go together/],
    ["OSS pin without FC's code checksum (defect 6)", (r) => { delete r["logpipe:artifacts"]["sha256:dfbd0648eaa6835a41d49335bd2476a3d751cb0b5cc2c3a24ebe4cb0f1c12cdd"].checksum; }, "logpipe:artifacts.sha256:dfbd0648eaa6835a41d49335bd2476a3d751cb0b5cc2c3a24ebe4cb0f1c12cdd.checksum", /required with bucket\/object.*logpipe publish/],
    ["checksum that is not a CRC-64", (r) => { r["logpipe:artifacts"]["sha256:dfbd0648eaa6835a41d49335bd2476a3d751cb0b5cc2c3a24ebe4cb0f1c12cdd"].checksum = "0xdead"; }, "logpipe:artifacts.sha256:dfbd0648eaa6835a41d49335bd2476a3d751cb0b5cc2c3a24ebe4cb0f1c12cdd.checksum", /CRC-64 of the zip as a decimal string/],
    ["canary without the deployed stable version (defect 5)", (r) => { r["logpipe:release"].split.canary = D1; r["logpipe:release"].split.canaryWeight = 0.1; }, "logpipe:release.split.canary", /cannot be realized without stableVersionId.*logpipe canary start/],
    ["stableVersionId without a canary", (r) => { r["logpipe:release"].split.stableVersionId = "3"; }, "logpipe:release.split.stableVersionId", /only goes with a canary/],
    ["old trigger key concurrency (defect 2)", (r) => { r["logpipe:trigger"].concurrency = 4; }, "logpipe:trigger.concurrency", /renamed to deliveryConcurrency.*deliveryOption\.concurrency.*no maximumTasks/],
    ["FC 2.0 key maximumTasks", (r) => { r["logpipe:trigger"].maximumTasks = 4; }, "logpipe:trigger.maximumTasks", /not an FC 3\.0 field/],
    ["Redis 7.0 on a classic class (defect 3)", (r) => { r["logpipe:redis"] = { instanceClass: "redis.master.mid.default", engineVersion: "7.0" }; }, "logpipe:redis.engineVersion", /7\.0 is not sold with the classic class redis\.master\.mid\.default.*cloud-native class such as redis\.shard\.small\.2\.ce/],
    ["Redis 4.0 on a cloud-native class", (r) => { r["logpipe:redis"] = { instanceClass: "redis.shard.small.2.ce", engineVersion: "4.0" }; }, "logpipe:redis.engineVersion", /not sold with the cloud-native class/],
    ["Redis cluster class", (r) => { r["logpipe:redis"] = { instanceClass: "redis.logic.sharding.2g.2db.0rodb.4proxy.default" }; }, "logpipe:redis.instanceClass", /standard \(non-cluster\)/],
    ["Redis persistence switched off", (r) => { r["logpipe:redis"].appendOnly = false; }, "logpipe:redis.appendOnly", /appendonly yes \+ appendfsync everysec/],
    ["reserved concurrency above the region quota (defect 4)", (r) => { r["logpipe:functions"].compress.reservedConcurrency = 200; }, "logpipe:functions.compress.reservedConcurrency", /200 exceeds 90, 90 % of the region's instance quota 100.*Quota Center/],
    ["reserved concurrency of all functions above the quota", (r) => { r["logpipe:functions"].split.reservedConcurrency = 50; r["logpipe:functions"].compress.reservedConcurrency = 50; }, "logpipe:functions", /all functions together is 100, more than 90/],
    ["instanceConcurrency > 1 on a standard runtime", (r) => { r["logpipe:functions"].compress.instanceConcurrency = 4; }, "logpipe:functions.compress.instanceConcurrency", /must be 1: FC 3\.0 standard runtimes/],
    ["network with both create and existing", (r) => { r["logpipe:network"].create = { vpcCidr: "10.0.0.0/16", vswitches: [{ zoneId: "cn-hangzhou-j", cidr: "10.0.1.0/24" }] }; }, "logpipe:network", /exactly one/],
    ["public vSwitch CIDR", (r) => { r["logpipe:network"].existing.vswitches[0].cidr = "8.8.8.0/24"; }, "logpipe:network.existing.vswitches[0].cidr", /private/],
    ["lifecycle out of order", (r) => { r["logpipe:archive"].lifecycle.archiveAfterDays = 10; }, "logpipe:archive.lifecycle.archiveAfterDays", /later than iaAfterDays/],
    ["KMS without key", (r) => { r["logpipe:archive"].encryption = "KMS"; }, "logpipe:archive.kmsKeyId", /required/],
    ["memory not a multiple of 64", (r) => { r["logpipe:functions"].split.memorySize = 1000; }, "logpipe:functions.split.memorySize", /multiple of 64/],
    ["cpu/memory ratio outside FC's rule", (r) => { r["logpipe:functions"].compress.memorySize = 16384; }, "logpipe:functions.compress.memorySize", /between 1 and 4/],
    ["bad app id source", (r) => { r["logpipe:pipeline"].appIdSource = "json:appId"; }, "logpipe:pipeline.appIdSource", /field:<path>/],
    ["bad seal size", (r) => { r["logpipe:pipeline"].sealBytes = "lots"; }, "logpipe:pipeline.sealBytes", /size like/],
    ["bad schedule", (r) => { r["logpipe:pipeline"].uploadSchedule = "every minute"; }, "logpipe:pipeline.uploadSchedule", /@every/],
    ["kafka with neither instance", (r) => { delete r["logpipe:kafka"].instanceId; }, "logpipe:kafka", /exactly one of instanceId/],
    ["usage with negative volume", (r) => { r["logpipe:usage"].gbPerDay = -1; }, "logpipe:usage.gbPerDay", /positive/],
    ["typo in a key", (r) => { r["logpipe:triger"] = { batchCount: 1 }; }, "logpipe:triger", /unknown key/],
    ["unknown field inside a key", (r) => { r["logpipe:trigger"].batchSize = 1; }, "logpipe:trigger", /unknown field.*batchSize/],
    ["missing region", (r) => { delete r["alicloud:region"]; }, "alicloud:region", /region id/],
    ["missing network", (r) => { delete r["logpipe:network"]; }, "logpipe:network", /required/],
  ];
  for (const [what, mutate, key, message] of cases) {
    it(`${what} → ${key}`, () => {
      const raw = rawStack("prod") as Record<string, any>;
      mutate(raw);
      const e = errorOf(raw);
      expect(keysOf(e)).toContain(key);
      const issue = e.issues.find((i) => i.key === key)!;
      expect(issue.message).toMatch(message);
      expect(e.message).toContain(key);
    });
  }

  it("reports every problem at once", () => {
    const raw = rawStack("prod") as Record<string, any>;
    raw["logpipe:trigger"].batchCount = 0;
    raw["logpipe:functions"].split.cpu = 0.33;
    expect(keysOf(errorOf(raw))).toEqual(expect.arrayContaining(["logpipe:trigger.batchCount", "logpipe:functions.split.cpu"]));
  });
});

describe("quota and raised quotas", () => {
  it("a raised quota (logpipe:quotas.regionInstances) admits more reserved concurrency", () => {
    const raw = rawStack("prod") as Record<string, any>;
    raw["logpipe:functions"].compress.reservedConcurrency = 200;
    raw["logpipe:quotas"] = { regionInstances: 300 };
    expect(parseStackConfig(raw, "prod").functions.compress.reservedConcurrency).toBe(200);
  });
});

describe("shared schemas (canary, promote, cost)", () => {
  it("release: canary with weight in [0,1], weight defaults to none", () => {
    const ok = releaseSchema.parse({ split: { stable: D1, stableVersionId: "4", canary: D2, canaryWeight: 0.25 }, compress: { stable: D1 }, upload: { stable: D2 } });
    expect(ok.split.canaryWeight).toBe(0.25);
    expect(releaseSchema.safeParse({ split: { stable: D1, canary: D1 }, compress: { stable: D1 }, upload: { stable: D1 } }).success).toBe(false);
    expect(releaseSchema.safeParse({ split: { stable: D1, extra: 1 }, compress: { stable: D1 }, upload: { stable: D1 } }).success).toBe(false);
  });
  it("artifacts: keys are digests", () => {
    expect(artifactsSchema.safeParse({ [D1]: { bucket: "logpipe-artifacts", object: "a.zip", checksum: "11051210869376104954" }, [D2]: {} }).success).toBe(true);
    expect(artifactsSchema.safeParse({ "split.zip": {} }).success).toBe(false);
  });
  it("usage: cpuSecondsPerGb optional", () => {
    expect(usageSchema.parse({ gbPerDay: 1, avgRecordBytes: 300, apps: 3, retentionDays: 30 }).cpuSecondsPerGb).toBeUndefined();
    expect(usageSchema.safeParse({ gbPerDay: 1, avgRecordBytes: 300, apps: 3 }).success).toBe(false);
  });
});

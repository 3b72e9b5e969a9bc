/**
 * What `pulumi up` would get wrong without these fixes, under mocks (planStack runs the program
 * with setMocks in a child process): a change of anything a version freezes publishes a new
 * version that `live` points to; stateful resources are protected and retained; fixed physical
 * names are deleted before they are replaced; the canary's target URNs exist.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { planStackDetailed, type PlannedResource } from "../../cli/plan/index.js";
import { RESOURCE_TYPES as T } from "../../infra/rules.js";
import { aliasRef, findUrn, functionRef, versionRef } from "../../infra/urns.js";
import { rawStack } from "./helpers.js";

type Plan = Awaited<ReturnType<typeof planStackDetailed>>;
const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-deployable-"));

function configFile(name: string, mutate: (raw: Record<string, any>) => void): string {
  const raw = rawStack("prod") as Record<string, any>;
  mutate(raw);
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ config: raw }));
  return file;
}

const plans: Record<"base" | "writers" | "redis" | "code", Plan> = {} as never;

beforeAll(async () => {
  const base = configFile("base", () => {});
  const writers = configFile("writers", (r) => (r["logpipe:pipeline"].maxWritersPerApp = 11));
  const code = configFile("code", (r) => {
    const d = `sha256:${"e".repeat(64)}`;
    r["logpipe:release"].compress.stable = d;
    r["logpipe:artifacts"][d] = { bucket: "logpipe-artifacts-cnhz", object: `logpipe/artifacts/${d}.zip`, checksum: "1" };
  });
  const [b, w, rd, c] = await Promise.all([
    planStackDetailed("prod", { configFile: base }),
    planStackDetailed("prod", { configFile: writers }),
    planStackDetailed("prod", { configFile: base, mockOverrides: { redisHost: "r-moved.redis.rds.aliyuncs.com" } }),
    planStackDetailed("prod", { configFile: code }),
  ]);
  Object.assign(plans, { base: b, writers: w, redis: rd, code: c });
}, 240_000);

const versionOf = (p: Plan, fn: string) => p.resources.filter((r) => r.type === T.version && r.inputs.functionName === `logpipe-prod-${fn}`);
const aliasOf = (p: Plan, fn: string) => p.resources.find((r) => r.type === T.alias && r.inputs.functionName === `logpipe-prod-${fn}`)!;
const fnOf = (p: Plan, fn: string) => p.resources.find((r) => r.type === T.fn && r.inputs.functionName === `logpipe-prod-${fn}`)!;

describe("a version is published whenever anything it freezes changes (defect 1)", () => {
  it("each version is replaced when its description changes, and kept when it leaves", () => {
    for (const v of plans.base.resources.filter((r) => r.type === T.version)) {
      expect(v.options).toMatchObject({ retainOnDelete: true, replaceOnChanges: ["description"] });
      expect(v.inputs.description).toMatch(/^logpipe (split|compress|upload) sha256:[0-9a-f]{64} cfg:[0-9a-f]{16}$/);
    }
  });

  it.each([
    ["logpipe:pipeline.maxWritersPerApp", "writers"],
    ["the Redis endpoint", "redis"],
  ] as const)("changing %s gives every function a new version description, and live points at that version", (_what, variant) => {
    for (const fn of ["split", "compress", "upload"]) {
      const [before] = versionOf(plans.base, fn);
      const [after] = versionOf(plans[variant], fn);
      // same logical resource (same digest), new description → the engine replaces it: a new version
      expect(after!.name).toBe(before!.name);
      expect(after!.inputs.description).not.toBe(before!.inputs.description);
      expect(after!.inputs.description!.toString().split(" cfg:")[0]).toBe(before!.inputs.description!.toString().split(" cfg:")[0]);
      // the alias routes everything to the version this program publishes (mock ids count per function)
      expect(aliasOf(plans[variant], fn).inputs).toMatchObject({ versionId: "1", additionalVersionWeight: {} });
      expect((plans[variant].outputs.artifacts as Record<string, { versionId: string }>)[fn]!.versionId).toBe("1");
    }
    // the change really reached the function's configuration
    if (variant === "writers") expect((fnOf(plans.writers, "split").inputs.environmentVariables as any).LOGPIPE_MAX_WRITERS_PER_APP).toBe("11");
    if (variant === "redis") expect((fnOf(plans.redis, "split").inputs.environmentVariables as any).LOGPIPE_REDIS_URL).toBe("redis://r-moved.redis.rds.aliyuncs.com:6379/0");
  });

  it("a code change names a new version resource; unchanged functions keep theirs", () => {
    expect(versionOf(plans.code, "compress")[0]!.name).not.toBe(versionOf(plans.base, "compress")[0]!.name);
    expect(versionOf(plans.code, "split")[0]!.inputs.description).toBe(versionOf(plans.base, "split")[0]!.inputs.description);
  });

  it("the Redis password is hashed into the description without leaking: no secret in any version", () => {
    for (const v of plans.base.resources.filter((r) => r.type === T.version)) expect(v.inputs.description).not.toContain("[secret]");
  });
});

describe("stateful resources keep their data (defect 7)", () => {
  const stateful: [string, string][] = [
    ["alicloud:nas/fileSystem:FileSystem", "NAS: chunks and files not yet uploaded"],
    ["alicloud:kvstore/instance:Instance", "Redis: commit protocol state"],
    ["alicloud:message/serviceQueue:ServiceQueue", "dead-lettered records"],
    ["alicloud:oss/bucket:Bucket", "the archive"],
    ["alicloud:alikafka/consumerGroup:ConsumerGroup", "the trigger's committed offsets"],
  ];
  it.each(stateful)("%s (%s) is protected and retained on delete in prod", (type) => {
    const rs = plans.base.resources.filter((r) => r.type === type);
    expect(rs.length, type).toBeGreaterThan(0);
    for (const r of rs) expect(r.options, r.name).toMatchObject({ protect: true, retainOnDelete: true });
  });

  it("the log store is retained; resources with fixed physical names are deleted before they are replaced", () => {
    expect(plans.base.resources.find((r) => r.type === "alicloud:log/store:Store")!.options).toMatchObject({ retainOnDelete: true });
    const fixedNames = ["alicloud:nas/accessGroup:AccessGroup", T.fn, T.alias, T.trigger, T.role, T.policy];
    for (const type of fixedNames) {
      const rs = plans.base.resources.filter((r: PlannedResource) => r.type === type);
      expect(rs.length, type).toBeGreaterThan(0);
      for (const r of rs) expect(r.options, `${type} ${r.name}`).toMatchObject({ deleteBeforeReplace: true });
    }
  });
});

describe("the canary's targets", () => {
  it("alias, function and version URNs match what the program registers", () => {
    const urns = plans.base.resources.map((r) => r.urn!);
    const digest = (plans.base.outputs.artifacts as Record<string, { digest: string }>).compress!.digest;
    const byUrn = (u: string | undefined) => plans.base.resources.find((r) => r.urn === u);
    expect(byUrn(findUrn(urns, aliasRef("compress")))).toMatchObject({ type: T.alias, inputs: { functionName: "logpipe-prod-compress" } });
    expect(byUrn(findUrn(urns, functionRef("compress")))).toMatchObject({ type: T.fn, inputs: { functionName: "logpipe-prod-compress" } });
    expect(byUrn(findUrn(urns, versionRef("compress", digest)))).toMatchObject({ type: T.version, inputs: { functionName: "logpipe-prod-compress" } });
    expect(findUrn(urns, aliasRef("split"))).not.toBe(findUrn(urns, aliasRef("compress")));
  });
});

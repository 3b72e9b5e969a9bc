/**
 * Grey release and artifact resolution, in-process under mocks (this file's own Pulumi runtime):
 * versions are kept when they leave the config (retainOnDelete), the function carries the
 * newest digest, pinned digests never rebuild and local files must match their digest.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { MOCK_REDIS_PASSWORD, createMocks, unwrapSecrets, type RecordedResource } from "../../cli/plan/mocks.js";
import { deterministicZip, digestOf } from "../../cli/build/zip.js";
import { parseStackConfig, StackConfigError } from "../../infra/config.js";
import { resolveRelease } from "../../infra/artifacts.js";
import { aliasPlan } from "../../infra/pipeline-function.js";
import { rawStack } from "./helpers.js";

const retained = new Map<string, boolean>();
const CANARY = `sha256:${"c".repeat(64)}`;

/** staging as `logpipe canary start` leaves it: split's canary next to the deployed stable version 7. */
function stagingWithCanary(): Record<string, unknown> {
  const raw = rawStack("staging") as Record<string, any>;
  raw["logpipe:release"].split = { ...raw["logpipe:release"].split, stableVersionId: "7", canary: CANARY, canaryWeight: 0.1 };
  raw["logpipe:artifacts"][CANARY] = { bucket: "logpipe-artifacts-cnhz", object: `logpipe/artifacts/${CANARY}.zip`, checksum: "42" };
  return raw;
}
let resources: RecordedResource[];

beforeAll(async () => {
  const m = createMocks();
  resources = m.resources;
  await pulumi.runtime.setMocks(m.mocks, "logpipe", "staging", false);
  const { logpipe } = await import("../../infra/program.js");
  // The legacy stack transformation runs in-process (mocks do not support engine-side transforms).
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      retained.set(`${args.type}::${args.name}`, args.opts.retainOnDelete === true);
      return undefined;
    });
    const outputs = await logpipe({ rawConfig: stagingWithCanary(), stack: "staging" });
    await new Promise((r) => pulumi.output(outputs).apply(r));
    return {};
  });
  await pulumi.runtime.disconnect();
}, 120_000);

describe("grey release", () => {
  it("every published version is retained on delete; nothing else is", () => {
    const versions = resources.filter((r) => r.type === "alicloud:fc/v3FunctionVersion:V3FunctionVersion");
    expect(versions).toHaveLength(3); // split's canary (stable is already published: version 7), compress, upload
    for (const v of versions) expect(retained.get(`${v.type}::${v.name}`), v.name).toBe(true);
    const fns = resources.filter((r) => r.type === "alicloud:fc/v3Function:V3Function");
    for (const f of fns) expect(retained.get(`${f.type}::${f.name}`)).toBe(false);
  });

  it("function inputs hold the password only as a secret", () => {
    const fn = resources.find((r) => r.type === "alicloud:fc/v3Function:V3Function")!;
    expect(JSON.stringify(fn.inputs.environmentVariables)).toContain("1b47061264138c4ac30d75fd1eb44270"); // secret signature
    expect(unwrapSecrets<Record<string, string>>(fn.inputs.environmentVariables).LOGPIPE_REDIS_PASSWORD).toBe(MOCK_REDIS_PASSWORD);
  });

  it("with a canary, $LATEST and the one published version carry the canary; the alias keeps stable's deployed version", () => {
    const split = resources.filter((r) => r.type === "alicloud:fc/v3FunctionVersion:V3FunctionVersion" && r.inputs.functionName === "logpipe-staging-split");
    expect(split.map((v) => v.inputs.description)).toEqual([expect.stringMatching(new RegExp(`^logpipe split ${CANARY} cfg:[0-9a-f]{16}$`))]);
    const alias = resources.find((r) => r.type === "alicloud:fc/v3Alias:V3Alias" && r.inputs.functionName === "logpipe-staging-split")!;
    expect(alias.inputs).toMatchObject({ versionId: "7", additionalVersionWeight: { "1": 0.1 } });
    const fn = resources.find((r) => r.type === "alicloud:fc/v3Function:V3Function" && r.inputs.functionName === "logpipe-staging-split")!;
    expect((fn.inputs.code as any).ossObjectName).toContain(CANARY);
    expect((fn.inputs.code as any).checksum).toBe("42");
  });

  it("aliasPlan: canary takes $LATEST, needs the deployed stable version, weight defaults to 0, bounds enforced", () => {
    const s = `sha256:${"1".repeat(64)}`;
    const c = `sha256:${"2".repeat(64)}`;
    expect(aliasPlan({ stable: s })).toEqual({ latest: s, stable: s, canaryWeight: 0 });
    expect(aliasPlan({ stable: s, stableVersionId: "3", canary: c })).toEqual({ latest: c, stable: s, stableVersionId: "3", canary: c, canaryWeight: 0 });
    expect(aliasPlan({ stable: s, stableVersionId: "3", canary: c, canaryWeight: 1 }).canaryWeight).toBe(1);
    expect(() => aliasPlan({ stable: s, stableVersionId: "3", canary: c, canaryWeight: 1.01 })).toThrow(/outside/);
    expect(() => aliasPlan({ stable: s, canary: c })).toThrow(/stableVersionId/);
  });
});

describe("artifact resolution", () => {
  it("a pinned digest without a location fails naming the release key", async () => {
    const raw = rawStack("prod") as Record<string, any>;
    delete raw["logpipe:artifacts"];
    const cfg = parseStackConfig(raw, "prod");
    const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-art-"));
    const err = await resolveRelease(cfg, { artifactsDir: dir }).catch((e) => e);
    expect(err).toBeInstanceOf(StackConfigError);
    expect((err as StackConfigError).issues.map((i) => i.key)).toEqual(["logpipe:release.split.stable", "logpipe:release.compress.stable", "logpipe:release.upload.stable"]);
  });

  it("uses dist/artifacts/<digest>.zip when present, and refuses one that does not match its name", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-art-"));
    const zips = await Promise.all(["a", "b", "c"].map((x) => deterministicZip([{ name: "index.js", data: Buffer.from(`exports.handler=()=>"${x}"`) }])));
    const [a, b, c] = zips.map((z) => digestOf(z));
    zips.forEach((z, i) => writeFileSync(path.join(dir, `${[a, b, c][i]}.zip`), z));
    const raw = rawStack("prod") as Record<string, any>;
    raw["logpipe:release"] = { split: { stable: a }, compress: { stable: b }, upload: { stable: c } };
    delete raw["logpipe:artifacts"];
    const ok = await resolveRelease(parseStackConfig(raw, "prod"), { artifactsDir: dir });
    expect(ok.builtFromSource).toBe(false);
    expect(ok.sources.get(a!)).toMatchObject({ kind: "local", digest: a });
    writeFileSync(path.join(dir, `${c}.zip`), zips[0]!); // wrong bytes under c's name
    const err = await resolveRelease(parseStackConfig(raw, "prod"), { artifactsDir: dir }).catch((e) => e);
    expect((err as StackConfigError).issues).toEqual([{ key: "logpipe:release.upload.stable", message: expect.stringContaining("does not match its name") }]);
  });

  it("a stack without a release builds and runs the build's digests as stable", async () => {
    const cfg = parseStackConfig(rawStack("dev"), "dev");
    const fake = await Promise.all(["split", "compress", "upload"].map(async (fn) => {
      const zip = await deterministicZip([{ name: "index.js", data: Buffer.from(fn) }]);
      return { fn, zip, digest: digestOf(zip), crc64: "0" };
    }));
    const r = await resolveRelease(cfg, { build: async () => fake });
    expect(r.builtFromSource).toBe(true);
    expect(r.release.upload).toEqual({ stable: fake[2]!.digest });
  });
});

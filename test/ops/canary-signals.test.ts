/**
 * The canary gate on the pipeline's own signals: dead letters, `_unrouted` share and slot waits
 * per FC version (scripted as the SLS queries would return them), and the Kafka trigger's
 * consumer lag (scripted as CloudMonitor would). Engine runs use the fake pulumi CLI.
 */
import path from "node:path";
import YAML from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AutomationStackRunner } from "../../cli/ops/automation.js";
import { CanaryEngine, type CanaryStartOptions } from "../../cli/ops/canary.js";
import { evaluateGate, type GateThresholds } from "../../cli/ops/gate.js";
import { CmsMetricSource, FakeMetricSource, SlsSignalSource, type Datapoint, type PipelineSignals, type VersionMetrics } from "../../cli/ops/metrics.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { ALARMED_METRICS, FUNCTION_LOGSTORE, KAFKA_LAG, KAFKA_NAMESPACE } from "../../infra/fc-metrics.js";
import { LOGSTORE } from "../../infra/logging.js";
import { installFakePulumi, type FakePulumi } from "./support/fake-pulumi.js";
import { D, FakeClock, makeProject, stackYaml } from "./support/project.js";

const REPO = path.resolve(__dirname, "../..");
const fc = (invocations: number): VersionMetrics => ({ invocations, errors: 0, avgLatencyMs: 100, maxLatencyMs: 300, p99EstimateMs: 300, periods: 5 });
const sig = (o: Partial<PipelineSignals> = {}): PipelineSignals => ({ invocations: 100, records: 10_000, unrouted: 0, deadLetters: 0, slotWaits: 0, ...o });
const T: GateThresholds = { maxErrorRate: 0.01, minInvocations: 50, maxDeadLetters: 0, maxUnroutedIncrease: 0.01, maxSlotWaitIncrease: 1, maxLagGrowth: 10_000 };

describe("gate rules on the pipeline's signals", () => {
  it("dead letters: fails when the canary dead-letters and stable does not; passes at the same rate", () => {
    const fail = evaluateGate(fc(100), fc(1900), T, { canary: sig({ deadLetters: 3 }), stable: sig() });
    expect(fail.verdict).toBe("fail");
    expect(fail.reasons).toEqual(["canary dead-lettered 3 inputs (0.03/invocation) against stable's 0 (0/invocation); allowed 0"]);
    // the same share of bad input on both: the input is bad, not the canary
    expect(evaluateGate(fc(100), fc(1900), T, { canary: sig({ deadLetters: 2 }), stable: sig({ deadLetters: 38 }) }).verdict).toBe("pass");
    expect(evaluateGate(fc(100), fc(100), T, { canary: sig({ deadLetters: 4 }), stable: sig({ deadLetters: 4 }) }).verdict).toBe("pass");
    // a threshold above the count lets a few through
    expect(evaluateGate(fc(100), fc(1900), { ...T, maxDeadLetters: 5 }, { canary: sig({ deadLetters: 3 }), stable: sig() }).verdict).toBe("pass");
  });

  it("_unrouted share and slot waits are compared with stable's", () => {
    const u = evaluateGate(fc(100), fc(1900), T, { canary: sig({ records: 1000, unrouted: 50 }), stable: sig({ records: 19_000, unrouted: 190 }) });
    expect(u.reasons).toEqual(["canary routed 5% of its records to _unrouted (50/1000) against stable's 1% (limit +1%)"]);
    expect(evaluateGate(fc(100), fc(1900), T, { canary: sig({ records: 1000, unrouted: 15 }), stable: sig({ records: 19_000, unrouted: 190 }) }).verdict).toBe("pass");
    const w = evaluateGate(fc(100), fc(1900), T, { canary: sig({ slotWaits: 40 }), stable: sig({ slotWaits: 190 }) });
    expect(w.reasons).toEqual(["canary slot waits 0.40/invocation (40) against stable's 0.10 (limit +100%)"]);
    expect(evaluateGate(fc(100), fc(1900), T, { canary: sig({ slotWaits: 12 }), stable: sig({ slotWaits: 190 }) }).verdict).toBe("pass");
  });

  it("consumer lag growth over the window fails; a flat or shrinking lag passes", () => {
    const lag = (vals: number[]): Datapoint[] => vals.map((value, i) => ({ timestamp: 1_000 + i * 60_000, value }));
    const g = evaluateGate(fc(100), fc(1900), T, { lag: lag([2_000, 5_000, 9_000, 14_500]) });
    expect(g.reasons).toEqual(["the trigger's consumer lag grew by 12500 messages over the window (2000 → 14500; limit 10000)"]);
    expect(evaluateGate(fc(100), fc(1900), T, { lag: lag([9_000, 30_000, 4_000]) }).verdict).toBe("pass");
  });

  it("a canary version FC ran but whose lines are not in SLS is unknown, not clean", () => {
    const g = evaluateGate(fc(100), fc(1900), { ...T, signals: "required" }, { canary: sig({ invocations: 0, deadLetters: 0 }), stable: sig() });
    expect(g.verdict).toBe("fail");
    expect(g.reasons).toEqual(["pipeline signals unreadable (--signals required): no log lines of the canary version in SLS although FC counts 100 invocations"]);
    expect(evaluateGate(fc(100), fc(1900), { ...T, signals: "optional" }, { canary: sig({ invocations: 0 }), stable: sig() }).reasons[1]).toMatch(/not judged: no log lines of the canary version/);
  });

  it("unreadable signals: noted when optional, a failure when required", () => {
    const e = { unavailable: ["SLS GetLogs p/functions (dead_letters) failed: 400 IndexConfigNotExist"] };
    const opt = evaluateGate(fc(100), fc(1900), { ...T, signals: "optional" }, e);
    expect(opt.verdict).toBe("pass");
    expect(opt.reasons[1]).toMatch(/pipeline signals not judged: SLS GetLogs .*IndexConfigNotExist/);
    expect(evaluateGate(fc(100), fc(1900), { ...T, signals: "required" }, e).reasons).toEqual([`pipeline signals unreadable (--signals required): ${e.unavailable[0]}`]);
  });
});

describe("signal sources: one definition with the alarms", () => {
  it("SLS: one GetLogs analytic query per signal of the function, per FC version, seconds window", async () => {
    const calls: { project: string; logstore: string; from: number; to: number; query: string }[] = [];
    const values: Record<string, number> = { records: 5000, unrouted: 25, invocations: 40 };
    const src = new SlsSignalSource({
      async getLogs(project, logstore, req) {
        calls.push({ project, logstore, ...req });
        const m = /\$\.metrics\.(\w+)/.exec(req.query)![1]!;
        return [{ value: String(values[m] ?? 0) }];
      },
    });
    const got = await src.pipelineSignals({ region: "cn-hangzhou", logProject: "logpipe-prod-123", logstore: FUNCTION_LOGSTORE, fn: "split", version: "7", startMs: 1_700_000_000_500, endMs: 1_700_000_300_000 });
    expect(got).toEqual({ invocations: 40, records: 5000, unrouted: 25, deadLetters: 0, slotWaits: 0 });
    expect(calls.map((c) => /\$\.metrics\.(\w+)/.exec(c.query)![1])).toEqual(["records", "unrouted", "dead_letters", "invocations"]);
    expect(calls.every((c) => c.project === "logpipe-prod-123" && c.logstore === "functions" && c.from === 1_700_000_000 && c.to === 1_700_000_300)).toBe(true);
    expect(calls.every((c) => c.query.includes("json_extract_scalar(message, '$.fcVersion') = '7'"))).toBe(true);
    expect(FUNCTION_LOGSTORE).toBe(LOGSTORE); // the CLI's copy of the infra constant
  });

  it("CloudMonitor: Kafka lag is read from acs_kafka with the group's dimensions (the alarms use the same definition)", async () => {
    const reqs: Record<string, unknown>[] = [];
    const cms = new CmsMetricSource({ async describeMetricList(r) { reqs.push(r); return { body: { code: "200", datapoints: JSON.stringify([{ timestamp: 1, Maximum: 10 }, { timestamp: 2, Maximum: 30 }]) } }; } });
    const lag = await cms.consumerLag({ region: "cn-hangzhou", instanceId: "alikafka_post-cn-x", consumerGroup: "logpipe-prod", startMs: 0, endMs: 60_000, periodSec: 60 });
    expect(lag).toEqual([{ timestamp: 1, value: 10 }, { timestamp: 2, value: 30 }]);
    expect(reqs[0]).toMatchObject({ namespace: KAFKA_NAMESPACE, metricName: KAFKA_LAG.metric, dimensions: JSON.stringify({ instanceId: "alikafka_post-cn-x", groupId: "logpipe-prod" }) });
    expect(ALARMED_METRICS.length).toBeGreaterThan(0);
  });
});

describe("canary engine gated on the pipeline's signals (fake pulumi, scripted metrics)", () => {
  let fake: FakePulumi;
  let root: string;
  let clock: FakeClock;
  beforeEach(async () => {
    root = makeProject({ prod: stackYaml() });
    fake = installFakePulumi(REPO);
    clock = new FakeClock();
    await new AutomationStackRunner(readProject(root)).up("prod");
    fake.clearCalls();
  });
  afterEach(() => fake.restoreEnv());

  const engine = (metrics: FakeMetricSource) => {
    const project = readProject(root);
    return new CanaryEngine({
      project, runner: new AutomationStackRunner(project), metrics: async () => metrics, clock, stateDir: path.join(root, ".logpipe/canary"),
      actor: "alice@test", log: () => {}, pipeline: { logProject: "logpipe-prod-123", kafkaInstanceId: "alikafka_post-cn-x", consumerGroup: "logpipe-prod" },
    });
  };
  const opts = (fn: "split" | "compress"): CanaryStartOptions => ({
    stack: "prod", fn, digest: D.b, steps: [5, 50, 100], intervalMs: 300_000, thresholds: { ...T, signals: "required" }, noTrafficRetries: 0, onNoTraffic: "rollback",
  });
  const weights = (fn: string) => fake.ups().map((u) => (YAML.parse(u.configText!) as any).config["logpipe:release"][fn].canaryWeight);

  it("split: dead letters in the canary version (none in stable) roll it back at the first step", async () => {
    // version "1" is stable, "2" the canary (fake pulumi numbers versions in order)
    const metrics = new FakeMetricSource((q) => ({ ...fc(q.qualifier === "1" ? 1900 : 100) }), {
      signals: (q) => (q.version === "2" ? sig({ records: 1000, deadLetters: 4 }) : sig({ records: 19_000 })),
      lag: () => [{ timestamp: 1, value: 100 }, { timestamp: 2, value: 120 }],
    });
    const e = engine(metrics);
    const out = await e.start(opts("split"));
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toBe("canary dead-lettered 4 inputs (0.04/invocation) against stable's 0 (0/invocation); allowed 0");
    expect(weights("split")).toEqual([0.05, 0]);
    expect(metrics.signalQueries.map((q) => [q.fn, q.version, q.logProject, q.logstore])).toEqual([["split", "2", "logpipe-prod-123", "functions"], ["split", "1", "logpipe-prod-123", "functions"]]);
    const gate = (await e.audit("prod", "split")).find((a) => a.action === "gate")!;
    expect(gate).toMatchObject({ verdict: "fail", signals: { canary: { deadLetters: 4 }, stable: { deadLetters: 0 } } });
  });

  it("split: the same dead-letter rate in both versions passes every step", async () => {
    const metrics = new FakeMetricSource((q) => fc(q.qualifier === "1" ? 1000 : 1000), {
      signals: () => sig({ deadLetters: 3 }),
      lag: () => [{ timestamp: 1, value: 100 }, { timestamp: 2, value: 90 }],
    });
    const out = await engine(metrics).start(opts("split"));
    expect(out.status).toBe("succeeded");
    expect(weights("split")).toEqual([0.05, 0.5, 1, undefined]);
    expect(metrics.lagQueries[0]).toMatchObject({ instanceId: "alikafka_post-cn-x", consumerGroup: "logpipe-prod", periodSec: 60 });
  });

  it("split: consumer lag growing during a step blocks it (rolled back at 50 %)", async () => {
    let window = 0;
    const metrics = new FakeMetricSource(() => fc(1000), {
      signals: () => sig(),
      lag: () => (++window === 2 ? [{ timestamp: 1, value: 1_000 }, { timestamp: 2, value: 40_000 }] : [{ timestamp: 1, value: 1_000 }, { timestamp: 2, value: 1_000 }]),
    });
    const out = await engine(metrics).start(opts("split"));
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/consumer lag grew by 39000 messages over the window \(1000 → 40000; limit 10000\)/);
    expect(weights("split")).toEqual([0.05, 0.5, 0]);
  });

  it("compress: no lag query (the trigger feeds split); unreadable logs with --signals required roll back", async () => {
    const metrics = new FakeMetricSource(() => fc(1000), {
      signals: () => { throw new Error("SLS GetLogs logpipe-prod-123/functions (slot_waits) failed: 400 IndexConfigNotExist"); },
      lag: () => [],
    });
    const out = await engine(metrics).start(opts("compress"));
    expect(out.status).toBe("rolled-back");
    expect(out.state.reason).toMatch(/pipeline signals unreadable \(--signals required\): SLS GetLogs .*IndexConfigNotExist/);
    expect(metrics.lagQueries).toHaveLength(0);
  });
});

import { describe, expect, it, vi, afterEach } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { evaluateGate } from "../../cli/ops/gate.js";
import { CmsMetricSource, FC_METRICS, aggregate, parseDatapoints, type CmsLikeClient } from "../../cli/ops/metrics.js";
import { realClock } from "../../cli/ops/journal.js";
import { StackConfigFile, readProject } from "../../cli/ops/stack-config.js";
import { unifiedDiff } from "../../cli/ops/diff.js";
import { parseDurationArg, parsePercentArg, parseStepsArg } from "../../cli/ops/units.js";
import { main } from "../../cli/index.js";
import { D, makeProject, stackYaml } from "./support/project.js";

describe("argument parsing", () => {
  it("steps, durations, percentages", () => {
    expect(parseStepsArg("5,25,50,100")).toEqual([5, 25, 50, 100]);
    expect(() => parseStepsArg("25,5")).toThrow(/must increase/);
    expect(() => parseStepsArg("0,50")).toThrow(/\(0, 100\]/);
    expect(() => parseStepsArg("5,150")).toThrow(/\(0, 100\]/);
    expect(parseDurationArg("5m", "--interval")).toBe(300_000);
    expect(parseDurationArg("90", "--interval")).toBe(90_000);
    expect(() => parseDurationArg("-1m", "--interval")).toThrow(/expected a duration/);
    expect(() => parseDurationArg("30d", "--interval")).toThrow(/at most 7 days/);
    expect(parsePercentArg("1%", "x")).toBe(0.01);
    expect(parsePercentArg("0.5", "x")).toBe(0.005);
    expect(parsePercentArg("2", "x")).toBe(0.02);
    expect(() => parsePercentArg("150%", "x")).toThrow(/between 0% and 100%/);
  });
});

describe("health gate", () => {
  const m = (invocations: number, errors: number, avg = 100, p99 = 500) => ({ invocations, errors, avgLatencyMs: avg, maxLatencyMs: p99, p99EstimateMs: p99, periods: 5 });
  const t = { maxErrorRate: 0.01, minInvocations: 50 };
  it("pass / fail / insufficient traffic", () => {
    expect(evaluateGate(m(1000, 5), m(1000, 0), t).verdict).toBe("pass");
    const f = evaluateGate(m(1000, 20), m(1000, 1), t);
    expect(f.verdict).toBe("fail");
    expect(f.reasons[0]).toBe("canary error rate 2% (20/1000) exceeds 1%; stable is at 0.1%");
    expect(evaluateGate(m(49, 0), m(1000, 0), t)).toMatchObject({ verdict: "insufficient-traffic", reasons: ["canary served 49 invocations, fewer than the 50 needed to judge"] });
    expect(evaluateGate(m(1000, 0, 100, 3000), null, { ...t, maxP99Ms: 2000 }).reasons[0]).toMatch(/p99 \(estimate\) 3000 ms exceeds 2000 ms/);
    expect(evaluateGate(m(1000, 0, 300), m(1000, 0, 100), { ...t, maxLatencyIncrease: 0.5 }).reasons[0]).toMatch(/200% above stable's 100 ms/);
    // latency comparison needs enough stable traffic
    expect(evaluateGate(m(1000, 0, 300), m(10, 0, 100), { ...t, maxLatencyIncrease: 0.5 }).verdict).toBe("pass");
  });
});

describe("CloudMonitor metric source", () => {
  it("queries acs_fc per-qualifier metrics with FC 3.0 dimensions, pages, aggregates", async () => {
    const calls: Record<string, unknown>[] = [];
    const series: Record<string, { timestamp: number; Value: number }[]> = {
      [FC_METRICS.invocations]: [{ timestamp: 60_000, Value: 100 }, { timestamp: 120_000, Value: 300 }],
      [FC_METRICS.functionErrors]: [{ timestamp: 120_000, Value: 3 }],
      [FC_METRICS.serverErrors]: [{ timestamp: 60_000, Value: 1 }],
      [FC_METRICS.latencyAvg]: [{ timestamp: 60_000, Value: 100 }, { timestamp: 120_000, Value: 200 }],
      [FC_METRICS.latencyMax]: [{ timestamp: 60_000, Value: 900 }, { timestamp: 120_000, Value: 400 }],
    };
    const client: CmsLikeClient = {
      async describeMetricList(req) {
        calls.push(req);
        const all = series[req.metricName as string] ?? [];
        // two pages for invocations
        if (req.metricName === FC_METRICS.invocations && !req.nextToken) return { body: { code: "200", success: true, datapoints: JSON.stringify(all.slice(0, 1)), nextToken: "p2" } };
        if (req.metricName === FC_METRICS.invocations) return { body: { code: "200", success: true, datapoints: JSON.stringify(all.slice(1)) } };
        return { body: { code: "200", success: true, datapoints: JSON.stringify(all) } };
      },
    };
    const src = new CmsMetricSource(client);
    const m = await src.versionMetrics({ region: "cn-hangzhou", functionName: "logpipe-prod-compress", qualifier: "7", startMs: 0, endMs: 180_000, periodSec: 60 });
    expect(m).toEqual({ invocations: 400, errors: 4, avgLatencyMs: 175, maxLatencyMs: 900, p99EstimateMs: 900, periods: 2 });
    expect(calls[0]).toMatchObject({ namespace: "acs_fc", regionId: "cn-hangzhou", period: "60", startTime: "0", endTime: "180000" });
    expect(JSON.parse(calls[0]!.dimensions as string)).toEqual({ region: "cn-hangzhou", functionName: "logpipe-prod-compress", qualifier: "7" });
    expect(calls.map((c) => c.metricName).sort()).toEqual([...Object.values(FC_METRICS), FC_METRICS.invocations].sort());
  });

  it("API errors become clear messages; credentials are required and never echoed", async () => {
    const failing = new CmsMetricSource({ async describeMetricList() { return { body: { code: "403", success: false, message: "Forbidden AccessKeyId=LTAIsecret123 denied" } }; } });
    await expect(failing.versionMetrics({ region: "r", functionName: "f", qualifier: "1", startMs: 0, endMs: 1, periodSec: 60 }))
      .rejects.toThrow(/DescribeMetricList FunctionQualifier\w+ failed: 403 Forbidden AccessKeyId=\*\*\* denied/);
    const throwing = new CmsMetricSource({ async describeMetricList() { throw new Error("connect ETIMEDOUT"); } });
    await expect(throwing.versionMetrics({ region: "r", functionName: "f", qualifier: "1", startMs: 0, endMs: 1, periodSec: 60 })).rejects.toThrow(/ETIMEDOUT/);
    await expect(CmsMetricSource.fromEnv("cn-hangzhou", {})).rejects.toThrow(/set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
    const real = await CmsMetricSource.fromEnv("cn-hangzhou", { ALIBABA_CLOUD_ACCESS_KEY_ID: "id", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "secret" });
    expect(real.name).toBe("cloudmonitor");
    expect(parseDatapoints('[{"timestamp":1,"Average":2},{"timestamp":2}]')).toEqual([{ timestamp: 1, value: 2 }]);
    expect(() => parseDatapoints("{oops")).toThrow(/unparseable Datapoints/);
    expect(aggregate([], [], [], [])).toEqual({ invocations: 0, errors: 0, avgLatencyMs: null, maxLatencyMs: null, p99EstimateMs: null, periods: 0 });
  });
});

describe("real clock honours fake timers and abort", () => {
  afterEach(() => vi.useRealTimers());
  it("sleep resolves when the (fake) timer fires and rejects on abort", async () => {
    vi.useFakeTimers();
    let done = false;
    const p = realClock.sleep(300_000).then(() => { done = true; });
    await vi.advanceTimersByTimeAsync(299_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const q = realClock.sleep(60_000, ac.signal);
    ac.abort();
    await expect(q).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("stack config file", () => {
  it("edits keep comments and unrelated keys; a broken release never reaches disk", () => {
    const root = makeProject({ prod: stackYaml() });
    const cfg = StackConfigFile.load(readProject(root), "prod");
    // a canary without the stable version it runs beside cannot be realized: refused, nothing written
    cfg.setCanary("compress", D.b, 0.05);
    expect(() => cfg.save()).toThrow(/refusing to write .*stableVersionId/);
    expect(readFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), "utf8")).toBe(stackYaml());
    cfg.setCanary("compress", D.b, 0.05, "3");
    cfg.save();
    const text = readFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), "utf8");
    expect(text).toContain("# prod stack — edited by humans and by logpipe; keep the comments");
    expect(text).toContain(`      canary: ${D.b}\n      canaryWeight: 0.05`);
    const diff = unifiedDiff(stackYaml(), text, "f");
    expect(diff).toMatch(/^\+      stableVersionId: "?3"?$/m);
    expect(diff).toMatch(/\+      canary: sha256:b+\n\+      canaryWeight: 0.05/);
    cfg.setIn("logpipe:release", ["compress", "canaryWeight"], 7);
    expect(() => cfg.save()).toThrow(/refusing to write .*logpipe:release.compress.canaryWeight/);
    expect(() => cfg.setCanary("compress", D.b, 2)).toThrow(/between 0 and 1/);
    writeFileSync(path.join(root, "stacks/Pulumi.bad.yaml"), "config: [oops\n");
    expect(() => StackConfigFile.load(readProject(root), "bad")).toThrow(/invalid YAML/);
    expect(() => StackConfigFile.load(readProject(root), "../etc")).toThrow(/invalid stack name/);
  });
});

describe("command line (exit codes)", () => {
  const saved = process.exitCode;
  afterEach(() => { process.exitCode = saved; });
  it("usage errors exit 2, dry runs exit 0 without pulumi", async () => {
    const root = makeProject({ prod: stackYaml() });
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(await main(["node", "logpipe", "canary", "start", "--stack", "prod", "--function", "nope", "--project-dir", root])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/--function: expected one of split, compress, upload/);
      process.exitCode = undefined;
      expect(await main(["node", "logpipe", "canary", "start", "--stack", "prod", "--function", "compress", "--steps", "50,10", "--project-dir", root])).toBe(2);
      process.exitCode = undefined;
      expect(await main(["node", "logpipe", "canary", "start", "--stack", "qa", "--function", "compress", "--project-dir", root])).toBe(2);
      process.exitCode = undefined;
      expect(await main(["node", "logpipe", "canary", "start", "--stack", "prod", "--function", "compress", "--digest", D.b, "--dry-run", "--project-dir", root])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join("")).toContain("Canary plan for compress on stack prod");
      process.exitCode = undefined;
      expect(await main(["node", "logpipe", "canary", "status", "--stack", "prod", "--json", "--project-dir", root])).toBe(0);
      process.exitCode = undefined;
      expect(await main(["node", "logpipe", "cost", "--stack", "prod", "--format", "xml", "--project-dir", root])).toBe(2);
    } finally {
      err.mockRestore();
      out.mockRestore();
    }
  }, 60_000);
});

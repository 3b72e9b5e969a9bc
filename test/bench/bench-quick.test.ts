/**
 * Smoke test of `logpipe bench --quick --json`: the run completes and its JSON has the expected
 * shape with finite ratios. No thresholds: benchmark machines are noisy.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

describe("logpipe bench --quick --json", () => {
  it("measures every step and reports finite ratios", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "lp-bench-"));
    const out = path.join(dir, "results.json");
    try {
      // asynchronous, so the test worker stays responsive to vitest's RPC (a blocking spawn of
      // more than 60 s failed a run with "Timeout calling onTaskUpdate")
      const r = await promisify(execFile)(process.execPath, ["bin/logpipe.mjs", "bench", "--quick", "--json", "--out", out], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 170_000 });
      const res = JSON.parse(r.stdout);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(res);
      expect(res.quick).toBe(true);
      expect(res.reps).toBeGreaterThanOrEqual(3);
      expect(res.machine.cores).toBeGreaterThan(0);
      expect(typeof res.machine.cpu).toBe("string");
      for (const key of ["nodeGzip", "jsonParse", "split", "e2eMemory"]) {
        const s = res.steps[key];
        expect(s, key).toBeDefined();
        expect(s.samples).toHaveLength(res.reps);
        expect(Number.isFinite(s.median) && s.median > 0, key).toBe(true);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.max).toBeGreaterThanOrEqual(s.median);
      }
      const expectedRatios = ["splitVsJsonParse", "splitVsJsonParseOnly", "e2eVsNodeGzip"];
      if (res.steps.gzipCli?.samples.length) expectedRatios.push("e2eVsGzipCli");
      if (res.steps.e2eRedis) expectedRatios.push("e2eRedisVsGzipCli", "workers2VsWorkers1", "workers2UserVsWorkers1", "workers2SysVsWorkers1");
      for (const key of expectedRatios) {
        const q = res.ratios[key];
        expect(q, key).toBeDefined();
        expect(Number.isFinite(q.median) && q.median > 0, key).toBe(true);
      }
      expect(res.targets.map((t: { id: string }) => t.id)).toEqual(["e2e-vs-gzip", "split-vs-json-parse", "compressed-vs-gzip", "roundtrips-scale", "split-peak-rss", "workers-scaling"]);
      for (const t of res.targets) if (t.value !== null) expect(Number.isFinite(t.value), t.id).toBe(true);
      expect(Number.isFinite(res.resources.splitPeakRss.ratioToEvent)).toBe(true);
      // split's RSS is measured with the split function's deployed runtime settings, Node's defaults alongside
      expect(res.resources.splitPeakRss.runtimeEnv).toContain("--max-semi-space-size=1");
      expect(Number.isFinite(res.resources.splitPeakRss.nodeDefaultsRatioToEvent)).toBe(true);
      expect(res.resources.compressed.logpipeBytes).toBeGreaterThan(0);
      if (res.resources.localRun) {
        expect(res.resources.localRun.ok).toBe(true);
        expect(res.resources.localRun.objects).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

/**
 * Smoke test of `logpipe bench --quick --json`: the run completes and its JSON has the expected
 * shape, with every per-GB figure, ratio and target computed. No thresholds on speed: benchmark
 * machines are noisy (what must hold exactly — every record archived once — is asserted).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readProfile } from "../../cli/cost/profile.js";

describe("logpipe bench --quick --json", () => {
  it("measures every step and reports finite ratios", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "lp-bench-"));
    const out = path.join(dir, "results.json");
    try {
      // asynchronous, so the test worker stays responsive to vitest's RPC (a blocking spawn of
      // more than 60 s failed a run with "Timeout calling onTaskUpdate")
      const r = await promisify(execFile)(process.execPath, ["bin/logpipe.mjs", "bench", "--quick", "--json", "--out", out], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 420_000 });
      const res = JSON.parse(r.stdout);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(res);
      expect(res.quick).toBe(true);
      expect(res.reps).toBeGreaterThanOrEqual(3);
      expect(res.machine.cores).toBeGreaterThan(0);
      expect(typeof res.machine.cpu).toBe("string");
      for (const key of ["nodeGzip", "jsonParse", "split"]) {
        const s = res.steps[key];
        expect(s, key).toBeDefined();
        expect(s.samples).toHaveLength(res.reps);
        expect(Number.isFinite(s.median) && s.median > 0, key).toBe(true);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.max).toBeGreaterThanOrEqual(s.median);
      }
      for (const key of ["splitVsJsonParse", "splitVsJsonParseOnly"]) expect(Number.isFinite(res.ratios[key]?.median) && res.ratios[key].median > 0, key).toBe(true);
      expect(Number.isFinite(res.resources.splitPeakRss.ratioToEvent)).toBe(true);
      expect(res.resources.splitPeakRss.runtimeEnv).toContain("--max-semi-space-size=16");

      // the app-count axis: both app counts, NAS model off and on, every per-GB figure computed
      const axis = res.axis;
      expect(axis.points.map((p: { apps: number }) => p.apps)).toEqual([50, 500]);
      expect(axis.settings.nasModel.metadataMs).toBeGreaterThan(0);
      // uploads go through the real OSS client to the test server in its own process
      expect(axis.settings.objectStore).toMatch(/^OSS test server/);
      expect(axis.pricing.cuPrice).toBeGreaterThan(0);
      for (const p of axis.points) {
        expect(p.floor.mbPerSecond).toBeGreaterThan(0);
        for (const run of [p.off, p.on]) {
          // every record archived exactly once, in objects no bigger than gzip -1 would make them
          expect(run.recordsArchived).toBe(p.records);
          expect(run.errors).toEqual([]);
          for (const k of ["handlerSecondsPerGb", "invocationsPerGb", "gzipMembersPerGb", "fcCostPerGb", "mbPerSecond"]) expect(run[k] > 0 && Number.isFinite(run[k]), `${p.apps} ${k}`).toBe(true);
          for (const f of ["split", "compress", "upload"]) expect(run.functions[f].invocationsPerGb, f).toBeGreaterThan(0);
          expect(run.nasOpsPerGb.rename).toBeGreaterThan(0);
          expect(run.nasOpsPerGb.fsync).toBeGreaterThan(0);
          if (axis.settings.coordStore.startsWith("Redis")) expect(run.redisRoundTripsPerGb).toBeGreaterThan(0);
          expect(run.objectsPerAppHour.max).toBeGreaterThanOrEqual(1);
        }
        // the same work counted with the model on and off; only the model's run waits
        expect(p.on.nasOpsPerGb.stat).toBe(p.off.nasOpsPerGb.stat);
        expect(p.off.modelledWaitSecondsPerGb).toBe(0);
        expect(p.on.modelledWaitSecondsPerGb).toBeGreaterThan(0);
      }
      // every issue-11 target is computed (met or missed, never absent)
      expect(res.targets.map((t: { id: string }) => t.id)).toEqual(["handler-seconds-vs-apps", "e2e-vs-floor-nas-off", "e2e-vs-floor-nas-on", "invocations-vs-apps", "objects-per-app-hour", "compressed-vs-gzip", "cli-help-startup"]);
      // start-up is measured in the same run, paired against a bare node start
      expect(res.startup.ratio).toBeGreaterThan(0);
      expect(res.targets.find((t: { id: string }) => t.id === "cli-help-startup").value).toBe(res.startup.ratio);
      for (const t of res.targets) {
        if (t.id === "compressed-vs-gzip" && t.value === null) continue; // gzip CLI missing
        expect(Number.isFinite(t.value), t.id).toBe(true);
        expect(typeof t.met, t.id).toBe("boolean");
      }
      // the steady-state run: booked after its warm-up, every record archived, NAS time added on top
      expect(res.steady.points.map((p: { apps: number }) => p.apps)).toEqual([50, 500]);
      // with Redis to share, each function runs in a process of its own, as FC runs it
      expect(res.steady.settings.processes).toBe(axis.settings.coordStore.startsWith("Redis") ? "per function" : "shared");
      for (const p of res.steady.points) {
        expect(p.recordsArchived).toBe(p.records);
        expect(p.window.records).toBeGreaterThan(0);
        expect(p.window.records).toBeLessThan(p.records); // the warm-up is not booked
        expect(p.window.fromMinutes).toBeGreaterThan(0);
        expect(p.floorMbPerSecond).toBeGreaterThan(0);
        expect(p.floorCpuMbPerSecond).toBeGreaterThan(0); // "on" (CPU + modelled waits) is compared with the floor's CPU time
        const e2eOn = res.targets.find((t: { id: string }) => t.id === "e2e-vs-floor-nas-on");
        if (p.apps === 50) expect(e2eOn.value).toBeCloseTo(p.on.mbPerSecond / p.floorCpuMbPerSecond, 6);
        // "on" = CPU + the NAS model's time + 0.5 ms per Redis round trip + Redis's own time on the scripts
        expect(p.on.redisServerSecondsPerGb).toBeGreaterThan(0);
        expect(p.on.handlerSecondsPerGb).toBeCloseTo(p.on.cpuSecondsPerGb + p.on.modelledWaitSecondsPerGb + (p.on.redisRoundTripsPerGb * 0.5) / 1000 + p.on.redisServerSecondsPerGb, 6);
        for (const f of ["split", "compress", "upload"]) {
          const x = p.on.functions[f]; // each function's bill splits the same way
          expect(x.handlerSecondsPerGb).toBeCloseTo(x.cpuSecondsPerGb + x.modelledWaitSecondsPerGb + (x.redisRoundTripsPerGb * 0.5) / 1000 + x.redisServerSecondsPerGb, 6);
        }
        expect(p.on.modelledWaitSecondsPerGb).toBeGreaterThan(0);
        // the overlap clock moves with the handler's CPU: booked after the CPU, the waits are more
        // (the upload pace and the round trips its work covered), and "off" books none either way
        expect(p.on.waitAfterCpuSecondsPerGb).toBeGreaterThan(p.on.modelledWaitSecondsPerGb);
        expect(p.on.handlerSecondsPerGbWaitsAfterCpu).toBeCloseTo(p.on.handlerSecondsPerGb + p.on.waitAfterCpuSecondsPerGb - p.on.modelledWaitSecondsPerGb, 6);
        expect(p.off.handlerSecondsPerGbWaitsAfterCpu).toBe(p.off.handlerSecondsPerGb);
        expect(p.on.nasOpsPerGb.open).toBe(p.off.nasOpsPerGb.open); // the same run, booked twice
        // every object is one OSS request at least (PutObject), each booked at the OSS model's latency
        expect(p.on.objectRequestsPerGb).toBeGreaterThanOrEqual(p.on.objectsPerGb);
        expect(p.on.objectRequestSerialSecondsPerGb).toBeCloseTo((p.on.objectRequestsPerGb * res.axis.settings.objectModel.requestMs) / 1000, 6);
        // the same hour at a quarter of the rate, and the per-GB / per-hour parts solved from both
        expect(p.rates.slowGbPerHour).toBeLessThan(p.rates.gbPerHour);
        expect(p.slow.window.records).toBeGreaterThan(0);
        for (const f of ["split", "compress", "upload"]) {
          const m = p.model.functions[f];
          expect(m.perGbSeconds + m.perHourSeconds / p.rates.gbPerHour).toBeCloseTo(p.on.functions[f].handlerSecondsPerGb, 6);
          expect(m.perGbSeconds + m.perHourSeconds / p.rates.slowGbPerHour).toBeCloseTo(p.slow.on.functions[f].handlerSecondsPerGb, 6);
        }
      }
      // the usage profile the cost command reads, in its own format: the steady-state run
      const profile = readProfile(path.resolve(res.profileFile)).profile;
      expect(profile.points.map((p) => p.apps)).toEqual([50, 500]);
      expect(profile.points[0]!.functions.compress.invocationsPerGb).toBeCloseTo(res.steady.points[0].on.functions.compress.invocationsPerGb, 6);
      expect(profile.points[0]!.functions.compress.perHourSeconds).toBeCloseTo(res.steady.points[0].model.functions.compress.perHourSeconds, 6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 450_000);
});

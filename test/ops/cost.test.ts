import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { computeCost, cronIntervalSeconds, siteForRegion, type CostInput } from "../../cli/ops/cost.js";
import { diffReports, renderMarkdown, renderTable } from "../../cli/ops/cost-format.js";
import { readUsageFile, runCost } from "../../cli/ops/cost-run.js";
import { loadPriceTable, mergePriceTables, tieredCost, priceTableSchema } from "../../cli/ops/prices/index.js";
import type { PlannedResource } from "../../cli/plan/types.js";

const REPO = path.resolve(__dirname, "../..");
const cn = loadPriceTable("cn");
const intl = loadPriceTable("intl");
const firehose = loadPriceTable("firehose");

/** A small stack, built by hand. */
function resources(over: { bucket?: Record<string, unknown>; count?: number } = {}): PlannedResource[] {
  const fn = (name: string, cpu: number, memorySize: number): PlannedResource => ({ type: "alicloud:fc/v3Function:V3Function", name: `pipeline-${name}-fn`, inputs: { functionName: `logpipe-t-${name}`, cpu, memorySize, diskSize: 512 } });
  return [
    { type: "logpipe:infra:PipelineFunctions", name: "pipeline", inputs: {} },
    fn("split", 0.5, 1024), fn("compress", 1, 2048), fn("upload", 0.5, 1024),
    { type: "alicloud:fc/v3Trigger:V3Trigger", name: "kafka", inputs: { triggerType: "eventbridge", triggerConfig: JSON.stringify({ runOptions: { maximumTasks: 1, batchWindow: { CountBasedWindow: over.count ?? 1000, TimeBasedWindow: 10 } } }) } },
    { type: "alicloud:fc/v3Trigger:V3Trigger", name: "timer", inputs: { triggerType: "timer", triggerConfig: JSON.stringify({ cronExpression: "@every 1m" }) } },
    { type: "alicloud:oss/bucket:Bucket", name: "archive", inputs: over.bucket ?? { redundancyType: "LRS", storageClass: "Standard", lifecycleRules: [{ expirations: [{ days: 90 }], transitions: [{ days: 30, storageClass: "IA" }] }] } },
    { type: "alicloud:nas/fileSystem:FileSystem", name: "nas", inputs: { fileSystemType: "standard", storageType: "Capacity" } },
    { type: "alicloud:kvstore/instance:Instance", name: "redis", inputs: { instanceClass: "redis.master.small.default" } },
    { type: "alicloud:ram/role:Role", name: "role", inputs: {} },
    { type: "alicloud:foo/bar:Bar", name: "mystery", inputs: {} },
  ];
}

const small = { gbPerDay: 1, avgRecordBytes: 1024, apps: 4, retentionDays: 90, compressionRatio: 4 };
function input(over: Partial<CostInput> = {}): CostInput {
  return { stack: "t", resources: resources(), usage: small, usageSource: "test", prices: cn, site: "cn", firehose, ...over };
}
const byName = (r: ReturnType<typeof computeCost>, n: string) => r.resources.find((x) => x.name === n)!;

describe("cost engine: golden totals computed by hand (1 GB/day, 1 KB records, 4 apps, 90 days, default 2 vCPU-s/GB)", () => {
  const r = computeCost(input());

  it("derives invocations from the pipeline's shape", () => {
    // 2^30/1024 = 1,048,576 records/day = 12.136/s; 10 s window → 121.36-record batches → 8,640 splits/day
    expect(r.derived.batchRecords).toBeCloseTo(121.3630, 3);
    expect(r.derived.invocationsPerMonth.split).toBeCloseTo(259_200, 6);
    expect(r.derived.invocationsPerMonth.compress).toBeCloseTo(259_200, 3); // 4 apps per batch, one grouped invocation
    expect(r.derived.invocationsPerMonth.upload).toBe(43_200); // @every 1m
  });

  it("FC: CU = vCPU-s + 0.15·GB-s + 75/10k invocations, priced at the first CN tier", () => {
    // CPU 30 GB × 2 s = 60 vCPU-s: split 15 (0.5 vCPU → 30 s), compress 39 (1 vCPU), upload 6 (0.5 → 12 s)
    // split 15 + 4.5 + 1944 = 1963.5; compress 39 + 11.7 + 1944 = 1994.7; upload 6 + 1.8 + 324 = 331.8 → 4,290 CU
    expect(r.derived.cuPerMonth).toBeCloseTo(4_290, 6);
    expect(byName(r, "pipeline-split-fn").monthly).toBeCloseTo(0.215985, 4);
    expect(byName(r, "pipeline-compress-fn").monthly).toBeCloseTo(0.219417, 4);
    expect(byName(r, "pipeline-upload-fn").monthly).toBeCloseTo(0.036498, 4);
  });

  it("OSS: steady-state storage per class, PUTs, lifecycle transitions and expirations", () => {
    // 0.25 GB/day compressed: Standard 30 d = 7.5 GB × 0.12 = 0.90; IA 60 d = 15 GB × 0.08 = 1.20
    // 96 objects/app/day (15-min seals) × 4 × 30 = 11,520: PUT 0.01152, →IA 0.01152, expire (IA PUT) 0.1152
    const b = byName(r, "archive");
    expect(b.status).toBe("priced");
    expect(r.derived.storedGb).toEqual({ Standard: 7.5, IA: 15 });
    expect(r.derived.objectsPerMonth).toBeCloseTo(11_520, 6);
    expect(b.monthly).toBeCloseTo(2.23824, 4);
  });

  it("total, per GB, and unpriced resources listed with reasons, never dropped", () => {
    expect(r.total).toBeCloseTo(2.71, 2); // 4290 CU × 0.00011 = 0.4719 + 2.23824
    expect(r.perGb.total).toBeCloseTo(2.71014 / 30, 3);
    const unpriced = r.resources.filter((x) => x.status === "unpriced").map((x) => [x.name, x.reason]);
    expect(unpriced).toEqual([
      ["kafka", expect.stringMatching(/EventBridge event-streaming .* charges not found/)],
      ["nas", expect.stringMatching(/Capacity NAS: no dated CNY figure/)],
      ["redis", expect.stringMatching(/redis.master.small.default: Tair\/Redis instance prices are published only through the price calculator/)],
      ["mystery", "no pricing rule for alicloud:foo/bar:Bar"],
    ]);
    expect(byName(r, "role").status).toBe("free");
    expect(r.resources.find((x) => x.type.startsWith("logpipe:"))).toBeUndefined();
    expect(r.unpricedCount).toBe(4);
    expect(renderTable(r)).toMatch(/nas .*UNPRICED/);
    expect(renderTable(r)).toContain("Total: ¥2.71 / month  (+ 4 resource(s) unpriced");
  });

  it("Firehose equivalent: 5 KB record rounding + dynamic partitioning per GB and per object", () => {
    // 31,457,280 records × 5 KB = 150 GB × $0.029 = 4.35; 30 GB × $0.02 = 0.60; 11,520 objects × $0.005/1000 = 0.0576
    expect(r.firehose!.billedIngestGb).toBeCloseTo(150, 6);
    expect(r.firehose!.monthly).toBeCloseTo(5.0076, 4);
    expect(r.firehose!.perGb).toBeCloseTo(0.16692, 5);
    expect(r.firehose!.currency).toBe("USD");
  });

  it("the default CPU figure is labelled as a default until measured", () => {
    expect(r.usage.cpuSecondsPerGb).toBe(2);
    expect(r.assumptions.join("\n")).toContain("default 2.0 vCPU-s/GB until measured by `npm run bench`");
    const measured = computeCost(input({ usage: { ...small, cpuSecondsPerGb: 9 } }));
    expect(measured.assumptions.join("\n")).toContain("CPU: 9 vCPU-s/GB from test");
    expect(measured.derived.cuPerMonth).toBeGreaterThan(r.derived.cuPerMonth);
  });
});

describe("tiers and other rules", () => {
  it("CU tier boundaries (CN: 200 M / 1 B; intl: 100 M / 500 M)", () => {
    const t = cn.items["fc.cu"]!.tiers!;
    expect(tieredCost(200e6, t)).toBeCloseTo(22_000, 6);
    expect(tieredCost(200e6 + 1, t)).toBeCloseTo(22_000.0001, 6);
    expect(tieredCost(1e9, t)).toBeCloseTo(102_000, 6);
    expect(tieredCost(1.5e9, t)).toBeCloseTo(147_000, 6);
    const i = intl.items["fc.cu"]!.tiers!;
    expect(tieredCost(100e6, i)).toBeCloseTo(2_000, 6);
    expect(tieredCost(500e6, i)).toBeCloseTo(8_800, 6);
    expect(tieredCost(600e6, i)).toBeCloseTo(10_200, 6);
    expect(tieredCost(0, i)).toBe(0);
  });

  it("tiers apply to the account's total CU, then split across functions", () => {
    const r = computeCost(input({ usage: { ...small, gbPerDay: 20_000, apps: 2000, cpuSecondsPerGb: 1500 } }));
    expect(r.derived.cuPerMonth).toBeGreaterThan(1e9);
    const fc = r.resources.filter((x) => x.type === "alicloud:fc/v3Function:V3Function").reduce((s, x) => s + x.monthly, 0);
    expect(fc).toBeCloseTo(tieredCost(r.derived.cuPerMonth, cn.items["fc.cu"]!.tiers!), 0);
  });

  it("minimum storage durations: Archive for 10 days is billed 60", () => {
    const r = computeCost(input({ resources: resources({ bucket: { redundancyType: "LRS", lifecycleRules: [{ expirations: [{ days: 40 }], transitions: [{ days: 30, storageClass: "Archive" }] }] } }) }));
    const line = byName(r, "archive").lines.find((l) => l.component.startsWith("storage Archive"))!;
    expect(line.quantity).toBeCloseTo(0.25 * 60, 6);
    expect(line.monthly).toBeCloseTo(15 * 0.033, 6);
    expect(r.assumptions.join("\n")).toContain("Archive: objects stay 10 days, less than the 60-day minimum; billed for 60 days.");
  });

  it("ZRS Archive has no public CN price: the bucket is partial, not silently cheaper", () => {
    const r = computeCost(input({ resources: resources({ bucket: { redundancyType: "ZRS", lifecycleRules: [{ expirations: [{ days: 400 }], transitions: [{ days: 30, storageClass: "IA" }, { days: 90, storageClass: "Archive" }] }] } }) }));
    const b = byName(r, "archive");
    expect(b.status).toBe("partial");
    expect(b.reason).toMatch(/unpriced: storage Archive ZRS .* no public figure found/);
    expect(r.unpricedCount).toBe(5);
  });

  it("international site: USD, Capacity NAS priced, OSS unpriced with reasons, expirations free", () => {
    const r = computeCost(input({ prices: intl, site: "intl" }));
    expect(r.currency).toBe("USD");
    expect(byName(r, "nas").status).toBe("priced");
    expect(byName(r, "archive").status).toBe("partial");
    expect(byName(r, "archive").reason).toMatch(/unpriced: storage Standard LRS .*no dated USD figure found/);
    expect(byName(r, "archive").monthly).toBe(0);
    expect(byName(r, "archive").lines.find((l) => l.component === "lifecycle expiration")!.note).toBe("free outside the Chinese mainland");
    expect(siteForRegion("cn-hangzhou")).toBe("cn");
    expect(siteForRegion("cn-hongkong")).toBe("intl");
    expect(siteForRegion("ap-southeast-1")).toBe("intl");
  });

  it("a --prices overlay fills a gap (e.g. a Redis class) and removes it from unpriced", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "prices-"));
    const f = path.join(dir, "mine.json");
    writeFileSync(f, JSON.stringify({ table: "contract", site: "ours", currency: "CNY", retrieved: "2026-11-25", items: { "kvstore.redis.master.small.default": { unit: "instance-month", price: 150, source: "our contract", asOf: "2026-11-01" } } }));
    const r = computeCost(input({ prices: mergePriceTables(cn, loadPriceTable(f)) }));
    expect(byName(r, "redis")).toMatchObject({ status: "priced", monthly: 150 });
    expect(() => mergePriceTables(cn, { ...loadPriceTable(f), currency: "USD" })).toThrow(/is in USD/);
  });

  it("timer expressions", () => {
    expect(cronIntervalSeconds("@every 5m").seconds).toBe(300);
    expect(cronIntervalSeconds("CRON_TZ=Asia/Shanghai 0 */5 * * * *").seconds).toBe(300);
    expect(cronIntervalSeconds("0 0 */2 * * *").seconds).toBe(7200);
    expect(cronIntervalSeconds("weird").note).toMatch(/assumed one tick per minute/);
  });

  it("every shipped price table is valid, dated and sourced", () => {
    for (const t of [cn, intl, firehose]) {
      expect(priceTableSchema.safeParse(t).success).toBe(true);
      for (const [k, it] of Object.entries(t.items)) {
        expect(it.source.length, k).toBeGreaterThan(10);
        expect(it.asOf, k).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
    }
  });
});

describe("logpipe cost driver", () => {
  const stub = async () => resources();
  const args = { stack: "prod", projectDir: REPO };

  it("every stack file prices without error (program under mocks)", async () => {
    for (const stack of ["dev", "staging", "prod"]) {
      const res = await runCost({ stack, projectDir: REPO, format: "json" });
      expect(res.code, stack).toBe(0);
      const report = JSON.parse(res.stdout);
      expect(report.total, stack).toBeGreaterThan(0);
      expect(report.resources.filter((r: { type: string }) => r.type === "alicloud:fc/v3Function:V3Function"), stack).toHaveLength(3);
      expect(report.resources.some((r: { status: string }) => r.status === "unpriced"), stack).toBe(true);
    }
  }, 120_000);

  it("formats: table, json, markdown (PR comment)", async () => {
    const md = await runCost({ ...args, format: "markdown" }, stub);
    expect(md.stdout).toMatch(/^### logpipe cost: `prod` — ¥[\d.]+\/month/);
    expect(md.stdout).toContain("| Resource | Type | Status | Monthly (CNY) |");
    expect(md.stdout).toContain("**Firehose equivalent:**");
    expect(md.stdout).toContain("<details><summary>Assumptions</summary>");
    const json = JSON.parse((await runCost({ ...args, json: true }, stub)).stdout);
    expect(json.priceTable).toEqual({ name: "alibaba-cn", retrieved: "2026-11-25" });
    expect((await runCost(args, stub)).stdout).toContain("Per GB ingested:");
    await expect(runCost({ ...args, format: "xml" }, stub)).rejects.toThrow(/--format: expected table, json or markdown/);
  });

  it("--budget exits 1 when over, 0 when under (and says when some resources are unpriced)", async () => {
    const over = await runCost({ ...args, budget: "1" }, stub);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/over budget: ¥[\d.]+\/month > ¥1.00 \(and 4 resource\(s\) are not fully priced/);
    const under = await runCost({ ...args, budget: "1000000" }, stub);
    expect(under.code).toBe(0);
    expect(under.stderr).toMatch(/within budget on priced resources/);
    await expect(runCost({ ...args, budget: "-5" }, stub)).rejects.toThrow(/--budget: expected a non-negative number/);
  });

  it("--compare another stack or a saved report", async () => {
    let n = 0;
    const twoPlans = async () => (n++ === 0 ? resources() : resources({ count: 100 }));
    const res = await runCost({ ...args, compare: "staging", format: "json" }, twoPlans);
    const out = JSON.parse(res.stdout);
    expect(out.diff.base).toBe("staging");
    expect(out.diff.head).toBe("prod");
    expect(out.diff.rows.map((r: { name: string }) => r.name)).toContain("pipeline-split-fn");

    const dir = mkdtempSync(path.join(os.tmpdir(), "cost-"));
    const saved = path.join(dir, "previous.json");
    const prev = JSON.parse((await runCost({ ...args, format: "json" }, stub)).stdout);
    prev.resources = prev.resources.filter((r: { name: string }) => r.name !== "archive");
    prev.total -= 2;
    writeFileSync(saved, JSON.stringify(prev));
    const md = await runCost({ ...args, compare: saved, format: "markdown" }, stub);
    expect(md.stdout).toMatch(/### logpipe cost diff: `prod` → `prod`: \+¥/);
    expect(md.stdout).toMatch(/\| archive \| `oss.Bucket` \| — \| ¥[\d.]+ \| \+¥[\d.]+ \|/);
    await expect(runCost({ ...args, compare: "nope" }, stub)).rejects.toThrow(/neither a stack .* nor a saved report/);
    writeFileSync(saved, "{}");
    await expect(runCost({ ...args, compare: saved }, stub)).rejects.toThrow(/not a report written by `logpipe cost --format json`/);
  });

  it("diffs refuse mixed currencies", () => {
    const a = computeCost(input());
    const b = computeCost(input({ prices: intl, site: "intl" }));
    expect(() => diffReports(a, b)).toThrow(/cannot compare CNY .* with USD/);
    expect(renderMarkdown(a)).toContain("| mystery |");
  });

  it("bad input: unknown stack, malformed / negative / absurd usage file names the key", async () => {
    await expect(runCost({ ...args, stack: "qa" }, stub)).rejects.toThrow(/unknown stack "qa"/);
    const dir = mkdtempSync(path.join(os.tmpdir(), "usage-"));
    const f = (name: string, text: string) => { const p = path.join(dir, name); writeFileSync(p, text); return p; };
    expect(() => readUsageFile(f("neg.yaml", "gbPerDay: -3\navgRecordBytes: 500\napps: 3\nretentionDays: 30\n"))).toThrow(/usage.gbPerDay: .*at least/);
    expect(() => readUsageFile(f("huge.yaml", "gbPerDay: 1e12\navgRecordBytes: 500\napps: 3\nretentionDays: 30\n"))).toThrow(/usage.gbPerDay: .*at most 1000000/);
    expect(() => readUsageFile(f("extra.yaml", "gbPerDay: 1\navgRecordBytes: 500\napps: 3\nretentionDays: 30\ncolour: red\n"))).toThrow(/Unrecognized key/);
    expect(() => readUsageFile(f("bad.yaml", "gbPerDay: [1\n"))).toThrow(/--usage .*bad.yaml/);
    expect(() => readUsageFile(f("apps.yaml", "gbPerDay: 1\navgRecordBytes: 500\napps: 2.5\nretentionDays: 30\n"))).toThrow(/usage.apps/);
    const ok = readUsageFile(f("ok.yaml", "logpipe:usage:\n  gbPerDay: 2\n  avgRecordBytes: 500\n  apps: 3\n  retentionDays: 30\n  compressionRatio: 5\n"));
    expect(ok.compressionRatio).toBe(5);
    const res = await runCost({ ...args, usage: f("ok2.yaml", "gbPerDay: 2\navgRecordBytes: 500\napps: 3\nretentionDays: 30\n"), format: "json" }, stub);
    expect(JSON.parse(res.stdout).usage.gbPerDay).toBe(2);
  });
});

import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { computeCost, cronIntervalSeconds, durationScale, functionCu, human, sealAgeFor, siteForRegion, type CostInput } from "../../cli/ops/cost.js";
import { colorEnabled, renderDiff } from "../../cli/ops/cost-format.js";
import { loadProfile } from "../../cli/ops/cost-run.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { fromLocalReport, profileAt, writeProfile } from "../../cli/cost/profile.js";
import { readFileSync, existsSync } from "node:fs";
import { diffReports, renderMarkdown, renderTable } from "../../cli/ops/cost-format.js";
import { readUsageFile, runCost } from "../../cli/ops/cost-run.js";
import { CHART_COLORS, CHART_SIZE, PNG_SCALE } from "../../cli/cost/chart.js";
import { inflateSync } from "node:zlib";
import { loadPriceTable, mergePriceTables, tieredCost, priceTableSchema } from "../../cli/ops/prices/index.js";
import type { PlannedResource } from "../../cli/plan/types.js";

const REPO = path.resolve(__dirname, "../..");
const cn = loadPriceTable("cn");
const intl = loadPriceTable("intl");
const firehose = loadPriceTable("firehose");

/** [series, x, y, cx, cy] of every <circle> point in a chart SVG, in drawing order. */
function svgPoints(svg: string): [string, number, number, number, number][] {
  return [...svg.matchAll(/<circle cx="([^"]+)" cy="([^"]+)" [^>]*data-series="([^"]+)" data-x="([^"]+)" data-y="([^"]+)"/g)].map((m) => [m[3]!, Number(m[4]), Number(m[5]), Number(m[1]), Number(m[2])]);
}

/** Decodes an 8-bit RGBA, non-interlaced PNG (what resvg writes): width, height and pixel bytes. */
function decodePng(buf: Buffer): { width: number; height: number; rgba: Buffer } {
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let off = 8, width = 0, height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString("latin1", off + 4, off + 8), data = buf.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      expect([data[8], data[9], data[12]]).toEqual([8, 6, 0]); // bit depth 8, RGBA, not interlaced
    }
    if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat)), stride = width * 4, rgba = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!, line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 4 ? rgba[y * stride + x - 4]! : 0, b = y > 0 ? rgba[(y - 1) * stride + x]! : 0, c = x >= 4 && y > 0 ? rgba[(y - 1) * stride + x - 4]! : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f]!;
      rgba[y * stride + x] = (line[x]! + pred) & 0xff;
    }
  }
  return { width, height, rgba };
}

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
const profile = loadProfile(readProject(REPO));
// The golden totals were computed by hand from a fixed profile (the v1 seed figures), so they do
// not change each time `npm run bench` rewrites bench/profile.json.
const golden = { ...profile, name: "test/ops/fixtures/profile-v1-seed.json", profile: JSON.parse(readFileSync(path.join(REPO, "test/ops/fixtures/profile-v1-seed.json"), "utf8")) as typeof profile.profile };
function input(over: Partial<CostInput> = {}): CostInput {
  return { stack: "t", resources: resources(), usage: small, usageSource: "test", profile: golden, prices: cn, site: "cn", firehose, ...over };
}
const byName = (r: ReturnType<typeof computeCost>, n: string) => r.resources.find((x) => x.name === n)!;
const k = { cpu: 1, mem: 0.15, disk: 0.05, inv: 75 };

describe("FC billing model against the vendor's worked example", () => {
  // https://help.aliyun.com/en/functioncompute/fc-2-0/product-overview/pay-as-you-go-billing-method (2026-12-01):
  // 3,000,000 invocations, 0.5 GB, 200 ms, 0.25 vCPU → 22,500 + 45,000 + 150,000 = 217,500 CU
  it("217,500 CU; ¥23.925 at the first China tier, $4.35 at the first international tier", () => {
    const cu = functionCu({ cpu: 0.25, memoryGb: 0.5, diskGb: 0.5 }, 3_000_000 * 0.2, 3_000_000, k);
    expect(cu.invocations).toBeCloseTo(22_500, 6);
    expect(cu.active).toBeCloseTo(195_000, 6);
    expect(cu.total).toBeCloseTo(217_500, 6);
    expect(tieredCost(cu.total, cn.items["fc.cu"]!.tiers!)).toBeCloseTo(23.925, 6);
    expect(tieredCost(cu.total, intl.items["fc.cu"]!.tiers!)).toBeCloseTo(4.35, 6);
  });
  it("disk beyond 512 MB at 0.05 CU/GB-s; hourly round-up to whole CU per function", () => {
    expect(functionCu({ cpu: 1, memoryGb: 1, diskGb: 10 }, 100, 0, k).active).toBeCloseTo(100 * (1 + 0.15 + 9.5 * 0.05), 6);
    // 100 CU in a month = 0.139 CU/hour → 1 CU × 720 hours
    expect(functionCu({ cpu: 1, memoryGb: 0, diskGb: 0.5 }, 100, 0, k, true).total).toBe(720);
    expect(durationScale(0.5)).toBe(2);
    expect(durationScale(2)).toBe(1);
  });
});

describe("cost engine: golden totals computed by hand (1 GB/day, 1 KB records, 4 apps → the 50-app profile point)", () => {
  const r = computeCost(input());
  it("split from the trigger's batches, compress from the profile, upload from the timer", () => {
    expect(r.derived.batchRecords).toBeCloseTo(121.3630, 3);
    expect(r.derived.invocationsPerMonth.split).toBeCloseTo(259_200, 6);
    expect(r.derived.invocationsPerMonth.compress).toBeCloseTo(30 * 40_265.3, 3);
    expect(r.derived.invocationsPerMonth.upload).toBe(43_200);
    expect(r.profile.note).toMatch(/outside the measured range/);
  });
  it("FC: per function (vCPU + 0.15·GB) × billed s + 75/10k invocations, rounded up per hour", () => {
    // split: 30 GB × 40.5 s × 2 (0.5 vCPU) = 2,430 s × 0.65 = 1,579.5 + 1,944 = 3,523.5 → 5 CU/h × 720 = 3,600
    // compress: 30 × 74.4 = 2,232 s × 1.3 = 2,901.6 + 1,207,959 × 0.0075 = 9,059.69 → 17 × 720 = 12,240
    // upload: 30 × 10.1 × 2 = 606 s × 0.65 = 393.9 + 324 = 717.9 → 1 × 720 = 720
    expect(r.derived.cuPerMonth).toBeCloseTo(16_560, 6);
    expect(byName(r, "pipeline-split-fn").monthly).toBeCloseTo(0.396, 6);
    expect(byName(r, "pipeline-compress-fn").monthly).toBeCloseTo(1.3464, 6);
    expect(byName(r, "pipeline-upload-fn").monthly).toBeCloseTo(0.0792, 6);
    expect(r.total).toBeCloseTo(1.82, 2);
  });
  it("what is not priced is named on the total, never shown as a number", () => {
    expect(r.excludes).toEqual(["fc.V3Trigger", "oss.Bucket", "nas.FileSystem", "kvstore.Instance", "foo.Bar"]);
    expect(byName(r, "redis").reason).toMatch(/redis.master.small.default: Tair\/Redis instance classes: .*no dated public price per instance class/);
    expect(renderTable(r)).toContain("Total: ¥1.82 / month — excludes: fc.V3Trigger, oss.Bucket");
    expect(renderMarkdown(r)).toContain("excludes: fc.V3Trigger, oss.Bucket");
  });
  it("comparisons: Firehose per line (5 KB rounding), batched, MSK (excluded without a price), self-hosted", () => {
    const [self, perLine, batched, msk] = r.comparisons;
    // 31,457,280 records × 5 KB = 150 GB × $0.029 = 4.35; 30 GB × $0.02 = 0.60; 11,520 objects × $0.005/1000 = 0.0576
    expect(perLine!.monthly).toBeCloseTo(5.01, 2);
    // 999 lines of 1,025 B per record → 1,000 KB billed per 999 lines: ~30.0 GB × $0.029 + 0.6576
    expect(batched!.monthly!).toBeLessThan(perLine!.monthly! / 3);
    expect(msk!.monthly).toBeNull();
    expect(msk!.excludes[0]).toMatch(/firehose.ingest.msk/);
    expect(self!.name).toMatch(/self-hosted/);
    expect(self!.currency).toBe("CNY");
  });
  it("an explicit cpuSecondsPerGb is an override the report flags", () => {
    const o = computeCost(input({ usage: { ...small, cpuSecondsPerGb: 9 } }));
    expect(o.overrides.join("\n")).toMatch(/cpuSecondsPerGb 9 from test replaces the measured 125 handler-s\/GB/);
    expect(renderTable(o)).toContain("OVERRIDE: cpuSecondsPerGb 9");
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

  const ossOverlay = { ...cn, items: { ...cn.items,
    "oss.storage.Archive.LRS": { unit: "GB-month", price: 0.033, source: "test overlay", asOf: "2026-12-01" },
    "oss.storage.standard.LRS": { unit: "GB-month", price: 0.12, source: "test overlay", asOf: "2026-12-01" } } };
  it("minimum storage durations: Archive for 10 days is billed 60", () => {
    const r = computeCost(input({ prices: ossOverlay, resources: resources({ bucket: { redundancyType: "LRS", lifecycleRules: [{ expirations: [{ days: 40 }], transitions: [{ days: 30, storageClass: "Archive" }] }] } }) }));
    const line = byName(r, "archive").lines.find((l) => l.component.startsWith("storage Archive"))!;
    expect(line.quantity).toBeCloseTo(0.25 * 60, 6); // 1 GB/day ÷ 4× = 0.25 GB/day × 60 billed days
    expect(line.monthly).toBeCloseTo(15 * 0.033, 6);
    expect(byName(r, "archive").status).toBe("partial"); // PUT requests still unpriced
    expect(r.assumptions.join("\n")).toContain("Archive: objects stay 10 days, less than the 60-day minimum; billed for 60 days.");
  });

  it("OSS without vendor prices is excluded with the reasons grouped, not guessed", () => {
    const b = byName(computeCost(input()), "archive");
    expect(b.status).toBe("unpriced");
    expect(b.reason).toMatch(/unpriced: storage Standard LRS, storage IA LRS: no dated CNY unit price found: the billing pages .* defer the figures to the pricing page/);
  });

  it("international site: USD, Capacity NAS and the event stream priced, expirations free", () => {
    const r = computeCost(input({ prices: intl, site: "intl" }));
    expect(r.currency).toBe("USD");
    expect(byName(r, "nas")).toMatchObject({ status: "priced" });
    // 12.14 events/s → 1 CU × 720 h × $0.034 = $24.48 (cheaper than 31.5 M events × $0.41/M = $12.90? no: event volume wins)
    const kafka = byName(r, "kafka");
    expect(kafka.status).toBe("priced");
    expect(kafka.monthly).toBeCloseTo(Math.min(720 * 0.034, (1_048_576 * 30 / 1e6) * 0.41), 4);
    expect(byName(r, "archive").lines.find((l) => l.component === "lifecycle expiration")!.note).toBe("free outside the Chinese mainland");
    expect(siteForRegion("cn-hangzhou")).toBe("cn");
    expect(siteForRegion("cn-hongkong")).toBe("intl");
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
    expect(md.stdout).toMatch(/^### logpipe cost: `prod` — ¥[\d.,]+\/month \(excludes: /);
    expect(md.stdout).toContain("| Resource | Type | Status | Monthly (CNY) |");
    expect(md.stdout).toContain("| Firehose, direct PUT, one log line per record |");
    expect(md.stdout).toContain("<details><summary>Assumptions and sources</summary>");
    const json = JSON.parse((await runCost({ ...args, json: true }, stub)).stdout);
    expect(json.priceTable).toEqual({ name: "alibaba-cn", retrieved: "2026-12-01" });
    expect((await runCost(args, stub)).stdout).toContain("Per GB ingested:");
    await expect(runCost({ ...args, format: "xml" }, stub)).rejects.toThrow(/--format: expected table, json or markdown/);
  });

  it("--budget exits 1 when over, 0 when under (and says when some resources are unpriced)", async () => {
    const over = await runCost({ ...args, budget: "1" }, stub);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/over budget: ¥[\d.,]+\/month > ¥1.00 \(excludes: fc.V3Trigger/);
    const under = await runCost({ ...args, budget: "1000000" }, stub);
    expect(under.code).toBe(0);
    expect(under.stderr).toMatch(/within budget on priced resources .* but the total excludes: /);
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
    expect(md.stdout).toMatch(/\| archive \| `oss.Bucket` \| absent \| excluded \| added \+¥0.00 \|/);
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

describe("measured inputs, proof of the prod preview, chart, readable output", () => {
  it("the default profile is the committed bench/profile.json, named in the output", () => {
    const committed = JSON.parse(readFileSync(path.join(REPO, "bench/profile.json"), "utf8"));
    expect(profile.profile).toEqual(committed);
    expect(profile.name).toBe("bench/profile.json");
    expect(computeCost(input({ profile })).profile.name).toBe("bench/profile.json");
  });

  it("profiles interpolate in log(apps); writeProfile validates; `logpipe local --json` is read", () => {
    const at = profileAt(profile.profile, Math.round(Math.sqrt(50 * 500))); // halfway in log space
    const p50 = profile.profile.points[0]!.functions.compress.handlerSecondsPerGb, p500 = profile.profile.points[1]!.functions.compress.handlerSecondsPerGb;
    expect(at.functions.compress.handlerSecondsPerGb).toBeCloseTo((p50 + p500) / 2, 0);
    const dir = mkdtempSync(path.join(os.tmpdir(), "profile-"));
    expect(() => writeProfile(path.join(dir, "bad.json"), { ...profile.profile, compressionRatio: 0.5 })).toThrow(/compressionRatio/);
    const local = { rawBytes: 1024 ** 3, handlerSeconds: { split: 10, compress: 20, upload: 5 }, invocations: { split: 100, compress: 3000, upload: 7 }, verify: { apps: [{ rawBytes: 700, compressedBytes: 100 }, { rawBytes: 700, compressedBytes: 100 }] } };
    const fromLocal = fromLocalReport(local, "run.json");
    expect(fromLocal.points[0]).toEqual({ apps: 2, functions: { split: { handlerSecondsPerGb: 10, invocationsPerGb: 100 }, compress: { handlerSecondsPerGb: 20, invocationsPerGb: 3000 }, upload: { handlerSecondsPerGb: 5, invocationsPerGb: 7 } } });
    expect(fromLocal.compressionRatio).toBe(7);
    expect(() => fromLocalReport({ foo: 1 }, "x.json")).toThrow(/neither a usage profile .* nor `logpipe local --json` output \(no rawBytes\)/);
  });

  it("a profile with per-GB and per-hour parts is projected to the stack's rate: the per-hour part weighs less as GB/day grows", () => {
    // Arrange: the seed profile with a hand-made split: compress 30 s/GB + 3,600 s/hour, measured at 24 GB/day (1 GB/hour)
    const withModel = structuredClone(golden);
    for (const pt of withModel.profile.points) {
      for (const k of ["split", "compress", "upload"] as const) {
        const f = pt.functions[k];
        Object.assign(f, { perGbSeconds: f.handlerSecondsPerGb, perHourSeconds: 0, perGbInvocations: f.invocationsPerGb, perHourInvocations: 0, measuredGbPerDay: 24 });
      }
      Object.assign(pt.functions.compress, { perGbSeconds: 30, perHourSeconds: 3600, perGbInvocations: 10, perHourInvocations: 120 });
    }
    // Act
    const at = (gbPerDay: number) => computeCost(input({ profile: withModel, usage: { ...small, gbPerDay } }));
    const slow = at(24), fast = at(240);
    // Assert: 30 + 3600 / 1 = 3,630 s/GB at 24 GB/day; 30 + 3600 / 10 = 390 s/GB at 240 GB/day
    const fnOf = (r: ReturnType<typeof computeCost>) => r.derived.functions.find((f) => f.role === "compress")!;
    expect(Math.round(fnOf(slow).handlerSecondsPerGb)).toBe(3630);
    expect(Math.round(fnOf(fast).handlerSecondsPerGb)).toBe(390);
    expect(fast.derived.invocationsPerMonth.compress).toBeCloseTo((10 + 120 / 10) * 240 * 30, 6);
    expect(fast.assumptions.join("\n")).toMatch(/projected to 240 GB\/day from the profile's per-GB and per-hour parts \(measured at 24 GB\/day\)/);
    // a profile without the parts is used as measured, and says nothing about projection
    expect(at(240).assumptions.join("\n")).toMatch(/projected/);
    expect(computeCost(input({ usage: { ...small, gbPerDay: 240 } })).assumptions.join("\n")).not.toMatch(/projected/);
  });

  it("prod: JSON total is a number, excludes are named, sources are dated vendor URLs; no ../shared anywhere; chart points = JSON", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "chart-"));
    const svgFile = path.join(dir, "cost.svg");
    const res = await runCost({ stack: "prod", projectDir: REPO, format: "json", chart: svgFile });
    expect(res.code).toBe(0);
    const j = JSON.parse(res.stdout);
    expect(typeof j.total).toBe("number");
    expect(JSON.stringify(j.total)).not.toContain("?");
    expect(j.excludes.length).toBeGreaterThan(0);
    expect(j.overrides).toEqual([]); // the hand-typed CPU figure is gone from the stack file
    expect(j.sources.length).toBeGreaterThan(5);
    for (const s of j.sources) {
      expect(s.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      // vendor pages for prices; the exchange rate from the Federal Reserve (a central bank's page)
      expect(s.source).toMatch(s.key === "fx.USDCNY" ? /https:\/\/alfred\.stlouisfed\.org\// : /https:\/\/(help\.aliyun\.com|www\.alibabacloud\.com|alibabacloud\.com|aws\.amazon\.com|docs\.aws\.amazon\.com)\//);
    }
    expect(j.sources.map((s: { key: string }) => s.key)).toContain("fx.USDCNY");
    expect(res.stdout).not.toMatch(/shared\/reference|\.\.\/shared|kandaoni/);
    const svg = readFileSync(svgFile, "utf8");
    const points = svgPoints(svg);
    const expected = j.chart.series.flatMap((s: { name: string; y: (number | null)[] }) => s.y.map((y, i) => (y === null || y <= 0 ? null : [s.name, j.chart.xGbPerDay[i], y])).filter(Boolean));
    expect(points.map((p) => p.slice(0, 3))).toEqual(expected);
    expect(j.chart.xGbPerDay).toContain(800);
    expect(j.chart.series[0].y[j.chart.xGbPerDay.indexOf(800)]).toBe(j.total);
    // the USD comparisons are converted with the dated rate and plotted
    expect(j.fx).toMatchObject({ usdToCny: 7.2734, asOf: "2026-12-01" });
    expect(j.chart.series.map((s: { name: string }) => s.name)).toEqual(["logpipe", ...j.comparisons.map((c: { name: string }) => c.name)]);
    const fh = j.comparisons.findIndex((c: { currency: string; monthly: number | null }) => c.currency === "USD" && c.monthly !== null);
    expect(j.chart.series[fh + 1].y[j.chart.xGbPerDay.indexOf(800)]).toBeCloseTo(j.comparisons[fh].monthly * 7.2734, 2);

    // --chart x.png: the same chart as a PNG, PNG_SCALE× the SVG's size; every point's centre pixel is its series' colour
    const pngFile = path.join(dir, "cost.png");
    const resPng = await runCost({ stack: "prod", projectDir: REPO, format: "json", chart: pngFile });
    const jp = JSON.parse(resPng.stdout);
    expect(jp.chart).toEqual({ ...j.chart, file: pngFile });
    const png = decodePng(readFileSync(pngFile));
    expect([png.width, png.height]).toEqual([CHART_SIZE.width * PNG_SCALE, CHART_SIZE.height * PNG_SCALE]);
    const names = j.chart.series.map((s: { name: string }) => s.name);
    const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let strict = 0;
    points.forEach(([name, , , cx, cy], i) => {
      const at = (Math.floor(cy * PNG_SCALE) * png.width + Math.floor(cx * PNG_SCALE)) * 4;
      const px = [...png.rgba.subarray(at, at + 3)];
      // a point drawn later within 2 radii may cover this centre: then only "not background"
      const covered = points.slice(i + 1).some((q) => Math.hypot(q[3] - cx, q[4] - cy) < 6);
      if (covered) { expect(px, `${name} @ ${cx},${cy}`).not.toEqual([255, 255, 255]); return; }
      expect(px, `${name} @ ${cx},${cy}`).toEqual(rgb(CHART_COLORS[names.indexOf(name) % CHART_COLORS.length]!));
      strict++;
    });
    expect(strict).toBeGreaterThan(points.length / 2);
    await expect(runCost({ stack: "prod", projectDir: REPO, chart: path.join(dir, "cost.jpg") })).rejects.toThrow(/--chart: expected a file name ending in \.svg or \.png/);
    const table = (await runCost({ stack: "prod", projectDir: REPO })).stdout;
    for (const line of table.split("\n")) expect([...line].length, line).toBeLessThanOrEqual(100);
    const flat = table.replace(/\s+/g, " "); // grouped rows wrap to fit 100 columns
    expect(flat).toMatch(/13 × cms\.Alarm/);
    expect(table).toMatch(/Total: ¥[\d,.]+ \/ month — excludes: /);
    expect(table).not.toMatch(/\b\d{9,}\b/); // no raw 42949672960-style numbers
    expect(table).toContain("Profile: bench/profile.json");
    expect(flat).toContain("Exchange rate: 1 USD = 7.2734 CNY (Federal Reserve Bank of St. Louis");
    expect(flat).toMatch(/pipeline-compress-fn: 2 vCPU \/ 4096 MB → 1 vCPU/);
  }, 120_000);

  it("diff: a stack against itself says no changes", async () => {
    const stub = async () => resources();
    const same = await runCost({ stack: "prod", projectDir: REPO, compare: "prod" }, stub);
    expect(same.stdout).toMatch(/Diff prod → prod: \+¥0.00\/month .*\nno changes$/);
    const a = computeCost(input());
    expect(renderDiff(diffReports(a, a), "markdown")).toContain("No changes.");
  });

  it("--init-prices writes a template of what the report excludes; it refuses to overwrite", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "tpl-"));
    const f = path.join(dir, "overlay.json");
    const res = await runCost({ stack: "prod", projectDir: REPO, initPrices: f }, async () => resources());
    expect(res.stdout).toMatch(/wrote .*overlay.json: \d+ price\(s\) to fill in/);
    const tpl = JSON.parse(readFileSync(f, "utf8"));
    expect(tpl.todo["kvstore.redis.master.small.default"].why).toMatch(/Tair\/Redis/);
    expect(Object.keys(tpl.todo)).toEqual(expect.arrayContaining(["kvstore.redis.master.small.default", "oss.storage.standard.LRS", "oss.request.put.Standard"]));
    expect(Object.keys(tpl.todo)).not.toContain("fx.USDCNY"); // the built-in CN table carries a dated rate
    expect(priceTableSchema.safeParse({ ...tpl, retrieved: "2026-12-01" }).success).toBe(true); // once dated, it loads as an (empty) overlay
    await expect(runCost({ stack: "prod", projectDir: REPO, initPrices: f }, async () => resources())).rejects.toThrow(/file exists/);
    expect(existsSync(f)).toBe(true);
  });

  it("human numbers, colour only on a TTY (NO_COLOR / FORCE_COLOR)", () => {
    expect(human(128_849_018.88)).toBe("128.8 M");
    expect(human(42_949_672_960)).toBe("42.9 G");
    expect(human(70_200)).toBe("70.2 k");
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(renderTable(computeCost(input()), { color: true })).toContain("\u001b[1mTotal:");
    expect(renderTable(computeCost(input()))).not.toContain("\u001b[");
  });
});

describe("how long an active file lives before its seal (objects and NAS resident bytes)", () => {
  const MB = 1024 * 1024;
  it("is the seal age for an app that fills LOGPIPE_SEAL_MIN_BYTES in one", () => {
    // 96 MB/day compressed = 1 MB per 15 min
    expect(sealAgeFor({}, 96 * MB)).toEqual({ ageSec: 900, sealAgeSec: 900, small: false });
  });
  it("is the max age (4 seal ages, at most 1 h) for a smaller app", () => {
    expect(sealAgeFor({}, 95 * MB)).toEqual({ ageSec: 3600, sealAgeSec: 900, small: true });
    expect(sealAgeFor({ LOGPIPE_SEAL_AGE: "5m" }, MB)).toMatchObject({ ageSec: 1200, small: true });
    expect(sealAgeFor({ LOGPIPE_SEAL_MAX_AGE: "30m" }, MB)).toMatchObject({ ageSec: 1800, small: true });
  });
  it("is the seal age for every app when the small-slot rule is off", () => {
    expect(sealAgeFor({ LOGPIPE_SEAL_MIN_BYTES: "0" }, MB)).toMatchObject({ ageSec: 900, small: false });
  });
});

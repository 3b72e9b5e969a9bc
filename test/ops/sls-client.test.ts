/**
 * The SLS client of the canary gate's pipeline signals (cli/ops/metrics.ts SlsSignalSource.fromEnv):
 * the lazily loaded @alicloud/sls20201230 is installed, the loader finds its Client and
 * GetLogsRequest and builds a client from the environment. The SDK's own getLogs is intercepted on
 * its prototype, so nothing goes to the network; the request it receives is the one SLS would get.
 */
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SlsSignalSource } from "../../cli/ops/metrics.js";
import { ConfigError } from "../../cli/ops/errors.js";
import { signalSql } from "../../infra/fc-metrics.js";

// the CommonJS module the loader's `import()` resolves to (one instance per process)
const sdk = createRequire(import.meta.url)("@alicloud/sls20201230") as { default: { prototype: Record<string, unknown> }; GetLogsRequest: new (m: object) => object };
const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: "AKID-test", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "secret-test" } as NodeJS.ProcessEnv;

afterEach(() => vi.restoreAllMocks());

describe("SlsSignalSource.fromEnv with @alicloud/sls20201230", () => {
  it("builds a client for the region's endpoint and sends GetLogs one query per signal", async () => {
    const calls: { endpoint: unknown; project: string; logstore: string; req: any }[] = [];
    vi.spyOn(sdk.default.prototype as any, "getLogs").mockImplementation(async function (this: any, project: any, logstore: any, req: any) {
      calls.push({ endpoint: this._endpoint, project, logstore, req });
      return { body: [{ value: String(calls.length) }] };
    });
    const source = await SlsSignalSource.fromEnv("cn-hangzhou", env);
    expect(source).toBeInstanceOf(SlsSignalSource);
    const got = await source.pipelineSignals({ region: "cn-hangzhou", logProject: "logpipe-prod-1", logstore: "functions", fn: "compress", version: "4", startMs: 60_500, endMs: 120_500 });
    // compress logs dead letters, slot waits and invocations (infra/fc-metrics.ts PIPELINE_SIGNALS order)
    expect(calls.map((c) => c.req.query)).toEqual(["deadLetters", "slotWaits", "invocations"].map((k) => signalSql(k as never, { fn: "compress", version: "4" })));
    for (const c of calls) {
      expect(c.endpoint).toBe("cn-hangzhou.log.aliyuncs.com");
      expect([c.project, c.logstore]).toEqual(["logpipe-prod-1", "functions"]);
      expect(c.req).toBeInstanceOf(sdk.GetLogsRequest);
      expect([c.req.from, c.req.to]).toEqual([60, 121]); // seconds, the window rounded outwards
    }
    expect(got).toEqual({ invocations: 3, records: 0, unrouted: 0, deadLetters: 1, slotWaits: 2 });
  });

  it("LOGPIPE_SLS_ENDPOINT overrides the endpoint", async () => {
    let endpoint: unknown;
    vi.spyOn(sdk.default.prototype as any, "getLogs").mockImplementation(async function (this: any) { endpoint = this._endpoint; return { body: [] }; });
    const source = await SlsSignalSource.fromEnv("cn-shanghai", { ...env, LOGPIPE_SLS_ENDPOINT: "cn-shanghai-intranet.log.aliyuncs.com" });
    await source.pipelineSignals({ region: "cn-shanghai", logProject: "p", logstore: "functions", fn: "upload", version: "1", startMs: 0, endMs: 60_000 });
    expect(endpoint).toBe("cn-shanghai-intranet.log.aliyuncs.com");
  });

  it("without credentials it says which variables to set", async () => {
    await expect(SlsSignalSource.fromEnv("cn-hangzhou", {})).rejects.toThrow(ConfigError);
    await expect(SlsSignalSource.fromEnv("cn-hangzhou", {})).rejects.toThrow(/ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
  });
});

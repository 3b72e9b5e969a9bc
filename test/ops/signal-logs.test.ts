/**
 * The functions' own pipeline signals are countable per FC version: each line of an invocation
 * carries `fcVersion`, the summary line a `metrics` object with stable names, and each dead
 * letter a `metrics.dead_letters` of 1. These are the fields the SLS queries of
 * infra/fc-metrics.ts sum (real split on a temp NAS dir and the suite's Redis).
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import type { SourceRecord } from "../../cli/sources/types.js";
import { createLogger, invocationSignals, SIGNAL_NAMES } from "../../functions/core/logger.js";
import { splitBatch } from "../../functions/core/split.js";
import { signalSql, PIPELINE_SIGNALS } from "../../infra/fc-metrics.js";
import { testPipeline } from "../support/deps.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  return { lines, logger: createLogger({ base: { fn: "split" }, destination: stream }) };
}

const rec = (offset: number, value: string): SourceRecord => ({ topic: "logs", partition: 0, offset, timestamp: 0, key: null, headers: {}, value: Buffer.from(value) });

describe("pipeline signals in the functions' logs", () => {
  it("split counts _unrouted records; dead letters log metrics.dead_letters=1 with the FC version", async () => {
    const p = testPipeline({ env: { LOGPIPE_MAX_RECORD_BYTES: "2048" } });
    try {
      const { lines, logger } = capture();
      const deps = { ...p.deps, logger: logger.child({ fcVersion: "7", fcQualifier: "live" }) };
      const batch = [
        ...Array.from({ length: 6 }, (_, i) => rec(i, JSON.stringify({ appId: "pay", i }))),
        rec(6, JSON.stringify({ noApp: true })), rec(7, "not json at all"),
        rec(8, JSON.stringify({ appId: "pay", pad: "x".repeat(4096) })), // over LOGPIPE_MAX_RECORD_BYTES → dead letter
      ];
      const result = await splitBatch(deps, toCloudEventsBatch(batch));
      expect(result.unrouted).toBe(2);
      expect(result.deadLetters).toHaveLength(1);
      expect(invocationSignals("split", result)).toEqual({ invocations: 1, records: result.records, unrouted: 2 });
      const dl = lines.filter((l) => l.msg === "dead-lettered input");
      expect(dl).toHaveLength(1);
      expect(dl[0]).toMatchObject({ fn: "split", fcVersion: "7", metrics: { [SIGNAL_NAMES.deadLetters]: 1 } });
    } finally {
      await p.close();
    }
  });

  it("compress reports slot waits (apps skipped because every writer was busy); upload has no signal", () => {
    expect(invocationSignals("compress", { busy: 3, apps: 7 })).toEqual({ invocations: 1, slot_waits: 3 });
    expect(invocationSignals("upload", { sealed: 1 })).toEqual({ invocations: 1 });
  });

  it("each signal's SLS query sums its metric over the lines of one function and FC version", () => {
    expect(Object.keys(PIPELINE_SIGNALS).sort()).toEqual(["deadLetters", "invocations", "records", "slotWaits", "unrouted"]);
    const sql = signalSql("unrouted", { fn: "split", version: "7" });
    expect(sql).toContain(`json_extract_scalar(message, '$.metrics.unrouted')`);
    expect(sql).toContain(`json_extract_scalar(message, '$.fcVersion') = '7'`);
    expect(sql).toContain(`json_extract_scalar(message, '$.fn') = 'split'`);
    // a version id is digits; anything else would be injected into the query
    expect(() => signalSql("unrouted", { fn: "split", version: "7' or '1'='1" })).toThrow(/version/);
  });
});

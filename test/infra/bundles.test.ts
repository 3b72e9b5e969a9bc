/**
 * Each built artifact, unzipped into an empty directory outside the repository (so nothing
 * resolves from node_modules), loads in plain `node` — a child process, not vitest — and its
 * handler runs against a sample event with local stores: NAS = a temp dir, OSS = a local
 * object directory, Redis = a private redis-server, each process with its function's deployed
 * runtime settings (NODE_OPTIONS, MALLOC_ARENA_MAX). split → compress (drain tasks) → upload then
 * round-trip: every record of the sample batches is in the archive exactly once.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAll, type Artifact } from "../../cli/build/artifacts.js";
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from "../../cli/services/redis-server.js";
import { tailShardOf } from "../../functions/adapters/coord-store.js";
import { decodeStagingIndex, stagingIdOf } from "../../functions/core/staging.js";
import type { FunctionKind } from "../../infra/config.js";
import { RUNTIME_ENV } from "../../infra/runtime-env.js";
import { readZip } from "./helpers.js";

const RUNNER = `
const path = require("node:path");
const fs = require("node:fs");
const mod = require(path.join(process.cwd(), "index.js"));
if (typeof mod.handler !== "function") { console.error("no handler export"); process.exit(3); }
const event = fs.readFileSync(process.env.EVENT_FILE);
mod.handler(event, { requestId: "bundle-test", function: { name: process.env.FN } }).then(
  (r) => { fs.writeFileSync(process.env.RESULT_FILE, typeof r === "string" ? r : JSON.stringify(r)); process.exit(0); },
  (e) => { console.error(e && e.stack || e); process.exit(1); },
);
`;

let artifacts: Artifact[];
let redis: RedisServerHandle | undefined;
let redisUrl: string;
let work: string;
const app = `bundle-${process.pid}-${Date.now().toString(36)}`;
const app2 = `${app}-b`;

function unzipTo(a: Artifact): string {
  const dir = path.join(work, "code", a.fn);
  mkdirSync(dir, { recursive: true });
  for (const e of readZip(a.zip)) writeFileSync(path.join(dir, e.name), e.data);
  writeFileSync(path.join(dir, "runner.cjs"), RUNNER);
  return dir;
}

function run(fn: FunctionKind, event: Buffer | string, extraEnv: Record<string, string> = {}): { status: number | null; stderr: string; result?: any } {
  const dir = path.join(work, "code", fn);
  const eventFile = path.join(work, `${fn}-event-${Date.now()}.json`);
  const resultFile = path.join(work, `${fn}-result-${Date.now()}.json`);
  writeFileSync(eventFile, event);
  const r = spawnSync(process.execPath, ["runner.cjs"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? "",
      FN: fn,
      EVENT_FILE: eventFile,
      RESULT_FILE: resultFile,
      LOGPIPE_NAS_ROOT: path.join(work, "nas"),
      LOGPIPE_OBJECT_DIR: path.join(work, "oss"),
      LOGPIPE_REDIS_URL: redisUrl,
      LOGPIPE_INVOKE_MODE: "inline",
      LOGPIPE_LOG_LEVEL: "warn",
      LOGPIPE_OSS_PREFIX: "logs",
      ...RUNTIME_ENV[fn],
      ...extraEnv,
    },
  });
  let result;
  try {
    result = JSON.parse(readFileSync(resultFile, "utf8"));
  } catch {
    /* no result */
  }
  return { status: r.status, stderr: r.stderr, result };
}

function cloudEvents(records: { app: string; offset: number; partition?: number; msg?: string }[]): string {
  return JSON.stringify(
    records.map((r) => ({
      specversion: "1.0",
      id: `id-${r.offset}`,
      source: "acs:alikafka",
      type: "alikafka:Topic:Message",
      subject: "acs:alikafka:alikafka_pre-cn-test:topic:app-logs",
      datacontenttype: "application/json; charset=utf-8",
      time: "2024-05-01T02:49:51.589Z",
      data: { topic: "app-logs", partition: r.partition ?? 0, offset: r.offset, timestamp: 1714531791589, headers: { headers: [], isReadOnly: false }, key: r.app, value: JSON.stringify({ appId: r.app, level: "INFO", msg: r.msg ?? `record ${r.offset}` }) },
    })),
  );
}

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    out = statSync(p).isDirectory() ? out.concat(files(p)) : out.concat([p]);
  }
  return out;
}

/** Staging files on NAS, relative to the NAS root. */
function staged(): string[] {
  return files(path.join(work, "nas", "staging")).map((f) => path.relative(path.join(work, "nas"), f).split(path.sep).join("/")).filter((f) => stagingIdOf(f) !== undefined);
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), "logpipe-bundles-"));
  if (redisServerAvailable()) {
    redis = await startRedisServer();
    redisUrl = redis.url;
  } else {
    redisUrl = process.env.LOGPIPE_TEST_REDIS_URL ?? "";
  }
  artifacts = await buildAll();
  for (const a of artifacts) unzipTo(a);
}, 180_000);

afterAll(async () => {
  await redis?.stop();
});

describe("bundles load and run in plain node", () => {
  it("each bundle exports handler and loads without the repository's node_modules", () => {
    expect(redisUrl).toMatch(/^redis:\/\//);
    for (const a of artifacts) {
      const r = spawnSync(process.execPath, ["-e", "const m=require('./index.js'); process.stdout.write(typeof m.handler)"], { cwd: path.join(work, "code", a.fn), encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("function");
    }
  });

  it("each bundle carries only the cloud SDKs its function uses (OSS client: upload; FC SDK: split, upload)", () => {
    const uses = (fn: string, pkg: string) => artifacts.find((a) => a.fn === fn)!.inputs.some((i) => i.includes(`node_modules/${pkg}/`));
    expect([uses("split", "ali-oss"), uses("split", "@alicloud/fc20230330")]).toEqual([false, true]);
    expect([uses("compress", "ali-oss"), uses("compress", "@alicloud/fc20230330")]).toEqual([false, false]);
    expect([uses("upload", "ali-oss"), uses("upload", "@alicloud/fc20230330")]).toEqual([true, true]);
  });

  it("split handles a CloudEvents batch (hot apps drained inline) and writes the apps' active files", () => {
    const batch = [...Array.from({ length: 20 }, (_, i) => ({ app, offset: 100 + i })), ...Array.from({ length: 5 }, (_, i) => ({ app: app2, offset: 200 + i }))];
    const hot = { LOGPIPE_DRAIN_BYTES: "1", LOGPIPE_TAIL_SECTION_BYTES: "0" }; // every app is due at once: split invokes compress for both
    const r = run("split", cloudEvents(batch), hot);
    expect(r.status, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ records: 25, apps: 2, files: 1, duplicates: 0, hot: 2, rejected: 0 });
    // a redelivery of the same batch is harmless (deduplicated by offsets)
    const again = run("split", cloudEvents(batch), hot);
    expect(again.status, again.stderr).toBe(0);
    expect(again.result).toMatchObject({ records: 25, duplicates: 25, hot: 0 });
    const active = files(path.join(work, "nas")).filter((f) => f.includes(`${path.sep}active${path.sep}`) && f.includes(app));
    expect(active.length).toBeGreaterThan(0);
    expect(staged()).toEqual([]);
  });

  it("compress takes a tail shard's drain task and drains the app's staged records", () => {
    // split stages 7 records without draining them (the app is not hot at the default threshold),
    // in its tail shard's region (a few hundred bytes: under LOGPIPE_TAIL_SECTION_BYTES)
    const s = run("split", cloudEvents(Array.from({ length: 7 }, (_, i) => ({ app, offset: 300 + i, partition: 1, msg: `staged ${300 + i}` }))));
    expect(s.status, s.stderr).toBe(0);
    expect(s.result).toMatchObject({ records: 7, files: 1, hot: 0 });
    const [file] = staged();
    expect(file).toMatch(/^staging\/app-logs\.1\/300-306\.[0-9a-f]{8}\.batch$/);
    const index = decodeStagingIndex(readFileSync(path.join(work, "nas", file!)));
    const shard = tailShardOf(app, 8);
    expect([index.sections, index.tails?.map((t) => [t.shard, t.apps, t.records])]).toEqual([[], [[shard, 1, 7]]]);

    const r = run("compress", JSON.stringify({ v: 2, apps: [], shard, reason: "sweep" }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ requested: 1, apps: 1, members: 1, records: 7, filesRead: 1, filesDeleted: 1, errors: [] });
    expect(staged()).toEqual([]);
    const bad = run("compress", "not a drain task");
    expect(bad.status, bad.stderr).toBe(0);
    expect(bad.result.status).toBe("dead-lettered");
  });

  it("upload (timer event, drain) drains, seals and ships everything; each record is archived exactly once", () => {
    // staged but never drained: the drain payload must not leave them behind
    const s = run("split", cloudEvents(Array.from({ length: 3 }, (_, i) => ({ app, offset: 400 + i, partition: 2, msg: `late ${400 + i}` }))));
    expect(s.result).toMatchObject({ records: 3, hot: 0 });
    expect(staged()).toHaveLength(1);
    const r = run("upload", JSON.stringify({ triggerTime: "2024-05-01T03:00:00Z", triggerName: "timer", payload: "drain" }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.result.uploaded).toBeGreaterThan(0);
    expect(r.result.failed).toBe(0);
    // the reply (and log line) sums the records' ages up instead of listing one per member
    expect(r.result.ages).toBeUndefined();
    expect(r.result.recordAge.records).toBeGreaterThan(0);
    expect(r.result.recordAge.p99Ms).toBeGreaterThanOrEqual(r.result.recordAge.p50Ms);
    const objects = files(path.join(work, "oss", "logs", app)).filter((f) => f.endsWith(".gz"));
    expect(objects.length).toBeGreaterThan(0);
    const lines = objects.flatMap((f) => gunzipSync(readFileSync(f)).toString("utf8").split("\n").filter(Boolean));
    const msgs = lines.map((l) => JSON.parse(l).msg).sort();
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `record ${100 + i}`), ...Array.from({ length: 7 }, (_, i) => `staged ${300 + i}`), ...Array.from({ length: 3 }, (_, i) => `late ${400 + i}`),
    ].sort();
    expect(msgs).toEqual(expected);
    expect(staged()).toEqual([]);
    expect(files(path.join(work, "oss", "logs", app2)).length).toBeGreaterThan(0);
  });
});

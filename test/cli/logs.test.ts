/**
 * `logpipe logs` against real archives: a local pipeline run (runLocal + synthetic source) into
 * a local object directory and into the OSS test server, and hand-made objects in chosen
 * `dt=/hour=` partitions for the time-range, order, framing and error cases.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { OssObjectStore } from "../../functions/adapters/oss-store.js";
import { frameRecords } from "../../functions/core/framing.js";
import { appSegment } from "../../functions/core/routing.js";
import { runLocal } from "../../cli/local/run.js";
import { SyntheticGenerator, syntheticSource, type SyntheticOptions } from "../../cli/sources/synthetic.js";
import { readAppLogs } from "../../cli/logs/reader.js";
import { partitionStart, parseTimeFlag, zonedToEpoch } from "../../cli/support/time.js";
import { startOssServer, type OssTestServer } from "../support/oss-server.js";
import { archivedRecords, cli, jsonRecords, putArchiveObject, sorted, utcPartition } from "./helpers.js";

const HOUR = 3_600_000;
const tmp = () => mkdtempSync(path.join(os.tmpdir(), "logpipe-logs-test-"));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The records the synthetic source produces for one app (what went in), as strings. */
function sourceRecords(opts: SyntheticOptions, app: string): string[] {
  const gen = new SyntheticGenerator(opts);
  const out: string[] = [];
  for (let i = 0; i < opts.records!; i++) {
    const r = gen.next();
    if (r.app === app) out.push(r.value.toString("utf8"));
  }
  return out;
}

describe("logpipe logs on a local pipeline run", () => {
  const synth: SyntheticOptions = { apps: 6, records: 4000, seed: 7 };
  let out: string;
  let store: LocalObjectStore;
  let apps: string[];

  beforeAll(async () => {
    out = tmp();
    dirs.push(out);
    const report = await runLocal({ source: syntheticSource(synth), outDir: out, trigger: { batchRecords: 500, batchWindowMs: 50 } });
    expect(report.ok).toBe(true);
    store = new LocalObjectStore(path.join(out, "objects"));
    apps = report.verify!.apps.map((a) => a.app);
    expect(apps.length).toBeGreaterThanOrEqual(3);
  });

  it("prints exactly the app's records: the ones the source produced for it, as archived", async () => {
    for (const app of apps.slice(0, 3)) {
      const r = await cli("logs", app, "--out", out, "--json");
      expect(r.code, r.stderr).toBe(0);
      const got = jsonRecords(r.out);
      expect(got.every((g) => g.key.startsWith(`logs/${app}/dt=`))).toBe(true);
      const printed = sorted(got.map((g) => g.record.toString("utf8")));
      expect(printed).toEqual(sorted(sourceRecords(synth, app)));
      expect(printed).toEqual(sorted((await archivedRecords(store, "logs", app)).map((b) => b.toString("utf8"))));
    }
  });

  it("text output is one record per line, byte-exact", async () => {
    const app = apps[0]!;
    const r = await cli("logs", app, "--out", out);
    expect(r.code).toBe(0);
    const expected = await archivedRecords(store, "logs", app);
    expect(r.stdout.equals(Buffer.concat(expected.map((b) => Buffer.concat([b, Buffer.from("\n")]))))).toBe(true);
  });

  it("--grep filters on the record text (-i ignores case)", async () => {
    const app = apps[0]!;
    const all = sourceRecords(synth, app);
    const r = await cli("logs", app, "--out", out, "--grep", '"level":"ERROR"');
    expect(r.code).toBe(0);
    const lines = r.out.split("\n").filter(Boolean);
    expect(sorted(lines)).toEqual(sorted(all.filter((l) => l.includes('"level":"ERROR"'))));
    expect(lines.length).toBeGreaterThan(0);
    const ci = await cli("logs", app, "--out", out, "--grep", "LEVEL.:.error", "-i");
    expect(ci.out.split("\n").filter(Boolean).length).toBe(lines.length);
  });

  it("--limit stops after N records", async () => {
    const r = await cli("logs", apps[0]!, "--out", out, "--limit", "5");
    expect(r.code).toBe(0);
    expect(r.out.split("\n").filter(Boolean)).toHaveLength(5);
  });

  it("an unknown app gets a clear message naming it and the range, exit 3", async () => {
    const r = await cli("logs", "no-such-app", "--out", out);
    expect(r.code).toBe(3);
    expect(r.out).toBe("");
    expect(r.stderr).toMatch(/no records for app "no-such-app" from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}-.*nothing is archived under file:\/\/.*\/logs\/no-such-app\//);
  });

  it("a known app outside the range: the message says where its archive is", async () => {
    const r = await cli("logs", apps[0]!, "--out", out, "--since", "2020-01-01", "--until", "2020-01-02");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`app "${apps[0]}"`);
    expect(r.stderr).toMatch(/this app's archive spans dt=\d{4}-\d\d-\d\d\/hour=\d\d/);
  });
});

describe("logpipe logs on OSS (the OSS test server)", () => {
  const synth: SyntheticOptions = { apps: 4, records: 1500, seed: 11 };
  let server: OssTestServer;
  let store: OssObjectStore;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    server = await startOssServer({ bucket: "logs-cli-test" });
    store = new OssObjectStore({ bucket: server.bucket, endpoint: server.endpoint, accessKeyId: server.accessKeyId, accessKeySecret: server.accessKeySecret });
    const out = tmp();
    dirs.push(out);
    const report = await runLocal({ source: syntheticSource(synth), outDir: out, objects: store, trigger: { batchRecords: 300, batchWindowMs: 50 } });
    expect(report.ok).toBe(true);
    for (const k of ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"]) saved[k] = process.env[k];
    process.env.ALIBABA_CLOUD_ACCESS_KEY_ID = server.accessKeyId;
    process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = server.accessKeySecret;
    delete process.env.ALIBABA_CLOUD_SECURITY_TOKEN;
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server?.stop();
  });

  const oss = () => ["--oss-bucket", server.bucket, "--oss-endpoint", server.endpoint];

  it("reads exactly the app's records, listing only that app's keys", async () => {
    const apps = [...new Set(server.listKeys().map((k) => k.split("/")[1]!))].filter((a) => !a.startsWith("_"));
    expect(apps.length).toBeGreaterThanOrEqual(2);
    for (const app of apps) {
      server.resetCounters();
      const r = await cli("logs", app, ...oss(), "--json");
      expect(r.code, r.stderr).toBe(0);
      expect(sorted(jsonRecords(r.out).map((g) => g.record.toString("utf8")))).toEqual(sorted(sourceRecords(synth, app)));
      const gets = server.requestLog.filter((q) => q.op === "GetObject");
      expect(gets.length).toBeGreaterThan(0);
      for (const q of gets) expect(q.key.startsWith(`logs/${app}/dt=`)).toBe(true);
    }
  });

  it("--grep works on OSS too", async () => {
    const app = server.listKeys()[0]!.split("/")[1]!;
    const r = await cli("logs", app, ...oss(), "--grep", "payment authorized");
    expect(r.code).toBe(0);
    expect(sorted(r.out.split("\n").filter(Boolean))).toEqual(sorted(sourceRecords(synth, app).filter((l) => l.includes("payment authorized"))));
  });

  it("an unknown app on OSS: exit 3 with the bucket in the message; no credentials are printed", async () => {
    const r = await cli("logs", "ghost", ...oss());
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('app "ghost"');
    expect(r.stderr).toContain(`oss://${server.bucket}/logs/ghost/`);
    expect(r.stderr).not.toContain(server.accessKeySecret);
  });

  it("missing credentials or bucket flags → exit 2 naming what is missing", async () => {
    const secret = process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    delete process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    try {
      const r = await cli("logs", "x", ...oss());
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    } finally {
      process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = secret;
    }
    const noBucket = await cli("logs", "x", "--oss-endpoint", server.endpoint);
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toContain("--oss-bucket");
    const both = await cli("logs", "x", ...oss(), "--out", "/tmp");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--out");
  });
});

describe("logpipe logs: partitions, order, framing", () => {
  let out: string;
  let store: LocalObjectStore;
  const now = Date.now();
  const key = (app: string, ms: number, file: string, tz = "UTC") => {
    const { dt, hour } = tz === "UTC" ? utcPartition(ms) : shanghai(ms);
    return `logs/${app}/dt=${dt}/hour=${hour}/${file}`;
  };
  const shanghai = (ms: number) => utcPartition(ms + 8 * HOUR);
  const b = (s: string) => Buffer.from(s);
  const withNewline = b("panic: boom\n\tat main.go:12\n\tat runtime.go:7");
  const notUtf8 = Buffer.from([0x6c, 0x6f, 0x67, 0x20, 0xff, 0xfe, 0x21]);
  const rs = b("\x1estarts with the marker byte");

  beforeAll(async () => {
    out = tmp();
    dirs.push(out);
    store = new LocalObjectStore(path.join(out, "objects"), { fsync: false });
    await putArchiveObject(store, key("web", now - 5 * HOUR, "web-0-0.log.gz"), [[b("old-1"), b("old-2")]]);
    await putArchiveObject(store, key("web", now - HOUR, "web-0-1.log.gz"), [[b("prev-1")], [b("prev-2")]]);
    // current hour: two slots, several gzip members, records needing the 0x1E framing
    await putArchiveObject(store, key("web", now, "web-0-2.log.gz"), [[b("cur-1"), withNewline], [notUtf8, rs]]);
    await putArchiveObject(store, key("web", now, "web-1-0.log.gz"), [[b("cur-slot1")]]);
    // another app beside it, which must never show up
    await putArchiveObject(store, key("api", now, "api-0-0.log.gz"), [[b("api-1")]]);
    // keys written in Asia/Shanghai
    await putArchiveObject(store, key("sh", now, "sh-0-0.log.gz", "Asia/Shanghai"), [[b("shanghai-1")]]);
    // a hostile app id, stored under its encoded segment
    await putArchiveObject(store, `logs/${appSegment("../../etc")}/dt=${utcPartition(now).dt}/hour=${utcPartition(now).hour}/x-0-0.log.gz`, [[b("hostile-1")]]);
  });

  const lines = (s: string) => s.split("\n").filter(Boolean);

  it("--since includes the hour before it (a later-sealed file) and excludes older partitions", async () => {
    const r = await cli("logs", "web", "--out", out, "--since", "30m");
    expect(r.code, r.stderr).toBe(0);
    const got = lines(r.out);
    expect(got).toContain("prev-1");
    expect(got).toContain("cur-1");
    expect(got.some((l) => l.startsWith("old-"))).toBe(false);
    expect(got.some((l) => l.startsWith("api-"))).toBe(false);
    // oldest partition first; within an object, commit order across gzip members
    expect(got.indexOf("prev-1")).toBeLessThan(got.indexOf("prev-2"));
    expect(got.indexOf("prev-2")).toBeLessThan(got.indexOf("cur-1"));
  });

  it("--since/--until select only the partitions in range", async () => {
    const r = await cli("logs", "web", "--out", out, "--since", "6h", "--until", "3h");
    expect(r.code).toBe(0);
    expect(lines(r.out)).toEqual(["old-1", "old-2"]);
    const iso = new Date(now - 3 * HOUR).toISOString();
    const r2 = await cli("logs", "web", "--out", out, "--since", "1d", "--until", iso);
    expect(lines(r2.out)).toEqual(["old-1", "old-2"]);
  });

  it("lists only the app's day prefixes", async () => {
    const prefixes: string[] = [];
    const spy = { description: store.description, list: (p: string) => (prefixes.push(p), store.list(p)), getBuffer: (k: string) => store.getBuffer(k) } as unknown as LocalObjectStore;
    const chunks: Buffer[] = [];
    const stats = await readAppLogs(spy, { app: "web", prefix: "logs", since: now - 2 * HOUR, timeZone: "UTC" }, { write: (c) => void chunks.push(c) });
    expect(stats.recordsMatched).toBe(7); // prev ×2, cur ×4 (one slot), cur-slot1
    expect(prefixes.length).toBeGreaterThan(0);
    for (const p of prefixes) expect(p).toMatch(/^logs\/web\/dt=\d{4}-\d\d-\d\d\/$/);
  });

  it("--newest-first reads the newest partition first", async () => {
    const r = await cli("logs", "web", "--out", out, "--since", "1d", "--newest-first");
    const got = lines(r.out);
    expect(got.indexOf("cur-1")).toBeLessThan(got.indexOf("prev-1"));
    expect(got.indexOf("prev-1")).toBeLessThan(got.indexOf("old-1"));
  });

  it("a record with newlines is one JSON-escaped line in text mode; --json keeps every byte", async () => {
    const r = await cli("logs", "web", "--out", out);
    const got = lines(r.out);
    expect(got).toContain(JSON.stringify(withNewline.toString("utf8")));
    expect(r.stdout.includes(Buffer.concat([notUtf8, b("\n")]))).toBe(true);
    expect(got).toContain(rs.toString("utf8"));
    const j = await cli("logs", "web", "--out", out, "--json", "--since", "1d");
    const recs = jsonRecords(j.out).map((x) => x.record);
    expect(recs.some((x) => x.equals(withNewline))).toBe(true);
    expect(recs.some((x) => x.equals(notUtf8))).toBe(true);
    expect(recs.some((x) => x.equals(rs))).toBe(true);
    expect(recs).toHaveLength(9);
    expect(j.out).toContain('"recordBase64"');
  });

  it("partitions are read in the pipeline's zone (--partition-timezone); --timezone only reads the times typed", async () => {
    const utc = await cli("logs", "sh", "--out", out);
    expect(utc.code).toBe(3);
    expect(utc.stderr).toMatch(/partition hours in UTC/); // the message says which zone it looked in
    const sh = await cli("logs", "sh", "--out", out, "--partition-timezone", "Asia/Shanghai");
    expect(sh.code).toBe(0);
    expect(lines(sh.out)).toEqual(["shanghai-1"]);
    // a reader in Shanghai typing local times still finds the UTC-partitioned app
    const since = new Date(now - 2 * HOUR + 8 * HOUR).toISOString().slice(0, 16); // local wall time, no offset
    const web = await cli("logs", "web", "--out", out, "--timezone", "Asia/Shanghai", "--since", since);
    expect(web.code, web.stderr).toBe(0);
    expect(lines(web.out)).toContain("cur-1");
  });

  it("--newest-first --limit 1 prints the newest record (last of the newest object), not the oldest of the newest hour", async () => {
    const r = await cli("logs", "web", "--out", out, "--since", "1d", "--newest-first");
    const got = lines(r.out);
    expect(got.indexOf(rs.toString("utf8"))).toBeLessThan(got.indexOf("cur-1")); // within an object too
    expect(got.indexOf("prev-2")).toBeLessThan(got.indexOf("prev-1"));
    expect(got.at(-1)).toBe("old-1");
    const one = await cli("logs", "web", "--out", out, "--since", "1d", "--newest-first", "--limit", "1");
    const newest = lines((await cli("logs", "web", "--out", out, "--since", "1d")).out).at(-1);
    expect(lines(one.out)).toEqual([newest]);
  });

  it("--list-apps lists what the archive holds; an unknown app gets a 'did you mean'", async () => {
    const r = await cli("logs", "--list-apps", "--out", out, "--json");
    expect(r.code, r.stderr).toBe(0);
    const listed = (JSON.parse(r.out) as { apps: { app: string; objects: number }[] }).apps;
    expect(listed.map((a) => a.app).sort()).toEqual(["../../etc", "api", "sh", "web"]);
    expect(listed.find((a) => a.app === "web")!.objects).toBe(4);
    const table = await cli("logs", "--list-apps", "--out", out);
    expect(table.out).toMatch(/│ web\s+│\s+4 │/);
    const typo = await cli("logs", "wbe", "--out", out);
    expect(typo.code).toBe(3);
    expect(typo.stderr).toMatch(/did you mean "web"\?/);
    const none = await cli("logs", "--out", out);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--list-apps");
  });

  it("the app id is mapped to its key segment like split does (hostile ids never become paths)", async () => {
    const r = await cli("logs", "../../etc", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.out)).toEqual(["hostile-1"]);
    const miss = await cli("logs", "../../nope", "--out", out);
    expect(miss.code).toBe(3);
    expect(miss.stderr).toContain(`key segment ${appSegment("../../nope")}`);
  });

  it("a corrupt object is reported (exit 1) and the other objects are still printed", async () => {
    const dir = tmp();
    dirs.push(dir);
    const s = new LocalObjectStore(path.join(dir, "objects"), { fsync: false });
    await putArchiveObject(s, key("c", now, "c-0-0.log.gz"), [[b("good-1")]]);
    const truncated = gzipSync(frameRecords([b("lost-1"), b("lost-2")])).subarray(0, 12);
    await s.putBuffer(key("c", now, "c-1-0.log.gz"), truncated);
    const r = await cli("logs", "c", "--out", dir);
    expect(r.code).toBe(1);
    expect(lines(r.out)).toEqual(["good-1"]);
    expect(r.stderr).toMatch(/could not read logs\/c\/dt=.*c-1-0\.log\.gz/);
  });

  it("--follow prints objects that appear later, until stopped", async () => {
    const dir = tmp();
    dirs.push(dir);
    const s = new LocalObjectStore(path.join(dir, "objects"), { fsync: false });
    await putArchiveObject(s, key("f", now, "f-0-0.log.gz"), [[b("first")]]);
    const chunks: string[] = [];
    const ac = new AbortController();
    const reading = readAppLogs(
      s,
      { app: "f", prefix: "logs", since: Date.now() - HOUR, timeZone: "UTC", follow: { intervalMs: 100, signal: ac.signal } },
      { write: (c) => void chunks.push(c.toString("utf8")) },
    );
    const waitFor = async (text: string) => {
      for (let i = 0; i < 100 && !chunks.join("").includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(chunks.join("")).toContain(text);
    };
    await waitFor("first\n");
    await putArchiveObject(s, key("f", Date.now(), "f-0-1.log.gz"), [[b("second")]]);
    await waitFor("second\n");
    // a file sealed late into the previous hour is picked up too
    await putArchiveObject(s, key("f", Date.now() - HOUR, "f-3-0.log.gz"), [[b("late")]]);
    await waitFor("late\n");
    ac.abort();
    const stats = await reading;
    expect(chunks.join("")).toBe("first\nsecond\nlate\n");
    expect(stats.objects).toBe(3);
  });

  it("bad flags exit 2 and name the flag", async () => {
    const cases: [string[], string][] = [
      [["--since", "2x"], "--since"],
      [["--since", "2024-13-01"], "--since"],
      [["--until", "yesterday"], "--until"],
      [["--since", "1h", "--until", "2h"], "--until"],
      [["--grep", "("], "--grep"],
      [["--limit", "0"], "--limit"],
      [["--limit", "ten"], "--limit"],
      [["--interval", "fast"], "--interval"],
      [["--timezone", "Mars/Base"], "--timezone"],
      [["--prefix", "a b"], "--prefix"],
      [["--follow", "--until", "1h"], "--follow"],
      [["--since"], "--since"],
      [["--bogus"], "--bogus"],
    ];
    for (const [flags, name] of cases) {
      const r = await cli("logs", "web", "--out", out, ...flags);
      expect(r.code, `${flags.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(name);
    }
    const missing = await cli("logs", "web", "--out", path.join(out, "nope"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--out");
  });
});

describe("time flags", () => {
  const now = Date.UTC(2024, 4, 1, 10, 30, 0);
  it("parses durations and ISO times, in the given zone when the time has none", () => {
    expect(parseTimeFlag("--since", "2h", now, "UTC")).toBe(now - 2 * HOUR);
    expect(parseTimeFlag("--since", "30m", now, "UTC")).toBe(now - 30 * 60_000);
    expect(parseTimeFlag("--since", "1d", now, "UTC")).toBe(now - 24 * HOUR);
    expect(parseTimeFlag("--since", "2h30m", now, "UTC")).toBe(now - 2.5 * HOUR);
    expect(parseTimeFlag("--since", "1d12h", now, "UTC")).toBe(now - 36 * HOUR);
    expect(parseTimeFlag("--until", "now", now, "UTC")).toBe(now);
    expect(parseTimeFlag("--since", "2024-05-01", now, "UTC")).toBe(Date.UTC(2024, 4, 1));
    expect(parseTimeFlag("--since", "2024-05-01T08:00", now, "Asia/Shanghai")).toBe(Date.UTC(2024, 4, 1, 0));
    expect(parseTimeFlag("--since", "2024-05-01T08:00:00+08:00", now, "UTC")).toBe(Date.UTC(2024, 4, 1, 0));
    expect(parseTimeFlag("--since", "2024-05-01T08:00:00.5Z", now, "UTC")).toBe(Date.UTC(2024, 4, 1, 8, 0, 0, 500));
    expect(() => parseTimeFlag("--since", "5", now, "UTC")).toThrow(/--since/);
  });
  it("maps partitions back to instants across DST", () => {
    expect(partitionStart("2024-05-01", "03", "UTC")).toBe(Date.UTC(2024, 4, 1, 3));
    expect(partitionStart("2024-05-01", "03", "Asia/Shanghai")).toBe(Date.UTC(2024, 3, 30, 19));
    // New York, 2024-03-10: 01:00 EST → 03:00 EDT
    expect(zonedToEpoch(2024, 3, 10, 1, 0, 0, 0, "America/New_York")).toBe(Date.UTC(2024, 2, 10, 6));
    expect(zonedToEpoch(2024, 3, 10, 3, 0, 0, 0, "America/New_York")).toBe(Date.UTC(2024, 2, 10, 7));
  });
});


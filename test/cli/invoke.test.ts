/**
 * `logpipe invoke`: the real handler exports, one event each, with the local stores. split on
 * the sample CloudEvents batch (its apps hot) records its compress invocations — drain tasks —
 * as event files; compress on each; upload with the drain payload ships objects; `logpipe logs`
 * reads them back. Without hot apps, upload's sweep records the drain tasks instead. The
 * coordination state lives in a private redis-server under DIR/coord between invocations, so a
 * redelivered batch is still archived once.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseKafkaBatch } from "../../functions/core/events.js";
import { cli, sorted, tempDirs } from "./helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SAMPLE = path.join(root, "examples/events/split-cloudevents.json");
const DRAIN = path.join(root, "examples/events/timer-drain.json");
const TIMER = path.join(root, "examples/events/timer.json");
const COMPRESS = path.join(root, "examples/events/compress-drain.json");
/** Every app of the sample is due at once, so split asks compress to drain it. */
// every app is due at once (and has a section of its own: no tail regions), so split invokes compress for each
const HOT = ["-e", "LOGPIPE_DRAIN_BYTES=1", "-e", "LOGPIPE_TAIL_SECTION_BYTES=0"];
const tmp = tempDirs("logpipe-invoke-test-");

/** The sample batch's record values per app id (field appId; the rest is _unrouted). */
function sampleRecords(): Map<string, string[]> {
  const { records, rejected } = parseKafkaBatch(readFileSync(SAMPLE));
  expect(rejected).toEqual([]);
  const byApp = new Map<string, string[]>();
  for (const r of records) {
    let app = "_unrouted";
    try {
      app = (JSON.parse(r.value.toString("utf8")) as { appId?: string }).appId ?? "_unrouted";
    } catch {
      /* plain text */
    }
    byApp.set(app, [...(byApp.get(app) ?? []), r.value.toString("utf8")]);
  }
  return byApp;
}

const json = (out: string) => JSON.parse(out) as { ok: boolean; result: any; error?: { message: string }; logs: any[]; invocations: { eventFile: string; payload: any }[]; stores: any };
/** Staging files under DIR/nas/staging (one per batch-partition). */
function stagingFiles(out: string): string[] {
  const dir = path.join(out, "nas", "staging");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".batch"));
}

describe("logpipe invoke", () => {
  it("the sample event is the fc-events.md format: CloudEvents, a JSON-string element, headers as a plain array", () => {
    const doc = JSON.parse(readFileSync(SAMPLE, "utf8")) as unknown[];
    expect(doc.some((e) => typeof e === "string")).toBe(true);
    const objs = doc.filter((e): e is { specversion: string; data: { headers: unknown } } => typeof e === "object");
    expect(objs.every((e) => e.specversion === "1.0")).toBe(true);
    expect(objs.some((e) => Array.isArray(e.data.headers))).toBe(true);
    expect(objs.some((e) => !Array.isArray(e.data.headers) && Array.isArray((e.data.headers as { headers: unknown }).headers))).toBe(true);
    expect(parseKafkaBatch(readFileSync(SAMPLE)).records).toHaveLength(doc.length);
  });

  it("split → compress (each recorded drain task) → upload drain → objects that logs reads back exactly once, across redelivery", async () => {
    const out = tmp();
    const expected = sampleRecords();

    const split = await cli("invoke", "split", "--event", SAMPLE, "--out", out, ...HOT, "--json");
    expect(split.code, split.stderr + split.out).toBe(0);
    const s = json(split.out);
    expect(s.ok).toBe(true);
    expect(s.result.records).toBe(6);
    expect(s.result.apps).toBe(expected.size);
    expect(s.result.hot).toBe(expected.size);
    expect(s.stores.coord).toContain(path.join(out, "coord"));
    expect(s.logs.some((l) => l.msg === "split done" && l.fn === "split" && typeof l.requestId === "string")).toBe(true);
    // one drain task for the batch's apps (a task holds up to LOGPIPE_SWEEP_APPS_PER_TASK apps)
    expect(s.invocations).toHaveLength(1);
    for (const inv of s.invocations) {
      expect(inv.payload).toMatchObject({ v: 2, reason: "hot" });
      expect([...inv.payload.apps].sort()).toEqual([...expected.keys()].sort());
      expect(inv.eventFile.startsWith(path.join(out, "events", "compress"))).toBe(true);
      expect(JSON.parse(readFileSync(inv.eventFile, "utf8"))).toEqual(inv.payload);
    }
    expect(stagingFiles(out)).toEqual([expect.stringMatching(/^app-logs\.7\/25-30\.[0-9a-f]{8}\.batch$/)]); // not drained yet

    for (const inv of s.invocations) {
      const c = await cli("invoke", "compress", "--event", inv.eventFile, "--out", out, "--json");
      expect(c.code, c.out).toBe(0);
      const r = json(c.out);
      expect(r.result).toMatchObject({ apps: expected.size, members: expected.size, records: 6, filesRead: 1, filesDeleted: 1, errors: [] });
    }
    expect(stagingFiles(out)).toEqual([]);

    const up = await cli("invoke", "upload", "--event", DRAIN, "--out", out, "--json");
    expect(up.code, up.out).toBe(0);
    const u = json(up.out);
    expect(u.result.sealed).toBe(expected.size);
    expect(u.result.uploaded).toBe(expected.size);
    expect(u.result.swept).toBe(0); // nothing left pending
    expect(readdirSync(path.join(out, "objects", "logs")).sort()).toEqual([...expected.keys()].sort());

    const readBack = async () => {
      for (const [app, values] of expected) {
        const l = await cli("logs", app, "--out", out);
        expect(l.code, l.stderr).toBe(0);
        expect(sorted(l.out.split("\n").filter(Boolean))).toEqual(sorted(values));
      }
    };
    await readBack();

    // The trigger redelivers the same batch: split finds every offset staged before (the
    // persistent coordination state), asks for no drain, and nothing is archived twice — even
    // when the earlier drain task is delivered again.
    const again = json((await cli("invoke", "split", "--event", SAMPLE, "--out", out, ...HOT, "--json")).out);
    expect(again.result).toMatchObject({ records: 6, duplicates: 6, hot: 0 });
    expect(again.invocations).toEqual([]);
    expect(stagingFiles(out)).toEqual([]);
    const redo = json((await cli("invoke", "compress", "--event", s.invocations[0]!.eventFile, "--out", out, "--json")).out);
    expect(redo.result).toMatchObject({ members: 0, records: 0 });
    const up2 = json((await cli("invoke", "upload", "--event", DRAIN, "--out", out, "--json")).out);
    expect(up2.result.uploaded).toBe(0);
    await readBack();
  });

  it("the sample drain task drains its apps; upload's sweep records a task for the rest; the next upload ships them", async () => {
    const out = tmp();
    const expected = sampleRecords();
    const sample = JSON.parse(readFileSync(COMPRESS, "utf8")) as { v: number; apps: string[]; reason: string };
    expect(sample.v).toBe(2);
    expect(sample.apps.every((a) => expected.has(a))).toBe(true);
    const rest = [...expected.keys()].filter((a) => !sample.apps.includes(a));
    expect(rest.length).toBeGreaterThan(0);
    const count = (apps: string[]) => apps.reduce((n, a) => n + expected.get(a)!.length, 0);

    // no app is hot at the default threshold: split only stages (each app a section of its own,
    // which the sample drain task names; at the defaults these few records go to tail regions)
    const s = json((await cli("invoke", "split", "--event", SAMPLE, "--out", out, "-e", "LOGPIPE_TAIL_SECTION_BYTES=0", "--json")).out);
    expect(s.result).toMatchObject({ records: 6, hot: 0 });
    expect(s.invocations).toEqual([]);

    const c = await cli("invoke", "compress", "--event", COMPRESS, "--out", out, "--json");
    expect(c.code, c.out).toBe(0);
    expect(json(c.out).result).toMatchObject({ requested: sample.apps.length, apps: sample.apps.length, members: sample.apps.length, records: count(sample.apps), filesDeleted: 0 });
    expect(stagingFiles(out)).toHaveLength(1); // the other apps' sections still pending

    const up = json((await cli("invoke", "upload", "--payload", "drain", "--out", out, "--json")).out);
    expect(up.result).toMatchObject({ swept: 1, uploaded: sample.apps.length });
    expect(up.invocations).toHaveLength(1);
    expect(up.invocations[0]!.payload).toEqual({ v: 2, apps: rest, reason: "sweep", seal: true }); // the drain payload's tasks seal what they drain

    const c2 = json((await cli("invoke", "compress", "--event", up.invocations[0]!.eventFile, "--out", out, "--json")).out);
    expect(c2.result).toMatchObject({ members: rest.length, records: count(rest), filesDeleted: 1 });
    expect(stagingFiles(out)).toEqual([]);
    const up2 = json((await cli("invoke", "upload", "--payload", "drain", "--out", out, "--json")).out);
    expect(up2.result).toMatchObject({ swept: 0, uploaded: rest.length });
    expect(readdirSync(path.join(out, "objects", "logs")).sort()).toEqual([...expected.keys()].sort());
    for (const [app, values] of expected) {
      const l = await cli("logs", app, "--out", out);
      expect(sorted(l.out.split("\n").filter(Boolean))).toEqual(sorted(values));
    }
  });

  it("pretty output: handler logs and result in separate sections; --chain runs compress inline", async () => {
    const out = tmp();
    const split = await cli("invoke", "split", "--event", SAMPLE, "--out", out, ...HOT, "--chain");
    expect(split.code).toBe(0);
    expect(split.out).toMatch(/^logpipe invoke split: ok in [\d.]+ ms \(request local-/);
    const logsAt = split.out.indexOf("── handler logs");
    const resultAt = split.out.indexOf("── result ──");
    expect(logsAt).toBeGreaterThan(0);
    expect(resultAt).toBeGreaterThan(logsAt);
    expect(split.out.slice(logsAt, resultAt)).toMatch(/INFO\s+compress done/); // chained compress logged
    expect(split.out.slice(logsAt, resultAt)).toMatch(/INFO\s+split done/);
    expect(split.out.slice(resultAt)).toMatch(/│ records\s+│ 6\s+│/);
    expect(split.out).toMatch(/compress invocations \(1\) run inline \(--chain\)/);
    // one drain task for the 3 apps: 3 members, 6 records, the one staging file read once
    expect(split.out).toMatch(/│ hot: [\w,.-]*pay-gw[\w,.-]*\s+│ ok\s+│ 3\s+│ 6\s+│ 1\s+│ \d+\s+│/);
    expect(split.out).not.toContain("recorded, not run");

    const timer = await cli("invoke", "upload", "--out", out); // default timer event: nothing due yet
    expect(timer.code).toBe(0);
    expect(timer.out).toMatch(/│ uploaded\s+│ 0\s+│/);
    const up = await cli("invoke", "upload", "--payload", "drain", "--out", out);
    expect(up.code).toBe(0);
    expect(up.out).toMatch(/│ uploaded\s+│ 3\s+│/);
    expect(up.out).toMatch(/INFO\s+uploaded\s.*\bkey=logs\/pay-gw\/dt=/);
    const upTimer = await cli("invoke", "upload", "--event", TIMER, "--out", out, "--json");
    expect(json(upTimer.out).result.uploaded).toBe(0);
  });

  it("a handler that throws → exit 1 with its error and logs", async () => {
    const out = tmp();
    mkdirSync(path.join(out, "nas"), { recursive: true });
    writeFileSync(path.join(out, "nas", "staging"), "not a directory");
    const r = await cli("invoke", "split", "--event", SAMPLE, "--out", out, "--json");
    expect(r.code).toBe(1);
    const rep = json(r.out);
    expect(rep.ok).toBe(false);
    expect(rep.error!.message).toMatch(/ENOTDIR|EEXIST|not a directory/i);
    expect(rep.logs.some((l) => l.msg === "split failed" && l.level === "error")).toBe(true);
    const pretty = await cli("invoke", "split", "--event", SAMPLE, "--out", out);
    expect(pretty.code).toBe(1);
    expect(pretty.out).toContain("split: FAILED");
  });

  it("a bad compress payload (an old v1 pointer, a path for an app) is dead-lettered by the handler (exit 0, status shown)", async () => {
    const out = tmp();
    const cases: [unknown, RegExp][] = [
      [{ v: 1, chunk: "../../etc/passwd" }, /not a drain task/],
      [{ v: 2, apps: ["pay-gw", "../../etc"], reason: "sweep" }, /"\.\.\/\.\.\/etc", which is not an app directory name/],
    ];
    for (const [payload, reason] of cases) {
      const ev = path.join(out, "bad.json");
      writeFileSync(ev, JSON.stringify(payload));
      const r = await cli("invoke", "compress", "--event", ev, "--out", out, "--json");
      expect(r.code).toBe(0);
      expect(json(r.out).result).toMatchObject({ status: "dead-lettered", reason: expect.stringMatching(reason) });
    }
  });

  it("--event - reads stdin (through bin/logpipe.mjs)", () => {
    const out = tmp();
    const r = spawnSync(process.execPath, [path.join(root, "bin/logpipe.mjs"), "invoke", "split", "--event", "-", "--out", out, "--json"], {
      input: readFileSync(SAMPLE),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result.records).toBe(6);
  });

  it("bad flags → exit 2 naming the flag", async () => {
    const out = tmp();
    const cases: [string[], string][] = [
      [["invoke", "merge", "--event", SAMPLE], "function"],
      [["invoke", "split", "--out", out], "--event"],
      [["invoke", "compress", "--out", out], "--event"],
      [["invoke", "split", "--event", path.join(out, "missing.json"), "--out", out], "--event"],
      [["invoke", "split", "--event", SAMPLE, "--out", out, "--env", "FOO=1"], "--env"],
      [["invoke", "split", "--event", SAMPLE, "--out", out, "-e", "LOGPIPE_GZIP_LEVEL=42"], "LOGPIPE_GZIP_LEVEL"],
      [["invoke", "split", "--event", SAMPLE, "--out", out, "--redis", "http://127.0.0.1:1"], "--redis"],
      [["invoke", "split", "--event", SAMPLE, "--out", out, "--payload", "drain"], "--payload"],
      [["invoke", "split", "--event", SAMPLE, "--bogus"], "--bogus"],
    ];
    for (const [args, name] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(name);
    }
  });
});

/**
 * `logpipe invoke`: the real handler exports, one event each, with the local stores. split on
 * the sample CloudEvents batch records its compress invocations as event files; compress on
 * each; upload with the drain payload ships objects; `logpipe logs` reads them back. The
 * coordination state lives in a private redis-server under DIR/coord between invocations, so a
 * redelivered batch is still archived once.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseKafkaBatch } from "../../functions/core/events.js";
import { cli, sorted } from "./helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SAMPLE = path.join(root, "examples/events/split-cloudevents.json");
const DRAIN = path.join(root, "examples/events/timer-drain.json");
const TIMER = path.join(root, "examples/events/timer.json");
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "logpipe-invoke-test-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

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

  it("split → compress (each recorded pointer) → upload drain → objects that logs reads back exactly once, across redelivery", async () => {
    const out = tmp();
    const expected = sampleRecords();

    const split = await cli("invoke", "split", "--event", SAMPLE, "--out", out, "--json");
    expect(split.code, split.stderr + split.out).toBe(0);
    const s = json(split.out);
    expect(s.ok).toBe(true);
    expect(s.result.records).toBe(6);
    expect(s.result.apps).toBe(expected.size);
    expect(s.stores.coord).toContain(path.join(out, "coord"));
    expect(s.logs.some((l) => l.msg === "split done" && l.fn === "split" && typeof l.requestId === "string")).toBe(true);
    expect(s.invocations).toHaveLength(expected.size);
    for (const inv of s.invocations) {
      expect(inv.eventFile.startsWith(path.join(out, "events", "compress"))).toBe(true);
      expect(JSON.parse(readFileSync(inv.eventFile, "utf8"))).toEqual(inv.payload);
      expect(existsSync(path.join(out, "nas", inv.payload.chunk))).toBe(true); // not compressed yet
    }

    for (const inv of s.invocations) {
      const c = await cli("invoke", "compress", "--event", inv.eventFile, "--out", out, "--json");
      expect(c.code, c.out).toBe(0);
      const r = json(c.out);
      expect(r.result.status).toBe("committed");
      expect(r.result.records).toBe(expected.get(inv.payload.app === "_unrouted" ? "_unrouted" : inv.payload.app)!.length);
      expect(existsSync(path.join(out, "nas", inv.payload.chunk))).toBe(false);
    }

    const up = await cli("invoke", "upload", "--event", DRAIN, "--out", out, "--json");
    expect(up.code, up.out).toBe(0);
    const u = json(up.out);
    expect(u.result.sealed).toBe(expected.size);
    expect(u.result.uploaded).toBe(expected.size);
    expect(readdirSync(path.join(out, "objects", "logs")).sort()).toEqual([...expected.keys()].sort());

    const readBack = async () => {
      for (const [app, values] of expected) {
        const l = await cli("logs", app, "--out", out);
        expect(l.code, l.stderr).toBe(0);
        expect(sorted(l.out.split("\n").filter(Boolean))).toEqual(sorted(values));
      }
    };
    await readBack();

    // The trigger redelivers the same batch: split + compress again, then upload — the
    // committed offsets are in the persistent coordination state, so nothing is archived twice.
    const again = json((await cli("invoke", "split", "--event", SAMPLE, "--out", out, "--json")).out);
    for (const inv of again.invocations) {
      const c = json((await cli("invoke", "compress", "--event", inv.eventFile, "--out", out, "--json")).out);
      expect(c.result.status).toBe("duplicate");
    }
    const up2 = json((await cli("invoke", "upload", "--event", DRAIN, "--out", out, "--json")).out);
    expect(up2.result.uploaded).toBe(0);
    await readBack();
  });

  it("pretty output: handler logs and result in separate sections; --chain runs compress inline", async () => {
    const out = tmp();
    const split = await cli("invoke", "split", "--event", SAMPLE, "--out", out, "--chain");
    expect(split.code).toBe(0);
    expect(split.out).toMatch(/^logpipe invoke split: ok in [\d.]+ ms \(request local-/);
    const logsAt = split.out.indexOf("── handler logs");
    const resultAt = split.out.indexOf("── result ──");
    expect(logsAt).toBeGreaterThan(0);
    expect(resultAt).toBeGreaterThan(logsAt);
    expect(split.out.slice(logsAt, resultAt)).toMatch(/INFO\s+compress done/); // chained compress logged
    expect(split.out.slice(logsAt, resultAt)).toMatch(/INFO\s+split done/);
    expect(split.out.slice(resultAt)).toMatch(/│ records\s+│ 6\s+│/);
    expect(split.out).toMatch(/compress invocations \(3\) run inline \(--chain\)/);
    expect(split.out).toMatch(/staging\/pay-gw\/app-logs\.7\.25-30\.chunk\s+│ committed\s+│ 3/);
    expect(split.out).not.toContain("recorded, not run");

    const timer = await cli("invoke", "upload", "--out", out); // default timer event: nothing due yet
    expect(timer.code).toBe(0);
    expect(timer.out).toMatch(/│ uploaded\s+│ 0\s+│/);
    const up = await cli("invoke", "upload", "--payload", "drain", "--out", out);
    expect(up.code).toBe(0);
    expect(up.out).toMatch(/│ uploaded\s+│ 3\s+│/);
    expect(up.out).toMatch(/INFO\s+uploaded\s+key=logs\/pay-gw\/dt=/);
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

  it("a bad compress pointer is dead-lettered by the handler (exit 0, status shown)", async () => {
    const out = tmp();
    const ev = path.join(out, "bad.json");
    writeFileSync(ev, JSON.stringify({ v: 1, chunk: "../../etc/passwd" }));
    const r = await cli("invoke", "compress", "--event", ev, "--out", out, "--json");
    expect(r.code).toBe(0);
    expect(json(r.out).result.status).toBe("dead-lettered");
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

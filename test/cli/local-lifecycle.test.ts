/**
 * `logpipe local` as a process: what it does with an unusable --out, an unreachable --redis,
 * Ctrl-C and SIGTERM, and a directory it did not write — each through the real CLI, checking
 * exit codes, messages and that nothing it started is left running.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../../cli/services/redis-server.js";
import { alive, childPids, exitWithin, processesTagged, spawnCli, tempDirs } from "./helpers.js";

const tmp = tempDirs("logpipe-lifecycle-");

/** Every file under `dir` with the sha256 of its bytes. */
function digests(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

describe("logpipe local lifecycle", () => {
  it("an unusable --out fails at once naming the path: exit 2, nothing left running", async () => {
    const file = path.join(tmp(), "a-file");
    writeFileSync(file, "x");
    for (const [out, why] of [["/proc/nope", /cannot be created/], [file, /not a directory/], [path.join(file, "sub"), /not a writable directory/]] as const) {
      const run = spawnCli(["local", "--records", "1000", "--out", out]);
      const r = await exitWithin(run, 10_000);
      expect(r.hung, `local --out ${out} still running after 10 s`).toBe(false);
      expect(r.code).toBe(2);
      expect(run.stderr()).toContain(`--out ${out}`);
      expect(run.stderr()).toMatch(why);
      expect(run.stderr()).not.toMatch(/\n\s+at /); // no stack trace
      expect(processesTagged(run.tag)).toEqual([]);
    }
  });

  it("an unreachable --redis fails within seconds naming host:port: exit 2, nothing left running", async () => {
    const port = await freePort(); // nothing listens there
    const run = spawnCli(["local", "--records", "1000", "--out", tmp(), "--redis", `redis://127.0.0.1:${port}`]);
    const r = await exitWithin(run, 10_000);
    expect(r.hung, "local --redis <closed port> still running after 10 s").toBe(false);
    expect(r.code).toBe(2);
    expect(run.stderr().trim()).toBe(`logpipe local: --redis 127.0.0.1:${port}: connection refused`);
    expect(processesTagged(run.tag)).toEqual([]);
  });

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${signal} mid-run: says interrupted (never OK), exits ${code}, stops its redis-server`, async () => {
      const run = spawnCli(["local", "--records", "300000", "--out", tmp()]);
      await run.printed(/ingest: [1-9]\d* ?\/300000 records/); // records are flowing
      const redis = childPids(run.child.pid!).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("redis-server"));
      expect(redis).toHaveLength(1); // its private redis-server
      run.child.kill(signal);
      const r = await exitWithin(run, 60_000);
      expect(r.hung, `still running 60 s after ${signal}`).toBe(false);
      expect(r.code).toBe(code);
      expect(run.stderr()).toMatch(new RegExp(`interrupted \\(${signal}\\) after \\d+ records`));
      expect(run.stdout()).not.toContain("OK");
      expect(processesTagged(run.tag)).toEqual([]);
      expect(alive(redis[0]!), "the private redis-server outlived the CLI").toBe(false);
    });
  }

  it("without --keep, refuses to delete DIR/objects it did not write; --clean does, naming what it replaced", async () => {
    const out = tmp();
    const foreign = path.join(out, "objects", "logs", "someone", "else.log.gz");
    mkdirSync(path.dirname(foreign), { recursive: true });
    writeFileSync(foreign, "not from logpipe local");
    const refused = spawnCli(["local", "--records", "200", "--out", out]);
    expect((await exitWithin(refused, 30_000)).code).toBe(2);
    expect(refused.stderr()).toMatch(/--out .*objects\/ already hold files that logpipe local did not write.*--keep.*--clean/);
    expect(readFileSync(foreign, "utf8")).toBe("not from logpipe local");

    const first = spawnCli(["local", "--records", "200", "--out", out, "--clean", "--no-progress"]);
    expect((await exitWithin(first, 120_000)).code, first.stderr()).toBe(0);
    expect(existsSync(foreign)).toBe(false);
    // a run over its own previous run replaces it and says so
    const second = spawnCli(["local", "--records", "200", "--out", out, "--no-progress"]);
    expect((await exitWithin(second, 120_000)).code, second.stderr()).toBe(0);
    expect(second.stderr()).toMatch(/replaced the previous run in .*objects \(--keep keeps it\)/);
  });

  it("what logpipe invoke wrote into DIR is not replaced by a later local run without --keep", async () => {
    const out = tmp();
    const first = spawnCli(["local", "--records", "200", "--out", out, "--no-progress"]);
    expect((await exitWithin(first, 120_000)).code, first.stderr()).toBe(0);
    const sample = new URL("../../examples/events/split-cloudevents.json", import.meta.url).pathname;
    const invoke = spawnCli(["invoke", "split", "--event", sample, "--out", out]);
    expect((await exitWithin(invoke, 120_000)).code, invoke.stderr()).toBe(0);
    const staged = digests(path.join(out, "nas"));
    const local = spawnCli(["local", "--records", "200", "--out", out, "--no-progress"]);
    expect((await exitWithin(local, 60_000)).code).toBe(2);
    expect(local.stderr()).toMatch(/nas\/ .*already hold files that logpipe local did not write/);
    expect(digests(path.join(out, "nas"))).toEqual(staged);
  });

  it("--keep: a second run keeps every earlier object byte for byte, and both runs verify", async () => {
    const out = tmp();
    const first = spawnCli(["local", "--records", "5000", "--apps", "20", "--out", out, "--no-progress"]);
    expect((await exitWithin(first, 120_000)).code, first.stderr()).toBe(0);
    const before = digests(path.join(out, "objects"));
    expect(before.size).toBeGreaterThan(0);

    const second = spawnCli(["local", "--records", "5000", "--apps", "20", "--seed", "7", "--out", out, "--keep", "--no-progress"]);
    expect((await exitWithin(second, 120_000)).code, second.stderr() + second.stdout()).toBe(0);
    expect(second.stderr()).toContain(`--keep: ${before.size} object(s) from earlier runs stay as they are`);
    const after = digests(path.join(out, "objects"));
    for (const [key, sha] of before) expect(after.get(key), key).toBe(sha);
    expect(after.size).toBeGreaterThan(before.size); // the second run added its own
  });
});

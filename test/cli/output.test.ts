/**
 * What the CLI prints when things are not the happy path: a closed pipe, a pipe instead of a
 * terminal, bad flags. Through the real bin where the process matters, in-process otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { peakConcurrency } from "../../cli/local/run.js";
import type { SlotEvent } from "../../cli/local/handler-pool.js";
import { cli, exitWithin, spawnCli } from "./helpers.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "logpipe-output-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ESC = "\u001b[";

describe("CLI output", () => {
  it("build --json into a pipe closed by the reader (| head) ends quietly, exit 0", async () => {
    const run = spawnCli(["build", "split", "--out", tmp(), "--json"]);
    run.child.stdout!.destroy(); // the reader is gone before anything is written
    const r = await exitWithin(run, 120_000);
    expect(r.hung).toBe(false);
    expect(r.code, run.stderr()).toBe(0);
    expect(run.stderr()).not.toMatch(/EPIPE|\n\s+at /);
  });

  it("build's table into a pipe has no escape codes, even when the terminal settings ask for none", async () => {
    const out = tmp();
    const r = await cli("build", "split", "--out", out); // in-process: stdout is captured, not a TTY
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toMatch(/│ split\s+│ sha256:[0-9a-f]{12}…/);
    expect(r.out).not.toContain(ESC);
    for (const line of r.out.split("\n").filter((l) => /^[┌│├└]/.test(l))) expect(line.length).toBeLessThanOrEqual(100);
  });

  it("a bad flag is one line naming it and pointing at --help, never the whole help", async () => {
    const cases: [string[], RegExp][] = [
      [["local", "--bogus"], /^logpipe local: unknown option '--bogus' \(see 'npx logpipe local --help'\)\n$/],
      [["local", "--batch-window", "99s"], /^logpipe local: option '--batch-window <duration>' argument '99s' is invalid\. expected 0–15 s \(see 'npx logpipe local --help'\)\n$/],
      [["local", "--apps", "x"], /^logpipe local: option '--apps <n>' argument 'x' is invalid\. expected an integer 1–100000 \(see/],
      [["local", "--app-id-source", "bogus:x"], /^logpipe local: option '--app-id-source <spec>' argument 'bogus:x' is invalid\. expected field:<path>/],
      [["nope"], /^logpipe: unknown command 'nope'/],
      [["logs"], /^logpipe logs: missing required argument 'app' \(see 'npx logpipe logs --help'\)\n$/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(re);
      expect(r.stderr.split("\n").filter(Boolean), args.join(" ")).toHaveLength(1);
    }
  });

  it("local --input checks: a directory is not a file; the batch window default shows its unit", async () => {
    const dir = tmp();
    const r = await cli("local", "--input", dir, "--out", tmp());
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`logpipe local: --input ${dir}: not a file (give an NDJSON file, or - for stdin)`);
    const help = await cli("local", "--help");
    expect(help.out).toMatch(/--batch-window <duration>\s+trigger TimeBasedWindow \(0–15s\) \(default: 500ms\)/);
  });

  it("local with an empty --input warns that nothing was archived", async () => {
    const empty = path.join(tmp(), "empty.ndjson");
    writeFileSync(empty, "");
    const r = await cli("local", "--input", empty, "--out", tmp(), "--no-redis", "--no-progress");
    expect(r.stderr).toMatch(/warning: NDJSON file .*empty\.ndjson yielded no records; nothing was archived/);
  });

  it("peak writer concurrency over a trace of 200k apps and 1M events (no spread into Math.max)", () => {
    const events: SlotEvent[] = [];
    for (let i = 0; i < 1_000_000; i += 2) {
      const app = `app-${(i / 2) % 200_000}`;
      events.push({ app, slot: 0, event: "acquire", at: i }, { app, slot: 0, event: "release", at: i + 1 });
    }
    events.push({ app: "app-7", slot: 1, event: "acquire", at: 0.5 }); // overlaps app-7's first hold
    expect(peakConcurrency(events)).toBe(2);
  });
});

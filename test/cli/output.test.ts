/**
 * What the CLI prints when things are not the happy path: a closed pipe, a pipe instead of a
 * terminal, bad flags. Through the real bin where the process matters, in-process otherwise.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { handlerEnvOf } from "../../cli/commands/local.js";
import { localEnv, peakConcurrency } from "../../cli/local/run.js";
import { loadConfig } from "../../functions/core/config.js";
import type { SlotEvent } from "../../cli/local/handler-pool.js";
import { cli, exitWithin, spawnCli, tempDirs } from "./helpers.js";

const tmp = tempDirs("logpipe-output-");

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
      [["local", "--drain-age", "0s"], /^logpipe local: option '--drain-age <duration>' argument '0s' is invalid\. expected 1–3600 s \(see/],
      [["local", "--app-id-source", "bogus:x"], /^logpipe local: option '--app-id-source <spec>' argument 'bogus:x' is invalid\. expected field:<path>/],
      [["nope"], /^logpipe: unknown command 'nope'/],
      [["logs"], /^logpipe logs: <app>: which app's logs\? \(npx logpipe logs --list-apps lists them\)\n$/],
      [["canary", "start"], /^logpipe canary start: required option '--stack <name>' not specified \(see 'npx logpipe canary start --help'\)\n$/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(re);
      expect(r.stderr.split("\n").filter(Boolean), args.join(" ")).toHaveLength(1);
    }
  });

  it("logpipe local's handler flags reach the handlers' own config (and without them the local defaults hold)", () => {
    const dir = tmp();
    const config = loadConfig(localEnv(dir, undefined, handlerEnvOf({ drainAge: 60_000, sealBytes: 8 * 1024 * 1024, gzipLevel: 6, maxWriters: 3, maxApps: 700, appIdSource: "key" }, "p")));
    expect([config.drainAgeMs, config.sealBytes, config.gzipLevel, config.maxWritersPerApp, config.maxApps, config.prefix]).toEqual([60_000, 8 * 1024 * 1024, 6, 3, 700, "p"]);
    expect(config.appIdSources).toEqual([{ kind: "key" }]);
    expect(loadConfig(localEnv(dir, undefined, handlerEnvOf({}))).drainAgeMs).toBe(10_000);
  });

  it("local --input checks: a directory is not a file; the batch window default shows its unit", async () => {
    const dir = tmp();
    const r = await cli("local", "--input", dir, "--out", tmp());
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`logpipe local: --input ${dir}: not a file (give an NDJSON file, or - for stdin)`);
    const help = await cli("local", "--help");
    expect(help.out).toMatch(/--batch-window <duration>\s+trigger TimeBasedWindow \(0–15s\) \(default: 500ms\)/);
  });

  it("more bad input, each a usage error naming the flag: a directory as --event, --reps out of range, a non-batch fc-event file", async () => {
    const dir = tmp();
    const ev = await cli("invoke", "split", "--event", dir, "--out", tmp());
    expect([ev.code, ev.stderr.trim()]).toEqual([2, `logpipe invoke: --event ${dir}: a directory, not an event file`]);
    const reps = await cli("bench", "--reps", "99");
    expect(reps.code).toBe(2);
    expect(reps.stderr).toMatch(/--reps <n>' argument '99' is invalid\. expected an integer 1–50/);
    const batch = await cli("bench", "--batch-records", "20000");
    expect(batch.code).toBe(2);
    expect(batch.stderr).toMatch(/--batch-records <n>' argument '20000' is invalid\. expected an integer 1–10000/);
    const bad = path.join(tmp(), "bad.json");
    writeFileSync(bad, "not json\n");
    const fc = await cli("local", "--input", bad, "--input-format", "fc-event", "--out", tmp(), "--no-redis", "--no-progress");
    expect(fc.code).toBe(2);
    expect(fc.stderr).toMatch(new RegExp(`--input ${bad} line 1: not a Kafka-trigger batch`));
  });

  it("local replays the repository's pretty-printed sample trigger batch (--input-format fc-event)", async () => {
    const sample = new URL("../../examples/events/split-cloudevents.json", import.meta.url).pathname;
    const r = await cli("local", "--input", sample, "--input-format", "fc-event", "--out", tmp(), "--no-redis", "--no-progress", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.out) as { records: number }).records).toBe(6);
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

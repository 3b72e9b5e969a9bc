/**
 * A fake `pulumi` executable for the operations tests. The test writes it into a temp dir and
 * puts that dir first on PATH; the Automation API then runs it like the real CLI.
 *
 * It records every invocation (argv, cwd, and for `up` the stack config file as it was at that
 * moment) as JSON lines, and answers the commands the Automation API issues:
 *   version                                   → v3.150.0 (≤ 3.205 so `up` uses an --event-log file)
 *   stack select --stack S                    → ok if S is known, else "no stack named 'S' found"
 *   up --yes --skip-preview … --config-file F → reads F, models the program's outputs from
 *                                               logpipe:release, writes engine events to --event-log
 *   stack output --json [--show-secrets]      → the outputs of the last up (or preset ones)
 *   stack export --show-secrets               → a deployment whose resources are the program's
 *                                               alias/function/version URNs for each deployed fn
 *   up … --target URN …                       → recorded (record.targets)
 *   stack history --json …                    → one entry per up
 *   config get K --json / config --json / config set K V → on the stack file
 * Failure injection: FAKE_PULUMI_FAIL_UP="2,3" fails the 2nd and 3rd `up` of the run.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const SCRIPT = String.raw`#!/usr/bin/env node
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const YAML = createRequire(path.join(process.env.FAKE_PULUMI_REPO, "package.json"))("yaml");
const dir = process.env.FAKE_PULUMI_STATE;
const statePath = path.join(dir, "state.json");
const logPath = path.join(dir, "calls.jsonl");
const args = process.argv.slice(2);
const state = fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, "utf8")) : {};
state.stacks = state.stacks || {};
state.ups = state.ups || 0;
state.versions = state.versions || {};
const flag = (n) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const record = { argv: args, cwd: process.cwd(), automation: process.env.PULUMI_AUTOMATION_API === "true" };
const save = () => fs.writeFileSync(statePath, JSON.stringify(state, null, 2));
const out = (s) => process.stdout.write(s);
const fail = (msg, code) => { record.exit = code || 255; fs.appendFileSync(logPath, JSON.stringify(record) + "\n"); save(); process.stderr.write(msg + "\n"); process.exit(code || 255); };
const known = (process.env.FAKE_PULUMI_STACKS || "dev,staging,prod").split(",");
const stackFile = (stack) => flag("--config-file") || path.join(process.cwd(), "stacks", "Pulumi." + stack + ".yaml");
const versionOf = (stack, fn, digest) => {
  const k = stack + "/" + fn;
  state.versions[k] = state.versions[k] || {};
  if (!state.versions[k][digest]) state.versions[k][digest] = String(Object.keys(state.versions[k]).length + 1);
  return state.versions[k][digest];
};

if (args[0] === "version") { out("v3.150.0\n"); fs.appendFileSync(logPath, JSON.stringify(record) + "\n"); process.exit(0); }
const stack = flag("--stack");
if (stack && !known.includes(stack)) fail("error: no stack named '" + stack + "' found");

if (args[0] === "stack" && args[1] === "select") {
  state.selected = stack;
} else if (args[0] === "up") {
  state.ups++;
  const failAt = (process.env.FAKE_PULUMI_FAIL_UP || "").split(",").filter(Boolean).map(Number);
  const file = flag("--config-file");
  record.configFile = file;
  record.configText = file && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
  if (failAt.includes(state.ups)) fail("error: update failed: alicloud:fc:V3Alias (live): simulated failure (up #" + state.ups + ")");
  if (!record.configText) fail("error: no stack config file given (--config-file)");
  const cfg = (YAML.parse(record.configText) || {}).config || {};
  const release = cfg["logpipe:release"] || {};
  const o = { artifacts: {}, aliases: {}, functionNames: {}, bucketName: "logpipe-" + stack + "-archive" };
  for (const fn of ["split", "compress", "upload"]) {
    const r = release[fn];
    o.functionNames[fn] = "logpipe-" + stack + "-" + fn;
    if (!r) continue;
    const v = r.canary && r.stableVersionId ? r.stableVersionId : versionOf(stack, fn, r.stable);
    o.artifacts[fn] = { digest: r.stable, versionId: v };
    const w = {};
    if (r.canary) w[versionOf(stack, fn, r.canary)] = r.canaryWeight || 0;
    o.aliases[fn] = { name: "live", versionId: v, additionalVersionWeight: w };
  }
  const targets = []; args.forEach((a, i) => { if (a === "--target") targets.push(args[i + 1]); });
  record.targets = targets;
  const deployed = [];
  const P = "urn:pulumi:" + stack + "::logpipe::logpipe:infra:PipelineFunctions$logpipe:infra:PipelineFunction$";
  for (const fn of Object.keys(o.aliases)) {
    const r = release[fn];
    deployed.push(P + "alicloud:fc/v3Function:V3Function::pipeline-" + fn + "-fn", P + "alicloud:fc/v3Alias:V3Alias::pipeline-" + fn + "-live");
    for (const d of [r.canary && r.stableVersionId ? null : r.stable, r.canary].filter(Boolean)) deployed.push(P + "alicloud:fc/v3FunctionVersion:V3FunctionVersion::pipeline-" + fn + "-v-" + d.slice(7, 19));
  }
  const prevUrns = (state.stacks[stack] && state.stacks[stack].urns) || [];
  // a targeted update leaves the other resources as they were
  const urns = targets.length ? Array.from(new Set(prevUrns.concat(deployed.filter((u) => targets.includes(u))))) : deployed;
  state.stacks[stack] = { urns, outputs: o, history: (state.stacks[stack] && state.stacks[stack].history || []).concat([{ version: state.ups, kind: "update", result: "succeeded", message: flag("--message") || "", startTime: new Date(0).toISOString(), endTime: new Date(0).toISOString(), resourceChanges: { update: 1 } }]) };
  const ev = flag("--event-log");
  if (ev) {
    const now = Math.floor(Date.now() / 1000);
    fs.appendFileSync(ev, JSON.stringify({ sequence: 0, timestamp: now, preludeEvent: { config: {} } }) + "\n");
    fs.appendFileSync(ev, JSON.stringify({ sequence: 1, timestamp: now, summaryEvent: { maybeCorrupt: false, durationSeconds: 1, resourceChanges: { update: 1, same: 40 }, policyPacks: {} } }) + "\n");
    fs.appendFileSync(ev, JSON.stringify({ sequence: 2, timestamp: now, cancelEvent: {} }) + "\n");
  }
  out("Updating (" + stack + "):\n    ~ alicloud:fc:V3Alias live updated\nResources:\n    ~ 1 updated\n    40 unchanged\n");
} else if (args[0] === "stack" && args[1] === "output") {
  out(JSON.stringify((state.stacks[stack] && state.stacks[stack].outputs) || {}, null, 2) + "\n");
} else if (args[0] === "stack" && args[1] === "export") {
  out(JSON.stringify({ version: 3, deployment: { resources: ((state.stacks[stack] && state.stacks[stack].urns) || []).map((urn) => ({ urn })) } }) + "\n");
} else if (args[0] === "stack" && args[1] === "history") {
  out(JSON.stringify(((state.stacks[stack] && state.stacks[stack].history) || []).slice(-1).reverse()) + "\n");
} else if (args[0] === "config" && (args[1] === undefined || args[1].startsWith("--"))) {
  const cfg = (YAML.parse(fs.readFileSync(stackFile(stack), "utf8")) || {}).config || {};
  const r = {};
  for (const [k, v] of Object.entries(cfg)) r[k] = { value: typeof v === "string" ? v : JSON.stringify(v), objectValue: typeof v === "string" ? undefined : v, secret: false };
  out(JSON.stringify(r) + "\n");
} else if (args[0] === "config" && args[1] === "get") {
  const cfg = (YAML.parse(fs.readFileSync(stackFile(stack), "utf8")) || {}).config || {};
  const v = cfg[args[2]];
  if (v === undefined) fail("error: configuration key '" + args[2] + "' not found for stack '" + stack + "'");
  out(JSON.stringify({ value: typeof v === "string" ? v : JSON.stringify(v), objectValue: typeof v === "string" ? undefined : v, secret: false }) + "\n");
} else if (args[0] === "config" && args[1] === "set") {
  const file = stackFile(stack);
  const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
  const dd = args.indexOf("--");
  doc.setIn(["config", args[2]], dd >= 0 ? args[dd + 1] : args[3]);
  fs.writeFileSync(file, doc.toString());
} else {
  fail("fake pulumi: unsupported command: " + args.join(" "), 2);
}
record.exit = 0;
fs.appendFileSync(logPath, JSON.stringify(record) + "\n");
save();
`;

export interface FakePulumi {
  binDir: string;
  stateDir: string;
  /** Every recorded invocation, in order. */
  calls(): Array<{ argv: string[]; cwd: string; automation: boolean; configFile?: string; configText?: string | null; exit: number; targets?: string[] }>;
  /** The `up` invocations only. */
  ups(): Array<{ argv: string[]; configFile?: string; configText?: string | null; exit: number; targets?: string[] }>;
  /** Preset a stack's outputs (as if it had been deployed). */
  setOutputs(stack: string, outputs: Record<string, unknown>, urns?: string[]): void;
  outputs(stack: string): Record<string, unknown> | undefined;
  /** Forget the recorded invocations (e.g. after deploying a stack's stable release). */
  clearCalls(): void;
  restoreEnv(): void;
}

export function installFakePulumi(repoRoot: string, opts: { stacks?: string[]; failUp?: number[] } = {}): FakePulumi {
  const base = mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
  const binDir = path.join(base, "bin");
  const stateDir = path.join(base, "state");
  mkdirSync(binDir);
  mkdirSync(stateDir);
  const exe = path.join(binDir, "pulumi");
  writeFileSync(exe, SCRIPT);
  chmodSync(exe, 0o755);
  const saved = { PATH: process.env.PATH, FAKE_PULUMI_STATE: process.env.FAKE_PULUMI_STATE, FAKE_PULUMI_REPO: process.env.FAKE_PULUMI_REPO, FAKE_PULUMI_STACKS: process.env.FAKE_PULUMI_STACKS, FAKE_PULUMI_FAIL_UP: process.env.FAKE_PULUMI_FAIL_UP };
  process.env.PATH = `${binDir}${path.delimiter}${process.env.PATH}`;
  process.env.FAKE_PULUMI_STATE = stateDir;
  process.env.FAKE_PULUMI_REPO = repoRoot;
  process.env.FAKE_PULUMI_STACKS = (opts.stacks ?? ["dev", "staging", "prod"]).join(",");
  if (opts.failUp) process.env.FAKE_PULUMI_FAIL_UP = opts.failUp.join(",");
  else delete process.env.FAKE_PULUMI_FAIL_UP;
  const readLines = () => {
    const f = path.join(stateDir, "calls.jsonl");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  const statePath = path.join(stateDir, "state.json");
  const readState = () => (existsSync(statePath) ? JSON.parse(readFileSync(statePath, "utf8")) : { stacks: {} });
  return {
    binDir, stateDir,
    calls: readLines,
    ups: () => readLines().filter((c) => c.argv[0] === "up"),
    setOutputs(stack, outputs, urns) {
      const s = readState();
      s.stacks ??= {};
      s.stacks[stack] = { ...(s.stacks[stack] ?? {}), outputs, ...(urns ? { urns } : {}) };
      writeFileSync(statePath, JSON.stringify(s, null, 2));
    },
    outputs: (stack) => readState().stacks?.[stack]?.outputs,
    clearCalls: () => writeFileSync(path.join(stateDir, "calls.jsonl"), ""),
    restoreEnv() {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    },
  };
}

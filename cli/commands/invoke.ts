/**
 * `logpipe invoke <split|compress|upload> [--event FILE|-] [--out DIR] [--redis URL] [--chain]
 *  [--env KEY=VALUE]… [--json]` — runs one real handler export once, like `sam local invoke`:
 * the function's index.ts in a child process, with the environment `logpipe local` uses (NAS =
 * DIR/nas, objects = DIR/objects, inline invoke mode) and a fake FC context, then prints the
 * handler's result and its logs, clearly apart.
 *
 * Coordination state (Redis) must outlive one invocation, or a later `invoke compress`/`upload`
 * would not know what an earlier one committed: `--redis URL`, else a private redis-server
 * whose append-only file lives in DIR/coord (started and stopped around the call), else — when
 * redis-server is not installed — the in-process store, with a warning.
 *
 * compress invocations (drain tasks `{v:2, apps, reason}`) that split (hot apps) or upload (its
 * sweep) makes are recorded as event files in DIR/events/compress/ and listed, not run — one
 * handler per invoke; `--chain` runs the compress handler on each inline, in the same process,
 * and shows their results.
 *
 * Exit codes: 0 the handler returned; 1 it threw, timed out or crashed; 2 usage/config error.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Argument, type Command } from "commander";
import { ConfigError, loadConfig } from "../../functions/core/config.js";
import { localEnv } from "../local/run.js";
import { UsageError } from "../ops/errors.js";
import { printJson, runAction, table } from "../ops/output.js";
import { checkRedisReachable } from "../support/redis-check.js";
import { disownLocalRunDir, ensureWritableDir } from "../support/run-dir.js";
import { redisServerAvailable } from "../services/redis-server.js";
import type { InvokeSpec, RunnerOutput } from "../support/invoke-runner.js";
import { startPersistentRedis, type PersistentRedis } from "../support/persistent-redis.js";
import { DEFAULT_OUT_DIR } from "../support/object-store.js";

export const FUNCTIONS = ["split", "compress", "upload"] as const;
export type InvokeFunction = (typeof FUNCTIONS)[number];

interface InvokeFlags {
  event?: string;
  out?: string;
  redis?: string;
  chain?: boolean;
  env: string[];
  payload?: string;
  json?: boolean;
}

export interface InvokeReport {
  function: InvokeFunction;
  requestId: string;
  ok: boolean;
  durationMs: number;
  result?: unknown;
  error?: { name: string; message: string };
  /** The handler's log lines: parsed JSON (pino) or {raw} for anything else. */
  logs: Record<string, unknown>[];
  /** compress invocations the handler made, recorded as event files (unless --chain). */
  invocations: { function: string; payload: unknown; eventFile?: string; result?: unknown }[];
  stores: { nas: string; objects: string; coord: string };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNNER = path.resolve(here, "../support/invoke-runner.ts");
const BOOTSTRAP = path.resolve(here, "../support/ts-child.mjs");

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command("invoke")
    .description("run one handler (split, compress or upload) once on one event with the local stores, like `sam local invoke`")
    .addArgument(new Argument("<function>", "the handler to run").choices(FUNCTIONS))
    .option("--event <file>", "the event payload file, or - for stdin (required for split and compress — a drain task {\"v\":2,\"apps\":[…]}; upload defaults to a timer event)")
    .option("--payload <text>", "upload without --event: the timer event's payload (\"drain\" drains every app, seals and ships everything)")
    .option("--out <dir>", `local run directory: NAS at DIR/nas, objects at DIR/objects, coordination state at DIR/coord (default ${DEFAULT_OUT_DIR})`)
    .option("--redis <url>", "use this Redis for coordination state instead of the private one in DIR/coord")
    .option("--chain", "run the compress invocations (drain tasks) the handler makes inline (default: record them as event files in DIR/events/compress)")
    .option("-e, --env <KEY=VALUE>", "set a LOGPIPE_* variable for the handler (repeatable), e.g. -e LOGPIPE_APP_ID_SOURCE=key", collect, [])
    .option("--json", "print {function, requestId, ok, durationMs, result, error, logs, invocations, stores} as JSON")
    .action(async (fn: InvokeFunction, flags: InvokeFlags) => {
      await runAction("invoke", () => invokeAction(fn, flags));
    });
}

function readEvent(fn: InvokeFunction, flags: InvokeFlags): Buffer {
  if (flags.event === undefined) {
    if (fn !== "upload") throw new UsageError(`--event: required for ${fn} (a file, or - for stdin); see examples/events/`);
    return Buffer.from(JSON.stringify({ triggerTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), triggerName: "timer", payload: flags.payload ?? "" }));
  }
  if (flags.payload !== undefined) throw new UsageError("--payload: only for upload without --event (put the payload in the event file instead)");
  if (flags.event === "-") return readFileSync(0);
  try {
    return readFileSync(flags.event);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "EISDIR" ? "a directory, not an event file" : code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (code ?? (e as Error).message);
    throw new UsageError(`--event ${flags.event}: ${why}`);
  }
}

function parseEnvFlags(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^(LOGPIPE_[A-Z0-9_]+)=(.*)$/s.exec(p);
    if (!m) throw new UsageError(`--env: expected LOGPIPE_NAME=value, got "${p}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function secondsOf(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}

async function invokeAction(fn: InvokeFunction, flags: InvokeFlags): Promise<number> {
  const event = readEvent(fn, flags);
  const overrides = parseEnvFlags(flags.env);
  if (flags.redis !== undefined && !/^rediss?:\/\/\S+$/.test(flags.redis)) throw new UsageError(`--redis: expected redis://[:password@]host:port[/db], got "${flags.redis}"`);
  if (overrides.LOGPIPE_REDIS_URL && flags.redis) throw new UsageError("--redis and --env LOGPIPE_REDIS_URL: give one");
  const outDir = path.resolve(flags.out ?? DEFAULT_OUT_DIR);
  ensureWritableDir("--out", outDir);
  disownLocalRunDir(outDir); // what invoke writes here is not a `logpipe local` run's to replace
  if (flags.redis !== undefined) await checkRedisReachable("--redis", flags.redis);
  const objectDir = path.join(outDir, "objects");

  // Validate the handler's environment here so a bad value is a usage error naming the variable.
  const probe = localEnv(outDir, flags.redis, { LOGPIPE_OBJECT_DIR: objectDir, LOGPIPE_LOG_LEVEL: "info", ...overrides });
  let config;
  try {
    config = loadConfig(probe);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--env: ${e.message}`);
    throw e;
  }
  mkdirSync(config.nasRoot, { recursive: true });

  let redis: PersistentRedis | undefined;
  let redisUrl = flags.redis ?? overrides.LOGPIPE_REDIS_URL;
  let coordDescription = redisUrl ? `redis ${safeHost(redisUrl)}` : "";
  const warnings: string[] = [];
  if (!redisUrl) {
    if (redisServerAvailable()) {
      redis = await startPersistentRedis(path.join(outDir, "coord"));
      redisUrl = redis.url;
      coordDescription = `private redis-server, state in ${redis.dir}`;
    } else {
      coordDescription = "in-process (not kept between invocations)";
      warnings.push("redis-server is not installed: coordination state lives in this process only, so a later invoke will not see what this one committed (use --redis URL, or install redis-server)");
      if (existsSync(path.join(config.nasRoot, "active"))) warnings.push(`${path.join(config.nasRoot, "active")} holds files committed by earlier invocations; without their coordination state they are not sealed, and compress would overwrite them`);
    }
  }

  const env: Record<string, string> = {
    ...passThroughEnv(),
    ...localEnv(outDir, redisUrl, { LOGPIPE_OBJECT_DIR: objectDir, LOGPIPE_LOG_LEVEL: "info", ...overrides }),
  };
  if (redisUrl) env.LOGPIPE_REDIS_URL = redisUrl;

  const requestId = `local-${randomUUID()}`;
  const tmp = path.join(os.tmpdir(), `logpipe-invoke-${process.pid}-${requestId}.event`);
  writeFileSync(tmp, event);
  const spec: InvokeSpec = {
    fn,
    eventFile: tmp,
    requestId,
    recordDir: flags.chain ? undefined : path.join(outDir, "events", "compress"),
    timeoutSeconds: secondsOf(config.functionTimeoutMs),
    memoryMB: 512,
  };
  let run: { output?: RunnerOutput; stdout: string; stderr: string; exit: string };
  try {
    run = await runChild(spec, env, config.functionTimeoutMs + 10_000);
  } finally {
    await redis?.stop();
    rmSync(tmp, { force: true });
  }

  const logs = [...run.stdout.split("\n"), ...run.stderr.split("\n")].filter((l) => l.trim() !== "").map(parseLogLine);
  const report: InvokeReport = {
    function: fn,
    requestId,
    ok: run.output?.ok ?? false,
    durationMs: Math.round((run.output?.durationMs ?? 0) * 10) / 10,
    result: run.output?.result,
    error: run.output?.error ? { name: run.output.error.name, message: run.output.error.message } : run.output ? undefined : { name: "Crash", message: `the handler process ${run.exit} before returning` },
    logs,
    invocations: run.output?.invocations ?? [],
    stores: { nas: config.nasRoot, objects: objectDir, coord: coordDescription },
  };
  for (const w of warnings) process.stderr.write(`logpipe invoke: warning: ${w}\n`);
  if (flags.json) printJson(report);
  else process.stdout.write(renderReport(report, Boolean(flags.chain)));
  return report.ok ? 0 : 1;
}

/** Only what a Node process needs; the user's LOGPIPE_* and cloud credentials are not passed on. */
function passThroughEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "LANG", "TZ"]) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid url)";
  }
}

function runChild(spec: InvokeSpec, env: Record<string, string>, timeoutMs: number): Promise<{ output?: RunnerOutput; stdout: string; stderr: string; exit: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BOOTSTRAP, RUNNER, JSON.stringify(spec)], { env, stdio: ["ignore", "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const res: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => res.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let output: RunnerOutput | undefined;
      try {
        output = res.length ? (JSON.parse(Buffer.concat(res).toString("utf8")) as RunnerOutput) : undefined;
      } catch {
        output = undefined;
      }
      const exit = timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : signal ? `was killed by ${signal}` : `exited with code ${code}`;
      resolve({ output, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), exit });
    });
  });
}

function parseLogLine(line: string): Record<string, unknown> {
  if (line.startsWith("{")) {
    try {
      const doc = JSON.parse(line) as unknown;
      if (doc && typeof doc === "object" && !Array.isArray(doc)) return doc as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
  }
  return { raw: line };
}

const LOG_HIDDEN = new Set(["level", "time", "msg", "fn", "requestId", "pid", "hostname"]);

function renderLog(l: Record<string, unknown>): string {
  if ("raw" in l && Object.keys(l).length === 1) return `  ${String(l.raw)}`;
  const t = typeof l.time === "string" ? l.time.slice(11, 23) : "";
  const level = String(l.level ?? "").toUpperCase().padEnd(5);
  const rest = Object.entries(l)
    .filter(([k]) => !LOG_HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join(" ");
  return `  ${t} ${level} ${String(l.msg ?? "")}${rest ? "  " + rest : ""}`;
}

/** Relative to the working directory when inside it, else absolute. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

function renderValue(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length === 0) return "-";
  return JSON.stringify(v);
}

function renderReport(r: InvokeReport, chained: boolean): string {
  const lines: string[] = [];
  lines.push(`logpipe invoke ${r.function}: ${r.ok ? "ok" : "FAILED"} in ${r.durationMs} ms (request ${r.requestId})`);
  lines.push(`  nas ${r.stores.nas} | objects ${r.stores.objects} | coord ${r.stores.coord}`);
  lines.push("", `── handler logs (${r.logs.length} line${r.logs.length === 1 ? "" : "s"}) ──`);
  for (const l of r.logs) lines.push(renderLog(l));
  lines.push("", "── result ──");
  if (r.ok && r.result && typeof r.result === "object" && !Array.isArray(r.result)) {
    lines.push(table(["field", "value"], Object.entries(r.result as Record<string, unknown>).map(([k, v]) => [k, renderValue(v)])));
  } else if (r.ok) {
    lines.push(`  ${JSON.stringify(r.result)}`);
  } else {
    lines.push(`  ${r.error?.name ?? "Error"}: ${r.error?.message ?? "unknown error"}`);
  }
  if (r.invocations.length > 0 && !chained) {
    lines.push("", `── compress invocations (${r.invocations.length}) recorded, not run — run each with \`logpipe invoke compress --event FILE\` or pass --chain ──`);
    for (const i of r.invocations) lines.push(`  ${i.eventFile ? displayPath(i.eventFile) : "-"}  ${JSON.stringify(i.payload)}`);
  } else if (r.invocations.length > 0) {
    lines.push("", `── compress invocations (${r.invocations.length}) run inline (--chain) ──`);
    const rows = r.invocations.map((i) => {
      const res = (i.result ?? {}) as Record<string, unknown>;
      const task = i.payload as { apps?: string[]; reason?: string };
      const apps = (task.apps ?? []).join(",");
      return [
        `${task.reason ?? "-"}: ${apps.length > 40 ? apps.slice(0, 39) + "…" : apps || "-"}`,
        typeof res.status === "string" ? res.status : Array.isArray(res.errors) && res.errors.length > 0 ? `${res.errors.length} errors` : "ok",
        String(res.members ?? "-"), String(res.records ?? "-"), String(res.filesRead ?? "-"), String(res.bytesOut ?? "-"),
      ];
    });
    lines.push(table(["drain task", "status", "members", "records", "files read", "bytes out"], rows));
  }
  return lines.join("\n") + "\n";
}

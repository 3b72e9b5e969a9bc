/**
 * Runs `logpipe …` in-process through cli/index.ts `main` with stdout/stderr captured, and
 * builds archive objects by hand (framed records, gzip members) for the `logs` tests.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { gunzipSync, gzipSync } from "node:zlib";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { frameRecords, unframeRecords } from "../../functions/core/framing.js";
import { appPrefix } from "../../functions/core/layout.js";
import { main } from "../../cli/index.js";

export interface CliRun {
  code: number;
  stdout: Buffer;
  stderr: string;
  out: string;
}

let queue: Promise<unknown> = Promise.resolve();

/** One CLI run at a time (process.stdout and process.exitCode are process-wide). */
export function cli(...args: string[]): Promise<CliRun> {
  const run = queue.then(() => runOnce(args));
  queue = run.catch(() => {});
  return run;
}

async function runOnce(args: string[]): Promise<CliRun> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  const capture = (sink: (b: Buffer) => void) =>
    ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
      sink(typeof chunk === "string" ? Buffer.from(chunk, typeof enc === "string" ? (enc as BufferEncoding) : "utf8") : Buffer.from(chunk));
      const done = typeof enc === "function" ? enc : cb;
      if (typeof done === "function") queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture((b) => out.push(b));
  process.stderr.write = capture((b) => err.push(b.toString("utf8")));
  process.exitCode = undefined;
  let code: number;
  try {
    code = await main(["node", "logpipe", ...args]);
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
    process.exitCode = undefined;
  }
  const stdout = Buffer.concat(out);
  return { code, stdout, stderr: err.join(""), out: stdout.toString("utf8") };
}

/**
 * Temp directories for one test file: returns a maker (each call creates a new
 * `<os.tmpdir()>/<prefix>XXXXXX` directory) and removes every one it made after the file's tests.
 * Call it at the top level of the test file, so the cleanup is registered for the whole file.
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** Writes an archive object whose body is `members` gzip members of framed records. */
export async function putArchiveObject(store: ObjectStore, key: string, members: Buffer[][]): Promise<void> {
  const body = Buffer.concat(members.map((recs) => gzipSync(frameRecords(recs))));
  await store.putBuffer(key, body);
}

/** Every record the store holds under an app's prefix (what was archived), in key order. */
export async function archivedRecords(store: ObjectStore, prefix: string, segment: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const o of store.list(appPrefix(prefix, segment))) {
    if (!o.key.endsWith(".log.gz")) continue;
    for (const r of unframeRecords(gunzipSync(await store.getBuffer(o.key)))) out.push(Buffer.from(r));
  }
  return out;
}

/** Multiset comparison helper: sorted strings. */
export const sorted = (xs: Iterable<string>) => [...xs].sort();

/** Parses `logs --json` output into records (UTF-8 or base64 ones). */
export function jsonRecords(out: string): { key: string; partition: string; record: Buffer }[] {
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const d = JSON.parse(l) as { key: string; partition: string; record?: string; recordBase64?: string };
      return { key: d.key, partition: d.partition, record: d.record !== undefined ? Buffer.from(d.record, "utf8") : Buffer.from(d.recordBase64!, "base64") };
    });
}

/** `dt=YYYY-MM-DD/hour=HH` of an instant, UTC. */
export function utcPartition(ms: number): { dt: string; hour: string } {
  const iso = new Date(ms).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** A real `node bin/logpipe.mjs …` process, for what only a process can show: signals, exit codes, pipes, children. */
export interface SpawnedCli {
  child: import("node:child_process").ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (with its code, or the signal that killed it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout or stderr has printed text matching `re` (rejects if the process exits first). */
  printed(re: RegExp): Promise<void>;
  /** Environment tag inherited by every process it starts (see processesTagged). */
  tag: string;
}

const BIN = new URL("../../bin/logpipe.mjs", import.meta.url).pathname;

export function spawnCli(args: string[], opts: { nodeArgs?: string[]; stdout?: "pipe" | "ignore" } = {}): SpawnedCli {
  const tag = `logpipe-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
    env: { ...process.env, LOGPIPE_TEST_TAG: tag, NO_COLOR: "1", FORCE_COLOR: undefined },
    stdio: ["ignore", opts.stdout ?? "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (let i = watchers.length - 1; i >= 0; i--) {
      const w = watchers[i]!;
      if (w.re.test(out) || w.re.test(err)) {
        watchers.splice(i, 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on("data", (d: Buffer) => ((out += d.toString()), check()));
  child.stderr!.on("data", (d: Buffer) => ((err += d.toString()), check()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    child, tag, exited,
    stdout: () => out,
    stderr: () => err,
    printed: (re) =>
      new Promise<void>((resolve, reject) => {
        watchers.push({ re, resolve });
        check();
        void exited.then(() => reject(new Error(`exited before printing ${re}; stderr: ${err.slice(-2000)}`)));
      }),
  };
}

/** Pids of live processes whose environment carries `tag` (a CLI run's children inherit it). */
export function processesTagged(tag: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`).includes(`LOGPIPE_TEST_TAG=${tag}`)) pids.push(Number(d));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

/** Direct child processes of `pid` (redis-server rewrites its environment, so a tag cannot find it). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Resolves with the process's exit, or kills it and reports `hung` after `ms` (a guard against hangs, not a timing). */
export async function exitWithin(p: SpawnedCli, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; hung: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms)));
  const r = await Promise.race([p.exited, guard]);
  clearTimeout(timer);
  if (r === "hung") {
    p.child.kill("SIGKILL");
    return { ...(await p.exited), hung: true };
  }
  return { ...r, hung: false };
}

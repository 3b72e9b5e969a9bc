/**
 * Canary bookkeeping on disk: the resumable state (`<stack>-<fn>.json`), the append-only audit
 * log (`<stack>-<fn>.jsonl`, one JSON object per line: who, when, what, metrics) and a lock file
 * so two processes cannot drive the same alias at once.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { OpsError } from "./errors.js";

export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with an AbortError when `signal` fires. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const t = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(abortError()); };
    signal?.addEventListener("abort", onAbort, { once: true });
  }),
};

export function abortError(): Error {
  const e = new Error("interrupted");
  e.name = "AbortError";
  return e;
}

/** Who runs the command: LOGPIPE_ACTOR, else user@host (CI systems set LOGPIPE_ACTOR). */
export function currentActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOGPIPE_ACTOR) return env.LOGPIPE_ACTOR;
  let user = env.USER || env.USERNAME || "";
  try { user ||= os.userInfo().username; } catch { /* no passwd entry */ }
  return `${user || "unknown"}@${os.hostname()}`;
}

export function journalPaths(dir: string, stack: string, fn: string) {
  const base = `${stack.replace(/[^A-Za-z0-9._-]/g, "_")}-${fn}`;
  return { state: path.join(dir, `${base}.json`), audit: path.join(dir, `${base}.jsonl`), lock: path.join(dir, `${base}.lock`) };
}

export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new OpsError(`${file} is not valid JSON (${(e as Error).message}); move it away to start over`);
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function appendAudit(file: string, entry: Record<string, unknown>): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify(entry) + "\n");
}

export function readAudit(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => {
    try { return JSON.parse(l) as Record<string, unknown>; } catch { return { unparseable: l }; }
  });
}

/** Exclusive lock (O_EXCL); a lock whose pid is gone is taken over. */
export function acquireLock(file: string, what: string): () => void {
  mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }), { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = readJson<{ pid: number; host: string; since: string }>(file);
      if (holder && holder.host === os.hostname() && !pidAlive(holder.pid)) { rmSync(file, { force: true }); continue; }
      throw new OpsError(`${what} is locked by pid ${holder?.pid ?? "?"} on ${holder?.host ?? "?"} since ${holder?.since ?? "?"} ` +
        `(${file}); stop that process first, or delete the lock file if it is stale`);
    }
  }
  throw new OpsError(`could not take the lock ${file}`);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === "EPERM"; }
}

/**
 * Canary bookkeeping on disk: the resumable state (`<stack>-<fn>.json`), the append-only audit
 * log (`<stack>-<fn>.jsonl`, one JSON object per line: who, when, what, metrics) and a lock file
 * so two processes cannot drive the same alias at once.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
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

/** A live process holds a local lock. */
export class LockHeldError extends OpsError {
  constructor(message: string, readonly holder: LockHolder | undefined) { super(message); this.name = "LockHeldError"; }
}

/** Exclusive lock (O_EXCL); a lock whose pid is gone is taken over. */
export function acquireLock(file: string, what: string, owner = currentActor()): () => void {
  mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const holder: LockHolder = { owner, token: randomBytes(12).toString("hex"), pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
      writeFileSync(file, JSON.stringify(holder), { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = readJson<LockHolder>(file);
      if (holder && holder.host === os.hostname() && holder.pid !== undefined && !pidAlive(holder.pid)) { rmSync(file, { force: true }); continue; }
      throw new LockHeldError(`${what} is locked by ${holder?.owner ?? "?"} (pid ${holder?.pid ?? "?"} on ${holder?.host ?? "?"}) since ${holder?.since ?? "?"} ` +
        `(${file}); stop that process first, or delete the lock file if it is stale`, holder);
    }
  }
  throw new OpsError(`could not take the lock ${file}`);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === "EPERM"; }
}

// ---------------------------------------------------------------------------------------------
// Canary state stores: where the resumable state, the audit log and the lock live.
//
//  - OssCanaryStore (the default when the stack names logpipe:artifactStore): objects next to the
//    artifacts, `<prefix>/canary/<stack>/<fn>/…`, so every operator and CI job sees one state.
//  - LocalCanaryStore (`--state-dir`, offline/dev): the files above, on one machine.
//
// OSS has no compare-and-swap on overwrite: PutObject refuses If-Match / If-None-Match
// ("0017-00000245", https://help.aliyun.com/en/oss/user-guide/0017-00000245), but
// `x-oss-forbid-overwrite: true` makes a PutObject create-only, answered 409 FileAlreadyExists
// when the key exists ("0026-00000201", https://help.aliyun.com/en/oss/user-guide/0026-00000201;
// https://www.alibabacloud.com/help/en/object-storage-service/latest/disable-overwriting-object-with-the-same-name;
// all checked 2026-12-01). Everything here is built from create-only writes:
//  - state: each revision is a new object `state/<revision>.json`; writing revision n+1 succeeds
//    for exactly one writer, so two operators can never both advance the canary (the loser gets
//    CanaryConflictError and stops).
//  - audit: one object per entry `audit/<time>-<random>.json`; concurrent writers lose nothing.
//  - lock: `lock` {owner, token, since, expiresAt}; a lease the holder renews. An expired lease is
//    taken over: the taker first creates `breaks/<token of the expired lock>` (one taker wins),
//    deletes the lock, then creates its own. `logpipe canary unlock` does the same by hand.
// ---------------------------------------------------------------------------------------------

export interface LockHolder {
  owner: string;
  token: string;
  since: string;
  /** lease end; absent on a local pid lock (it lasts as long as its process) */
  expiresAt?: string;
  host?: string;
  pid?: number;
}

/** Another operator holds the canary lock. The CLI exits 3 on it (nothing was done). */
export class CanaryLockedError extends OpsError {
  constructor(readonly what: string, readonly holder: LockHolder | undefined, readonly where: string, hint: string) {
    super(`${what} is locked by ${holder?.owner ?? "?"} since ${holder?.since ?? "?"}` +
      (holder?.expiresAt ? ` (lease until ${holder.expiresAt})` : "") + ` [${where}]; ${hint}`, { holder });
    this.name = "CanaryLockedError";
  }
}

/** The state changed under this writer (another operator advanced or broke in). */
export class CanaryConflictError extends OpsError {
  constructor(message: string) { super(message); this.name = "CanaryConflictError"; }
}

export interface StoredState<T> { state: T; revision: number }

export interface CanaryLock {
  readonly holder: LockHolder;
  /** extends the lease; throws CanaryConflictError when the lock is no longer ours */
  renew(): Promise<void>;
  release(): Promise<void>;
}

export interface CanaryStore {
  readonly kind: "oss" | "local";
  /** where a stack/function's state lives, for messages */
  where(stack: string, fn: string): string;
  readState<T>(stack: string, fn: string): Promise<StoredState<T> | undefined>;
  /** writes revision `expected + 1`; CanaryConflictError if someone else wrote it first */
  writeState<T>(stack: string, fn: string, state: T, expected: number): Promise<number>;
  appendAudit(stack: string, fn: string, entry: Record<string, unknown>): Promise<void>;
  readAudit(stack: string, fn: string): Promise<Record<string, unknown>[]>;
  lock(stack: string, fn: string, owner: string): Promise<CanaryLock & { tookOver?: LockHolder }>;
  peekLock(stack: string, fn: string): Promise<LockHolder | undefined>;
  /** removes the lock: an expired one, or any with `force`; returns the holder it removed */
  breakLock(stack: string, fn: string, force: boolean): Promise<LockHolder | undefined>;
}

const unlockHint = (stack: string, fn: string) =>
  `wait for that run to finish; if it is dead: \`logpipe canary unlock --stack ${stack} --function ${fn}\` (after its lease ends) or add --force`;

/** The single-machine store: `<dir>/<stack>-<fn>.json|.jsonl|.lock` (the layout logpipe promote reads). */
export class LocalCanaryStore implements CanaryStore {
  readonly kind = "local";
  constructor(readonly dir: string) {}

  where(stack: string, fn: string): string { return journalPaths(this.dir, stack, fn).state; }

  async readState<T>(stack: string, fn: string): Promise<StoredState<T> | undefined> {
    const s = readJson<T & { revision?: number }>(journalPaths(this.dir, stack, fn).state);
    return s ? { state: s, revision: s.revision ?? 0 } : undefined;
  }

  async writeState<T>(stack: string, fn: string, state: T, expected: number): Promise<number> {
    const file = journalPaths(this.dir, stack, fn).state;
    const current = readJson<{ revision?: number }>(file);
    if ((current?.revision ?? 0) !== expected) {
      throw new CanaryConflictError(`${file} is at revision ${current?.revision ?? 0}, this run expected ${expected}: another run changed it; stop and resume with the same command`);
    }
    writeJsonAtomic(file, { ...state, revision: expected + 1 });
    return expected + 1;
  }

  async appendAudit(stack: string, fn: string, entry: Record<string, unknown>): Promise<void> { appendAudit(journalPaths(this.dir, stack, fn).audit, entry); }
  async readAudit(stack: string, fn: string): Promise<Record<string, unknown>[]> { return readAudit(journalPaths(this.dir, stack, fn).audit); }

  async lock(stack: string, fn: string, owner: string): Promise<CanaryLock> {
    const file = journalPaths(this.dir, stack, fn).lock;
    let release: () => void;
    try {
      release = acquireLock(file, `canary ${stack}/${fn}`, owner);
    } catch (e) {
      if (!(e instanceof LockHeldError)) throw e;
      throw new CanaryLockedError(`canary ${stack}/${fn}`, e.holder, file, `stop that process first; if it is gone: \`logpipe canary unlock --state-dir ${this.dir} --stack ${stack} --function ${fn} --force\``);
    }
    const holder = readJson<LockHolder>(file)!;
    return { holder, renew: async () => {}, release: async () => release() };
  }

  async peekLock(stack: string, fn: string): Promise<LockHolder | undefined> { return readJson<LockHolder>(journalPaths(this.dir, stack, fn).lock); }

  async breakLock(stack: string, fn: string, force: boolean): Promise<LockHolder | undefined> {
    const file = journalPaths(this.dir, stack, fn).lock;
    const holder = readJson<LockHolder>(file);
    if (!holder) return undefined;
    const alive = holder.host === os.hostname() && holder.pid !== undefined && pidAlive(holder.pid);
    if (alive && !force) throw new CanaryLockedError(`canary ${stack}/${fn}`, holder, file, "its process is alive on this host; pass --force to remove the lock anyway");
    rmSync(file, { force: true });
    return holder;
  }
}

/** The ali-oss calls the shared store makes (ali-oss's client satisfies it). */
export interface CanaryBucket {
  put(name: string, body: Buffer, options?: { headers?: Record<string, string> }): Promise<unknown>;
  get(name: string): Promise<{ content: Buffer | string }>;
  delete(name: string): Promise<unknown>;
  list(query: { prefix: string; marker?: string; "max-keys": number }, options: Record<string, unknown>): Promise<{ objects?: { name: string }[]; nextMarker?: string | null; isTruncated?: boolean }>;
}

const KEEP_REVISIONS = 16;
const REV_DIGITS = 12;

function ossCode(e: unknown): string | undefined {
  const x = e as { code?: string; status?: number; name?: string };
  return x?.code ?? (x?.status === 404 ? "NoSuchKey" : undefined);
}

/** The shared store on OSS (see the comment above). */
export class OssCanaryStore implements CanaryStore {
  readonly kind = "oss";
  private auditSeq = 0;
  constructor(private readonly bucket: CanaryBucket, readonly bucketName: string, readonly prefix: string, private readonly clock: Pick<Clock, "now">, readonly leaseMs = 15 * 60_000) {}

  private base(stack: string, fn: string): string {
    return `${this.prefix.replace(/\/+$/, "")}/canary/${stack.replace(/[^A-Za-z0-9._-]/g, "_")}/${fn}`;
  }

  where(stack: string, fn: string): string { return `oss://${this.bucketName}/${this.base(stack, fn)}/`; }

  private async getJson<T>(key: string): Promise<T | undefined> {
    try {
      const r = await this.bucket.get(key);
      return JSON.parse(Buffer.isBuffer(r.content) ? r.content.toString("utf8") : String(r.content)) as T;
    } catch (e) {
      if (ossCode(e) === "NoSuchKey") return undefined;
      throw new OpsError(`canary state: OSS GetObject ${key} failed: ${safeMessage(e)}`);
    }
  }

  /** Create-only PutObject; false when the key exists. */
  private async create(key: string, value: unknown): Promise<boolean> {
    try {
      await this.bucket.put(key, Buffer.from(JSON.stringify(value, null, 2) + "\n"), { headers: { "x-oss-forbid-overwrite": "true", "Content-Type": "application/json" } });
      return true;
    } catch (e) {
      if (ossCode(e) === "FileAlreadyExists") return false;
      throw new OpsError(`canary state: OSS PutObject ${key} failed: ${safeMessage(e)}`);
    }
  }

  private async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      let r;
      try {
        r = await this.bucket.list({ prefix, marker, "max-keys": 1000 }, {});
      } catch (e) {
        throw new OpsError(`canary state: OSS ListObjects ${prefix} failed: ${safeMessage(e)}`);
      }
      for (const o of r.objects ?? []) out.push(o.name);
      if (!r.isTruncated || !r.nextMarker) break;
      marker = r.nextMarker;
    }
    return out.sort();
  }

  async readState<T>(stack: string, fn: string): Promise<StoredState<T> | undefined> {
    const revs = await this.keys(`${this.base(stack, fn)}/state/`);
    const last = revs.at(-1);
    if (!last) return undefined;
    const doc = await this.getJson<{ revision: number; state: T }>(last);
    return doc ? { state: doc.state, revision: doc.revision } : undefined;
  }

  async writeState<T>(stack: string, fn: string, state: T, expected: number): Promise<number> {
    const revision = expected + 1;
    const key = `${this.base(stack, fn)}/state/${String(revision).padStart(REV_DIGITS, "0")}.json`;
    const writtenAt = new Date(this.clock.now()).toISOString();
    if (!(await this.create(key, { revision, writtenAt, state }))) {
      const other = await this.getJson<{ writtenAt?: string; state?: { updatedBy?: string } }>(key);
      throw new CanaryConflictError(`the canary state of ${stack}/${fn} moved on under this run: revision ${revision} was already written` +
        `${other?.state?.updatedBy ? ` by ${other.state.updatedBy}` : ""}${other?.writtenAt ? ` at ${other.writtenAt}` : ""} (${this.where(stack, fn)}); ` +
        `this run stops here — see \`logpipe canary status --stack ${stack} --function ${fn}\``);
    }
    // keep the last revisions only (listing stays short); best effort, a leftover is harmless
    const old = revision - KEEP_REVISIONS;
    if (old > 0) await this.bucket.delete(`${this.base(stack, fn)}/state/${String(old).padStart(REV_DIGITS, "0")}.json`).catch(() => {});
    return revision;
  }

  async appendAudit(stack: string, fn: string, entry: Record<string, unknown>): Promise<void> {
    const ts = new Date(this.clock.now()).toISOString().replace(/[:.]/g, "");
    // time, then this writer's sequence (entries of one millisecond keep their order), then a random tail
    const key = `${this.base(stack, fn)}/audit/${ts}-${String(++this.auditSeq).padStart(6, "0")}-${randomBytes(6).toString("hex")}.json`;
    await this.create(key, entry);
  }

  async readAudit(stack: string, fn: string): Promise<Record<string, unknown>[]> {
    const keys = await this.keys(`${this.base(stack, fn)}/audit/`);
    const out: Record<string, unknown>[] = [];
    for (const k of keys) out.push((await this.getJson<Record<string, unknown>>(k)) ?? { missing: k });
    return out;
  }

  async peekLock(stack: string, fn: string): Promise<LockHolder | undefined> { return this.getJson<LockHolder>(`${this.base(stack, fn)}/lock`); }

  private expired(h: LockHolder): boolean { return h.expiresAt !== undefined && Date.parse(h.expiresAt) < this.clock.now(); }

  async lock(stack: string, fn: string, owner: string): Promise<CanaryLock & { tookOver?: LockHolder }> {
    const key = `${this.base(stack, fn)}/lock`;
    const now = this.clock.now();
    const mine: LockHolder = { owner, token: randomBytes(12).toString("hex"), since: new Date(now).toISOString(), expiresAt: new Date(now + this.leaseMs).toISOString(), host: os.hostname(), pid: process.pid };
    let tookOver: LockHolder | undefined;
    if (!(await this.create(key, mine))) {
      const holder = await this.peekLock(stack, fn);
      if (holder && !this.expired(holder)) throw new CanaryLockedError(`canary ${stack}/${fn}`, holder, this.where(stack, fn), unlockHint(stack, fn));
      if (holder) {
        // expired lease: exactly one taker per expired lock (the breaks/<token> marker)
        if (!(await this.create(`${this.base(stack, fn)}/breaks/${holder.token}`, { brokenBy: owner, at: mine.since, holder }))) {
          throw new CanaryLockedError(`canary ${stack}/${fn}`, holder, this.where(stack, fn), "another operator is taking over its expired lease right now");
        }
        await this.bucket.delete(key).catch(() => {});
        tookOver = holder;
      }
      if (!(await this.create(key, mine))) {
        throw new CanaryLockedError(`canary ${stack}/${fn}`, await this.peekLock(stack, fn), this.where(stack, fn), unlockHint(stack, fn));
      }
    }
    const renew = async () => {
      const cur = await this.peekLock(stack, fn);
      if (cur?.token !== mine.token) {
        throw new CanaryConflictError(`the canary lock of ${stack}/${fn} was taken over${cur ? ` by ${cur.owner} at ${cur.since}` : ""} while this run held it (its lease had expired); this run stops here`);
      }
      mine.expiresAt = new Date(this.clock.now() + this.leaseMs).toISOString();
      // no compare-and-swap on OSS: the read above makes a lost lease visible; the state
      // revisions make sure a run that lost its lease can never write state again
      await this.bucket.put(key, Buffer.from(JSON.stringify(mine, null, 2) + "\n"), { headers: { "Content-Type": "application/json" } });
    };
    const release = async () => {
      const cur = await this.peekLock(stack, fn).catch(() => undefined);
      if (cur?.token === mine.token) await this.bucket.delete(key).catch(() => {});
    };
    return { holder: mine, renew, release, tookOver };
  }

  async breakLock(stack: string, fn: string, force: boolean): Promise<LockHolder | undefined> {
    const holder = await this.peekLock(stack, fn);
    if (!holder) return undefined;
    if (!force && !this.expired(holder)) throw new CanaryLockedError(`canary ${stack}/${fn}`, holder, this.where(stack, fn), "its lease has not ended; pass --force if you know that run is dead");
    await this.create(`${this.base(stack, fn)}/breaks/${holder.token}`, { brokenAt: new Date(this.clock.now()).toISOString(), holder, force });
    await this.bucket.delete(`${this.base(stack, fn)}/lock`).catch((e) => { throw new OpsError(`canary state: OSS DeleteObject failed: ${safeMessage(e)}`); });
    return holder;
  }
}

/** ali-oss errors carry the signed request; only their code and message are shown. */
function safeMessage(e: unknown): string {
  const x = e as { code?: string; status?: number; message?: string };
  return [x?.status, x?.code, (x?.message ?? "").split("\n")[0]?.slice(0, 200)].filter(Boolean).join(" ");
}

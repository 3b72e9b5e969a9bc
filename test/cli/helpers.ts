/**
 * Runs `logpipe …` in-process through cli/index.ts `main` with stdout/stderr captured, and
 * builds archive objects by hand (framed records, gzip members) for the `logs` tests.
 */
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

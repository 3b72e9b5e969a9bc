/**
 * Child process of `logpipe invoke`: loads the real FC handler export
 * (`functions/<fn>/index.ts`), calls it once with the event bytes and a fake FC context, and
 * writes `{ok, result | error, durationMs, invocations}` as JSON to fd 3. The handler's own logs
 * (pino JSON lines) go to this process's stdout/stderr, which the parent captures — so logs and
 * result never mix, and a handler that crashes or exits cannot take the CLI down with it.
 *
 * argv[3]: JSON InvokeSpec. The environment (LOGPIPE_*) is the one the parent built.
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { encodeTask } from "../../functions/adapters/fc-invoker.js";
import { resetRuntime, setCompressInvoker, type FcContext } from "../../functions/adapters/runtime.js";
import type { DrainTask } from "../../functions/core/deps.js";

export interface InvokeSpec {
  fn: "split" | "compress" | "upload";
  eventFile: string;
  requestId: string;
  /** Record compress invocations as event files in this directory instead of running them. */
  recordDir?: string;
  timeoutSeconds: number;
  memoryMB: number;
}

export interface RecordedInvocation {
  function: "compress";
  payload: DrainTask;
  /** Recorded (default): the event file to run it with. */
  eventFile?: string;
  /** --chain: what the compress handler returned. */
  result?: unknown;
}

export interface RunnerOutput {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string; stack?: string };
  durationMs: number;
  invocations: RecordedInvocation[];
}

/**
 * `{v:2, apps: [pay-gw, order-svc, user], reason: hot}` → `hot-pay-gw+2-<8 hex of the payload>.json`:
 * readable, and the same task recorded twice is the same file (app names are safe path segments).
 */
export function taskFileName(t: DrainTask): string {
  const more = t.apps.length > 1 ? `+${t.apps.length - 1}` : "";
  const digest = createHash("sha1").update(JSON.stringify(t)).digest("hex").slice(0, 8);
  return `${t.reason}-${t.shard !== undefined ? `tail${t.shard}` : (t.apps[0] ?? "none")}${more}-${digest}.json`;
}

type Handler = (event: Buffer, ctx: FcContext) => Promise<unknown>;

function here(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}

/** Handlers return their result as a JSON string (what FC sends back to a sync caller). */
function parseResult(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const spec = JSON.parse(process.argv[3] ?? "{}") as InvokeSpec;
const invocations: RecordedInvocation[] = [];
if (spec.recordDir) {
  const dir = spec.recordDir;
  setCompressInvoker({
    async invokeCompress(task) {
      const body = encodeTask(task); // same payload (and size guard) as the FC async invoke
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, taskFileName(task));
      writeFileSync(file, body);
      invocations.push({ function: "compress", payload: task, eventFile: file });
    },
  });
} else {
  // --chain: each compress invocation runs the real compress handler export in this process
  // (same runtime instance, so the same coordination store), and its result is reported.
  let n = 0;
  setCompressInvoker({
    async invokeCompress(task) {
      const { handler } = (await import(pathToFileURL(path.resolve(here(), "../../functions/compress/index.ts")).href)) as { handler: Handler };
      const raw = await handler(encodeTask(task), { requestId: `${spec.requestId}-compress-${++n}` });
      invocations.push({ function: "compress", payload: task, result: parseResult(raw) });
    },
  });
}

const handlerModule = path.resolve(here(), "../../functions", spec.fn, "index.ts");
const out: RunnerOutput = { ok: false, durationMs: 0, invocations };
const started = performance.now();
try {
  const mod = (await import(pathToFileURL(handlerModule).href)) as { handler: Handler };
  const event = readFileSync(spec.eventFile);
  // the FC 3.0 context fields (https://www.alibabacloud.com/help/en/functioncompute/user-guide/context, checked 2026-12-01); no credentials: local stores need none
  const ctx = {
    requestId: spec.requestId,
    function: { name: `logpipe-${spec.fn}`, handler: "index.handler", memory: spec.memoryMB, timeout: spec.timeoutSeconds },
    service: { qualifier: "LATEST" },
    region: "local",
    accountId: "local",
  } as FcContext;
  const raw = await mod.handler(event, ctx);
  out.ok = true;
  out.result = parseResult(raw);
} catch (e) {
  const err = e as Error;
  out.error = { name: err?.name ?? "Error", message: err?.message ?? String(e), stack: err?.stack };
}
out.durationMs = performance.now() - started;
await resetRuntime().catch(() => {});
writeSync(3, JSON.stringify(out));
closeSync(3);
process.exit(0);

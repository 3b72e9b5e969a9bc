/**
 * `planStack(stack)` — what a stack would create, without the Pulumi engine or a cloud: runs
 * the infra program under `pulumi.runtime.setMocks` with the stack's config file, in a child
 * process (the Pulumi runtime is process-global, so every call gets a fresh one and calls can
 * run side by side). Used by `logpipe plan`, `logpipe cost` and the infra tests.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { PlanOptions, PlanRequest, PlanResult, PlannedResource } from "./types.js";

export type { PlanOptions, PlannedResource, PlanResult } from "./types.js";

/** tsx's loader resolved from this package (import.meta.resolve is missing under vitest's SSR transform). */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts");

export class PlanError extends Error {
  constructor(
    message: string,
    public readonly kind: "config" | "program",
    public readonly issues: { key: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "PlanError";
  }
}

/** Runs the program for one stack and returns resources and (masked) stack outputs. */
export async function planStackDetailed(stack: string, opts: PlanOptions = {}): Promise<Extract<PlanResult, { ok: true }>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-plan-"));
  const outFile = path.join(dir, "result.json");
  const req: PlanRequest = { stack, outFile, configFile: opts.configFile, artifacts: opts.artifacts ?? "build", artifactsDir: opts.artifactsDir, mockOverrides: opts.mockOverrides };
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", TSX_LOADER, WORKER], { // tsx resolved from here: plan works from any directory
        env: { ...process.env, LOGPIPE_PLAN_REQUEST: JSON.stringify(req), PULUMI_CONFIG: undefined, PULUMI_NODEJS_STACK: undefined },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d) => (err = (err + d.toString()).slice(-20_000)));
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (c) => {
        clearTimeout(timer);
        resolve({ code: c, stderr: err });
      });
    });
    let result: PlanResult;
    try {
      result = JSON.parse(readFileSync(outFile, "utf8")) as PlanResult;
    } catch {
      throw new PlanError(`planning stack "${stack}" failed (exit ${code}):\n${stderr.trim()}`, "program");
    }
    if (!result.ok) throw new PlanError(result.error.message, result.error.kind, result.error.issues);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every resource the stack would create: type, name, urn, inputs (secrets masked). */
export async function planStack(stackName: string, opts?: PlanOptions): Promise<PlannedResource[]> {
  return (await planStackDetailed(stackName, opts)).resources;
}

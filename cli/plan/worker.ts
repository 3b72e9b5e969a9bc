/**
 * Child-process side of `planStack`: loads one stack file into PULUMI_CONFIG, installs mocks,
 * runs the logpipe program and writes what it declared (inputs masked) to a result file.
 * One process per run, because the Pulumi runtime keeps global state.
 * Request: env LOGPIPE_PLAN_REQUEST = JSON PlanRequest.
 */
import { writeFileSync } from "node:fs";
import type { PlanRequest, PlanResult, ResourceOptionsSummary } from "./types.js";

const OPTION_KEYS = ["protect", "retainOnDelete", "deleteBeforeReplace", "replaceOnChanges", "ignoreChanges"] as const;
import { createMocks, maskAll } from "./mocks.js";
import { loadStackFile, toPulumiConfigEnv } from "./stack-file.js";

async function main(): Promise<void> {
  const req = JSON.parse(process.env.LOGPIPE_PLAN_REQUEST ?? "{}") as PlanRequest;
  let result: PlanResult;
  try {
    const raw = loadStackFile(req.stack, req.configFile);
    process.env.PULUMI_CONFIG = JSON.stringify(toPulumiConfigEnv(raw));
    const pulumi = await import("@pulumi/pulumi");
    const { resources, mocks } = createMocks(req.mockOverrides);
    await pulumi.runtime.setMocks(mocks, "logpipe", req.stack, false);
    const { logpipe } = await import("../../infra/program.js");
    const { placeholderBuild } = await import("./placeholder.js");
    // Resource options (protect, retainOnDelete, …) are not passed to mocks: a stack
    // transformation records them (mocks run transformations in-process).
    const options = new Map<string, ResourceOptionsSummary>();
    let outputs: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((a) => {
        const o = a.opts as Record<string, unknown>;
        const picked = Object.fromEntries(OPTION_KEYS.filter((k) => o[k] !== undefined && o[k] !== false).map((k) => [k, o[k]]));
        options.set(`${a.type}::${a.name}`, picked as ResourceOptionsSummary);
        return undefined;
      });
      outputs = (await logpipe({
        stack: req.stack,
        resolve: { artifactsDir: req.artifactsDir, ...(req.artifacts === "placeholder" ? { build: placeholderBuild } : {}) },
      })) as unknown as Record<string, unknown>;
      return {};
    });
    const resolved = await new Promise<unknown>((resolve) => pulumi.output(outputs).apply((v) => resolve(v)));
    await pulumi.runtime.disconnect();
    const monitor = pulumi.runtime.getMonitor() as unknown as { getRegisteredResources?: () => Map<string, { urn: string; id: string | null }> };
    const urnById = new Map<string, string>();
    for (const r of monitor?.getRegisteredResources?.().values() ?? []) if (r.id) urnById.set(r.id, r.urn);
    const { mask } = maskAll(resources);
    result = {
      ok: true,
      stack: req.stack,
      resources: resources.map((r) => ({ type: r.type, name: r.name, urn: urnById.get(r.id), inputs: summarize(mask(r.inputs)) as Record<string, unknown>, options: options.get(`${r.type}::${r.name}`) ?? {} })),
      outputs: mask(resolved) as Record<string, unknown>,
    };
  } catch (e) {
    const err = e as Error & { issues?: { key: string; message: string }[] };
    const isConfig = err.name === "StackConfigError" || err.name === "StackFileError";
    result = { ok: false, stack: req.stack, error: { kind: isConfig ? "config" : "program", message: err.message, issues: err.issues } };
  }
  writeFileSync(req.outFile, JSON.stringify(result));
}

/** Inline code zips are replaced by their size: nobody reads base64 in a plan. */
function summarize(inputs: unknown): unknown {
  if (inputs && typeof inputs === "object" && !Array.isArray(inputs)) {
    const o = { ...(inputs as Record<string, unknown>) };
    const code = o.code as Record<string, unknown> | undefined;
    if (code && typeof code.zipFile === "string") o.code = { ...code, zipFile: `[zip, ${Math.floor((code.zipFile.length * 3) / 4)} bytes]` };
    return o;
  }
  return inputs;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

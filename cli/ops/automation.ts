/**
 * Runs `pulumi up` / reads stack outputs through the Pulumi Automation API.
 *
 * The Automation API's LocalWorkspace reads and writes `Pulumi.<stack>.yaml` in its workDir and
 * ignores `stackConfigDir` from Pulumi.yaml. We never let it touch stack settings: the workspace's
 * workDir is the repo root (where Pulumi.yaml and `main: infra/` live), we edit the stack file
 * ourselves (stack-config.ts), and every `up` passes `--config-file stacks/Pulumi.<stack>.yaml`
 * explicitly (UpOptions.configFile), so the CLI applies exactly the file we wrote.
 */
import { LocalWorkspace, Stack, type EngineEvent, type OutputMap } from "@pulumi/pulumi/automation";
import { OpsError, ConfigError } from "./errors.js";
import { stackConfigPath, type ProjectInfo } from "./stack-config.js";

export interface UpResult {
  /** Resource operation counts from the engine's summary event, e.g. { update: 1, same: 40 }. */
  changes: Record<string, number>;
  outputs: Record<string, unknown>;
  /** Last lines of the CLI output (for the audit log on failure). */
  stdoutTail: string;
}

export interface UpOptions {
  message?: string;
  onOutput?: (line: string) => void;
  /** update only these URNs (Automation API `target`): a canary step touches the alias alone */
  targets?: string[];
}

export interface StackRunner {
  up(stack: string, opts?: UpOptions): Promise<UpResult>;
  outputs(stack: string): Promise<Record<string, unknown>>;
  /** URNs of the stack's resources (from `pulumi stack export`) */
  urns(stack: string): Promise<string[]>;
  /** Prerequisites: the Pulumi CLI runs and the stack exists. Throws ConfigError (exit 2) otherwise. */
  check(stack: string): Promise<void>;
}

export interface AutomationOptions {
  /** Extra environment for the pulumi CLI (e.g. PULUMI_BACKEND_URL); inherited env is kept. */
  envVars?: Record<string, string>;
}

export class AutomationStackRunner implements StackRunner {
  private ws?: Promise<LocalWorkspace>;

  constructor(private readonly project: ProjectInfo, private readonly opts: AutomationOptions = {}) {}

  private workspace(): Promise<LocalWorkspace> {
    this.ws ??= LocalWorkspace.create({ workDir: this.project.root, envVars: this.opts.envVars }).catch((e: Error) => {
      this.ws = undefined;
      throw new ConfigError(`the Pulumi CLI is not usable (${cleanCliError(e)}): install it (https://www.pulumi.com/docs/install/) and put it on PATH`);
    });
    return this.ws;
  }

  private async select(stack: string): Promise<Stack> {
    const ws = await this.workspace();
    try {
      return await Stack.select(stack, ws);
    } catch (e) {
      const err = e as Error;
      if (err.name === "StackNotFoundError") throw new ConfigError(`pulumi: no stack named "${stack}" (create it with \`pulumi stack init ${stack}\`)`);
      throw new OpsError(`pulumi stack select ${stack} failed: ${cleanCliError(err)}`);
    }
  }

  async check(stackName: string): Promise<void> {
    await this.select(stackName);
  }

  async urns(stackName: string): Promise<string[]> {
    const stack = await this.select(stackName);
    try {
      const state = await stack.exportStack();
      return ((state.deployment as { resources?: { urn: string }[] } | undefined)?.resources ?? []).map((r) => r.urn);
    } catch (e) {
      throw new OpsError(`pulumi stack export on ${stackName} failed: ${cleanCliError(e as Error)}`);
    }
  }

  async up(stackName: string, opts: UpOptions = {}): Promise<UpResult> {
    const stack = await this.select(stackName);
    let changes: Record<string, number> = {};
    let tail = "";
    const onOutput = (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      if (opts.onOutput) for (const line of chunk.split("\n")) if (line.trim()) opts.onOutput(line);
    };
    const onEvent = (ev: EngineEvent) => {
      // one summary per update; the event-log tail can deliver it more than once, so take it, don't add it
      const rc = ev.summaryEvent?.resourceChanges;
      if (rc) changes = Object.fromEntries(Object.entries(rc).map(([k, v]) => [k, Number(v ?? 0)]));
    };
    try {
      const res = await stack.up({
        configFile: stackConfigPath(this.project, stackName),
        message: opts.message,
        ...(opts.targets?.length ? { target: opts.targets } : {}),
        onOutput,
        onEvent,
      });
      return { changes, outputs: unwrapOutputs(res.outputs), stdoutTail: tail };
    } catch (e) {
      throw new OpsError(`pulumi up on stack ${stackName} failed: ${cleanCliError(e as Error)}`, { stdoutTail: tail });
    }
  }

  async outputs(stackName: string): Promise<Record<string, unknown>> {
    const stack = await this.select(stackName);
    try {
      return unwrapOutputs(await stack.outputs());
    } catch (e) {
      throw new OpsError(`pulumi stack output on ${stackName} failed: ${cleanCliError(e as Error)}`);
    }
  }
}

function unwrapOutputs(o: OutputMap): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.value]));
}

/** The CLI's stderr, without the Automation API's "code: … stdout: …" wrapper noise. */
export function cleanCliError(e: Error): string {
  const msg = e.message ?? String(e);
  const stderr = /stderr:\s*([\s\S]*?)(?:\n\s*err\?:|$)/.exec(msg)?.[1]?.trim();
  const text = (stderr || msg).split("\n").map((l) => l.trim()).filter(Boolean);
  const err = text.filter((l) => /error/i.test(l));
  return (err.length ? err.slice(-3) : text.slice(-3)).join(" | ").slice(0, 600) || "unknown error";
}

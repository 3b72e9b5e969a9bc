/**
 * Reads a stack's configuration file (`stacks/Pulumi.<stack>.yaml`, or any file in the same
 * format) into a flat map of fully qualified keys, and converts it to the `PULUMI_CONFIG`
 * form a mock run reads (every value a string; objects as JSON).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../build/artifacts.js";

export const STACKS_DIR = path.join(REPO_ROOT, "stacks");

export class StackFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackFileError";
  }
}

export function stackFilePath(stack: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new StackFileError(`invalid stack name "${stack}"`);
  return path.join(STACKS_DIR, `Pulumi.${stack}.yaml`);
}

/** Stack names that have a config file under stacks/. */
export function listStacks(): string[] {
  if (!existsSync(STACKS_DIR)) return [];
  return readdirSync(STACKS_DIR)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export interface SecureValue {
  secure: string;
}

export function loadStackFile(stack: string, configFile?: string): Record<string, unknown> {
  const file = configFile ? path.resolve(configFile) : stackFilePath(stack);
  if (!existsSync(file)) throw new StackFileError(`no configuration for stack "${stack}": ${path.relative(process.cwd(), file) || file} does not exist`);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new StackFileError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  const config = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new StackFileError(`${file}: "config" must be a map of key: value`);
  return config as Record<string, unknown>;
}

export function isSecureValue(v: unknown): v is SecureValue {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as SecureValue).secure === "string";
}

/** `{ "logpipe:network": {...} }` → `{ "logpipe:network": "{...json...}" }`; encrypted values become a placeholder. */
export function toPulumiConfigEnv(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (isSecureValue(v)) out[k] = "[secret]";
    else if (typeof v === "string") out[k] = v;
    else out[k] = JSON.stringify(v);
  }
  return out;
}

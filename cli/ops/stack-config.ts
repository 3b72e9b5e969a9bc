/**
 * Reads and edits `stacks/Pulumi.<stack>.yaml` (the directory comes from `stackConfigDir` in
 * Pulumi.yaml). Edits go through the `yaml` package's Document API, so comments, key order and
 * every key this module does not touch survive a write. Writes are atomic (temp file + rename).
 */
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import YAML, { isMap, isScalar, type Document } from "yaml";
import { z } from "zod";
import { ConfigError, UsageError } from "./errors.js";
import {
  ARTIFACTS_KEY, FUNCTIONS, RELEASE_KEY, REGION_KEY, USAGE_KEY, artifactsSchema, describeZodError,
  functionReleaseSchema, releaseSchema, usageSchema,
  type Artifacts, type FunctionKey, type FunctionRelease, type Release, type Usage,
} from "./contracts.js";

const STACK_NAME = /^[A-Za-z0-9._-]{1,100}$/;

export interface ProjectInfo {
  root: string;
  name: string;
  stackConfigDir: string;
}

/** Reads Pulumi.yaml at the repo root: project name and the stack config directory. */
export function readProject(root: string): ProjectInfo {
  const file = path.join(root, "Pulumi.yaml");
  if (!existsSync(file)) throw new ConfigError(`Pulumi.yaml not found in ${root} (run logpipe from the repository root or pass --cwd)`);
  const doc = YAML.parse(readFileSync(file, "utf8")) as Record<string, unknown> | null;
  const name = typeof doc?.name === "string" ? doc.name : "";
  if (!name) throw new ConfigError(`${file}: missing "name"`);
  const dir = typeof doc?.stackConfigDir === "string" && doc.stackConfigDir ? doc.stackConfigDir : ".";
  return { root, name, stackConfigDir: path.resolve(root, dir) };
}

export function stackConfigPath(project: ProjectInfo, stack: string): string {
  return path.join(project.stackConfigDir, `Pulumi.${shortStackName(stack)}.yaml`);
}

/** "org/project/prod" → "prod" (stack files are named after the short name). */
export function shortStackName(stack: string): string {
  return stack.split("/").pop() ?? stack;
}

export function listStacks(project: ProjectInfo): string[] {
  if (!existsSync(project.stackConfigDir)) return [];
  return readdirSync(project.stackConfigDir)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();
}

export class StackConfigFile {
  private doc: Document;
  private original: string;

  private constructor(readonly project: ProjectInfo, readonly stack: string, readonly file: string, text: string) {
    this.original = text;
    this.doc = parseDoc(file, text);
  }

  static load(project: ProjectInfo, stack: string): StackConfigFile {
    if (!stack.split("/").every((seg) => STACK_NAME.test(seg) && seg !== "." && seg !== "..")) throw new UsageError(`invalid stack name "${stack}"`);
    const file = stackConfigPath(project, stack);
    if (!existsSync(file)) {
      const known = listStacks(project);
      throw new ConfigError(`unknown stack "${stack}": ${path.relative(project.root, file)} not found` +
        (known.length ? ` (stacks: ${known.join(", ")})` : ""));
    }
    return new StackConfigFile(project, stack, file, readFileSync(file, "utf8"));
  }

  /** Re-reads the file from disk (another process may have changed it). */
  reload(): void {
    const text = readFileSync(this.file, "utf8");
    this.original = text;
    this.doc = parseDoc(this.file, text);
  }

  get relativePath(): string {
    return path.relative(this.project.root, this.file);
  }

  /** The raw (JS) value of a config key such as `logpipe:release`, or undefined. */
  get(key: string): unknown {
    const v = this.doc.getIn(["config", key], true);
    if (v === undefined) return undefined;
    return isScalar(v) ? v.value : (v as { toJSON(): unknown }).toJSON();
  }

  has(key: string): boolean {
    return this.doc.hasIn(["config", key]);
  }

  region(): string | undefined {
    const r = this.get(REGION_KEY);
    return typeof r === "string" ? r : undefined;
  }

  release(): Release {
    const raw = this.get(RELEASE_KEY);
    if (raw === undefined) throw new ConfigError(`${this.relativePath}: missing config key ${RELEASE_KEY}`);
    const r = releaseSchema.safeParse(raw);
    if (!r.success) throw new ConfigError(`${this.relativePath}: ${describeZodError(RELEASE_KEY, r.error)}`);
    return r.data;
  }

  functionRelease(fn: FunctionKey): FunctionRelease {
    const raw = (this.get(RELEASE_KEY) as Record<string, unknown> | undefined)?.[fn];
    if (raw === undefined) throw new ConfigError(`${this.relativePath}: missing config key ${RELEASE_KEY}.${fn}`);
    const r = functionReleaseSchema.safeParse(raw);
    if (!r.success) throw new ConfigError(`${this.relativePath}: ${describeZodError(`${RELEASE_KEY}.${fn}`, r.error)}`);
    return r.data;
  }

  artifacts(): Artifacts {
    const raw = this.get(ARTIFACTS_KEY);
    if (raw === undefined || raw === null) return {};
    const r = artifactsSchema.safeParse(raw);
    if (!r.success) throw new ConfigError(`${this.relativePath}: ${describeZodError(ARTIFACTS_KEY, r.error)}`);
    return r.data;
  }

  usage(): Usage | undefined {
    const raw = this.get(USAGE_KEY);
    if (raw === undefined) return undefined;
    const r = usageSchema.safeParse(raw);
    if (!r.success) throw new ConfigError(`${this.relativePath}: ${describeZodError(USAGE_KEY, r.error)}`);
    return r.data;
  }

  /** Sets `config.<key>.<path…>` keeping comments; creates intermediate maps as needed. */
  setIn(key: string, pathInKey: (string | number)[], value: unknown): void {
    ensureConfigMap(this.doc);
    const at = ["config", key, ...pathInKey];
    const node = this.doc.getIn(at, true);
    // update a scalar in place so its comment and formatting stay byte-identical
    if (isScalar(node) && (value === null || ["string", "number", "boolean"].includes(typeof value))) node.value = value;
    else this.doc.setIn(at, value);
  }

  deleteIn(key: string, pathInKey: (string | number)[]): void {
    if (this.doc.hasIn(["config", key, ...pathInKey])) this.doc.deleteIn(["config", key, ...pathInKey]);
  }

  /**
   * Sets the canary of one function (digest and weight 0..1) next to the version that already
   * runs stable (`stableVersionId`, which the program needs to realize a canary), leaving every
   * other key alone.
   */
  setCanary(fn: FunctionKey, digest: string, weight: number, stableVersionId?: string): void {
    if (!(weight >= 0 && weight <= 1)) throw new UsageError(`canary weight must be between 0 and 1, got ${weight}`);
    if (stableVersionId !== undefined) this.setIn(RELEASE_KEY, [fn, "stableVersionId"], stableVersionId);
    this.setIn(RELEASE_KEY, [fn, "canary"], digest);
    this.setIn(RELEASE_KEY, [fn, "canaryWeight"], roundWeight(weight));
  }

  /** Back to stable only: removes canary, canaryWeight and stableVersionId. */
  clearCanary(fn: FunctionKey): void {
    this.deleteIn(RELEASE_KEY, [fn, "canaryWeight"]);
    this.deleteIn(RELEASE_KEY, [fn, "canary"]);
    this.deleteIn(RELEASE_KEY, [fn, "stableVersionId"]);
  }

  /** stable := digest, canary removed. */
  setStable(fn: FunctionKey, digest: string): void {
    this.setIn(RELEASE_KEY, [fn, "stable"], digest);
    this.clearCanary(fn);
  }

  toString(): string {
    return this.doc.toString({ lineWidth: 0 });
  }

  /** The text as last read from disk (or last saved). */
  get originalText(): string {
    return this.original;
  }

  get dirty(): boolean {
    return this.toString() !== this.original;
  }

  save(): void {
    const text = this.toString();
    // Validate what we are about to write: a broken release block must never reach disk.
    const check = YAML.parse(text) as { config?: Record<string, unknown> } | null;
    const rel = check?.config?.[RELEASE_KEY];
    if (rel !== undefined) {
      const partial = z.record(functionReleaseSchema).safeParse(rel);
      if (!partial.success) throw new ConfigError(`refusing to write ${this.relativePath}: ${describeZodError(RELEASE_KEY, partial.error)}`);
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.file);
    this.original = text;
  }
}

function parseDoc(file: string, text: string): Document {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigError(`${file}: expected a mapping at the top level`);
  const cfg = doc.get("config", true);
  if (cfg !== undefined && cfg !== null && !isMap(cfg)) throw new ConfigError(`${file}: "config" must be a mapping`);
  return doc;
}

function ensureConfigMap(doc: Document): void {
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (!doc.has("config") || doc.get("config") === null) doc.set("config", doc.createNode({}));
}

export function roundWeight(w: number): number {
  return Math.round(w * 10_000) / 10_000;
}

export function isFunctionKey(s: string): s is FunctionKey {
  return (FUNCTIONS as readonly string[]).includes(s);
}

export function parseFunctionArg(s: string): FunctionKey {
  if (!isFunctionKey(s)) throw new UsageError(`--function: expected one of ${FUNCTIONS.join(", ")}, got "${s}"`);
  return s;
}

/** The nearest directory at or above `start` that holds Pulumi.yaml. */
export function findProjectRoot(start: string): string {
  let dir = path.resolve(start);
  while (true) {
    if (existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new ConfigError(`no Pulumi.yaml in ${start} or any parent directory (pass --project-dir)`);
    dir = up;
  }
}

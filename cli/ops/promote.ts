/**
 * `logpipe promote <from> <to>`: copy the artifact digests that stack <from> actually runs (its
 * stack outputs, not its config) into <to>'s `logpipe:release` and `logpipe:artifacts`, so <to>
 * deploys the very bytes <from> was tested with and never rebuilds.
 *
 * Refuses: digests <from> has not deployed (no `artifacts` output), digests with no artifact pin
 * in <from>'s config, a pin that conflicts with <to>'s, and promoting over an unfinished canary in
 * <to>. Shows the config diff; writes it (unless --dry-run); with --yes also runs `pulumi up` on
 * <to> and checks that <to> now runs the promoted digests.
 */
import { ConfigError, OpsError, UsageError } from "./errors.js";
import type { StackRunner } from "./automation.js";
import { ARTIFACTS_KEY, FUNCTIONS, RELEASE_KEY, aliasesOutputSchema, artifactsOutputSchema, type ArtifactPin, type FunctionKey } from "./contracts.js";
import { unifiedDiff } from "./diff.js";
import { appendAudit, journalPaths, readJson } from "./journal.js";
import { StackConfigFile, type ProjectInfo } from "./stack-config.js";
import type { CanaryState } from "./canary.js";

export interface PromoteOptions {
  from: string;
  to: string;
  functions?: FunctionKey[];
  /** Run `pulumi up` on <to> after writing. */
  yes?: boolean;
  /** Show the diff only. */
  dryRun?: boolean;
  /** Put the digest in as <to>'s canary (weight 0) instead of stable, for `logpipe canary start`. */
  asCanary?: boolean;
}

export interface PromoteDeps {
  project: ProjectInfo;
  runner: StackRunner;
  canaryStateDir: string;
  auditFile: string;
  actor: string;
  now: () => number;
  log: (line: string) => void;
}

export interface PromoteChange {
  function: FunctionKey;
  digest: string;
  versionIdInFrom: string;
  previous: string;
  pin: ArtifactPin;
  changed: boolean;
}

export interface PromoteResult {
  from: string;
  to: string;
  configFile: string;
  changes: PromoteChange[];
  warnings: string[];
  diff: string;
  written: boolean;
  applied: boolean;
  upChanges?: Record<string, number>;
}

export async function promote(o: PromoteOptions, deps: PromoteDeps): Promise<PromoteResult> {
  if (o.from === o.to) throw new UsageError(`promote: <from> and <to> are the same stack (${o.from})`);
  if (o.yes && o.dryRun) throw new UsageError("promote: --yes and --dry-run exclude each other");
  const fromCfg = StackConfigFile.load(deps.project, o.from);
  const toCfg = StackConfigFile.load(deps.project, o.to);
  const fns = o.functions?.length ? o.functions : [...FUNCTIONS];
  const warnings: string[] = [];

  // Prerequisites before anything is written; a dry run works offline from <from>'s config.
  let outputs: Record<string, unknown>;
  try {
    if (o.yes) await deps.runner.check(o.to);
    outputs = await deps.runner.outputs(o.from);
  } catch (e) {
    if (!o.dryRun || !(e instanceof ConfigError)) throw e;
    warnings.push(`offline (${e.message.split(":")[0]}): showing what ${o.from}'s config pins, not what it runs`);
    const rel = fromCfg.release();
    outputs = { artifacts: Object.fromEntries(FUNCTIONS.map((fn) => [fn, { digest: rel[fn].stable, versionId: "?" }])) };
  }
  if (outputs.artifacts === undefined) {
    throw new OpsError(`stack ${o.from} has no "artifacts" output: it has not been deployed (pulumi up) with this program, so there is nothing it runs to promote`);
  }
  const parsed = artifactsOutputSchema.safeParse(outputs.artifacts);
  if (!parsed.success) throw new OpsError(`stack ${o.from}: output "artifacts" is malformed: ${parsed.error.issues[0]?.message}`);
  const deployed = parsed.data;

  const fromPins = fromCfg.artifacts();
  const toPins = toCfg.artifacts();
  const toRelease = toCfg.get(RELEASE_KEY) as Record<string, unknown> | undefined;
  if (toRelease === undefined && fns.length < FUNCTIONS.length) {
    throw new UsageError(`${toCfg.relativePath} has no ${RELEASE_KEY}: promote all three functions the first time (drop --function)`);
  }

  const changes: PromoteChange[] = [];
  for (const fn of fns) {
    const dep = deployed[fn];
    if (!dep) throw new OpsError(`stack ${o.from} has deployed no artifact for ${fn} (outputs.artifacts.${fn} missing); refusing to promote a digest it never ran`);
    const fromRel = fromCfg.has(RELEASE_KEY) ? fromCfg.functionRelease(fn) : undefined;
    if (fromRel && fromRel.stable !== dep.digest) {
      warnings.push(`${o.from} config says ${fn}.stable = ${fromRel.stable} but the stack runs ${dep.digest} (config not applied yet); promoting what runs`);
    }
    if (fromRel?.canary) warnings.push(`${o.from} has a canary of ${fn} (${fromRel.canary}); only its stable release is promoted`);

    const pin = fromPins[dep.digest];
    if (!pin) {
      throw new ConfigError(`${fromCfg.relativePath}: ${ARTIFACTS_KEY} has no pin for ${dep.digest} (${fn}, deployed by ${o.from}); ` +
        `without it ${o.to} would have to rebuild — pin the artifact's bucket/object in ${o.from} first`);
    }
    const existing = toPins[dep.digest];
    if (existing && JSON.stringify(sortKeys(existing)) !== JSON.stringify(sortKeys(pin))) {
      throw new ConfigError(`${toCfg.relativePath}: ${ARTIFACTS_KEY}.${dep.digest} is ${JSON.stringify(existing)} but ${o.from} pins ${JSON.stringify(pin)}; resolve the conflict by hand`);
    }

    // never promote over an unfinished canary
    const toRel = toRelease ? toCfg.functionRelease(fn) : undefined;
    if (toRel?.canary) {
      throw new UsageError(`${o.to} has an unfinished canary of ${fn} (${toRel.canary} at ${(toRel.canaryWeight ?? 0) * 100}%); ` +
        `finish it (logpipe canary promote) or abort it (logpipe canary abort) first`);
    }
    const state = readJson<CanaryState>(journalPaths(deps.canaryStateDir, o.to, fn).state);
    if (state && ["running", "paused", "failed"].includes(state.status)) {
      throw new UsageError(`${o.to} has a canary run of ${fn} in state "${state.status}" (${journalPaths(deps.canaryStateDir, o.to, fn).state}); finish or abort it first`);
    }

    const previous = toRel?.stable ?? "";
    const changed = previous !== dep.digest;
    changes.push({ function: fn, digest: dep.digest, versionIdInFrom: dep.versionId, previous, pin, changed });
  }

  // a canary needs the version that already runs <to>'s stable (the program cannot republish it)
  let toVersions: Record<string, string> = {};
  if (o.asCanary && changes.some((c) => c.changed)) {
    const toOut = await deps.runner.outputs(o.to).catch(() => ({} as Record<string, unknown>));
    const aliases = aliasesOutputSchema.safeParse(toOut.aliases ?? {});
    toVersions = aliases.success ? Object.fromEntries(Object.entries(aliases.data).map(([fn, a]) => [fn, a.versionId])) : {};
    for (const c of changes) {
      if (c.changed && !toVersions[c.function]) throw new ConfigError(`--as-canary: ${o.to} has not deployed ${c.function} (no outputs.aliases.${c.function}); promote as stable, or deploy ${o.to} first`);
    }
  }
  const before = toCfg.toString();
  for (const c of changes) {
    if (!toPins[c.digest]) toCfg.setIn(ARTIFACTS_KEY, [c.digest], { ...c.pin });
    if (!c.changed) continue;
    if (o.asCanary) {
      toCfg.setCanary(c.function, c.digest, 0, toVersions[c.function]);
    } else {
      toCfg.setStable(c.function, c.digest);
    }
  }
  const after = toCfg.toString();
  const diff = unifiedDiff(before, after, toCfg.relativePath);
  const result: PromoteResult = { from: o.from, to: o.to, configFile: toCfg.relativePath, changes, warnings, diff, written: false, applied: false };
  if (o.dryRun) return result;
  const audit = (action: string, extra: Record<string, unknown> = {}) => appendAudit(deps.auditFile, {
    ts: new Date(deps.now()).toISOString(), actor: deps.actor, action, from: o.from, to: o.to,
    changes: changes.filter((c) => c.changed).map((c) => ({ function: c.function, digest: c.digest, previous: c.previous })), ...extra,
  });
  if (diff) {
    toCfg.save();
    result.written = true;
    audit("promote-config-written", { asCanary: !!o.asCanary, file: toCfg.relativePath });
  }
  // --yes applies even when the file already had the digests (written earlier, not yet applied)
  if (!o.yes) return result;

  deps.log(`pulumi up ${o.to}…`);
  try {
    const up = await deps.runner.up(o.to, { message: `logpipe promote ${o.from} → ${o.to}` });
    result.upChanges = up.changes;
    const now = artifactsOutputSchema.safeParse(up.outputs.artifacts ?? {});
    if (!o.asCanary && now.success) {
      for (const c of changes) {
        const got = now.data[c.function]?.digest;
        if (got !== undefined && got !== c.digest) throw new OpsError(`after pulumi up, ${o.to} runs ${got} for ${c.function}, expected ${c.digest}`);
      }
    }
    result.applied = true;
    audit("promote-applied", { upChanges: up.changes });
    return result;
  } catch (e) {
    audit("promote-apply-failed", { error: (e as Error).message });
    throw new OpsError(`${(e as Error).message} — ${toCfg.relativePath} already has the promoted digests; re-run \`pulumi up\` (or this command with --yes) once fixed`);
  }
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

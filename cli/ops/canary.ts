/**
 * Canary engine: shifts the `live` alias of one function step by step.
 *
 * Stack config stays the source of truth: each step writes `logpipe:release.<fn>.canaryWeight`
 * (with `stableVersionId`, the deployed version that runs stable) into stacks/Pulumi.<stack>.yaml
 * and runs `pulumi up --target <alias URN>`: only the alias changes, so unrelated drift does not
 * ride along and a broken resource elsewhere cannot block a step or a rollback. The first step
 * also targets the function and the canary version (they publish the canary). A later plain
 * `pulumi up` reproduces the canary instead of undoing it — commit the stack file; every change
 * is reported. Between steps a health gate reads the canary and stable versions' CloudMonitor
 * metrics; a failed gate rolls back (weight 0, alias only) and the run exits non-zero. After
 * the last step passes, the canary is promoted (stable := canary). `abort` removes the canary
 * from the config with a full `pulumi up`; `breakGlass` sets the alias with FC's UpdateAlias
 * directly when Pulumi cannot run.
 *
 * Strategies, per function: "gradual" (weights, gated on traffic) for functions with traffic;
 * "rehearse" for timer-driven ones (upload runs once a minute: 5 % of it never reaches a gate's
 * minimum): publish the canary at weight 0, invoke the canary version directly with a rehearsal
 * payload, then all at once with a window that rolls back on any error.
 *
 * Every transition is recorded before and after it happens (state file for resume, audit log for
 * people), so an interrupted run — Ctrl-C, a crash, a pulumi failure — resumes from where it was
 * and never leaves a half-applied change unrecorded.
 */
import { OpsError, UsageError, ConfigError } from "./errors.js";
import type { StackRunner, UpResult } from "./automation.js";
import { aliasRef, findUrn, functionRef, versionRef } from "../../infra/urns.js";
import { aliasesOutputSchema, functionNamesOutputSchema, type FunctionKey } from "./contracts.js";
import { evaluateGate, type GateResult, type GateThresholds, type SignalEvidence } from "./gate.js";
import { FUNCTION_LOGSTORE as LOGSTORE } from "../../infra/fc-metrics.js";
import { CanaryLockedError, LocalCanaryStore, type CanaryLock, type CanaryStore, type Clock, type LockHolder } from "./journal.js";
import { signalsOf, type MetricSource, type VersionMetrics } from "./metrics.js";
import { StackConfigFile, roundWeight, type ProjectInfo } from "./stack-config.js";
import { unifiedDiff } from "./diff.js";
import { formatDuration, formatPercent } from "./units.js";

export type CanaryStatus = "running" | "paused" | "succeeded" | "rolled-back" | "aborted" | "failed";
export type CanaryPhase = "apply" | "observe" | "promote" | "rollback" | "done";

export interface CanaryState {
  schema: 1;
  stack: string;
  function: FunctionKey;
  stable: string;
  canary: string;
  steps: number[];
  intervalMs: number;
  thresholds: GateThresholds;
  noTrafficRetries: number;
  onNoTraffic: "rollback" | "hold";
  status: CanaryStatus;
  phase: CanaryPhase;
  stepIndex: number;
  /** Weight (0..1) confirmed applied by a successful `pulumi up`. */
  appliedWeight: number;
  stepAppliedAt?: string;
  noTrafficChecks: number;
  reason?: string;
  startedAt: string;
  updatedAt: string;
  startedBy: string;
  versions?: { functionName: string; stable: string; canary?: string; region: string };
  lastGate?: { verdict: string; reasons: string[]; at: string };
  /** the deployed version that runs `stable` (the alias keeps it while the canary is in flight) */
  stableVersionId?: string;
  strategy?: CanaryStrategy;
  /** who wrote this revision (shared state: any operator may resume or act on a run) */
  updatedBy?: string;
  /** stack outputs the pipeline-signal gate reads (SLS project, Kafka consumer group) */
  pipeline?: { logProject?: string; kafkaInstanceId?: string; consumerGroup?: string };
}

/** One change logpipe made to a stack file: commit it, or a later `pulumi up` from git reverts it. */
export interface ConfigChange {
  file: string;
  at: string;
  action: string;
  /** the release keys after the change, e.g. {canary, canaryWeight} */
  change: Record<string, unknown>;
  diff: string;
}

export type CanaryStrategy = "gradual" | "rehearse";

/** Timer-driven functions get the rehearsal strategy: too few calls for a traffic gate. */
export function defaultStrategy(fn: FunctionKey): CanaryStrategy {
  return fn === "upload" ? "rehearse" : "gradual";
}

/** Invokes one version of a function directly (FC InvokeFunction with a qualifier). */
export interface VersionInvoker {
  invoke(functionName: string, qualifier: string, payload: string): Promise<{ ok: boolean; error?: string }>;
}

/** FC UpdateAlias, called directly (break-glass rollback when Pulumi cannot run). */
export interface AliasClient {
  updateAlias(functionName: string, alias: string, versionId: string, additionalVersionWeight: Record<string, number>): Promise<void>;
}

/** The upload function's timer event shape, marked as a rehearsal (upload's tick is idempotent). */
export function rehearsalPayload(now: number): string {
  return JSON.stringify({ triggerTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"), triggerName: "logpipe-canary-rehearsal", payload: "" });
}

export interface CanaryStartOptions {
  stack: string;
  fn: FunctionKey;
  digest?: string;
  steps: number[];
  intervalMs: number;
  thresholds: GateThresholds;
  noTrafficRetries: number;
  onNoTraffic: "rollback" | "hold";
  dryRun?: boolean;
  /** Discard an unfinished run's state and start over (config is re-read). */
  restart?: boolean;
  /** default: defaultStrategy(fn) */
  strategy?: CanaryStrategy;
}

export interface CanaryDeps {
  project: ProjectInfo;
  runner: StackRunner;
  /** Created lazily: a dry run needs no credentials. */
  metrics: (region: string) => Promise<MetricSource>;
  clock: Clock;
  /** where state, audit and lock live (shared OSS store or a local directory) */
  store?: CanaryStore;
  /** local directory store, when no `store` is given */
  stateDir?: string;
  actor: string;
  /** Human progress lines. */
  log: (line: string) => void;
  signal?: AbortSignal;
  /** CloudMonitor period (s). */
  periodSec?: number;
  /** Region when the stack config has no alicloud:region. */
  defaultRegion?: string;
  /** Rehearsal invocations of the canary version (created lazily, like metrics). */
  invoker?: (region: string) => Promise<VersionInvoker>;
  /** FC UpdateAlias client for the break-glass rollback. */
  aliasClient?: (region: string) => Promise<AliasClient>;
  /** Where the pipeline signals are read when the stack outputs do not say (older stacks): SLS project, Kafka group. */
  pipeline?: { logProject?: string; kafkaInstanceId?: string; consumerGroup?: string };
  /** Prerequisite: cloud credentials are present (throws ConfigError). Checked before anything is written. */
  checkCredentials?: () => void;
}

export interface PlanStep {
  step: number;
  weight: number;
  config: { canary: string; canaryWeight: number };
}

export interface CanaryPlan {
  stack: string;
  function: FunctionKey;
  configFile: string;
  stable: string;
  canary: string;
  steps: PlanStep[];
  intervalMs: number;
  thresholds: GateThresholds;
  onNoTraffic: "rollback" | "hold";
  finalConfig: { stable: string };
  rollbackConfig: { stable: string };
  firstStepDiff: string;
  promoteDiff: string;
  resumeFrom?: { stepIndex: number; phase: CanaryPhase; status: CanaryStatus };
}

export interface CanaryOutcome {
  status: CanaryStatus;
  state: CanaryState;
  plan?: CanaryPlan;
  /** stack file changes this command made (commit them) */
  configChanges?: ConfigChange[];
  /** where the state lives */
  stateStore?: string;
}

const TERMINAL: CanaryStatus[] = ["succeeded", "rolled-back", "aborted"];

export class CanaryEngine {
  readonly store: CanaryStore;
  /** revision of each stack/function's state this engine last read or wrote */
  private readonly revisions = new Map<string, number>();
  private readonly locks = new Map<string, CanaryLock>();
  /** stack file changes made by this engine (reported in --json and on the console) */
  readonly configChanges: ConfigChange[] = [];

  constructor(private readonly deps: CanaryDeps) {
    if (!deps.store && !deps.stateDir) throw new Error("CanaryEngine needs a store or a stateDir");
    this.store = deps.store ?? new LocalCanaryStore(deps.stateDir!);
  }

  async readState(stack: string, fn: FunctionKey): Promise<CanaryState | undefined> {
    const got = await this.store.readState<CanaryState>(stack, fn);
    this.revisions.set(`${stack}/${fn}`, got?.revision ?? 0);
    return got?.state;
  }

  audit(stack: string, fn: FunctionKey): Promise<Record<string, unknown>[]> {
    return this.store.readAudit(stack, fn);
  }

  lockHolder(stack: string, fn: FunctionKey): Promise<LockHolder | undefined> {
    return this.store.peekLock(stack, fn);
  }

  private async record(state: CanaryState, action: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.store.appendAudit(state.stack, state.function, {
      ts: new Date(this.deps.clock.now()).toISOString(), actor: this.deps.actor, stack: state.stack, function: state.function,
      action, stable: state.stable, canary: state.canary, step: state.stepIndex, ...extra,
    });
  }

  /** Writes the next revision (fails if another operator wrote one) and renews the lock's lease. */
  private async save(state: CanaryState): Promise<void> {
    const key = `${state.stack}/${state.function}`;
    state.updatedAt = new Date(this.deps.clock.now()).toISOString();
    state.updatedBy = this.deps.actor;
    await this.locks.get(key)?.renew();
    const rev = await this.store.writeState(state.stack, state.function, state, this.revisions.get(key) ?? 0);
    this.revisions.set(key, rev);
  }

  /** Takes the stack/function's lock (CanaryLockedError when another operator holds it). */
  private async lock(stack: string, fn: FunctionKey, s?: CanaryState): Promise<() => Promise<void>> {
    const key = `${stack}/${fn}`;
    const l = await this.store.lock(stack, fn, this.deps.actor);
    this.locks.set(key, l);
    if (l.tookOver) {
      this.deps.log(`  took over the expired lock of ${l.tookOver.owner} (since ${l.tookOver.since}, lease until ${l.tookOver.expiresAt})`);
      if (s) await this.record(s, "lock-taken-over", { previous: l.tookOver });
    }
    return async () => { this.locks.delete(key); await l.release(); };
  }

  /** Sleeps, renewing the lock's lease in between when the wait is longer than a third of it. */
  private async sleep(ms: number, s: CanaryState): Promise<void> {
    const lease = (this.store as { leaseMs?: number }).leaseMs;
    const chunk = lease ? Math.floor(lease / 3) : ms;
    let left = ms;
    while (left > 0) {
      const d = Math.min(left, chunk);
      await this.deps.clock.sleep(d, this.deps.signal);
      left -= d;
      if (left > 0) await this.locks.get(`${s.stack}/${s.function}`)?.renew();
    }
  }

  /** Builds (and with dryRun only prints) the plan; otherwise runs or resumes the canary. */
  async start(o: CanaryStartOptions): Promise<CanaryOutcome> {
    const cfg = StackConfigFile.load(this.deps.project, o.stack);
    const fr = cfg.functionRelease(o.fn);
    const existing = await this.readState(o.stack, o.fn);
    const unfinished = existing && !TERMINAL.includes(existing.status) ? existing : undefined;

    if (unfinished && !o.restart && !o.dryRun) await this.prerequisites(o.stack);
    if (unfinished && !o.restart) {
      if (o.digest && o.digest !== unfinished.canary) {
        throw new UsageError(`a canary of ${short(unfinished.canary)} is unfinished on ${o.stack}/${o.fn} (status ${unfinished.status}); ` +
          `abort it (logpipe canary abort) or pass --restart to discard its state`);
      }
      this.checkConfigMatches(cfg, unfinished);
      const plan = this.plan(cfg, unfinished);
      plan.resumeFrom = { stepIndex: unfinished.stepIndex, phase: unfinished.phase, status: unfinished.status };
      if (o.dryRun) return { status: unfinished.status, state: unfinished, plan };
      return this.drive(cfg, unfinished, "resumed");
    }

    const canary = o.digest ?? fr.canary;
    if (!o.dryRun) await this.prerequisites(o.stack);
    if (!canary) throw new UsageError(`no canary digest for ${o.fn}: pass --digest sha256:… or set ${"logpipe:release"}.${o.fn}.canary in ${cfg.relativePath}`);
    if (canary === fr.stable) throw new UsageError(`${short(canary)} is already the stable release of ${o.fn} on ${o.stack}`);
    if (fr.canary && fr.canary !== canary && (fr.canaryWeight ?? 0) > 0) {
      throw new UsageError(`${cfg.relativePath} already shifts ${formatPercent(fr.canaryWeight!)} of ${o.fn} to ${short(fr.canary)}; abort that canary first`);
    }
    const now = new Date(this.deps.clock.now()).toISOString();
    const state: CanaryState = {
      schema: 1, stack: o.stack, function: o.fn, stable: fr.stable, canary, steps: o.steps, intervalMs: o.intervalMs,
      thresholds: o.thresholds, noTrafficRetries: o.noTrafficRetries, onNoTraffic: o.onNoTraffic,
      status: "running", phase: "apply", stepIndex: 0, appliedWeight: fr.canary === canary ? fr.canaryWeight ?? 0 : 0,
      noTrafficChecks: 0, startedAt: now, updatedAt: now, startedBy: this.deps.actor,
      strategy: o.strategy ?? defaultStrategy(o.fn),
    };
    const plan = this.plan(cfg, state);
    if (o.dryRun) return { status: "running", state, plan };
    state.stableVersionId = fr.canary === canary && fr.stableVersionId ? fr.stableVersionId : await this.deployedStableVersion(o.stack, o.fn, fr.stable);
    return this.drive(cfg, state, "started");
  }

  /** Pulumi CLI, the stack, credentials: all present before anything is written (exit 2 otherwise). */
  private async prerequisites(stack: string): Promise<void> {
    await this.deps.runner.check(stack);
    this.deps.checkCredentials?.();
  }

  /** The version `live` runs now for `stable` (from the stack outputs). */
  private async deployedStableVersion(stack: string, fn: FunctionKey, stable: string): Promise<string> {
    const outputs = await this.deps.runner.outputs(stack);
    const aliases = aliasesOutputSchema.safeParse(outputs.aliases ?? {});
    const artifacts = outputs.artifacts as Record<string, { digest?: string }> | undefined;
    const alias = aliases.success ? aliases.data[fn] : undefined;
    if (!alias) throw new ConfigError(`stack ${stack} has not deployed ${fn} (no outputs.aliases.${fn}): deploy stable first (pulumi up), then start the canary`);
    if (artifacts?.[fn]?.digest && artifacts[fn]!.digest !== stable) {
      throw new ConfigError(`stack ${stack} runs ${short(artifacts[fn]!.digest!)} for ${fn} but the config's stable is ${short(stable)}: apply the config (pulumi up) before a canary`);
    }
    return alias.versionId;
  }

  /** URNs for an alias-only update; on the canary's first step also its function and version. */
  private async targets(s: CanaryState, withCanaryVersion: boolean): Promise<string[]> {
    const urns = await this.deps.runner.urns(s.stack);
    const alias = findUrn(urns, aliasRef(s.function));
    if (!alias) throw new OpsError(`stack ${s.stack} has no alias live for ${s.function} in its state (pulumi stack export); deploy it first`);
    if (!withCanaryVersion || findUrn(urns, versionRef(s.function, s.canary))) return [alias];
    const sibling = (ref: { type: string; name: string }) => findUrn(urns, ref) ?? alias.replace(/(?<=[$:])alicloud:fc\/v3Alias:V3Alias::[^:]+$/, `${ref.type}::${ref.name}`);
    return [sibling(functionRef(s.function)), sibling(versionRef(s.function, s.canary)), alias];
  }

  plan(cfg: StackConfigFile, s: CanaryState): CanaryPlan {
    const before = cfg.originalText;
    const first = StackConfigFileClone(cfg);
    first.setCanary(s.function, s.canary, s.steps[Math.min(s.stepIndex, s.steps.length - 1)]! / 100);
    const promoted = StackConfigFileClone(cfg);
    promoted.setStable(s.function, s.canary);
    return {
      stack: s.stack, function: s.function, configFile: cfg.relativePath, stable: s.stable, canary: s.canary,
      steps: s.steps.map((p, i) => ({ step: i + 1, weight: roundWeight(p / 100), config: { canary: s.canary, canaryWeight: roundWeight(p / 100) } })),
      intervalMs: s.intervalMs, thresholds: s.thresholds, onNoTraffic: s.onNoTraffic,
      finalConfig: { stable: s.canary }, rollbackConfig: { stable: s.stable },
      firstStepDiff: unifiedDiff(before, first.toString(), cfg.relativePath),
      promoteDiff: unifiedDiff(before, promoted.toString(), cfg.relativePath),
    };
  }

  /** The stack file must still describe this canary (nobody edited it underneath us). */
  private checkConfigMatches(cfg: StackConfigFile, s: CanaryState): void {
    const fr = cfg.functionRelease(s.function);
    if (s.phase === "promote" && fr.stable === s.canary) return; // promotion written, maybe not applied
    if (s.phase === "rollback" && fr.stable === s.stable && !fr.canary) return; // rollback written, maybe not applied
    if (fr.stable !== s.stable) {
      throw new ConfigError(`${cfg.relativePath}: ${s.function}.stable is ${short(fr.stable)} but the recorded canary run expects ${short(s.stable)}; ` +
        `the file was changed outside logpipe canary — abort the canary or pass --restart`);
    }
    if (fr.canary !== undefined && fr.canary !== s.canary) {
      throw new ConfigError(`${cfg.relativePath}: ${s.function}.canary is ${short(fr.canary)} but the recorded run is for ${short(s.canary)}; abort it or pass --restart`);
    }
  }

  private async drive(cfg: StackConfigFile, s: CanaryState, how: "started" | "resumed"): Promise<CanaryOutcome> {
    const release = await this.lock(s.stack, s.function, s);
    try {
      if (s.status === "paused") {
        // a held run gets a fresh observation window at the weight it is at
        s.status = "running";
        s.noTrafficChecks = 0;
        s.reason = undefined;
        if (s.phase === "observe") s.stepAppliedAt = new Date(this.deps.clock.now()).toISOString();
      }
      await this.save(s);
      await this.record(s, how, { steps: s.steps, interval: formatDuration(s.intervalMs), thresholds: s.thresholds, phase: s.phase });
      this.deps.log(`${how} canary of ${s.function} on ${s.stack}: ${short(s.stable)} → ${short(s.canary)}, steps ${s.steps.join(", ")} %, every ${formatDuration(s.intervalMs)}`);
      return await this.loop(cfg, s);
    } catch (e) {
      if ((e as Error).name === "AbortError") {
        await this.record(s, "interrupted", { phase: s.phase });
        await this.save(s);
        throw new OpsError(`interrupted at step ${s.stepIndex + 1} (${s.phase}); state kept in ${this.store.where(s.stack, s.function)} — ` +
          `run the same \`logpipe canary start\` to resume, or \`logpipe canary abort\``);
      }
      throw e;
    } finally {
      await release();
    }
  }

  private async loop(cfg: StackConfigFile, s: CanaryState): Promise<CanaryOutcome> {
    while (true) {
      if (s.phase === "apply") {
        const weight = roundWeight(s.steps[s.stepIndex]! / 100);
        const up = await this.applyWeight(cfg, s, weight);
        if (!up) return { status: s.status, state: s };
        s.phase = "observe";
        s.noTrafficChecks = 0;
        s.stepAppliedAt = new Date(this.deps.clock.now()).toISOString();
        await this.save(s);
        continue;
      }
      if (s.phase === "observe") {
        // rehearsal: no traffic reaches the canary at weight 0, so there is nothing to wait for
        if (s.strategy === "rehearse" && s.appliedWeight === 0) {
          const r = await this.rehearse(s);
          if (!r.ok) return this.rollback(cfg, s, `rehearsal invocation of the canary version failed: ${r.error ?? "error"}`);
          s.stepIndex++;
          s.phase = s.stepIndex < s.steps.length ? "apply" : "promote";
          await this.save(s);
          continue;
        }
        const applied = Date.parse(s.stepAppliedAt ?? new Date(this.deps.clock.now()).toISOString());
        const wait = Math.max(0, applied + s.intervalMs * (s.noTrafficChecks + 1) - this.deps.clock.now());
        if (wait > 0) {
          this.deps.log(`  step ${s.stepIndex + 1}/${s.steps.length} at ${s.steps[s.stepIndex]} %: observing for ${formatDuration(wait)}…`);
          await this.sleep(wait, s);
        }
        let gate: GateResult & { source: string };
        try {
          gate = await this.gate(cfg, s, applied);
        } catch (e) {
          const msg = (e as Error).message;
          await this.record(s, "gate-error", { error: msg });
          this.deps.log(`  metrics unavailable: ${msg}`);
          return this.rollback(cfg, s, `health could not be checked: ${msg}`);
        }
        s.lastGate = { verdict: gate.verdict, reasons: gate.reasons, at: new Date(this.deps.clock.now()).toISOString() };
        await this.record(s, "gate", {
          weight: s.appliedWeight, verdict: gate.verdict, reasons: gate.reasons, source: gate.source,
          window: { from: new Date(applied).toISOString(), to: new Date(this.deps.clock.now()).toISOString() },
          metrics: { canary: gate.canary, stable: gate.stable, canaryErrorRate: gate.canaryErrorRate, stableErrorRate: gate.stableErrorRate },
          ...(gate.signals ? { signals: gate.signals } : {}),
        });
        this.deps.log(`  gate ${gate.verdict}: ${gate.reasons.join("; ")}`);
        if (gate.verdict === "fail") return this.rollback(cfg, s, gate.reasons.join("; "));
        if (gate.verdict === "insufficient-traffic") {
          s.noTrafficChecks++;
          if (s.noTrafficChecks <= s.noTrafficRetries) {
            await this.save(s);
            this.deps.log(`  too little traffic to judge; waiting another ${formatDuration(s.intervalMs)} (${s.noTrafficChecks}/${s.noTrafficRetries})`);
            continue;
          }
          const why = `too little traffic to judge after ${s.noTrafficChecks} checks (${gate.reasons[0]})`;
          if (s.onNoTraffic === "hold") {
            s.status = "paused";
            s.reason = why;
            await this.save(s);
            await this.record(s, "paused", { reason: why, weight: s.appliedWeight });
            this.deps.log(`  paused at ${formatPercent(s.appliedWeight)}: ${why}. Resume with the same command, or promote/abort.`);
            return { status: s.status, state: s };
          }
          return this.rollback(cfg, s, why);
        }
        if (s.stepIndex + 1 < s.steps.length) {
          s.stepIndex++;
          s.phase = "apply";
          await this.save(s);
          continue;
        }
        s.phase = "promote";
        await this.save(s);
        continue;
      }
      if (s.phase === "promote") return this.finishPromote(cfg, s, "promoted");
      if (s.phase === "rollback") return this.rollback(cfg, s, s.reason ?? "resumed rollback");
      return { status: s.status, state: s };
    }
  }

  /** Writes the weight, runs `pulumi up`. On failure rolls back and returns undefined. */
  private async applyWeight(cfg: StackConfigFile, s: CanaryState, weight: number): Promise<UpResult | undefined> {
    cfg.reload();
    const before = cfg.toString();
    cfg.setCanary(s.function, s.canary, weight, s.stableVersionId);
    const after = cfg.toString();
    if (after !== before) cfg.save();
    await this.record(s, "config-written", { weight, file: cfg.relativePath, change: { canary: s.canary, canaryWeight: weight }, diff: unifiedDiff(before, after, cfg.relativePath) });
    this.reportConfigChange(cfg, before, after, "step", { canary: s.canary, canaryWeight: weight, stableVersionId: s.stableVersionId });
    try {
      const targets = await this.targets(s, true);
      this.deps.log(`  step ${s.stepIndex + 1}/${s.steps.length}: ${s.function} canary weight ${formatPercent(weight)} → pulumi up ${s.stack} (${targets.length === 1 ? "alias only" : "function, canary version, alias"})`);
      const up = await this.deps.runner.up(s.stack, { message: `logpipe canary ${s.function} ${short(s.canary)} ${formatPercent(weight)}`, targets });
      s.appliedWeight = weight;
      this.captureVersions(cfg, s, up.outputs);
      await this.save(s);
      await this.record(s, "applied", { weight, changes: up.changes, targets });
      return up;
    } catch (e) {
      const msg = (e as Error).message;
      await this.record(s, "apply-failed", { weight, error: msg });
      this.deps.log(`  pulumi up failed: ${msg}`);
      await this.rollback(cfg, s, `pulumi up failed at ${formatPercent(weight)}: ${msg}`);
      return undefined;
    }
  }

  private captureVersions(cfg: StackConfigFile, s: CanaryState, outputs: Record<string, unknown>): void {
    const aliases = aliasesOutputSchema.safeParse(outputs.aliases ?? {});
    const names = functionNamesOutputSchema.safeParse(outputs.functionNames ?? {});
    const alias = aliases.success ? aliases.data[s.function] : undefined;
    const functionName = names.success ? names.data[s.function] : undefined;
    if (!alias || !functionName) return;
    const weights = alias.additionalVersionWeight ?? {};
    const canaryVersion = Object.entries(weights).find(([, w]) => w > 0)?.[0] ?? Object.keys(weights)[0];
    s.versions = { functionName, stable: alias.versionId, canary: canaryVersion, region: cfg.region() ?? this.deps.defaultRegion ?? "" };
    const kafka = outputs.kafka as { instanceId?: string; consumerGroup?: string } | undefined;
    const given = this.deps.pipeline ?? {};
    s.pipeline = {
      logProject: typeof outputs.logProject === "string" ? outputs.logProject : given.logProject,
      kafkaInstanceId: kafka?.instanceId ?? given.kafkaInstanceId, consumerGroup: kafka?.consumerGroup ?? given.consumerGroup,
    };
  }

  private async gate(cfg: StackConfigFile, s: CanaryState, fromMs: number): Promise<GateResult & { source: string }> {
    const v = s.versions;
    if (!v || !v.canary) throw new OpsError(`stack outputs of ${s.stack} do not name the canary version of ${s.function} (outputs.aliases.${s.function}.additionalVersionWeight)`);
    if (!v.region) throw new OpsError(`no region: set alicloud:region in ${cfg.relativePath} or ALIBABA_CLOUD_REGION`);
    const source = await this.deps.metrics(v.region);
    const q = { region: v.region, functionName: v.functionName, startMs: fromMs, endMs: this.deps.clock.now(), periodSec: this.deps.periodSec ?? 60 };
    const canary = await withRetry(() => source.versionMetrics({ ...q, qualifier: v.canary! }), this.deps.clock, this.deps.signal);
    let stable: VersionMetrics | null = null;
    if (v.stable) stable = await withRetry(() => source.versionMetrics({ ...q, qualifier: v.stable }), this.deps.clock, this.deps.signal);
    const signals = s.thresholds.signals === "off" ? undefined : await this.signals(s, source, q.startMs, q.endMs, q.periodSec);
    return { ...evaluateGate(canary, stable, s.thresholds, signals), source: source.name };
  }

  /**
   * The pipeline's own signals of the canary and stable versions (SLS, per FC version) and the
   * trigger's consumer lag (split only: the Kafka trigger feeds split). What cannot be read is
   * listed in `unavailable` (the gate fails on it with --signals required).
   */
  private async signals(s: CanaryState, source: MetricSource, startMs: number, endMs: number, periodSec: number): Promise<SignalEvidence> {
    const v = s.versions!;
    const e: SignalEvidence = { unavailable: [] };
    const retry = <T>(f: () => Promise<T>) => withRetry(f, this.deps.clock, this.deps.signal);
    if (signalsOf(s.function).length > 0) {
      const project = s.pipeline?.logProject;
      if (!source.pipelineSignals) e.unavailable!.push(`the metric source (${source.name}) reads no function logs`);
      else if (!project) e.unavailable!.push(`stack outputs of ${s.stack} name no logProject`);
      else {
        const sq = { region: v.region, logProject: project, logstore: LOGSTORE, fn: s.function, startMs, endMs };
        try {
          e.canary = await retry(() => source.pipelineSignals!({ ...sq, version: v.canary! }));
          e.stable = v.stable ? await retry(() => source.pipelineSignals!({ ...sq, version: v.stable })) : null;
        } catch (err) {
          e.unavailable!.push((err as Error).message);
        }
      }
    }
    if (s.function === "split") {
      const k = s.pipeline;
      if (!source.consumerLag) e.unavailable!.push(`the metric source (${source.name}) reads no Kafka lag`);
      else if (!k?.kafkaInstanceId || !k.consumerGroup) e.unavailable!.push(`stack outputs of ${s.stack} name no kafka.instanceId/consumerGroup`);
      else {
        try {
          e.lag = await retry(() => source.consumerLag!({ region: v.region, instanceId: k.kafkaInstanceId!, consumerGroup: k.consumerGroup!, startMs, endMs, periodSec }));
        } catch (err) {
          e.unavailable!.push((err as Error).message);
        }
      }
    }
    if (!e.unavailable!.length) delete e.unavailable;
    return e;
  }

  private async rollback(cfg: StackConfigFile, s: CanaryState, reason: string): Promise<CanaryOutcome> {
    return this.toStableOnly(cfg, s, "rolled-back", reason);
  }

  /**
   * Rollback: weight 0 (canary kept, stable version unchanged), applied to the alias alone.
   * Abort: canary removed from the config, applied with a full `pulumi up` (stable republished).
   */
  private async toStableOnly(cfg: StackConfigFile, s: CanaryState, final: "rolled-back" | "aborted", reason: string): Promise<CanaryOutcome> {
    s.phase = "rollback";
    s.reason = reason;
    await this.save(s);
    cfg.reload();
    const before = cfg.toString();
    const aliasOnly = final === "rolled-back" && s.stableVersionId !== undefined;
    if (aliasOnly) cfg.setCanary(s.function, s.canary, 0, s.stableVersionId);
    else cfg.clearCanary(s.function);
    const after = cfg.toString();
    if (after !== before) cfg.save();
    await this.record(s, final === "aborted" ? "abort-config-written" : "rollback-config-written", { reason, file: cfg.relativePath, diff: unifiedDiff(before, after, cfg.relativePath) });
    this.reportConfigChange(cfg, before, after, final === "aborted" ? "abort" : "rollback", cfg.functionRelease(s.function) as unknown as Record<string, unknown>);
    this.deps.log(`  ${final === "aborted" ? "aborting" : "rolling back"} ${s.function} to ${short(s.stable)}${aliasOnly ? " (alias only)" : ""}: ${reason}`);
    try {
      const targets = aliasOnly ? await this.targets(s, false) : undefined;
      const up = await this.deps.runner.up(s.stack, { message: `logpipe canary ${final === "aborted" ? "abort" : "rollback"} ${s.function} → ${short(s.stable)}`, targets });
      s.appliedWeight = 0;
      s.status = final;
      s.phase = "done";
      await this.save(s);
      await this.record(s, final, { reason, changes: up.changes });
      return { status: s.status, state: s };
    } catch (e) {
      const msg = (e as Error).message;
      s.status = "failed";
      s.reason = `${reason}; then the rollback's pulumi up failed: ${msg}`;
      await this.save(s);
      await this.record(s, "rollback-failed", { reason, error: msg });
      throw new OpsError(`rollback of ${s.stack}/${s.function} is written to ${cfg.relativePath} (canary removed) but pulumi up failed: ${msg}. ` +
        `The alias may still send ${formatPercent(s.appliedWeight)} to the canary — run \`logpipe canary rollback --break-glass --stack ${s.stack} --function ${s.function}\` now (FC UpdateAlias, no Pulumi), or \`logpipe canary abort\` once pulumi works.`);
    }
  }

  private async finishPromote(cfg: StackConfigFile, s: CanaryState, action: "promoted" | "manual-promote"): Promise<CanaryOutcome> {
    s.phase = "promote";
    await this.save(s);
    cfg.reload();
    const before = cfg.toString();
    cfg.setStable(s.function, s.canary);
    const after = cfg.toString();
    if (after !== before) cfg.save();
    await this.record(s, "promote-config-written", { file: cfg.relativePath, diff: unifiedDiff(before, after, cfg.relativePath) });
    this.reportConfigChange(cfg, before, after, "promote", { stable: s.canary });
    this.deps.log(`  promoting ${s.function}: stable := ${short(s.canary)} → pulumi up ${s.stack} (alias only)`);
    try {
      const targets = await this.targets(s, false);
      const up = await this.deps.runner.up(s.stack, { message: `logpipe canary promote ${s.function} ${short(s.canary)}`, targets });
      s.status = "succeeded";
      s.phase = "done";
      s.appliedWeight = 0;
      await this.save(s);
      await this.record(s, action, { changes: up.changes });
      return { status: s.status, state: s };
    } catch (e) {
      const msg = (e as Error).message;
      s.status = "failed";
      s.reason = `promotion written to ${cfg.relativePath} but pulumi up failed: ${msg}`;
      await this.save(s);
      await this.record(s, "promote-failed", { error: msg });
      throw new OpsError(`${s.reason}. Re-run \`logpipe canary promote --stack ${s.stack} --function ${s.function}\` once pulumi works.`);
    }
  }

  /** Says exactly what changed in which stack file (and keeps it for --json): commit it, or a later `pulumi up` from git reverts the alias. */
  private reportConfigChange(cfg: StackConfigFile, before: string, after: string, action: string, change: Record<string, unknown>): void {
    if (after === before) return;
    const diff = unifiedDiff(before, after, cfg.relativePath);
    this.configChanges.push({ file: cfg.relativePath, at: new Date(this.deps.clock.now()).toISOString(), action, change, diff });
    const lines = diff.split("\n").filter((l) => /^[+-](?![+-])/.test(l)).map((l) => `    ${l}`);
    this.deps.log(`  ${cfg.relativePath} changed (${action}):\n${lines.join("\n")}\n  commit it, or a later \`pulumi up\` from git reverts the alias`);
  }

  private async rehearse(s: CanaryState): Promise<{ ok: boolean; error?: string }> {
    const v = s.versions;
    if (!v?.canary) return { ok: false, error: `stack outputs of ${s.stack} do not name the canary version of ${s.function}` };
    if (!this.deps.invoker) return { ok: false, error: "no invoker configured (FC credentials)" };
    const invoker = await this.deps.invoker(v.region);
    this.deps.log(`  rehearsal: invoking ${v.functionName} version ${v.canary} directly`);
    const r = await invoker.invoke(v.functionName, v.canary, rehearsalPayload(this.deps.clock.now())).catch((e: Error) => ({ ok: false, error: e.message }));
    await this.record(s, "rehearsal", { qualifier: v.canary, ok: r.ok, error: r.error });
    return r;
  }

  /**
   * Break-glass rollback: FC UpdateAlias straight to the stable version with no weights, when
   * Pulumi cannot run. Then writes weight 0 to the stack file so the next `pulumi up` agrees.
   */
  async breakGlass(stack: string, fn: FunctionKey, reason = "break-glass rollback"): Promise<CanaryOutcome> {
    if (!this.deps.aliasClient) throw new ConfigError("break-glass needs FC credentials (ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET)");
    const cfg = StackConfigFile.load(this.deps.project, stack);
    const s = await this.stateForManualAction(cfg, stack, fn, "abort");
    const fr = cfg.functionRelease(fn);
    const versionId = s.stableVersionId ?? fr.stableVersionId ?? s.versions?.stable;
    const functionName = s.versions?.functionName;
    const region = s.versions?.region || cfg.region() || this.deps.defaultRegion;
    if (!versionId || !functionName || !region) {
      throw new ConfigError(`no recorded stable version of ${stack}/${fn} (stableVersionId in ${cfg.relativePath} or the canary state): cannot point the alias without Pulumi`);
    }
    // an emergency does not wait for a lock: a run stuck holding it is fenced off instead (the
    // state revision written below makes its next write fail)
    const release = await this.lock(stack, fn, s).catch(async (e) => {
      if (!(e instanceof CanaryLockedError)) throw e;
      this.deps.log(`  warning: ${e.message.split(";")[0]} — rolling back anyway; that run stops at its next state write`);
      await this.record(s, "break-glass-over-lock", { holder: e.holder });
      return async () => {};
    });
    try {
      await this.record(s, "break-glass-requested", { versionId, reason });
      await (await this.deps.aliasClient(region)).updateAlias(functionName, "live", versionId, {});
      s.appliedWeight = 0;
      s.status = "rolled-back";
      s.phase = "done";
      s.reason = reason;
      await this.save(s);
      await this.record(s, "break-glass-rolled-back", { versionId, functionName });
      cfg.reload();
      const before = cfg.toString();
      if (cfg.functionRelease(fn).canary) cfg.setCanary(fn, cfg.functionRelease(fn).canary!, 0, versionId);
      if (cfg.toString() !== before) { cfg.save(); this.reportConfigChange(cfg, before, cfg.toString(), "break-glass", { canaryWeight: 0, stableVersionId: versionId }); }
      return { status: s.status, state: s };
    } finally {
      await release();
    }
  }

  /** `canary promote`: jump straight to the end (stable := canary) of the recorded or configured canary. */
  async promote(stack: string, fn: FunctionKey): Promise<CanaryOutcome> {
    const cfg = StackConfigFile.load(this.deps.project, stack);
    const s = await this.stateForManualAction(cfg, stack, fn, "promote");
    const release = await this.lock(stack, fn, s);
    try {
      await this.record(s, "manual-promote-requested", { weight: s.appliedWeight });
      return await this.finishPromote(cfg, s, "manual-promote");
    } finally {
      await release();
    }
  }

  /** `canary abort`: back to stable only (canary and weight removed), applied with pulumi up. */
  async abort(stack: string, fn: FunctionKey, reason = "aborted by operator"): Promise<CanaryOutcome> {
    const cfg = StackConfigFile.load(this.deps.project, stack);
    const s = await this.stateForManualAction(cfg, stack, fn, "abort");
    const release = await this.lock(stack, fn, s);
    try {
      await this.record(s, "abort-requested", { weight: s.appliedWeight, reason });
      return await this.toStableOnly(cfg, s, "aborted", reason);
    } finally {
      await release();
    }
  }

  private async stateForManualAction(cfg: StackConfigFile, stack: string, fn: FunctionKey, what: "promote" | "abort"): Promise<CanaryState> {
    const recorded = await this.readState(stack, fn);
    const fr = cfg.functionRelease(fn);
    if (recorded && !TERMINAL.includes(recorded.status)) return recorded;
    if (what === "promote" && recorded?.status === "failed" && recorded.phase === "promote") return recorded;
    if (!fr.canary) {
      if (recorded?.status === "failed") return recorded;
      throw new UsageError(`no canary to ${what} on ${stack}/${fn}: ${cfg.relativePath} has no ${fn}.canary and no unfinished run is recorded`);
    }
    // A canary configured by hand (no recorded run): adopt it so the action is audited like any other.
    const now = new Date(this.deps.clock.now()).toISOString();
    return {
      schema: 1, stack, function: fn, stable: fr.stable, canary: fr.canary, steps: [100], intervalMs: 0,
      thresholds: { maxErrorRate: 0, minInvocations: 0 }, noTrafficRetries: 0, onNoTraffic: "rollback",
      status: "running", phase: "observe", stepIndex: 0, appliedWeight: fr.canaryWeight ?? 0, noTrafficChecks: 0,
      startedAt: now, updatedAt: now, startedBy: this.deps.actor,
    };
  }
}

/** A copy of the stack file (same text) for previews. */
function StackConfigFileClone(cfg: StackConfigFile): StackConfigFile {
  return StackConfigFile.load(cfg.project, cfg.stack);
}

async function withRetry<T>(fn: () => Promise<T>, clock: Clock, signal?: AbortSignal, attempts = 3): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try { return await fn(); } catch (e) {
      last = e;
      if (i < attempts - 1) await clock.sleep(2000 * 2 ** i, signal);
    }
  }
  throw last;
}

export function short(digest: string): string {
  return digest.startsWith("sha256:") ? `sha256:${digest.slice(7, 19)}` : digest;
}

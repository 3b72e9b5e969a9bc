/**
 * `logpipe canary start|status|promote|abort` — shift a function's `live` alias to a new release
 * step by step, gated on CloudMonitor metrics, with automatic rollback, resume and an audit log.
 * The engine lives in cli/ops/canary.ts; this file only parses arguments and prints.
 */
import type { Command } from "commander";
import path from "node:path";
import { AutomationStackRunner } from "../ops/automation.js";
import { CanaryEngine, defaultStrategy, short, type AliasClient, type CanaryOutcome, type CanaryPlan, type CanaryStrategy, type VersionInvoker } from "../ops/canary.js";
import { FUNCTIONS, type FunctionKey } from "../ops/contracts.js";
import { ConfigError, UsageError } from "../ops/errors.js";
import { CanaryConflictError, CanaryLockedError, LocalCanaryStore, OssCanaryStore, currentActor, realClock, type CanaryBucket, type CanaryStore } from "../ops/journal.js";
import { CmsMetricSource, CombinedMetricSource, FakeMetricSource, SlsSignalSource, type MetricSource, type Scenario } from "../ops/metrics.js";
import { printJson, runAction, table } from "../ops/output.js";
import { StackConfigFile, findProjectRoot, parseFunctionArg, readProject } from "../ops/stack-config.js";
import { formatDuration, formatPercent, parseDurationArg, parsePercentArg, parsePositiveNumberArg, parseStepsArg } from "../ops/units.js";

interface Common { stack: string; projectDir?: string; stateDir?: string; json?: boolean; ossEndpoint?: string; lease?: string }

/**
 * Where canary state, audit log and lock live: the stack's artifact bucket (shared by the team)
 * when `logpipe:artifactStore` names one, else — or with --state-dir / $LOGPIPE_CANARY_DIR — a
 * directory on this machine.
 */
export async function canaryStoreFor(o: Common, project: ReturnType<typeof readProject>, log: (l: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<CanaryStore> {
  const dir = o.stateDir ?? env.LOGPIPE_CANARY_DIR;
  if (dir) return new LocalCanaryStore(path.resolve(project.root, dir));
  const cfg = StackConfigFile.load(project, o.stack);
  const st = cfg.get("logpipe:artifactStore") as { bucket?: unknown; prefix?: unknown } | undefined;
  if (!st || typeof st.bucket !== "string") {
    log(`note: canary state is kept on this machine (.logpipe/canary): set logpipe:artifactStore in ${cfg.relativePath} to share it with the team`);
    return new LocalCanaryStore(path.resolve(project.root, ".logpipe/canary"));
  }
  const id = env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!id || !secret) {
    throw new ConfigError(`canary state is shared in oss://${st.bucket} (logpipe:artifactStore of ${cfg.relativePath}): set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or pass --state-dir <dir> for a local (unshared) state`);
  }
  const endpoint = o.ossEndpoint ?? env.LOGPIPE_OSS_ENDPOINT;
  const OSS = (await import("ali-oss")) as unknown as { default: new (o: Record<string, unknown>) => CanaryBucket };
  const client = new OSS.default({
    bucket: st.bucket, accessKeyId: id, accessKeySecret: secret, stsToken: env.ALIBABA_CLOUD_SECURITY_TOKEN, timeout: 30_000,
    ...(endpoint ? { endpoint, secure: endpoint.startsWith("https"), sldEnable: !/aliyuncs\.com/.test(endpoint) } : { region: `oss-${cfg.region() ?? "cn-hangzhou"}`, secure: true }),
  });
  const prefix = typeof st.prefix === "string" ? st.prefix : "logpipe/artifacts";
  const leaseMs = o.lease !== undefined ? parseDurationArg(o.lease, "--lease") : undefined;
  return new OssCanaryStore(client, st.bucket, prefix, realClock, leaseMs);
}

async function engineFor(o: Common & { metrics?: string; signals?: string; logProject?: string; consumerGroup?: string }, signal?: AbortSignal) {
  const project = readProject(findProjectRoot(o.projectDir ?? process.cwd()));
  const metricsSpec = o.metrics ?? "cloudmonitor";
  const log = (line: string) => (o.json ? process.stderr : process.stdout).write(line + "\n");
  const metrics = async (region: string): Promise<MetricSource> => {
    if (metricsSpec === "cloudmonitor") {
      const cms = await CmsMetricSource.fromEnv(region);
      if (o.signals === "off") return new CombinedMetricSource(cms);
      // the pipeline's signals come from SLS; without its SDK they are "not judged" (optional) or fail the gate (required)
      const sls = await SlsSignalSource.fromEnv(region).catch((e: Error) => {
        if (o.signals === "required") throw e;
        log(`note: ${e.message}`);
        return undefined;
      });
      return new CombinedMetricSource(cms, sls);
    }
    const m = /^fake:(healthy|failing|no-traffic|slow|error)$/.exec(metricsSpec);
    if (m) return FakeMetricSource.scenario(m[1] as Scenario);
    throw new UsageError(`--metrics: expected cloudmonitor or fake:<healthy|failing|no-traffic|slow|error>, got "${metricsSpec}"`);
  };
  const store = await canaryStoreFor(o, project, log).catch((e: Error) => {
    // a dry run stays offline: without credentials it plans from the local directory, and says so
    if (!(e instanceof ConfigError) || !(o as { dryRun?: boolean }).dryRun) throw e;
    log(`note: ${e.message.replace(/: set ALIBABA[\s\S]*$/, "")} — not read in this dry run (no credentials); planning as if no run were recorded`);
    return new LocalCanaryStore(path.resolve(project.root, ".logpipe/canary"));
  });
  const engine = new CanaryEngine({
    project, runner: new AutomationStackRunner(project), metrics, clock: realClock, store, actor: currentActor(), log, signal,
    defaultRegion: process.env.ALIBABA_CLOUD_REGION,
    pipeline: pipelineArgs(o),
    invoker: async (region) => fcClient(region).then((c) => c.invoker),
    aliasClient: async (region) => fcClient(region).then((c) => c.aliases),
    // the Pulumi program's provider and CloudMonitor need credentials; a rehearsal with fake metrics does not
    checkCredentials: metricsSpec === "cloudmonitor" ? () => credentials() : undefined,
  });
  return { engine, project, store };
}

/**
 * Another operator holds the lock or moved the state on: exit 3 (nothing more was done), with
 * the holder in --json, so scripts can tell "someone else is on it" from a failed canary (1).
 */
export const EXIT_LOCKED = 3;
async function lockAware(name: string, json: boolean | undefined, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof CanaryLockedError) && !(e instanceof CanaryConflictError)) throw e;
    process.stderr.write(`logpipe ${name}: ${e.message}\n`);
    if (json) printJson({ error: e instanceof CanaryLockedError ? "locked" : "conflict", message: e.message, holder: e instanceof CanaryLockedError ? e.holder ?? null : null });
    return EXIT_LOCKED;
  }
}

/** The --json result of a command that may have changed the stack file. */
function resultJson(out: CanaryOutcome, engine: CanaryEngine): Record<string, unknown> {
  return { status: out.status, state: out.state, stateStore: engine.store.where(out.state.stack, out.state.function), configChanges: engine.configChanges, commitNeeded: engine.configChanges.length > 0 };
}

function credentials(env: NodeJS.ProcessEnv = process.env): { id: string; secret: string; token?: string } {
  const id = env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!id || !secret) throw new ConfigError("Alibaba Cloud credentials missing: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)");
  return { id, secret, token: env.ALIBABA_CLOUD_SECURITY_TOKEN };
}

/** FC 3.0 API client (@alicloud/fc20230330): InvokeFunction for rehearsals, UpdateAlias for break-glass. */
async function fcClient(region: string): Promise<{ invoker: VersionInvoker; aliases: AliasClient }> {
  const c = credentials();
  const mod = (await import("@alicloud/fc20230330")) as unknown as Record<string, any>;
  const m = mod.default?.default ? mod.default : mod;
  const core = (await import("@alicloud/openapi-core")) as unknown as { $OpenApiUtil: { Config: new (o: Record<string, unknown>) => unknown } };
  const accountId = process.env.ALIBABA_CLOUD_ACCOUNT_ID;
  if (!accountId) throw new ConfigError("set ALIBABA_CLOUD_ACCOUNT_ID: the FC endpoint is <account>.<region>.fc.aliyuncs.com");
  const client = new (m.default ?? m.Client)(new core.$OpenApiUtil.Config({ accessKeyId: c.id, accessKeySecret: c.secret, securityToken: c.token, endpoint: `${accountId}.${region}.fc.aliyuncs.com` }));
  return {
    invoker: {
      async invoke(functionName, qualifier, payload) {
        const res = await client.invokeFunction(functionName, new m.InvokeFunctionRequest({ qualifier, body: Buffer.from(payload) }));
        const fnError = res.headers?.["x-fc-error-type"];
        return fnError ? { ok: false, error: `${fnError}` } : { ok: true };
      },
    },
    aliases: {
      async updateAlias(functionName, alias, versionId, additionalVersionWeight) {
        await client.updateAlias(functionName, alias, new m.UpdateAliasRequest({ body: new m.UpdateAliasInput({ versionId, additionalVersionWeight }) }));
      },
    },
  };
}

/** Ctrl-C during a canary: stop waiting, record the interruption, keep the state for resume. */
function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  return fn(ac.signal).finally(() => { process.off("SIGINT", onSig); process.off("SIGTERM", onSig); });
}

export function printPlan(p: CanaryPlan, out: (s: string) => void): void {
  out(`Canary plan for ${p.function} on stack ${p.stack} (${p.configFile})`);
  out(`  stable ${p.stable}`);
  out(`  canary ${p.canary}`);
  if (p.resumeFrom) out(`  resuming at step ${p.resumeFrom.stepIndex + 1} (${p.resumeFrom.phase}, status ${p.resumeFrom.status})`);
  const t = p.thresholds;
  out(`  gate after each step (${formatDuration(p.intervalMs)}): error rate ≤ ${formatPercent(t.maxErrorRate)}` +
    (t.maxP99Ms !== undefined ? `, p99 (estimate) ≤ ${t.maxP99Ms} ms` : "") +
    (t.maxLatencyIncrease !== undefined ? `, avg latency ≤ stable +${formatPercent(t.maxLatencyIncrease, 0)}` : "") +
    `, at least ${t.minInvocations} canary invocations (else: ${p.onNoTraffic})`);
  if (t.signals !== "off") {
    out(`  pipeline signals (${t.signals ?? "optional"}; vs stable): dead letters ≤ ${t.maxDeadLetters ?? 0} above stable's rate, ` +
      `_unrouted share ≤ stable +${formatPercent(t.maxUnroutedIncrease ?? 0.01)}, slot waits ≤ stable +${formatPercent(t.maxSlotWaitIncrease ?? 1, 0)}` +
      (p.function === "split" ? `, consumer lag growth ≤ ${t.maxLagGrowth ?? 10_000} messages per window` : ""));
  }
  out(table(["step", "alias weight → canary", "config written (logpipe:release." + p.function + ")", "then"],
    p.steps.map((s) => [s.step, formatPercent(s.weight), `canary: ${short(s.config.canary)}, canaryWeight: ${s.config.canaryWeight}`, "pulumi up, wait, gate"])));
  out(`  after the last step: stable := ${short(p.finalConfig.stable)}, canary removed, pulumi up`);
  out(`  on a failed gate or pulumi error: canary removed (stable ${short(p.rollbackConfig.stable)} only), pulumi up, exit 1`);
  if (p.firstStepDiff) out(`\nConfig change of the first step:\n${p.firstStepDiff}`);
  if (p.promoteDiff) out(`\nConfig change at promotion:\n${p.promoteDiff}`);
}

function summary(o: CanaryOutcome): string {
  const s = o.state;
  return `canary ${s.stack}/${s.function} ${short(s.canary)}: ${s.status}` + (s.reason ? ` — ${s.reason}` : "");
}

function pipelineArgs(o: { logProject?: string; consumerGroup?: string }): { logProject?: string; kafkaInstanceId?: string; consumerGroup?: string } {
  const [instance, group] = o.consumerGroup ? o.consumerGroup.split("/") : [];
  if (o.consumerGroup && (!instance || !group)) throw new UsageError(`--consumer-group: expected <instanceId>/<group>, got "${o.consumerGroup}"`);
  return { logProject: o.logProject, kafkaInstanceId: instance, consumerGroup: group };
}

function signalsMode(v: string): "required" | "optional" | "off" {
  if (v === "required" || v === "optional" || v === "off") return v;
  throw new UsageError(`--signals: expected optional, required or off, got "${v}"`);
}

function commitReminder(engine: CanaryEngine): string {
  const files = [...new Set(engine.configChanges.map((c) => c.file))];
  return files.length ? `\n${files.join(", ")} changed (see above): commit ${files.length > 1 ? "them" : "it"}, or a later \`pulumi up\` from git reverts the weights` : "";
}

function outcomeCode(o: CanaryOutcome): number {
  return o.status === "succeeded" || o.status === "aborted" ? 0 : 1;
}

export function register(program: Command): void {
  const canary = program.command("canary").description("shift a function's live alias to a new release step by step, gated on CloudMonitor metrics");

  const common = (c: Command, fnRequired = true) => c
    .requiredOption("--stack <name>", "stack (stacks/Pulumi.<name>.yaml)")
    [fnRequired ? "requiredOption" : "option"]("--function <fn>", `function: ${FUNCTIONS.join(", ")}`)
    .option("--project-dir <dir>", "repository root (default: nearest directory with Pulumi.yaml)")
    .option("--state-dir <dir>", "keep state, audit log and lock in this local directory (offline/dev; default: the stack's logpipe:artifactStore bucket, shared by the team, else .logpipe/canary)")
    .option("--oss-endpoint <url>", "OSS endpoint of the shared state (default https://oss-<region>.aliyuncs.com, or $LOGPIPE_OSS_ENDPOINT)")
    .option("--lease <duration>", "lease of the shared lock; the holder renews it, an expired one is taken over", "15m")
    .option("--json", "machine-readable output");

  common(canary.command("start").description("start (or resume) a canary: write weight, pulumi up, gate, repeat; promote at the end"))
    .option("--digest <sha256:…>", "canary artifact digest (default: logpipe:release.<fn>.canary)")
    .option("--steps <list>", "alias weights in percent", "5,25,50,100")
    .option("--interval <duration>", "observation time per step", "5m")
    .option("--max-error-rate <pct>", "max canary error rate (function + server errors / invocations)", "1%")
    .option("--max-p99 <duration>", "max canary p99 latency (estimated from per-minute maxima)")
    .option("--max-latency-increase <pct>", "max canary average latency above stable's, e.g. 50%")
    .option("--min-invocations <n>", "fewer canary invocations per window = too little traffic to judge", "50")
    .option("--max-dead-letters <n>", "dead letters of the canary version allowed above stable's rate (per invocation)", "0")
    .option("--max-unrouted-increase <pct>", "max increase of the canary's _unrouted share of records over stable's", "1%")
    .option("--max-slot-wait-increase <pct>", "max increase of slot waits per invocation over stable's", "100%")
    .option("--max-lag-growth <n>", "max growth of the Kafka trigger's consumer lag (messages) over a window", "10000")
    .option("--log-project <name>", "SLS project of the function logs, when the stack outputs have no logProject")
    .option("--consumer-group <instance>/<group>", "Kafka instance and consumer group of the trigger, when the stack outputs have no kafka")
    .option("--signals <mode>", "pipeline signals (SLS + Kafka lag): optional (judged when readable), required (unreadable = rollback), off", "optional")
    .option("--low-traffic-retries <n>", "extra windows to wait when traffic is too low to judge", "2")
    .option("--on-low-traffic <action>", "rollback | hold, when traffic stays too low to judge", "rollback")
    .option("--metrics <source>", "cloudmonitor (default) or fake:<scenario> for rehearsals")
    .option("--strategy <s>", "gradual (weights gated on traffic) | rehearse (weight 0, invoke the canary version directly, then 100 % with rollback on any error); default: rehearse for upload, gradual otherwise")
    .option("--dry-run", "print the plan and the config changes; apply nothing")
    .option("--restart", "discard an unfinished run's recorded state and start over")
    .action((o) => runAction("canary start", async () => {
      const fn = parseFunctionArg(o.function);
      const strategy = (o.strategy ?? defaultStrategy(fn)) as CanaryStrategy;
      if (strategy !== "gradual" && strategy !== "rehearse") throw new UsageError(`--strategy: expected gradual or rehearse, got "${o.strategy}"`);
      const onNoTraffic = o.onLowTraffic;
      if (onNoTraffic !== "rollback" && onNoTraffic !== "hold") throw new UsageError(`--on-low-traffic: expected rollback or hold, got "${onNoTraffic}"`);
      const opts = {
        stack: o.stack as string, fn, digest: o.digest as string | undefined,
        // rehearse: weight 0 (rehearsal invocation), then 100 % judged on errors alone
        steps: strategy === "rehearse" ? [0, 100] : parseStepsArg(o.steps), intervalMs: parseDurationArg(o.interval, "--interval"),
        thresholds: {
          maxErrorRate: parsePercentArg(o.maxErrorRate, "--max-error-rate"),
          maxP99Ms: o.maxP99 !== undefined ? parseDurationArg(o.maxP99, "--max-p99") : undefined,
          maxLatencyIncrease: o.maxLatencyIncrease !== undefined ? parsePercentArg(o.maxLatencyIncrease, "--max-latency-increase") : undefined,
          // rehearse: at 100 % the timer calls every minute, so a window without one call means missing data, never healthy
          minInvocations: strategy === "rehearse" ? 1 : parsePositiveNumberArg(o.minInvocations, "--min-invocations", 1e9),
          maxDeadLetters: parsePositiveNumberArg(o.maxDeadLetters, "--max-dead-letters", 1e9),
          maxUnroutedIncrease: parsePercentArg(o.maxUnroutedIncrease, "--max-unrouted-increase"),
          maxSlotWaitIncrease: parsePercentArg(o.maxSlotWaitIncrease, "--max-slot-wait-increase"),
          maxLagGrowth: parsePositiveNumberArg(o.maxLagGrowth, "--max-lag-growth", 1e12),
          signals: signalsMode(o.signals),
        },
        noTrafficRetries: parsePositiveNumberArg(o.lowTrafficRetries, "--low-traffic-retries", 100),
        onNoTraffic: onNoTraffic as "rollback" | "hold", dryRun: !!o.dryRun, restart: !!o.restart, strategy,
      };
      if (opts.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.digest)) throw new UsageError(`--digest: expected sha256:<64 hex digits>, got "${opts.digest}"`);
      return interruptible((signal) => lockAware("canary start", o.json, async () => {
        const { engine } = await engineFor(o, signal);
        const out = await engine.start(opts);
        if (opts.dryRun) {
          if (o.json) printJson({ dryRun: true, plan: out.plan });
          else printPlan(out.plan!, (s) => process.stdout.write(s + "\n"));
          return 0;
        }
        if (o.json) printJson(resultJson(out, engine));
        else process.stdout.write(summary(out) + commitReminder(engine) + "\n");
        return outcomeCode(out);
      }));
    }));

  common(canary.command("status").description("show recorded canary runs and the stack config's weights"), false)
    .option("--audit <n>", "audit log entries to show", "10")
    .action((o) => runAction("canary status", async () => {
      const { engine, project, store } = await engineFor(o);
      const cfg = StackConfigFile.load(project, o.stack);
      const fns: FunctionKey[] = o.function ? [parseFunctionArg(o.function)] : [...FUNCTIONS];
      const n = parsePositiveNumberArg(o.audit, "--audit", 10_000);
      const rows = [];
      for (const fn of fns) {
        const fr = cfg.functionRelease(fn);
        const state = await engine.readState(o.stack, fn);
        rows.push({ function: fn, config: fr, state: state ?? null, lock: (await engine.lockHolder(o.stack, fn)) ?? null, audit: n > 0 ? (await engine.audit(o.stack, fn)).slice(-n) : [], where: store.where(o.stack, fn) });
      }
      if (o.json) { printJson({ stack: o.stack, stateStore: store.kind, functions: rows }); return 0; }
      process.stdout.write(table(["function", "stable", "canary (config)", "weight", "run status", "step", "last gate"], rows.map((r) => [
        r.function, short(r.config.stable), r.config.canary ? short(r.config.canary) : "-",
        r.config.canary ? formatPercent(r.config.canaryWeight ?? 0) : "-",
        r.state ? `${r.state.status}${r.state.reason ? ` (${r.state.reason.slice(0, 60)})` : ""}` : "-",
        r.state ? `${r.state.stepIndex + 1}/${r.state.steps.length} ${r.state.phase}` : "-",
        r.state?.lastGate ? `${r.state.lastGate.verdict} @ ${r.state.lastGate.at}` : "-",
      ])) + "\n");
      for (const r of rows) if (r.lock) process.stdout.write(`${r.function}: locked by ${r.lock.owner} since ${r.lock.since}${r.lock.expiresAt ? ` (lease until ${r.lock.expiresAt})` : ""}\n`);
      for (const r of rows) {
        if (!r.audit.length) continue;
        process.stdout.write(`\n${r.function} audit (${r.where}):\n`);
        for (const a of r.audit) process.stdout.write(`  ${a.ts} ${a.actor} ${a.action}${a.weight !== undefined ? ` weight=${a.weight}` : ""}${a.verdict ? ` ${a.verdict}` : ""}${a.reason ? ` — ${a.reason}` : ""}${a.error ? ` — ${a.error}` : ""}\n`);
      }
      return 0;
    }));

  common(canary.command("promote").description("jump to the end: stable := canary, canary removed, pulumi up"))
    .action((o) => runAction("canary promote", () => lockAware("canary promote", o.json, async () => {
      const { engine } = await engineFor(o);
      const out = await engine.promote(o.stack, parseFunctionArg(o.function));
      if (o.json) printJson(resultJson(out, engine)); else process.stdout.write(summary(out) + commitReminder(engine) + "\n");
      return outcomeCode(out);
    })));

  common(canary.command("rollback").description("weight 0 now; --break-glass: FC UpdateAlias directly (no Pulumi), then weight 0 in the stack file"))
    .option("--break-glass", "call FC UpdateAlias directly (required: this command is for when Pulumi cannot run)")
    .option("--reason <text>", "recorded in the audit log", "break-glass rollback")
    .action((o) => runAction("canary rollback", async () => {
      if (!o.breakGlass) throw new UsageError("canary rollback: pass --break-glass (with Pulumi working, use `logpipe canary abort`)");
      return lockAware("canary rollback", o.json, async () => {
        const { engine } = await engineFor(o);
        const out = await engine.breakGlass(o.stack, parseFunctionArg(o.function), o.reason);
        if (o.json) printJson(resultJson(out, engine)); else process.stdout.write(summary(out) + commitReminder(engine) + "\n");
        return 0;
      });
    }));

  common(canary.command("abort").description("back to stable: canary and weight removed, pulumi up"))
    .option("--reason <text>", "recorded in the audit log", "aborted by operator")
    .action((o) => runAction("canary abort", () => lockAware("canary abort", o.json, async () => {
      const { engine } = await engineFor(o);
      const out = await engine.abort(o.stack, parseFunctionArg(o.function), o.reason);
      if (o.json) printJson(resultJson(out, engine)); else process.stdout.write(summary(out) + commitReminder(engine) + "\n");
      return outcomeCode(out);
    })));

  common(canary.command("unlock").description("remove the canary lock of a run that died: an expired lease, or any lock with --force (recorded in the audit log)"))
    .option("--force", "remove the lock even though its lease has not ended (only when you know its run is dead)")
    .action((o) => runAction("canary unlock", () => lockAware("canary unlock", o.json, async () => {
      const { engine, store } = await engineFor(o);
      const fn = parseFunctionArg(o.function);
      const removed = await store.breakLock(o.stack, fn, !!o.force);
      if (removed) {
        await store.appendAudit(o.stack, fn, { ts: new Date().toISOString(), actor: currentActor(), stack: o.stack, function: fn, action: "lock-broken", force: !!o.force, previous: removed });
      }
      void engine;
      if (o.json) printJson({ removed: removed ?? null, where: store.where(o.stack, fn) });
      else process.stdout.write(removed ? `removed the lock of ${removed.owner} (since ${removed.since}); its run, if still alive, stops at its next state write\n` : `no lock on ${o.stack}/${fn}\n`);
      return 0;
    })));
}

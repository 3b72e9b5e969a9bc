/**
 * `logpipe local` — run split → compress → upload on this machine, then prove the archive.
 * `npm run demo` is this command with its defaults.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import cliProgress from "cli-progress";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { OssObjectStore } from "../../functions/adapters/oss-store.js";
import { loadConfig, parseAppIdSources, parseDuration, parseSize } from "../../functions/core/config.js";
import { localEnv, runLocal, type LocalProgress, type RetryStrategy } from "../local/run.js";
import { archiveObjects } from "../local/verify.js";
import { renderReport } from "../local/report.js";
import { printJson, runAction } from "../ops/output.js";
import { UsageError } from "../ops/errors.js";
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from "../services/redis-server.js";
import { fileSource, type InputFormat } from "../sources/file.js";
import { kafkaSource } from "../sources/kafka.js";
import { syntheticSource } from "../sources/synthetic.js";
import type { RecordSource } from "../sources/types.js";
import { checkRedisReachable } from "../support/redis-check.js";
import { intFlag } from "../support/flags.js";
import { prepareLocalRunDir } from "../support/run-dir.js";

// Commander prefixes these messages with the flag and the value, so they name neither.
const size = (v: string) => {
  try { return parseSize(v); } catch (e) { throw new InvalidArgumentError((e as Error).message.replace(/, got .*$/, "")); }
};
const duration = (min: number, max: number) => (v: string) => {
  let ms: number;
  try { ms = parseDuration(v); } catch (e) { throw new InvalidArgumentError((e as Error).message.replace(/, got .*$/, "")); }
  if (ms < min || ms > max) throw new InvalidArgumentError(`expected ${min / 1000}–${max / 1000} s`);
  return ms;
};
const appIdSource = (v: string) => {
  try { parseAppIdSources(v); } catch (e) { throw new InvalidArgumentError((e as Error).message.replace(/, got .*$/, "")); }
  return v;
};

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type StopSignal = keyof typeof SIGNAL_EXIT;

/** The reason a run was aborted with: runLocal rejects with it after cleaning up. */
class Interrupted extends Error {
  constructor(readonly signal: StopSignal) {
    super(`interrupted (${signal})`);
    this.name = "Interrupted";
  }
}

interface LocalFlags {
  apps: number; records?: number; bytes?: number; seed: number;
  input?: string; inputFormat: InputFormat; kafka?: string; topic?: string; group?: string;
  out: string; keep?: boolean; clean?: boolean; redis?: string | false; prefix?: string;
  ossBucket?: string; ossEndpoint?: string; ossRegion?: string;
  batchRecords: number; batchWindow: number; maxTasks: number; retryStrategy: RetryStrategy; errorsTolerance: "ALL" | "NONE";
  workers?: number; maxWriters?: number; maxApps?: number; gzipLevel?: number; sealBytes?: number; drainAge?: number; appIdSource?: string;
  verify: boolean; progress: boolean; json?: boolean;
}

function buildSource(f: LocalFlags): RecordSource {
  const chosen = [f.input !== undefined, f.kafka !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new UsageError("--input and --kafka are exclusive: pick one source");
  if (f.input !== undefined) {
    if (f.input !== "-" && !existsSync(f.input)) throw new UsageError(`--input ${f.input}: no such file`);
    if (f.input !== "-" && !statSync(f.input).isFile()) throw new UsageError(`--input ${f.input}: not a file (give an NDJSON file, or - for stdin)`);
    return fileSource(f.input, { format: f.inputFormat });
  }
  if (f.kafka !== undefined) {
    if (!f.topic) throw new UsageError("--kafka needs --topic");
    return kafkaSource({ brokers: f.kafka.split(",").map((b) => b.trim()).filter(Boolean), topic: f.topic, groupId: f.group });
  }
  return syntheticSource({ apps: f.apps, records: f.records ?? (f.bytes ? undefined : 300_000), bytes: f.bytes, seed: f.seed });
}

function progressReporter(enabled: boolean, json: boolean) {
  if (!enabled || json) return { update: (_p: LocalProgress) => {}, stop: () => {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: "{stage} |{bar}| {percentage}% {value}/{total} records | {mb} MB | compress queue {queue}", stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p: LocalProgress) {
        const total = p.expectedRecords ?? Math.max(p.records, 1);
        const payload = { stage: p.stage.padEnd(6), mb: (p.bytes / 1024 ** 2).toFixed(1), queue: p.compressPending };
        if (!started) {
          bar.start(total, p.records, payload);
          started = true;
        }
        bar.setTotal(Math.max(total, p.records));
        bar.update(p.records, payload);
      },
      stop: () => started && bar.stop(),
    };
  }
  // Not a terminal (CI, pipes): a line at each new stage, and every few seconds within one.
  let last = 0;
  let lastStage: LocalProgress["stage"] | undefined;
  return {
    update(p: LocalProgress) {
      const now = Date.now();
      if (now - last < 3000 && p.stage === lastStage) return;
      last = now;
      lastStage = p.stage;
      process.stderr.write(`[logpipe local] ${p.stage}: ${p.records}${p.expectedRecords ? `/${p.expectedRecords}` : ""} records, ${(p.bytes / 1024 ** 2).toFixed(1)} MB, compress queue ${p.compressPending}\n`);
    },
    stop: () => {},
  };
}

export function register(program: Command): void {
  program
    .command("local")
    .description("run the whole pipeline on this machine (no cloud account), then read the archive back and prove every record is there exactly once")
    .addOption(new Option("--apps <n>", "synthetic: number of apps (Zipf-skewed)").argParser(intFlag(1, 100_000)).default(50))
    .addOption(new Option("--records <n>", "synthetic: records to generate (default 300000)").argParser(intFlag(1, 1e9)))
    .addOption(new Option("--bytes <size>", "synthetic: stop after this much data, e.g. 256MB").argParser(size))
    .addOption(new Option("--seed <n>", "synthetic: random seed").argParser(intFlag(0, 2 ** 31)).default(42))
    .option("--input <file>", "replay a file instead: NDJSON records one per line (- for stdin)")
    .addOption(new Option("--input-format <format>", "format of --input").choices(["ndjson", "fc-event"]).default("ndjson"))
    .option("--kafka <brokers>", "consume a real Kafka topic instead (comma-separated brokers)")
    .option("--topic <topic>", "Kafka topic (with --kafka)")
    .option("--group <group>", "Kafka consumer group (with --kafka)")
    .option("--out <dir>", "working directory: NAS at DIR/nas, objects at DIR/objects", ".logpipe")
    .option("--keep", "run on top of what DIR/nas and DIR/objects already hold (default: replace what the previous logpipe local run left)")
    .option("--clean", "delete DIR/nas and DIR/objects first even if something other than logpipe local wrote them")
    .option("--redis <url>", "use this Redis for locks (default: a private redis-server if installed, else in-process)")
    .option("--no-redis", "use the in-process lock store even if redis-server is installed")
    .option("--prefix <prefix>", "object key prefix (default: logs, or a per-run prefix on OSS)")
    .option("--oss-bucket <bucket>", "archive into this OSS bucket instead of DIR/objects (credentials from ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)")
    .option("--oss-endpoint <url>", "OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com")
    .option("--oss-region <region>", "OSS region, e.g. oss-cn-hangzhou")
    .addOption(new Option("--batch-records <n>", "trigger CountBasedWindow (1–10000)").argParser(intFlag(1, 10_000)).default(5000))
    .addOption(new Option("--batch-window <duration>", "trigger TimeBasedWindow (0–15s)").argParser(duration(0, 15_000)).default(500, "500ms"))
    .addOption(new Option("--max-tasks <n>", "trigger maximumTasks: concurrent split invocations").argParser(intFlag(1, 64)).default(2))
    .addOption(new Option("--retry-strategy <s>", "trigger retry strategy").choices(["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]).default("BACKOFF_RETRY"))
    .addOption(new Option("--errors-tolerance <t>", "ALL: dead-letter a batch that fails every retry; NONE: stop").choices(["ALL", "NONE"]).default("ALL"))
    .addOption(new Option("--workers <n>", "handler worker threads, each running one invocation at a time (default: one per core, at least 2)").argParser(intFlag(1, 64)))
    .addOption(new Option("--max-writers <n>", "LOGPIPE_MAX_WRITERS_PER_APP").argParser(intFlag(1, 1000)))
    .addOption(new Option("--max-apps <n>", "LOGPIPE_MAX_APPS (more apps overflow to _overflow)").argParser(intFlag(1, 1_000_000)))
    .addOption(new Option("--gzip-level <n>", "LOGPIPE_GZIP_LEVEL").argParser(intFlag(1, 9)))
    .addOption(new Option("--seal-bytes <size>", "LOGPIPE_SEAL_BYTES: seal active files at this size").argParser(size))
    .addOption(new Option("--drain-age <duration>", "LOGPIPE_DRAIN_AGE: the sweep drains the long tail's pending data at this age (1s–1h; default 10s here so a short run shows the sweep, 60s on FC)").argParser(duration(1_000, 3_600_000)))
    .addOption(new Option("--app-id-source <spec>", "LOGPIPE_APP_ID_SOURCE, e.g. field:appId, field:ctx.app, key, header:x-app").argParser(appIdSource))
    .option("--no-verify", "skip reading the archive back")
    .option("--no-progress", "no progress output")
    .option("--json", "print the report as JSON (stdout); exit code still tells success")
    .addHelpText("after", `
Exit codes: 0 every record archived exactly once; 1 something lost, duplicated or failed;
2 bad flags, unusable --out or unreachable --redis; 130/143 interrupted (Ctrl-C / SIGTERM).
Examples:
  npx logpipe local                               # synthetic: 300k records over 50 apps
  npx logpipe local --records 2000000 --apps 200
  npx logpipe local --input app.ndjson                # replay records, one per line
  npx logpipe local --input batches.json --input-format fc-event
  npx logpipe local --kafka 127.0.0.1:9092 --topic app-logs --group logpipe-local`)
    .action((flags: LocalFlags) => runAction("local", () => localAction(flags)));
}

/** The handlers' LOGPIPE_* settings the flags give (validated again by loadConfig, which names the key). */
export function handlerEnvOf(flags: Pick<LocalFlags, "maxWriters" | "maxApps" | "gzipLevel" | "sealBytes" | "drainAge" | "appIdSource">, prefix?: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (prefix !== undefined) env.LOGPIPE_OSS_PREFIX = prefix;
  if (flags.maxWriters) env.LOGPIPE_MAX_WRITERS_PER_APP = String(flags.maxWriters);
  if (flags.maxApps) env.LOGPIPE_MAX_APPS = String(flags.maxApps);
  if (flags.gzipLevel) env.LOGPIPE_GZIP_LEVEL = String(flags.gzipLevel);
  if (flags.sealBytes) env.LOGPIPE_SEAL_BYTES = String(flags.sealBytes);
  if (flags.drainAge) env.LOGPIPE_DRAIN_AGE = `${flags.drainAge}ms`;
  if (flags.appIdSource) env.LOGPIPE_APP_ID_SOURCE = flags.appIdSource;
  return env;
}

async function localAction(flags: LocalFlags): Promise<number> {
  if (flags.keep && flags.clean) throw new UsageError("--keep and --clean exclude each other");
  const source = buildSource(flags);
  // Checked before anything starts, so a bad --out or --redis fails in seconds and leaves no process behind.
  const outDir = path.resolve(flags.out);
  const { cleared } = prepareLocalRunDir(outDir, { keep: flags.keep, clean: flags.clean });
  if (cleared.length > 0 && !flags.json) process.stderr.write(`logpipe local: replaced the previous run in ${cleared.join(", ")} (--keep keeps it)\n`);
  if (typeof flags.redis === "string") await checkRedisReachable("--redis", flags.redis);
  let objects: ObjectStore | undefined;
  let prefix = flags.prefix;
  if (flags.ossBucket) {
    const accessKeyId = process.env.ALIBABA_CLOUD_ACCESS_KEY_ID;
    const accessKeySecret = process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    if (!accessKeyId || !accessKeySecret) throw new UsageError("--oss-bucket needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment");
    if (!flags.ossEndpoint && !flags.ossRegion) throw new UsageError("--oss-bucket needs --oss-endpoint or --oss-region");
    objects = new OssObjectStore({ bucket: flags.ossBucket, endpoint: flags.ossEndpoint, region: flags.ossRegion, accessKeyId, accessKeySecret, stsToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN });
    prefix ??= `logpipe-local/${new Date().toISOString().replace(/[:.]/g, "-")}`; // verification reads the whole prefix
  }
  const env = handlerEnvOf(flags, prefix);
  // --keep: what earlier runs archived stays as it is and is not this run's to verify
  let earlierObjects: Set<string> | undefined;
  if (flags.keep) {
    objects ??= new LocalObjectStore(path.join(outDir, "objects"));
    earlierObjects = new Set<string>();
    for await (const o of archiveObjects(objects, loadConfig(localEnv(outDir, undefined, env)).prefix)) earlierObjects.add(o.key);
    if (earlierObjects.size > 0 && !flags.json) process.stderr.write(`logpipe local: --keep: ${earlierObjects.size} object(s) from earlier runs stay as they are and are not verified again\n`);
  }

  // Ctrl-C / SIGTERM / SIGHUP: stop ingesting, clean up (private redis-server included), exit 128+n.
  // A second signal while cleaning up stops at once.
  const abort = new AbortController();
  let privateRedis: RedisServerHandle | undefined;
  const onSignal = (signal: StopSignal) => {
    if (abort.signal.aborted) {
      privateRedis?.process.kill("SIGKILL");
      process.exit(SIGNAL_EXIT[signal]);
    }
    if (!flags.json) process.stderr.write(`\nlogpipe local: ${signal} — stopping (again to quit at once)\n`);
    abort.abort(new Interrupted(signal));
  };
  const handlers = (Object.keys(SIGNAL_EXIT) as StopSignal[]).map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  const progress = progressReporter(flags.progress, Boolean(flags.json));
  let lastProgress: LocalProgress | undefined;
  try {
    let redisUrl: string | undefined;
    if (typeof flags.redis === "string") redisUrl = flags.redis;
    else if (flags.redis !== false && redisServerAvailable()) {
      privateRedis = await startRedisServer();
      redisUrl = privateRedis.url;
    }
    abort.signal.throwIfAborted();
    const report = await runLocal({
      source, outDir, objects, earlierObjects, redisUrl, keyPrefix: `lp-${Date.now().toString(36)}`, env,
      trigger: { batchRecords: flags.batchRecords, batchWindowMs: flags.batchWindow, maximumTasks: flags.maxTasks, retryStrategy: flags.retryStrategy, errorsTolerance: flags.errorsTolerance },
      compressWorkers: flags.workers, verify: flags.verify, traceSlots: true,
      onProgress: (p) => { lastProgress = p; progress.update(p); }, signal: abort.signal,
    });
    progress.stop();
    if (flags.json) printJson(report);
    else process.stdout.write(renderReport(report) + "\n");
    if (report.records === 0) process.stderr.write(`logpipe local: warning: ${source.description} yielded no records; nothing was archived\n`);
    return report.ok ? 0 : 1;
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    progress.stop();
    const done = lastProgress ? ` after ${lastProgress.records} records` : "";
    process.stderr.write(`logpipe local: interrupted (${e.signal})${done}: the run did not finish and nothing was verified; ${outDir} holds a partial run\n`);
    return SIGNAL_EXIT[e.signal];
  } finally {
    progress.stop();
    for (const [sig, h] of handlers) process.off(sig, h);
    await privateRedis?.stop();
  }
}

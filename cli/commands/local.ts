/**
 * `logpipe local` — run split → compress → upload on this machine, then prove the archive.
 * `npm run demo` is this command with its defaults.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import cliProgress from "cli-progress";
import { OssObjectStore } from "../../functions/adapters/oss-store.js";
import { parseDuration, parseSize } from "../../functions/core/config.js";
import { runLocal, type LocalProgress, type RetryStrategy } from "../local/run.js";
import { renderReport } from "../local/report.js";
import { printJson, runAction } from "../ops/output.js";
import { UsageError } from "../ops/errors.js";
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from "../services/redis-server.js";
import { fileSource, type InputFormat } from "../sources/file.js";
import { kafkaSource } from "../sources/kafka.js";
import { syntheticSource } from "../sources/synthetic.js";
import type { RecordSource } from "../sources/types.js";

const int = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} expects an integer ${min}–${max}, got "${v}"`);
  return n;
};
const size = (name: string) => (v: string) => {
  try { return parseSize(v); } catch (e) { throw new InvalidArgumentError(`${name}: ${(e as Error).message}`); }
};
const duration = (name: string) => (v: string) => {
  try { return parseDuration(v); } catch (e) { throw new InvalidArgumentError(`${name}: ${(e as Error).message}`); }
};

interface LocalFlags {
  apps: number; records?: number; bytes?: number; seed: number;
  input?: string; inputFormat: InputFormat; kafka?: string; topic?: string; group?: string;
  out: string; keep?: boolean; redis?: string | false; prefix?: string;
  ossBucket?: string; ossEndpoint?: string; ossRegion?: string;
  batchRecords: number; batchWindow: number; maxTasks: number; retryStrategy: RetryStrategy; errorsTolerance: "ALL" | "NONE";
  workers?: number; maxWriters?: number; maxApps?: number; gzipLevel?: number; sealBytes?: number; appIdSource?: string;
  verify: boolean; progress: boolean; json?: boolean;
}

function buildSource(f: LocalFlags): RecordSource {
  const chosen = [f.input !== undefined, f.kafka !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new UsageError("--input and --kafka are exclusive: pick one source");
  if (f.input !== undefined) {
    if (f.input !== "-" && !existsSync(f.input)) throw new UsageError(`--input: no such file: ${f.input}`);
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
  // Not a terminal (CI, pipes): a plain line every few seconds.
  let last = 0;
  return {
    update(p: LocalProgress) {
      const now = Date.now();
      if (now - last < 3000 && p.stage === "ingest") return;
      last = now;
      process.stderr.write(`[logpipe local] ${p.stage}: ${p.records}${p.expectedRecords ? `/${p.expectedRecords}` : ""} records, ${(p.bytes / 1024 ** 2).toFixed(1)} MB, compress queue ${p.compressPending}\n`);
    },
    stop: () => {},
  };
}

export function register(program: Command): void {
  program
    .command("local")
    .description("run the whole pipeline on this machine (no cloud account), then read the archive back and prove every record is there exactly once")
    .addOption(new Option("--apps <n>", "synthetic: number of apps (Zipf-skewed)").argParser(int("--apps", 1, 100_000)).default(50))
    .addOption(new Option("--records <n>", "synthetic: records to generate (default 300000)").argParser(int("--records", 1, 1e9)))
    .addOption(new Option("--bytes <size>", "synthetic: stop after this much data, e.g. 256MB").argParser(size("--bytes")))
    .addOption(new Option("--seed <n>", "synthetic: random seed").argParser(int("--seed", 0, 2 ** 31)).default(42))
    .option("--input <file>", "replay a file instead: NDJSON records one per line (- for stdin)")
    .addOption(new Option("--input-format <format>", "format of --input").choices(["ndjson", "fc-event"]).default("ndjson"))
    .option("--kafka <brokers>", "consume a real Kafka topic instead (comma-separated brokers)")
    .option("--topic <topic>", "Kafka topic (with --kafka)")
    .option("--group <group>", "Kafka consumer group (with --kafka)")
    .option("--out <dir>", "working directory: NAS at DIR/nas, objects at DIR/objects", ".logpipe")
    .option("--keep", "keep what a previous run left in --out (default: start clean)")
    .option("--redis <url>", "use this Redis for locks (default: a private redis-server if installed, else in-process)")
    .option("--no-redis", "use the in-process lock store even if redis-server is installed")
    .option("--prefix <prefix>", "object key prefix (default: logs, or a per-run prefix on OSS)")
    .option("--oss-bucket <bucket>", "archive into this OSS bucket instead of DIR/objects (credentials from ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)")
    .option("--oss-endpoint <url>", "OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com")
    .option("--oss-region <region>", "OSS region, e.g. oss-cn-hangzhou")
    .addOption(new Option("--batch-records <n>", "trigger CountBasedWindow (1–10000)").argParser(int("--batch-records", 1, 10_000)).default(5000))
    .addOption(new Option("--batch-window <duration>", "trigger TimeBasedWindow (0–15s)").argParser(duration("--batch-window")).default(500))
    .addOption(new Option("--max-tasks <n>", "trigger maximumTasks: concurrent split invocations").argParser(int("--max-tasks", 1, 64)).default(2))
    .addOption(new Option("--retry-strategy <s>", "trigger retry strategy").choices(["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]).default("BACKOFF_RETRY"))
    .addOption(new Option("--errors-tolerance <t>", "ALL: dead-letter a batch that fails every retry; NONE: stop").choices(["ALL", "NONE"]).default("ALL"))
    .addOption(new Option("--workers <n>", "compress worker threads (default: one per core)").argParser(int("--workers", 1, 64)))
    .addOption(new Option("--max-writers <n>", "LOGPIPE_MAX_WRITERS_PER_APP").argParser(int("--max-writers", 1, 1000)))
    .addOption(new Option("--max-apps <n>", "LOGPIPE_MAX_APPS (more apps overflow to _overflow)").argParser(int("--max-apps", 1, 1_000_000)))
    .addOption(new Option("--gzip-level <n>", "LOGPIPE_GZIP_LEVEL").argParser(int("--gzip-level", 1, 9)))
    .addOption(new Option("--seal-bytes <size>", "LOGPIPE_SEAL_BYTES: seal active files at this size").argParser(size("--seal-bytes")))
    .option("--app-id-source <spec>", "LOGPIPE_APP_ID_SOURCE, e.g. field:appId, field:ctx.app, key, header:x-app")
    .option("--no-verify", "skip reading the archive back")
    .option("--no-progress", "no progress output")
    .option("--json", "print the report as JSON (stdout); exit code still tells success")
    .addHelpText("after", `
Exit codes: 0 every record archived exactly once; 1 something lost, duplicated or failed; 2 bad flags.
Examples:
  logpipe local                                   # synthetic: 300k records over 50 apps
  logpipe local --records 2000000 --apps 200
  logpipe local --input app.ndjson                # replay records, one per line
  logpipe local --input batches.json --input-format fc-event
  logpipe local --kafka 127.0.0.1:9092 --topic app-logs --group logpipe-local`)
    .action((flags: LocalFlags) =>
      runAction("local", async () => {
        const source = buildSource(flags);
        const outDir = path.resolve(flags.out);
        if (!flags.keep) for (const d of ["nas", "objects"]) rmSync(path.join(outDir, d), { recursive: true, force: true });
        let objects;
        let prefix = flags.prefix;
        if (flags.ossBucket) {
          const accessKeyId = process.env.ALIBABA_CLOUD_ACCESS_KEY_ID;
          const accessKeySecret = process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
          if (!accessKeyId || !accessKeySecret) throw new UsageError("--oss-bucket needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment");
          if (!flags.ossEndpoint && !flags.ossRegion) throw new UsageError("--oss-bucket needs --oss-endpoint or --oss-region");
          objects = new OssObjectStore({ bucket: flags.ossBucket, endpoint: flags.ossEndpoint, region: flags.ossRegion, accessKeyId, accessKeySecret, stsToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN });
          prefix ??= `logpipe-local/${new Date().toISOString().replace(/[:.]/g, "-")}`; // verification reads the whole prefix
        }
        let privateRedis: RedisServerHandle | undefined;
        let redisUrl: string | undefined;
        if (typeof flags.redis === "string") redisUrl = flags.redis;
        else if (flags.redis !== false && redisServerAvailable()) {
          privateRedis = await startRedisServer();
          redisUrl = privateRedis.url;
        }
        const env: Record<string, string> = {};
        if (prefix !== undefined) env.LOGPIPE_OSS_PREFIX = prefix;
        if (flags.maxWriters) env.LOGPIPE_MAX_WRITERS_PER_APP = String(flags.maxWriters);
        if (flags.maxApps) env.LOGPIPE_MAX_APPS = String(flags.maxApps);
        if (flags.gzipLevel) env.LOGPIPE_GZIP_LEVEL = String(flags.gzipLevel);
        if (flags.sealBytes) env.LOGPIPE_SEAL_BYTES = String(flags.sealBytes);
        if (flags.appIdSource) env.LOGPIPE_APP_ID_SOURCE = flags.appIdSource;
        const progress = progressReporter(flags.progress, Boolean(flags.json));
        const abort = new AbortController();
        const onSigint = () => abort.abort();
        process.once("SIGINT", onSigint);
        try {
          const report = await runLocal({
            source, outDir, objects, redisUrl, keyPrefix: `lp-${Date.now().toString(36)}`, env,
            trigger: { batchRecords: flags.batchRecords, batchWindowMs: flags.batchWindow, maximumTasks: flags.maxTasks, retryStrategy: flags.retryStrategy, errorsTolerance: flags.errorsTolerance },
            compressWorkers: flags.workers, verify: flags.verify, traceSlots: true,
            onProgress: (p) => progress.update(p), signal: abort.signal,
          });
          progress.stop();
          if (flags.json) printJson(report);
          else process.stdout.write(renderReport(report) + "\n");
          return report.ok ? 0 : 1;
        } finally {
          progress.stop();
          process.off("SIGINT", onSigint);
          await privateRedis?.stop();
        }
      }),
    );
}

/**
 * `logpipe logs <app> [--since 2h] [--until T] [--grep RE] [--follow] [--json] [--limit N]
 *  [--out DIR | --oss-bucket B --oss-endpoint E --oss-region R]` — streams one app's archived
 * records back from the object store: only the app's keys are listed, only the `dt=/hour=`
 * partitions overlapping the range (plus the hour before) are read, each object is decompressed
 * as it streams. See cli/logs/reader.ts for order and output format, docs/cli.md for usage.
 *
 * Exit codes: 0 records printed; 1 a listing or an object could not be read (the rest is still
 * printed); 2 bad flags or configuration; 3 nothing matched (message on stderr names the app and
 * the range). With --follow, Ctrl-C ends it with 0.
 */
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { closestApps, describeApp, isDeadLetterApp, listApps, readAppLogs, segmentFor, type LogsProgress, type LogsStats } from "../logs/reader.js";
import { UsageError } from "../ops/errors.js";
import { printJson, runAction, table } from "../ops/output.js";
import { addObjectStoreOptions, localStoreMissing, objectStoreFromFlags, type ObjectStoreFlags } from "../support/object-store.js";
import { checkTimeZone, isoSeconds, parseTimeFlag } from "../support/time.js";
import { parseDuration } from "../../functions/core/config.js";

export const EXIT_NO_MATCH = 3;

interface LogsFlags extends ObjectStoreFlags {
  since: string;
  until?: string;
  grep?: string;
  ignoreCase?: boolean;
  follow?: boolean;
  interval: string;
  prefix?: string;
  timezone?: string;
  partitionTimezone?: string;
  listApps?: boolean;
  json?: boolean;
  limit?: string;
  newestFirst?: boolean;
}

const PREFIX = /^[A-Za-z0-9._/-]*$/;

export function register(program: Command): void {
  const cmd = program
    .command("logs")
    .description("stream one app's archived records back from the object store (local run directory or OSS)")
    .argument("[app]", "the app id as it appears in the records (mapped to its key segment exactly as split does)")
    .option("--list-apps", "list the apps the archive holds (objects, size, newest hour) instead of reading one")
    .option("--since <time>", "start of the range: a duration back from now (30m, 2h, 7d) or an ISO time (2024-05-01T10:00, …Z, …+08:00)", "1h")
    .option("--until <time>", "end of the range (same forms; default now)")
    .option("--grep <regex>", "print only records matching this JavaScript regular expression")
    .option("-i, --ignore-case", "--grep ignores case")
    .option("-f, --follow", "after the range, poll for new objects until Ctrl-C")
    .option("--interval <duration>", "--follow poll interval", "5s")
    .option("--prefix <prefix>", "key prefix of the archive (default $LOGPIPE_OSS_PREFIX or logs)")
    .option("--timezone <tz>", "zone of --since/--until ISO times without an offset (default $LOGPIPE_TIMEZONE or UTC)")
    .option("--partition-timezone <tz>", "zone the pipeline writes dt=/hour= partitions in: its LOGPIPE_TIMEZONE (default $LOGPIPE_TIMEZONE or UTC)")
    .option("--limit <n>", "stop after N matching records")
    .option("--newest-first", "read the newest partitions first (default: oldest first, like a log file)")
    .option("--json", "one JSON object per record: {app, key, partition, record | recordBase64}");
  addObjectStoreOptions(cmd).action(async (app: string | undefined, flags: LogsFlags) => {
    await runAction("logs", () => (flags.listApps ? listAppsAction(app, flags) : logsAction(app, flags)));
  });
}

function archivePrefix(flags: LogsFlags): string {
  const prefix = (flags.prefix ?? process.env.LOGPIPE_OSS_PREFIX ?? "logs").replace(/^\/+|\/+$/g, "");
  if (!PREFIX.test(prefix)) throw new UsageError(`--prefix: expected a key prefix of letters, digits, . _ - /, got "${flags.prefix}"`);
  return prefix;
}

async function listAppsAction(app: string | undefined, flags: LogsFlags): Promise<number> {
  if (app !== undefined) throw new UsageError("--list-apps lists every app: give no <app> with it");
  const resolved = objectStoreFromFlags(flags);
  if (localStoreMissing(resolved)) throw new UsageError(`--out: no local object store at ${resolved.dir} (run \`npx logpipe local --out DIR\` first, or read OSS with --oss-bucket)`);
  const { apps, truncated } = await listApps(resolved.store, archivePrefix(flags));
  if (flags.json) printJson({ apps, truncated });
  else if (apps.length === 0) process.stderr.write(`logpipe logs: no archived apps under ${resolved.description}${archivePrefix(flags)}/\n`);
  else {
    process.stdout.write(table(["app", "objects", "MB", "newest hour"], apps.map((a) => [a.app, a.objects, (a.bytes / 1024 ** 2).toFixed(1), a.newest]), { align: ["left", "right", "right", "left"], maxWidth: 60 }) + "\n");
    if (truncated) process.stderr.write("logpipe logs: listing stopped after 200,000 objects; more apps may exist\n");
  }
  return apps.length > 0 ? 0 : EXIT_NO_MATCH;
}

function parseFlags(app: string | undefined, flags: LogsFlags, now: number) {
  if (app === undefined) throw new UsageError("<app>: which app's logs? (npx logpipe logs --list-apps lists them)");
  if (app.trim() === "") throw new UsageError("<app>: expected an app id, got an empty string");
  if (isDeadLetterApp(app)) throw new UsageError("<app>: _deadletter holds JSON dead-letter documents, not log records; read them under <prefix>/_deadletter/ directly");
  const timeZone = checkTimeZone("--timezone", flags.timezone ?? process.env.LOGPIPE_TIMEZONE ?? "UTC");
  // partitions are named in the pipeline's zone, whatever zone the reader types times in
  const partitionTimeZone = checkTimeZone("--partition-timezone", flags.partitionTimezone ?? process.env.LOGPIPE_TIMEZONE ?? "UTC");
  const prefix = archivePrefix(flags);
  const since = parseTimeFlag("--since", flags.since, now, timeZone);
  const until = flags.until !== undefined ? parseTimeFlag("--until", flags.until, now, timeZone) : undefined;
  if (until !== undefined && flags.follow) throw new UsageError("--until and --follow exclude each other: --follow reads up to now and keeps going");
  if (until !== undefined && until <= since) throw new UsageError(`--until (${isoSeconds(until)}) must be after --since (${isoSeconds(since)})`);
  if (since > now) throw new UsageError(`--since (${isoSeconds(since)}) is in the future`);
  let grep: RegExp | undefined;
  if (flags.grep !== undefined) {
    try {
      grep = new RegExp(flags.grep, flags.ignoreCase ? "i" : "");
    } catch (e) {
      throw new UsageError(`--grep: not a valid regular expression: ${(e as Error).message}`);
    }
  } else if (flags.ignoreCase) throw new UsageError("--ignore-case: only meaningful with --grep");
  let limit: number | undefined;
  if (flags.limit !== undefined) {
    if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1) throw new UsageError(`--limit: expected a positive integer, got "${flags.limit}"`);
    limit = Number(flags.limit);
  }
  let intervalMs: number;
  try {
    intervalMs = parseDuration(flags.interval);
  } catch (e) {
    throw new UsageError(`--interval: ${(e as Error).message}`);
  }
  if (intervalMs < 100) throw new UsageError(`--interval: at least 100ms, got "${flags.interval}"`);
  return { app, timeZone, partitionTimeZone, prefix, since, until, grep, limit, intervalMs };
}

async function logsAction(appArg: string | undefined, flags: LogsFlags): Promise<number> {
  const now = Date.now();
  const p = parseFlags(appArg, flags, now);
  const app = p.app;
  const resolved = objectStoreFromFlags(flags);
  if (localStoreMissing(resolved)) {
    throw new UsageError(`--out: no local object store at ${resolved.dir} (run \`npx logpipe local --out DIR\` first, or read OSS with --oss-bucket)`);
  }

  const stdout = process.stdout;
  let closed = false;
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") closed = true;
  };
  stdout.on("error", onError);

  const showProgress = Boolean(process.stderr.isTTY) && !stdout.isTTY;
  let bar: cliProgress.SingleBar | undefined;
  const onProgress = showProgress
    ? (pr: LogsProgress) => {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            { stream: process.stderr, format: "logs {bar} {value}/{total} objects | {records} records", clearOnComplete: true, hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(pr.objectsTotal, 0, { records: pr.records });
        }
        bar.setTotal(pr.objectsTotal);
        bar.update(pr.objectsDone, { records: pr.records });
        if (pr.objectsDone >= pr.objectsTotal) {
          bar.stop();
          bar = undefined;
        }
      }
    : undefined;

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  if (flags.follow) {
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigint);
    if (process.stderr.isTTY) process.stderr.write(`logpipe logs: following ${app} in ${resolved.description} (Ctrl-C to stop)\n`);
  }
  let stats: LogsStats;
  try {
    stats = await readAppLogs(
      resolved.store,
      {
        app, prefix: p.prefix, since: p.since, until: p.until, timeZone: p.partitionTimeZone, grep: p.grep, limit: p.limit, json: flags.json, newestFirst: flags.newestFirst,
        follow: flags.follow ? { intervalMs: p.intervalMs, signal: controller.signal } : undefined,
      },
      {
        write: async (chunk) => {
          if (closed) return;
          if (!stdout.write(chunk)) await drained(stdout);
        },
        closed: () => closed,
      },
      onProgress,
    );
  } finally {
    bar?.stop();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
    stdout.off("error", onError);
  }

  for (const e of stats.errors) process.stderr.write(`logpipe logs: could not read ${e}\n`);
  const range = `${isoSeconds(stats.since)} to ${flags.follow ? "now" : isoSeconds(stats.until)}`;
  const who = `app "${app}"${stats.segment !== app ? ` (key segment ${stats.segment})` : ""}`;
  if (process.stderr.isTTY && stats.recordsMatched > 0) {
    process.stderr.write(`logpipe logs: ${stats.recordsMatched} record(s) of ${who} from ${stats.objects} object(s) in ${stats.partitions.length} hour(s), ${range}\n`);
  }
  if (stats.errors.length > 0) {
    process.stderr.write(`logpipe logs: ${stats.errors.length} object(s) could not be read; their records are missing from the output\n`);
    return 1;
  }
  if (stats.recordsMatched > 0 || flags.follow) return 0;

  let why: string;
  if (stats.objects > 0) {
    why = `read ${plural(stats.objects, "object")} with ${plural(stats.recordsRead, "record")} in ${span(stats.partitions[0]!, stats.partitions[stats.partitions.length - 1]!)}${p.grep ? `, none matching --grep ${p.grep}` : ""}`;
  } else {
    const d = await describeApp(resolved.store, p.prefix, stats.segment);
    const where = `${resolved.description}${p.prefix ? p.prefix + "/" : ""}${stats.segment}/`;
    let suggestion = "";
    if (d.objects === 0) {
      const { apps } = await listApps(resolved.store, p.prefix, 20_000);
      const close = closestApps(app, apps.map((a) => a.app));
      suggestion = close.length > 0 ? `; did you mean ${close.map((c) => `"${c}"`).join(" or ")}?` : apps.length > 0 ? `; ${plural(apps.length, "app")} archived there (--list-apps)` : "";
    }
    why = d.objects === 0
      ? `nothing is archived under ${where}${suggestion || " — check the app id, --prefix and the object store"}`
      : `no objects in that range; this app's archive spans ${span(d.oldest!, d.newest!)} (partition hours in ${p.partitionTimeZone}; ${plural(d.objects, "object")}${d.truncated ? ", listing capped" : ""}) — widen --since/--until`;
  }
  process.stderr.write(`logpipe logs: no records for ${who} from ${range}: ${why}\n`);
  return EXIT_NO_MATCH;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function span(first: string, last: string): string {
  return first === last ? first : `${first} … ${last}`;
}

/** Resolves when a stream that refused a write drains, errors or closes (listeners removed after). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("error", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("error", done);
    stream.on("close", done);
  });
}

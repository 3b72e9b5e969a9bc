/**
 * `logpipe reset-partition --redis URL --topic T --partition P --reason TEXT` — forget one
 * (topic, partition)'s dedup state, for an operator who recreated a topic or reset its offsets
 * by hand (split detects the usual case itself and reports `topic-reset`). Without this, records
 * whose offsets fall below the old watermark would be dropped as redeliveries. Every reset
 * writes an audit entry into the archive (`<prefix>/_audit/…`) next to the logs it affects.
 * `--dry-run` shows the state and writes nothing.
 * Exit codes: 0 done (or dry run), 1 failure, 2 usage error.
 */
import type { Command } from "commander";
import os from "node:os";
import { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { timeParts } from "../../functions/core/layout.js";
import { UsageError } from "../ops/errors.js";
import { addObjectStoreOptions, objectStoreFromFlags, type ObjectStoreFlags } from "../support/object-store.js";

interface Flags extends ObjectStoreFlags {
  redis: string;
  keyPrefix: string;
  topic: string;
  partition: string;
  reason?: string;
  prefix: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Audit object key: `<prefix>/_audit/dt=…/hour=…/reset-partition-<ts>.json` (UTC). */
export function auditKey(prefix: string, at: number): string {
  const { dt, hour } = timeParts(at, "UTC");
  return `${prefix ? prefix + "/" : ""}_audit/dt=${dt}/hour=${hour}/reset-partition-${new Date(at).toISOString().replace(/[:.]/g, "")}.json`;
}

export function register(program: Command): void {
  const cmd = program
    .command("reset-partition")
    .description("forget one topic-partition's dedup state after the topic was recreated or its offsets reset (audited)")
    .requiredOption("--redis <url>", "the pipeline's Redis, redis://[:password@]host:port")
    .option("--key-prefix <ns>", "key namespace the functions use", "lp")
    .requiredOption("--topic <name>", "Kafka topic")
    .requiredOption("--partition <n>", "partition number")
    .option("--reason <text>", "why (required unless --dry-run; goes into the audit entry)")
    .option("--prefix <prefix>", "archive key prefix (LOGPIPE_OSS_PREFIX)", "logs")
    .option("--dry-run", "show the partition's state, change nothing")
    .option("--json", "print the result as JSON");
  addObjectStoreOptions(cmd).action(async (flags: Flags) => {
    const partition = Number(flags.partition);
    try {
      if (!/^rediss?:\/\//.test(flags.redis)) throw new UsageError(`--redis: expected redis://[:password@]host:port, got "${flags.redis}"`);
      if (!Number.isInteger(partition) || partition < 0) throw new UsageError(`--partition: expected a partition number ≥ 0, got "${flags.partition}"`);
      if (!flags.dryRun && !flags.reason?.trim()) throw new UsageError("--reason: required (it is written into the audit entry)");
    } catch (e) {
      process.stderr.write(`logpipe reset-partition: ${(e as Error).message} (see 'npx logpipe reset-partition --help')\n`);
      process.exitCode = 2;
      return;
    }
    const coord = new RedisCoordStore({ url: flags.redis, keyPrefix: flags.keyPrefix, redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null } });
    try {
      const before = await coord.readPartition(flags.topic, partition);
      let after = before;
      let audit: string | undefined;
      if (!flags.dryRun) {
        const { store } = objectStoreFromFlags(flags);
        const at = Date.now();
        const r = await coord.resetPartition(flags.topic, partition);
        after = await coord.readPartition(flags.topic, partition);
        audit = auditKey(flags.prefix, at);
        const entry = { action: "reset-partition", at: new Date(at).toISOString(), by: `${os.userInfo().username}@${os.hostname()}`, reason: flags.reason, topic: flags.topic, partition, before, incarnation: r.incarnation };
        await store.putBuffer(audit, Buffer.from(JSON.stringify(entry, null, 2) + "\n"));
      }
      const out = { topic: flags.topic, partition, dryRun: !!flags.dryRun, before: { watermark: before.hw, ranges: before.ranges.length, gaps: before.gaps.length, incarnation: before.incarnation }, after: { watermark: after.hw, incarnation: after.incarnation }, audit };
      if (flags.json) process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      else {
        process.stdout.write(`${flags.topic}/${partition}: watermark ${before.hw}, ${before.ranges.length} range(s), ${before.gaps.length} gap(s), incarnation ${before.incarnation}\n`);
        process.stdout.write(flags.dryRun ? "dry run: nothing changed\n" : `reset: incarnation ${after.incarnation}, watermark 0; audit entry ${audit}\n`);
      }
    } catch (e) {
      process.stderr.write(`logpipe reset-partition: ${(e as Error).message}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    } finally {
      await coord.close();
    }
  });
}

/**
 * One killable "function instance" for the fault suite: a child process that runs split,
 * compress and upload against the shared NAS directory, Redis and object store, the way FC
 * instances of the three functions would. Work arrives through durable file queues under
 * FAULT_WORKDIR/q, emulating the platform:
 *   q/trigger/<batch>.json   a trigger batch (descriptor; the records are rebuilt from the seed).
 *                            Acked (deleted) only after split returns, like the Kafka trigger's
 *                            offset commit; a crash before that redelivers it.
 *   q/compress/<id>.json     an accepted async invocation of compress (drain task), retried up to
 *                            4 attempts then dropped (the sweep drains those apps again).
 *   q/inflight/<pid>/...     work this process has claimed (atomic rename). When the process
 *                            dies, the orchestrator moves it back: FC retries the invocation.
 * The process runs the upload timer too (one uploader at a time through the Redis lease).
 * LOGPIPE_CRASH_AT / LOGPIPE_PAUSE_AT make it SIGKILL / SIGSTOP itself at a named point;
 * FAULT_NAS_APPEND_DELAY_MS adds NAS-like latency to each slot-file append.
 * It exits 0 once q/ingest-done exists and there is no work left for it.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync } from "node:fs";
import { readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { toCloudEventsBatch } from "../../../cli/local/cloudevents.js";
import { NasDir } from "../../../functions/adapters/nas.js";
import { RedisCoordStore } from "../../../functions/adapters/redis-coord-store.js";
import { compressTask, parseTask } from "../../../functions/core/compress.js";
import { loadConfig } from "../../../functions/core/config.js";
import type { DrainTask, PipelineDeps } from "../../../functions/core/deps.js";
import { createLogger } from "../../../functions/core/logger.js";
import { splitBatch } from "../../../functions/core/split.js";
import { runUpload } from "../../../functions/core/upload.js";
import { destination } from "pino";
import { withAppendLatency } from "../../support/deps.js";
import { objectStoreFrom, type ObjectsSpec } from "./objects.js";
import { recordsOf, type BatchDescriptor } from "./records.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type QueueName = "trigger" | "compress";

async function main() {
  const work = process.env.FAULT_WORKDIR!;
  const seed = Number(process.env.FAULT_SEED ?? "1");
  const apps = Number(process.env.FAULT_APPS ?? "12");
  const compressConcurrency = Number(process.env.FAULT_COMPRESS_CONCURRENCY ?? "3");
  const uploadEvery = Number(process.env.FAULT_UPLOAD_INTERVAL_MS ?? "300");
  const idleExitMs = Number(process.env.FAULT_IDLE_EXIT_MS ?? "400");
  const q = path.join(work, "q");
  const mine = path.join(q, "inflight", String(process.pid));
  mkdirSync(mine, { recursive: true });
  mkdirSync(path.join(work, "trace"), { recursive: true });
  mkdirSync(path.join(work, "logs"), { recursive: true });

  const config = loadConfig(process.env);
  const logger = createLogger({
    level: "warn",
    base: { pid: process.pid },
    destination: destination({ dest: path.join(work, "logs", `${process.pid}.log`), sync: true }) as unknown as NodeJS.WritableStream,
  });
  const coord = new RedisCoordStore({
    url: config.redisUrl!,
    keyPrefix: process.env.FAULT_KEY_PREFIX,
    redisOptions: { maxRetriesPerRequest: 2, retryStrategy: (n) => Math.min(50 * n, 500) },
  });
  const traceFile = path.join(work, "trace", `${process.pid}.jsonl`);
  const objects = objectStoreFrom(JSON.parse(process.env.FAULT_OBJECTS!) as ObjectsSpec);

  const deps: PipelineDeps = {
    config,
    nas: new NasDir(config.nasRoot, config.fsync),
    coord,
    objects,
    logger,
    appCache: new Map(),
    onSlotEvent: (e) => appendFileSync(traceFile, JSON.stringify({ ...e, pid: process.pid, mono: Number(process.hrtime.bigint()) / 1e6 }) + "\n"),
    invoker: {
      async invokeCompress(p: DrainTask) {
        const name = `${Date.now()}-${randomBytes(4).toString("hex")}.a1.json`;
        const tmp = path.join(q, "compress", `.tmp.${name}`);
        await writeFile(tmp, JSON.stringify(p));
        await rename(tmp, path.join(q, "compress", name)); // accepted (FC answered 202)
      },
    },
  };
  const appendDelayMs = Number(process.env.FAULT_NAS_APPEND_DELAY_MS ?? "0");
  if (appendDelayMs > 0) withAppendLatency(deps.nas, appendDelayMs);

  async function claim(queue: QueueName): Promise<{ file: string; name: string } | undefined> {
    let names: string[];
    try {
      names = (await readdir(path.join(q, queue))).filter((n) => !n.startsWith(".tmp."));
    } catch {
      return undefined;
    }
    const start = Math.floor(Math.random() * Math.max(1, names.length));
    for (let i = 0; i < names.length; i++) {
      const name = names[(start + i) % names.length]!;
      const file = path.join(mine, `${queue}~${name}`);
      try {
        await rename(path.join(q, queue, name), file);
        return { file, name };
      } catch {
        // another instance took it
      }
    }
    return undefined;
  }

  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const t = p.catch((e) => logger.error({ err: (e as Error).message }, "task failed")).finally(() => running.delete(t));
    running.add(t);
  };
  let splitting = 0;
  let compressing = 0;

  const runSplit = async (job: { file: string; name: string }) => {
    const desc = JSON.parse(await readFile(job.file, "utf8")) as BatchDescriptor;
    const event = toCloudEventsBatch(recordsOf(seed, apps, desc.parts));
    try {
      await splitBatch(deps, event, { requestId: desc.id });
      await unlink(job.file); // ack: the trigger commits the batch's offsets
    } catch (e) {
      logger.warn({ err: (e as Error).message, batch: desc.id }, "split failed; the trigger will redeliver");
      await sleep(50 + Math.random() * 100);
      await rename(job.file, path.join(q, "trigger", job.name));
    }
  };

  const runCompress = async (job: { file: string; name: string }) => {
    const task = parseTask(await readFile(job.file, "utf8"));
    const attempt = Number(/\.a(\d+)\.json$/.exec(job.name)?.[1] ?? "1");
    try {
      await compressTask(deps, task);
      await unlink(job.file);
    } catch (e) {
      logger.warn({ err: (e as Error).message, name: (e as Error).name, apps: task.apps.length, attempt }, "compress failed");
      if (attempt >= 4) {
        await unlink(job.file); // FC gives up on the async invocation; the sweep drains the apps again
        return;
      }
      await sleep(30 * 2 ** attempt * (0.5 + Math.random()));
      await rename(job.file, path.join(q, "compress", job.name.replace(/\.a\d+\.json$/, `.a${attempt + 1}.json`)));
    }
  };

  let uploading: Promise<void> | undefined;
  let lastUpload = 0;
  const tickUpload = () => {
    if (uploadEvery <= 0 || uploading || Date.now() - lastUpload < uploadEvery) return;
    lastUpload = Date.now();
    uploading = runUpload(deps)
      .then((r) => { if (r.errors.length) logger.warn({ errors: r.errors.slice(0, 3) }, "upload errors"); })
      .catch((e) => logger.warn({ err: (e as Error).message }, "upload tick failed"))
      .finally(() => (uploading = undefined));
  };

  let idleSince = 0;
  for (;;) {
    let started = false;
    while (compressing < compressConcurrency) {
      const job = await claim("compress");
      if (!job) break;
      compressing++;
      started = true;
      track(runCompress(job).finally(() => compressing--));
    }
    if (splitting === 0) {
      const job = await claim("trigger");
      if (job) {
        splitting++;
        started = true;
        track(runSplit(job).finally(() => splitting--));
      }
    }
    tickUpload();
    if (!started && running.size === 0) {
      const done = await readdir(q).then((n) => n.includes("ingest-done"), () => false);
      if (done) {
        idleSince ||= Date.now();
        if (Date.now() - idleSince >= idleExitMs) break;
      }
    } else idleSince = 0;
    await sleep(started ? 5 : 25);
  }
  await uploading;
  await coord.close();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`[pipeline-proc] fatal: ${(e as Error).stack}\n`);
  process.exit(2);
});

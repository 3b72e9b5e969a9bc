/**
 * One measured step, run in its own process (bundled by esbuild like the FC artifacts, so no
 * TypeScript loader skews time or memory). Reads a JSON task from argv[2], prints one JSON line
 * prefixed with RESULT: on stdout. Data loading happens before the clock starts.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { Session } from "node:inspector";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import type { CoordStore } from "../functions/adapters/coord-store.js";
import { MemoryCoordStore } from "../functions/adapters/memory-coord-store.js";
import { NasDir } from "../functions/adapters/nas.js";
import { RedisCoordStore } from "../functions/adapters/redis-coord-store.js";
import { compressChunk } from "../functions/core/compress.js";
import { decodeChunk } from "../functions/core/chunk.js";
import { createRouter, routeSegmentAt } from "../functions/core/routing.js";
import { loadConfig } from "../functions/core/config.js";
import type { ChunkPointer, PipelineDeps } from "../functions/core/deps.js";
import { silentLogger } from "../functions/core/logger.js";
import { splitBatch, splitTable } from "../functions/core/split.js";
import { scanKafkaBatch, type RecordTable } from "../functions/core/events.js";
import { toCloudEventsBatch } from "../cli/local/cloudevents.js";
import { SyntheticGenerator } from "../cli/sources/synthetic.js";
import type { SourceRecord } from "../cli/sources/types.js";

export type ChildTask =
  | { kind: "gzip-node"; file: string; level: number; warmup?: boolean }
  | { kind: "json-parse"; file: string; warmup: boolean }
  | { kind: "split"; file: string; nasRoot: string; warmup: boolean }
  | { kind: "split-rss"; file: string; nasRoot: string }
  | { kind: "json-parse-rss"; file: string }
  | { kind: "e2e"; files: string[]; nasRoot: string; redisUrl?: string; keyPrefix?: string; barrier?: boolean; compressConcurrency?: number; decodedBefore?: boolean; profileTo?: string }
  | { kind: "fs-ops"; dir: string; files: number; bytes: number }
  | { kind: "floor"; files: string[]; nasRoot: string }
  | { kind: "roundtrips"; redisUrl: string; keyPrefix: string; nasRoot: string; apps: number; records: number; batches: number; seed: number };

const rssNowKb = () => Math.round(process.memoryUsage().rss / 1024);
function vmHwmKb(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function depsFor(nasRoot: string, coord: CoordStore, pointers: ChunkPointer[]): PipelineDeps {
  const config = loadConfig({ LOGPIPE_NAS_ROOT: nasRoot, LOGPIPE_FSYNC: "false", LOGPIPE_LOG_LEVEL: "silent", LOGPIPE_INVOKE_MODE: "inline", LOGPIPE_SEAL_BYTES: "1GB" });
  return {
    config,
    nas: new NasDir(nasRoot, false),
    coord,
    logger: silentLogger,
    appCache: new Map(),
    invoker: { invokeCompress: async (p) => void pointers.push(p) },
  };
}

async function splitOnce(file: string, nasRoot: string, event: Buffer) {
  rmSync(nasRoot, { recursive: true, force: true });
  mkdirSync(nasRoot, { recursive: true });
  const pointers: ChunkPointer[] = [];
  const deps = depsFor(nasRoot, new MemoryCoordStore(), pointers);
  const t0 = performance.now();
  const r = await splitBatch(deps, event);
  const ms = performance.now() - t0;
  return { ms, records: r.records, chunks: r.chunks, chunkBytes: r.chunkBytes, file };
}

/** A V8 CPU profile of this process from now until `stop` (the timed section only, unlike --cpu-prof). */
async function startProfiler(): Promise<{ stop: () => Promise<object> }> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string) => new Promise<T>((resolve, reject) => session.post(method, (e, r) => (e ? reject(e) : resolve(r as T))));
  await post("Profiler.enable");
  await post("Profiler.start");
  return { stop: async () => (await post<{ profile: object }>("Profiler.stop")).profile };
}

/**
 * split + compress + append of every batch in `files` in this process (pinned to one CPU by the
 * parent). As in FC, split hands chunks over and returns; compress invocations run
 * asynchronously, `compressConcurrency` at a time (like `logpipe local`'s per-worker
 * concurrency), so one invocation's file-system waits overlap another's CPU work. The clock
 * stops when every chunk is committed.
 */
async function e2e(task: Extract<ChildTask, { kind: "e2e" }>) {
  const events = await Promise.all(task.files.map((f) => readFile(f)));
  // decodedBefore: the trigger envelope is decoded before the clock starts, so the run times
  // what logpipe adds to the record bytes (routing, chunks, gzip, append, commit)
  const tables: RecordTable[] | undefined = task.decodedBefore ? events.map((e) => scanKafkaBatch(e).table) : undefined;
  mkdirSync(task.nasRoot, { recursive: true });
  const coord: CoordStore = task.redisUrl ? new RedisCoordStore({ url: task.redisUrl, keyPrefix: task.keyPrefix }) : new MemoryCoordStore();
  const pointers: ChunkPointer[] = [];
  const deps = depsFor(task.nasRoot, coord, pointers);
  const concurrency = task.compressConcurrency ?? 4;
  if (task.barrier) {
    // tell the parent the data is loaded, then wait for its go (both workers start together)
    process.stdout.write("READY\n");
    await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  }
  const profiler = task.profileTo ? await startProfiler() : undefined;
  const startedAt = Date.now();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let records = 0, bytesIn = 0, bytesOut = 0, splitMs = 0, compressMs = 0, chunks = 0;
  const queue: ChunkPointer[] = [];
  let running = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const pump = () => {
    while (running < concurrency && queue.length > 0) {
      const p = queue.shift()!;
      running++;
      const a = performance.now();
      compressChunk(deps, p)
        .then((c) => {
          if (c.status !== "committed") throw new Error(`compress of ${p.chunk} ended ${c.status}`);
          records += c.records;
          bytesOut += c.bytesOut;
        })
        .catch((e: Error) => (failure ??= e))
        .finally(() => {
          compressMs += performance.now() - a;
          running--;
          pump();
          wake?.();
        });
    }
  };
  const waitUntil = async (cond: () => boolean) => {
    while (!cond()) await new Promise<void>((r) => (wake = r));
  };
  for (let b = 0; b < events.length; b++) {
    // backpressure: split runs ahead of compress by at most about one batch
    await waitUntil(() => queue.length <= concurrency);
    const a = performance.now();
    const s = tables ? await splitTable(deps, tables[b]!, undefined) : await splitBatch(deps, events[b]!);
    if (tables) s.bytesIn = events[b]!.length;
    splitMs += performance.now() - a;
    bytesIn += s.bytesIn;
    chunks += pointers.length;
    queue.push(...pointers.splice(0));
    pump();
    if (failure) break;
  }
  await waitUntil(() => running === 0 && queue.length === 0);
  if (failure) throw failure;
  const ms = performance.now() - t0;
  if (profiler) writeFileSync(task.profileTo!, JSON.stringify(await profiler.stop()));
  const cpu = process.cpuUsage(cpu0);
  const roundTrips = coord instanceof RedisCoordStore ? coord.roundTrips : undefined;
  await coord.close();
  return { ms, startedAt, endedAt: Date.now(), cpuMs: (cpu.user + cpu.system) / 1000, sysCpuMs: cpu.system / 1000, records, eventBytes: bytesIn, bytesOut, splitMs, compressMs, batches: events.length, roundTrips, concurrency, chunks };
}

/**
 * The two steps no design of split + compress can skip, timed alone on the end-to-end batches:
 * finding every record's app id (the validating scanner) and gzipping the chunk bodies one
 * call per chunk, as compress does. Their sum is the ceiling for the end-to-end speed.
 */
async function floor(task: Extract<ChildTask, { kind: "floor" }>) {
  const tables = task.files.map((f) => scanKafkaBatch(readFileSync(f)).table);
  rmSync(task.nasRoot, { recursive: true, force: true });
  mkdirSync(task.nasRoot, { recursive: true });
  const pointers: ChunkPointer[] = [];
  const deps = depsFor(task.nasRoot, new MemoryCoordStore(), pointers);
  for (const t of tables) await splitTable(deps, t);
  const bodies = pointers.map((p) => decodeChunk(readFileSync(`${task.nasRoot}/${p.chunk}`)).body);
  rmSync(task.nasRoot, { recursive: true, force: true });
  const router = createRouter(deps.config.appIdSources);
  let recordBytes = 0, routed = 0;
  const t0 = performance.now();
  for (const t of tables) {
    for (let i = 0; i < t.count; i++) {
      routed += routeSegmentAt(router, t.values, t.valueStart[i]!, t.valueEnd[i]!, t.keys ? (t.keys[i] ?? null) : null, t.headers?.[i]).length;
      recordBytes += t.valueEnd[i]! - t.valueStart[i]! + 1;
    }
  }
  const routeMs = performance.now() - t0;
  let gzBytes = 0;
  const t1 = performance.now();
  for (const b of bodies) gzBytes += gzipSync(b, { level: deps.config.gzipLevel }).length;
  const gzipMs = performance.now() - t1;
  return { routeMs, gzipMs, recordBytes, chunks: bodies.length, gzBytes, routed };
}

/**
 * The file operations of one chunk's life (split: write temp + rename; compress: read, append
 * to the slot file, unlink), done with blocking calls and with promise calls: µs per chunk each.
 * Why compress uses blocking calls (functions/adapters/nas.ts).
 */
async function fsOps(task: Extract<ChildTask, { kind: "fs-ops" }>) {
  rmSync(task.dir, { recursive: true, force: true });
  mkdirSync(task.dir, { recursive: true });
  const data = Buffer.alloc(task.bytes, 0x61);
  const member = data.subarray(0, task.bytes >> 2);
  const rw = constants.O_RDWR | constants.O_CREAT;
  const blocking = () => {
    const t0 = performance.now();
    for (let i = 0; i < task.files; i++) {
      const f = `${task.dir}/s${i}`;
      let fd = openSync(`${f}.tmp`, "w");
      writeSync(fd, data);
      closeSync(fd);
      renameSync(`${f}.tmp`, f);
      readFileSync(f);
      fd = openSync(`${task.dir}/active-s`, rw, 0o640);
      writeSync(fd, member, 0, member.length, fstatSync(fd).size);
      closeSync(fd);
      unlinkSync(f);
    }
    return ((performance.now() - t0) * 1000) / task.files;
  };
  const promised = async () => {
    const t0 = performance.now();
    for (let i = 0; i < task.files; i++) {
      const f = `${task.dir}/p${i}`;
      let fh = await open(`${f}.tmp`, "w");
      await fh.writeFile(data);
      await fh.close();
      await rename(`${f}.tmp`, f);
      await readFile(f);
      fh = await open(`${task.dir}/active-p`, rw, 0o640);
      await fh.write(member, 0, member.length, (await fh.stat()).size);
      await fh.close();
      await unlink(f);
    }
    return ((performance.now() - t0) * 1000) / task.files;
  };
  blocking(); // warm up both
  await promised();
  const r = { syncUs: blocking(), asyncUs: await promised() };
  rmSync(task.dir, { recursive: true, force: true });
  return r;
}

/** Round trips per batch for a given number of apps and records per batch (synthetic, in memory). */
async function roundtrips(task: Extract<ChildTask, { kind: "roundtrips" }>) {
  const gen = new SyntheticGenerator({ apps: task.apps, seed: task.seed });
  const events: Buffer[] = [];
  let offset = 0;
  for (let b = 0; b < task.batches; b++) {
    const recs: SourceRecord[] = [];
    for (let i = 0; i < task.records; i++) {
      const { value, timestamp } = gen.next();
      recs.push({ topic: "rt", partition: 0, offset: offset++, timestamp, key: null, headers: {}, value });
    }
    events.push(toCloudEventsBatch(recs, { deterministicIds: true }));
  }
  mkdirSync(task.nasRoot, { recursive: true });
  const coord = new RedisCoordStore({ url: task.redisUrl, keyPrefix: task.keyPrefix });
  const pointers: ChunkPointer[] = [];
  const deps = depsFor(task.nasRoot, coord, pointers);
  const perBatch: number[] = [];
  const chunks: number[] = [];
  for (const event of events) {
    const before = coord.roundTrips;
    await splitBatch(deps, event);
    chunks.push(pointers.length);
    for (const p of pointers.splice(0)) await compressChunk(deps, p);
    perBatch.push(coord.roundTrips - before);
  }
  await coord.close();
  return { apps: task.apps, records: task.records, perBatch, chunks };
}

async function main(): Promise<unknown> {
  const task = JSON.parse(process.argv[2]!) as ChildTask;
  switch (task.kind) {
    case "gzip-node": {
      const data = readFileSync(task.file);
      if (task.warmup) gzipSync(data.subarray(0, 1 << 20), { level: task.level });
      const t0 = performance.now();
      const out = gzipSync(data, { level: task.level });
      return { ms: performance.now() - t0, bytesIn: data.length, bytesOut: out.length };
    }
    case "json-parse": {
      const event = readFileSync(task.file);
      if (task.warmup) JSON.parse(event.toString("utf8"));
      const t0 = performance.now();
      const text = event.toString("utf8");
      const t1 = performance.now();
      const doc = JSON.parse(text) as unknown[];
      const t2 = performance.now();
      return { ms: t2 - t0, decodeMs: t1 - t0, parseMs: t2 - t1, elements: doc.length };
    }
    case "split": {
      const event = readFileSync(task.file);
      if (task.warmup) await splitOnce(task.file, task.nasRoot, event);
      const r = await splitOnce(task.file, task.nasRoot, event);
      rmSync(task.nasRoot, { recursive: true, force: true });
      return r;
    }
    case "split-rss":
    case "json-parse-rss": {
      const baseKb = rssNowKb();
      const baseHwmKb = vmHwmKb();
      const event = readFileSync(task.file);
      if (task.kind === "split-rss") await splitOnce(task.file, task.nasRoot, event);
      else JSON.parse(event.toString("utf8"));
      const r = { eventBytes: event.length, baseRssKb: baseKb, baseHwmKb, maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: vmHwmKb() };
      if (task.kind === "split-rss") rmSync(task.nasRoot, { recursive: true, force: true });
      return r;
    }
    case "e2e":
      return e2e(task);
    case "roundtrips":
      return roundtrips(task);
    case "fs-ops":
      return fsOps(task);
    case "floor":
      return floor(task);
  }
}

main().then(
  (r) => {
    process.stdout.write(`RESULT:${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);

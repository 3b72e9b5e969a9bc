/**
 * When Redis forgets (docs/faults.md, "Redis loses state"): a managed Redis fails over to an
 * asynchronously replicated replica or restarts from AOF `everysec`, so the coordination state
 * rolls back to an earlier point or is gone. The promise then: never silent loss, never a stall;
 * duplicates from the lost window are possible, counted and reported (reconcile events), and no
 * object key is ever written twice with different bytes. Also here: bounded dedup state with
 * offset gaps and sparse apps, two versions with different routing caps side by side, a topic
 * recreated under the same name, and one corrupted slot that must not stop the others.
 */
import { readFileSync, statSync, truncateSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { ExpectedRecords, verifyArchive } from "../../cli/local/verify.js";
import type { SourceRecord } from "../../cli/sources/types.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import type { ReconcileEvent } from "../../functions/core/deps.js";
import { activeFilePath } from "../../functions/core/layout.js";
import { scanMembers } from "../../functions/core/members.js";
import { createRouter, OVERFLOW_APP, routeSegment } from "../../functions/core/routing.js";
import { splitBatch } from "../../functions/core/split.js";
import { runUpload } from "../../functions/core/upload.js";
import { inProcessDeps, runScenario, scenarioEnv, Summary, unackedBatches, type RunContext } from "./support/harness.js";
import { checkNoLoss, injectWatching, OverwriteWatch, restartableRedis, until, walkFiles } from "./support/redis-loss.js";
import { recordsOf, TOPIC, type BatchDescriptor } from "./support/records.js";

const summary = new Summary("redis loses state");
const redis = restartableRedis(summary);

describe("Redis rolled back to an earlier snapshot mid-run (failover to a lagging replica)", () => {
  // Each variant takes a snapshot (SAVE), waits until the named kind of progress happened after
  // it, then kills redis-server and restarts it from that snapshot: everything in between is
  // forgotten by Redis but already on NAS, in the object store and acknowledged to Kafka.
  const variants: { name: string; after: string; ready: (ctx: RunContext, base: { acked: number; objects: number }, watch: OverwriteWatch) => boolean }[] = [
    { name: "after commits", after: "batches acknowledged and drained", ready: (ctx, b) => b.acked - unackedBatches(ctx) >= 6 },
    { name: "after a seal", after: "a file sealed", ready: (ctx, b, w) => walkFiles(path.join(ctx.dir, "nas", "outbox")).length + walkFiles(path.join(ctx.dir, "nas", "outbox-flat")).length > 0 || w.scan() > b.objects },
    { name: "after uploads", after: "objects uploaded", ready: (_ctx, b, w) => w.scan() >= b.objects + 3 },
  ];
  variants.forEach((v, i) => {
    test(`rollback ${v.name}`, async () => {
      let rollbacks = 0;
      let watch!: OverwriteWatch;
      const r = await runScenario({
        name: `redis-rollback-${i}`, seed: 61 + i, partitions: 4, perPartition: 15_000, batchRecords: 500,
        procs: 2, maxSpawns: 8, redisUrl: redis.url, objects: { kind: "local", dir: "" },
        // every slot sealed at each 1 s seal window, not only at 256 KB or the 4 s max age: the
        // instances run ~3 s, and the seals and uploads must happen while they run (and between a
        // snapshot and its restore), not all in the final flush
        env: { LOGPIPE_SEAL_MIN_BYTES: "0" },
        during: async (ctx) => {
          watch = new OverwriteWatch(path.join(ctx.dir, "objects"));
          await injectWatching(ctx, redis.url, watch, async (admin) => {
            for (let round = 0; round < 2 && !ctx.isFinished(); round++) {
              const total = unackedBatches(ctx);
              // let part of the run happen, then snapshot
              if (!(await until(ctx, () => unackedBatches(ctx) <= total * (round === 0 ? 0.8 : 0.6) && watch.scan() >= 0))) break;
              await admin.save();
              const base = { acked: unackedBatches(ctx), objects: watch.scan() };
              if (!(await until(ctx, () => v.ready(ctx, base, watch)))) break;
              await redis.restart(); // SIGKILL, then start from the snapshot (dump.rdb)
              rollbacks++;
            }
          });
        },
      });
      watch.scan();
      checkNoLoss(r, watch.overwrites, summary);
      expect(rollbacks, `rolled back ${v.after}`).toBeGreaterThanOrEqual(1);
    });
  });
});

describe("Redis emptied mid-run (restart without persistence)", () => {
  test("FLUSHALL twice while instances split, drain, seal and upload", async () => {
    let flushes = 0;
    let watch!: OverwriteWatch;
    const r = await runScenario({
      name: "redis-emptied", seed: 71, partitions: 4, perPartition: 15_000, batchRecords: 500,
      procs: 2, maxSpawns: 8, redisUrl: redis.url, objects: { kind: "local", dir: "" },
      during: async (ctx) => {
        watch = new OverwriteWatch(path.join(ctx.dir, "objects"));
        await injectWatching(ctx, redis.url, watch, async (admin) => {
          const total = unackedBatches(ctx);
          for (const share of [0.7, 0.35]) {
            if (!(await until(ctx, () => unackedBatches(ctx) <= total * share && watch.scan() >= 0))) break;
            await admin.flushall();
            flushes++;
          }
        });
      },
    });
    watch.scan();
    checkNoLoss(r, watch.overwrites, summary);
    expect(flushes).toBeGreaterThanOrEqual(1);
  });
});

// ---- in-process scenarios on the suite's shared redis-server ------------------------------

const sharedRedis = () => process.env.LOGPIPE_FAULT_REDIS_URL!;

async function inProcess(name: string, env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `lp-fault-${name}-`));
  const objects = new LocalObjectStore(path.join(dir, "objects"), { fsync: false });
  const keyPrefix = `lpf-${path.basename(dir)}`;
  const baseEnv = scenarioEnv(dir, sharedRedis(), { LOGPIPE_OSS_PREFIX: "logs", ...env });
  const make = (tag: string, extra: Record<string, string> = {}) => inProcessDeps(dir, { ...baseEnv, ...extra }, sharedRedis(), keyPrefix, objects, tag);
  const flush = async (p: ReturnType<typeof make>) => {
    for (let round = 0; round < 20; round++) {
      const u = await runUpload(p.deps, { sealAll: true, sweepAll: true, redriveAll: true, skipLease: true });
      await p.drainInvocations();
      const left = [...(await p.deps.nas.walk("staging")), ...(await p.deps.nas.walk("outbox")), ...(await p.deps.nas.walk("outbox-flat")), ...(await p.deps.nas.walk("active")).filter((f) => f.size > 0)];
      if (u.swept === 0 && left.length === 0) return u;
    }
    throw new Error(`${name}: NAS not empty after 20 flush rounds`);
  };
  return { dir, objects, make, flush, done: () => rm(dir, { recursive: true, force: true }) };
}

function expectedFrom(records: SourceRecord[], appOf?: (seg: string) => string): ExpectedRecords {
  const expected = new ExpectedRecords();
  const router = createRouter([{ kind: "field", path: ["appId"] }]);
  const seen = new Set<string>();
  for (const r of records) {
    const id = `${r.topic}/${r.partition}/${r.offset}/${r.value.toString()}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const seg = routeSegment(router, { key: null, headers: {}, value: r.value });
    expected.add(r.value, appOf ? appOf(seg) : seg);
  }
  return expected;
}

describe("bounded dedup state with offset gaps, sparse apps and redeliveries", () => {
  test("5,000 batches, one offset in ten missing, 400 sparse apps, old batches redelivered", async () => {
    const env = await inProcess("gaps", { LOGPIPE_DRAIN_BYTES: "256KB" });
    const p = env.make("gaps");
    try {
      const apps = 400, partitions = 4, batches = 5_000, size = 40;
      const delivered: BatchDescriptor[] = [];
      const all: SourceRecord[] = [];
      let redelivered = 0;
      for (let b = 0; b < batches; b++) {
        const partition = b % partitions;
        const from = Math.floor(b / partitions) * size;
        const desc: BatchDescriptor = { id: `g${b}`, parts: [{ partition, from, to: from + size, gapEvery: 10 }] };
        delivered.push(desc);
        const recs = recordsOf(81, apps, desc.parts);
        all.push(...recs);
        await splitBatch(p.deps, toCloudEventsBatch(recs));
        if (b % 50 === 49) {
          // redeliver an old batch with shifted boundaries (its first half + the next batch's start)
          const old = delivered[Math.floor((b * 7919) % delivered.length)]!.parts[0]!;
          const again = recordsOf(81, apps, [{ ...old, from: old.from + size / 2, to: old.to + size / 2 }]);
          await splitBatch(p.deps, toCloudEventsBatch(again));
          all.push(...again); // may reach past the old batch: those offsets are new records
          redelivered += again.length;
        }
        if (b % 500 === 499) await runUpload(p.deps, { sweepAll: true, skipLease: true }).then(() => p.drainInvocations());
      }
      await p.drainInvocations();
      const bounds = await Promise.all(Array.from({ length: partitions }, (_, i) => p.deps.coord.readPartition(TOPIC, i)));
      await env.flush(p);
      const report = await verifyArchive(env.objects, "logs", expectedFrom(all));
      const maxRanges = Math.max(...bounds.map((x) => x.ranges.length));
      const maxGaps = Math.max(...bounds.map((x) => x.gaps.length));
      console.log(`faults: gaps — ${all.length} records in ${batches} batches (+${redelivered} redelivered), partition state: ≤ ${maxRanges} ranges, ≤ ${maxGaps} gaps; lost ${report.lost}, duplicated ${report.duplicated}`);
      summary.add(report.expected, report.lost, report.duplicated);
      expect(report.lost).toBe(0);
      expect(report.duplicated).toBe(0);
      expect(maxRanges).toBeLessThanOrEqual(64);
      expect(maxGaps).toBeLessThanOrEqual(256);
    } finally {
      await p.close();
      await env.done();
    }
  });
});

describe("routing cannot drift between versions", () => {
  test("two versions with different LOGPIPE_MAX_APPS redeliver the same batches: 0 lost, 0 duplicated, 0 misrouted (_overflow checked)", async () => {
    const env = await inProcess("versions");
    const oldV = env.make("v-old", { LOGPIPE_MAX_APPS: "5" });
    const newV = env.make("v-new", { LOGPIPE_MAX_APPS: "40" });
    try {
      const apps = 30;
      const all: SourceRecord[] = [];
      for (let b = 0; b < 60; b++) {
        const parts = [{ partition: b % 3, from: Math.floor(b / 3) * 300, to: Math.floor(b / 3) * 300 + 300 }];
        const recs = recordsOf(91, apps, parts);
        all.push(...recs);
        // a canary: each batch goes to one version and its redelivery (shifted) to the other
        const [first, second] = b % 2 ? [newV, oldV] : [oldV, newV];
        await splitBatch(first.deps, toCloudEventsBatch(recs));
        await splitBatch(second.deps, toCloudEventsBatch(recordsOf(91, apps, [{ ...parts[0]!, from: parts[0]!.from + 100, to: parts[0]!.to + 100 }])));
      }
      await oldV.drainInvocations();
      await newV.drainInvocations();
      await env.flush(newV);
      // the durable decisions decide where each app's records belong, _overflow included
      const segs = [...new Set(all.map((r) => routeSegment(createRouter([{ kind: "field", path: ["appId"] }]), { key: null, headers: {}, value: r.value })))];
      const decided = await newV.deps.coord.admitApps(segs, 0, Date.now(), 7 * 86_400_000);
      const admitted = [...decided.values()].filter(Boolean).length;
      const report = await verifyArchive(env.objects, "logs", expectedFrom(all.concat(recordsOf(91, apps, [{ partition: 0, from: 6000, to: 6100 }, { partition: 1, from: 6000, to: 6100 }, { partition: 2, from: 6000, to: 6100 }])), (seg) => (decided.get(seg) ? seg : OVERFLOW_APP)), { strictOverflow: true });
      console.log(`faults: versions — ${report.expected} records, ${admitted} apps admitted of ${segs.length} (caps 5 and 40), lost ${report.lost}, duplicated ${report.duplicated}, misrouted ${report.misrouted}`);
      summary.add(report.expected, report.lost, report.duplicated);
      expect(report.lost, report.examples.join("\n")).toBe(0);
      expect(report.duplicated, report.examples.join("\n")).toBe(0);
      expect(report.misrouted, report.examples.join("\n")).toBe(0);
      expect(admitted).toBeGreaterThanOrEqual(5);
      expect(admitted).toBeLessThan(segs.length); // some apps really are under _overflow
    } finally {
      await oldV.close();
      await newV.close();
      await env.done();
    }
  });
});

describe("topic recreated under the same name", () => {
  test("offsets restart at 0 with newer records: archived, and the reset is reported", async () => {
    const env = await inProcess("topic-reset");
    const p = env.make("reset");
    const events: ReconcileEvent[] = [];
    p.deps.onReconcile = (e) => events.push(e);
    try {
      const first = recordsOf(101, 8, [{ partition: 0, from: 0, to: 3000 }]);
      for (let o = 0; o < 3000; o += 500) await splitBatch(p.deps, toCloudEventsBatch(first.slice(o, o + 500)));
      // the new incarnation: same topic and partition, offsets from 0, other records, newer timestamps
      const later = Date.UTC(2026, 5, 1);
      const second: SourceRecord[] = Array.from({ length: 1000 }, (_, o) => ({
        topic: TOPIC, partition: 0, offset: o, timestamp: later + o, key: null, headers: {}, value: Buffer.from(JSON.stringify({ appId: `app-0${o % 4}`, incarnation: 2, o })),
      }));
      for (let o = 0; o < 1000; o += 250) await splitBatch(p.deps, toCloudEventsBatch(second.slice(o, o + 250)));
      // and a redelivery after the reset is still recognised as such (no duplicate below)
      await splitBatch(p.deps, toCloudEventsBatch(second.slice(0, 250)));
      await p.drainInvocations();
      await env.flush(p);
      const report = await verifyArchive(env.objects, "logs", expectedFrom([...first, ...second]));
      const resets = events.filter((e) => e.kind === "topic-reset");
      console.log(`faults: topic-reset — ${report.expected} records, resets reported ${resets.length}, lost ${report.lost}, duplicated ${report.duplicated}`);
      summary.add(report.expected, report.lost, report.duplicated);
      expect(report.lost, report.examples.join("\n")).toBe(0);
      expect(report.duplicated).toBe(0);
      expect(resets).toHaveLength(1);
      expect(resets[0]!.detail).toMatchObject({ topic: TOPIC, partition: 0, previousWatermark: 3000 });
    } finally {
      await p.close();
      await env.done();
    }
  });
});

describe("one corrupted slot does not stop the others", () => {
  test("an active file shorter than Redis says: other apps sealed and uploaded in the same run, the bad slot reported and its complete members kept", async () => {
    // no hot drains: each sweep is the only writer, so every app's members land in slot 0
    const env = await inProcess("corrupt-slot", { LOGPIPE_SEAL_AGE: "1h", LOGPIPE_SEAL_BYTES: "64MB", LOGPIPE_DRAIN_BYTES: "64MB" });
    const p = env.make("corrupt");
    const events: ReconcileEvent[] = [];
    p.deps.onReconcile = (e) => events.push(e);
    try {
      const records = recordsOf(111, 6, [{ partition: 0, from: 0, to: 6000 }]);
      // three drains, so every app's slot file holds several members
      for (let k = 0; k < 3; k++) {
        await splitBatch(p.deps, toCloudEventsBatch(records.slice(k * 2000, (k + 1) * 2000)));
        await runUpload(p.deps, { sweepAll: true, skipLease: true });
        await p.drainInvocations();
      }
      const victim = "app-00";
      const file = path.join(p.deps.config.nasRoot, activeFilePath(victim, 0, 0));
      const before = readFileSync(file);
      const { members } = scanMembers(before);
      expect(members.length).toBeGreaterThanOrEqual(2);
      const last = members[members.length - 1]!;
      truncateSync(file, last.pos + Math.floor(last.size / 2)); // NAS lost the end of the last member
      const kept = members.slice(0, -1).reduce((n, m) => n + m.meta.n, 0);

      const u = await runUpload(p.deps, { sealAll: true, skipLease: true });
      const keys: string[] = [];
      for await (const o of env.objects.list("logs/")) keys.push(o.key);
      const otherApps = new Set(keys.map((k) => k.split("/")[1]).filter((a) => a !== victim));
      const report = await verifyArchive(env.objects, "logs", expectedFrom(records));
      const victimFig = report.apps.find((a) => a.app === victim);
      console.log(`faults: corrupt-slot — ${report.expected} records, other apps uploaded ${otherApps.size}/5 in the same run, victim kept ${victimFig?.records}/${kept + last.meta.n} (lost on NAS ${last.meta.n}), errors ${u.errors.length}`);
      summary.add(report.expected - last.meta.n, report.lost - last.meta.n, report.duplicated);
      expect(otherApps.size, "every other app sealed and uploaded in the same run").toBe(5);
      expect(events.some((e) => e.kind === "file-shorter-than-committed" && e.app === victim)).toBe(true);
      expect(victimFig?.records, "complete members of the bad slot archived, nothing cut").toBe(kept);
      expect(report.lost, "only the member NAS lost is missing").toBe(last.meta.n);
      expect(report.duplicated).toBe(0);
      expect(statSync(path.dirname(file)).isDirectory()).toBe(true);
      expect((await readdir(path.dirname(file))).filter((n) => n.endsWith(".log.gz") && statSync(path.join(path.dirname(file), n)).size > 0)).toEqual([]);
    } finally {
      await p.close();
      await env.done();
    }
  });
});


/**
 * The seal and the upload of one object, counted by the NAS latency model: a seal moves the file
 * into the flat outbox without reading or syncing it, an upload reads a small object once and
 * leaves no directory behind; files of the nested layout (older versions) are still shipped.
 */
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GENERAL_PURPOSE_PERFORMANCE_NAS, NasLatencyDir } from "../../functions/adapters/nas-latency.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import type { RedisCoordStore } from "../../functions/adapters/redis-coord-store.js";
import { compressTask } from "../../functions/core/compress.js";
import { ACTIVE_DIR, FLAT_OUTBOX_DIR, OUTBOX_DIR, outboxPath, STAGING_DIR } from "../../functions/core/layout.js";
import { scanMembers } from "../../functions/core/members.js";
import { splitBatch } from "../../functions/core/split.js";
import { decodeStagingIndex, tailChunks } from "../../functions/core/staging.js";
import { tailShardOf } from "../../functions/adapters/coord-store.js";
import { runUpload } from "../../functions/core/upload.js";
import { toCloudEventsBatch } from "../../cli/local/cloudevents.js";
import { testPipeline, type TestPipeline } from "../support/deps.js";
import { virtualClock } from "../support/virtual-clock.js";

let p: TestPipeline | undefined;
afterEach(async () => {
  await p?.close();
  p = undefined;
});

function kafkaEvent(records: { app: string; offset: number }[]): Buffer {
  return toCloudEventsBatch(records.map(({ app, offset }) => ({
    topic: "logs", partition: 0, offset, timestamp: 1_764_583_200_000 + offset, key: null, headers: {},
    value: Buffer.from(JSON.stringify({ appId: app, msg: `line ${offset}` })),
  })));
}

/** A batch of `n` records of `app` whose lines (random hex) compress to about their half: ~70 bytes each. */
function noisyEvent(app: string, from: number, n: number): Buffer {
  return toCloudEventsBatch(Array.from({ length: n }, (_, i) => ({
    topic: "logs", partition: 0, offset: from + i, timestamp: 1_764_583_200_000 + from + i, key: null, headers: {},
    value: Buffer.from(JSON.stringify({ appId: app, msg: randomBytes(64).toString("hex") })),
  })));
}

describe("seal and upload of one object", () => {
  it("moves the file without reading or syncing it, then reads it once and leaves no directory", async () => {
    // Arrange: one app's records drained into its active file, NAS operations counted from here
    p = testPipeline({ env: { LOGPIPE_SEAL_MIN_BYTES: "0" } });
    const nas = new NasLatencyDir(p.deps.config.nasRoot, false);
    p.deps.nas = nas;
    const objectsDir = path.join(p.dir, "objects");
    p.deps.objects = new LocalObjectStore(objectsDir);
    await splitBatch(p.deps, kafkaEvent(Array.from({ length: 200 }, (_, i) => ({ app: i % 2 ? "billing" : "search", offset: i }))));
    await runUpload({ ...p.deps, invoker: p.emulator }, { sweepAll: true, skipLease: true });
    await p.emulator.drain();
    nas.resetCounts();

    // Act: seal everything and upload it
    const r = await runUpload(p.deps, { sealAll: true, skipLease: true });

    // Assert: per object, the active file moved (a rename, no read, no fsync) and read once to upload
    expect(r.errors).toEqual([]);
    expect(r.sealed).toBe(2);
    expect(r.uploaded).toBe(2);
    expect(nas.counts.rename).toBe(2);
    expect(nas.counts.fsync).toBe(0);
    expect(nas.counts.read).toBe(2); // the uploads' reads; the seals read nothing
    expect(nas.counts.stat).toBe(4); // sealAll walks the active tree (a stat per file) + each seal checks the size; the upload stats nothing
    expect(nas.counts.mkdir).toBeLessThanOrEqual(2); // the outbox once per instance, the checkpoint directory once per tick
    expect(nas.counts.rmdir).toBe(0);
    expect(readdirSync(path.join(p.dir, "nas", FLAT_OUTBOX_DIR))).toEqual([]);
    const keys = [...(await collect(p.deps.objects.list("")))].map((o) => o.key);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(new RegExp(`^${p.prefix}/billing/dt=\\d{4}-\\d{2}-\\d{2}/hour=\\d{2}/billing-0-0-[0-9a-f]{12}\\.log\\.gz$`));
  });

  it("seals everything Redis lists as holding data without walking the active tree when told not to walk it", async () => {
    // Arrange: two apps drained into their active files, NAS operations counted from here
    p = testPipeline({ env: { LOGPIPE_SEAL_MIN_BYTES: "0" } });
    const nas = new NasLatencyDir(p.deps.config.nasRoot, false);
    p.deps.nas = nas;
    p.deps.objects = new LocalObjectStore(path.join(p.dir, "objects"));
    await splitBatch(p.deps, kafkaEvent(Array.from({ length: 200 }, (_, i) => ({ app: i % 2 ? "billing" : "search", offset: i }))));
    await runUpload({ ...p.deps, invoker: p.emulator }, { sweepAll: true, skipLease: true });
    await p.emulator.drain();
    nas.resetCounts();

    // Act: seal everything from Redis's list (a generation just started, below every size rule)
    const r = await runUpload(p.deps, { sealAll: true, walkActive: false, skipLease: true });

    // Assert: both slots sealed and shipped, and no directory of the active tree was listed
    expect(r.errors).toEqual([]);
    expect(r.sealed).toBe(2);
    expect(r.uploaded).toBe(2);
    expect(nas.counts.readdir).toBe(2); // the outboxes' listings (flat, and the nested layout's); a walk of the active tree adds three
    expect(readdirSync(path.join(p.dir, "nas", ACTIVE_DIR), { recursive: true }).filter((f) => String(f).endsWith(".gz"))).toEqual([]);
    const keys = (await collect(p.deps.objects.list(""))).map((o) => o.key.split("/")[1]);
    expect(keys.sort()).toEqual(["billing", "search"]);
  });

  it("a drain of everything seals what it appends: one upload call seals, the next ships, without a lock per slot", async () => {
    // Arrange: three apps staged, none drained yet; the NAS operations counted
    p = testPipeline();
    const nas = new NasLatencyDir(p.deps.config.nasRoot, false);
    p.deps.nas = nas;
    p.deps.objects = new LocalObjectStore(path.join(p.dir, "objects"));
    await splitBatch(p.deps, kafkaEvent(Array.from({ length: 300 }, (_, i) => ({ app: ["billing", "search", "orders"][i % 3]!, offset: i }))));

    // Act: the "drain" payload's upload (its drains run once it returns), then the next tick
    const first = await runUpload({ ...p.deps, invoker: p.emulator }, { sealAll: true, sweepAll: true, redriveAll: true, skipLease: true });
    await p.emulator.drain();
    const sealedByDrains = readdirSync(path.join(p.dir, "nas", FLAT_OUTBOX_DIR)).length;
    const activeLeft = readdirSync(path.join(p.dir, "nas", ACTIVE_DIR), { recursive: true }).filter((f) => String(f).endsWith(".gz")).length;
    const next = await runUpload(p.deps, { skipLease: true });

    // Assert: the drains sealed all three slots (nothing left active for a later tick), the next tick shipped them
    expect(first.errors).toEqual([]);
    expect(first.swept).toBeGreaterThan(0);
    expect(sealedByDrains).toBe(3);
    expect(activeLeft).toBe(0);
    expect(next.errors).toEqual([]);
    expect(next.sealed).toBe(0);
    expect(next.uploaded).toBe(3);
    const keys = (await collect(p.deps.objects.list(""))).map((o) => o.key);
    expect(keys.map((k) => k.split("/")[1]).sort()).toEqual(["billing", "orders", "search"]);
  });

  it("an upload tick claims its periodic steps in one round trip: an idle tick costs four", async () => {
    // Arrange: a pipeline with nothing staged, its first tick done (every periodic step claimed once)
    p = testPipeline();
    p.deps.objects = new LocalObjectStore(path.join(p.dir, "objects"));
    const coord = p.deps.coord as RedisCoordStore;
    await runUpload({ ...p.deps, invoker: p.emulator }, { skipLease: true });
    const before = coord.roundTrips;

    // Act: the next tick, with nothing to drain, seal or ship
    const r = await runUpload({ ...p.deps, invoker: p.emulator }, { skipLease: true });

    // Assert: the marks (1), the due tail shards (1) and apps (1), the sealable slots (1)
    expect(r.errors).toEqual([]);
    expect(coord.roundTrips - before).toBe(4);
  });

  it("a tick that cannot claim its periodic steps still ships what is sealed, and says why it skipped them", async () => {
    // Arrange: a sealed file in the outbox; the coord store refuses the tick's marks
    p = testPipeline();
    p.deps.objects = new LocalObjectStore(path.join(p.dir, "objects"));
    const key = `${p.prefix}/_deadletter/dt=2026-12-01/hour=10/records-x.json.gz`;
    await p.deps.nas.writeAtomic(outboxPath(key), Buffer.from("sealed"));
    const coord = Object.create(p.deps.coord, { claimPeriodics: { value: async () => { throw new Error("connection refused"); } } });

    // Act
    const r = await runUpload({ ...p.deps, coord }, { skipLease: true });

    // Assert: shipped, and the skipped steps reported
    expect(r.uploaded).toBe(1);
    expect((await p.deps.objects.getBuffer(key)).toString()).toBe("sealed");
    expect(r.errors).toEqual([expect.stringMatching(/claim the tick's periodic steps: connection refused/)]);
  });

  it("seals a tick's due slots together: the same round trips for 12 apps as for 3, and every record shipped once", async () => {
    const sealTick = async (apps: number) => {
      // Arrange: `apps` apps drained into active files (not sealed at the drain: no seal minimum)
      const q = testPipeline({ env: { LOGPIPE_SEAL_MIN_BYTES: "0" } });
      try {
        q.deps.objects = new LocalObjectStore(path.join(q.dir, "objects"));
        const names = Array.from({ length: apps }, (_, i) => `app-${i}`);
        await splitBatch(q.deps, kafkaEvent(Array.from({ length: apps * 20 }, (_, i) => ({ app: names[i % apps]!, offset: i }))));
        await runUpload({ ...q.deps, invoker: q.emulator }, { sweepAll: true, skipLease: true });
        await q.emulator.drain();
        const coord = q.deps.coord as RedisCoordStore;
        const before = coord.roundTrips;
        // Act: a tick that seals everything
        const r = await runUpload(q.deps, { sealAll: true, skipLease: true });
        // Assert
        expect(r.errors).toEqual([]);
        expect(r.sealed).toBe(apps);
        expect(r.uploaded).toBe(apps);
        const lines = (await collect(q.deps.objects.list(""))).length;
        expect(lines).toBe(apps);
        return coord.roundTrips - before;
      } finally {
        await q.close();
      }
    };
    const few = await sealTick(3), many = await sealTick(12);
    expect(many).toBe(few);
    expect(many).toBeLessThanOrEqual(8); // marks, sweep (2), the slots' states, their locks, the seals recorded, the seals finished
  });

  it("ships files of the nested layout an older version left, and removes their directories", async () => {
    // Arrange: one nested and one flat file in the outbox
    p = testPipeline();
    const objectsDir = path.join(p.dir, "objects");
    p.deps.objects = new LocalObjectStore(objectsDir);
    const nested = `${p.prefix}/_deadletter/dt=2026-12-01/hour=10/records-old.json.gz`;
    const flat = `${p.prefix}/_deadletter/dt=2026-12-01/hour=10/records-new.json.gz`;
    await p.deps.nas.writeAtomic(`${OUTBOX_DIR}/${nested}`, Buffer.from("nested"));
    await p.deps.nas.writeAtomic(outboxPath(flat), Buffer.from("flat"));

    // Act
    const r = await runUpload(p.deps, { skipLease: true });

    // Assert: both under their keys; the flat one was never in the outbox an older version walks
    expect(outboxPath(flat).startsWith(`${FLAT_OUTBOX_DIR}/`)).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.uploaded).toBe(2);
    expect((await p.deps.objects.getBuffer(nested)).toString()).toBe("nested");
    expect((await p.deps.objects.getBuffer(flat)).toString()).toBe("flat");
    expect(readdirSync(path.join(p.dir, "nas", OUTBOX_DIR))).toEqual([]); // its directories removed too
    expect(readdirSync(path.join(p.dir, "nas", FLAT_OUTBOX_DIR))).toEqual([]);
  });
});

/** `local` with its PUTs replaced (reads go to it as they are). */
function storeWithPuts(local: LocalObjectStore, puts: Pick<ObjectStore, "putBuffer" | "putFile">): ObjectStore {
  return { description: local.description, ...puts, getBuffer: (k) => local.getBuffer(k), head: (k) => local.head(k), list: (x) => local.list(x) };
}

const deadLetterKey = (prefix: string, name: string) => `${prefix}/_deadletter/dt=2026-12-01/hour=10/${name}.json.gz`;

describe("upload concurrency", () => {
  it("sends many small objects at once, medium ones (read into memory) within room for 8 of the largest (by bytes), and at most 4 streamed large ones", async () => {
    // Arrange: 20 small, 18 medium (1.5 MB each) and 6 large (at the multipart threshold, lowered
    // to 4 MB: medium files are then up to 4 MB, room for 8 of them is 32 MB, counted in whole MB,
    // so 16 of 1.5 MB fit) files in the outbox; a store that holds the first PUTs of each kind
    // until as many as may be in flight are (all 20 small, 16 medium, 4 large; 64 at once in all,
    // so the kinds do not wait for each other's slots), then lets every PUT through, recording how
    // many of each kind were in flight at most
    p = testPipeline({ env: { LOGPIPE_UPLOAD_CONCURRENCY: "64", LOGPIPE_MULTIPART_THRESHOLD: "4MB" } });
    const local = new LocalObjectStore(path.join(p.dir, "objects"), { fsync: false });
    type Kind = "small" | "medium" | "large";
    const inFlight = { small: 0, medium: 0, large: 0 }, most = { small: 0, medium: 0, large: 0 }, open = { small: false, medium: false, large: false };
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((r) => setImmediate(r));
    };
    const held = async <T>(kind: Kind, target: number, work: () => Promise<T>): Promise<T> => {
      most[kind] = Math.max(most[kind], ++inFlight[kind]);
      try {
        await until(() => open[kind] || inFlight[kind] >= target);
        open[kind] = true;
        return await work();
      } finally {
        inFlight[kind]--;
      }
    };
    p.deps.objects = storeWithPuts(local, {
      putBuffer: (k, b, e) => (b.length > 1024 * 1024 ? held("medium", 16, () => local.putBuffer(k, b, e)) : held("small", 20, () => local.putBuffer(k, b, e))),
      putFile: (k, f, e, o) => held("large", 4, () => local.putFile(k, f, e, o)),
    });
    const key = (name: string) => deadLetterKey(p!.prefix, name);
    const mb = 1024 * 1024;
    for (let i = 0; i < 20; i++) await p.deps.nas.writeAtomic(outboxPath(key(`a-small-${i}`)), Buffer.from(`small ${i}`));
    for (let i = 0; i < 18; i++) await p.deps.nas.writeAtomic(outboxPath(key(`b-medium-${i}`)), Buffer.alloc(1.5 * mb + i, i));
    for (let i = 0; i < 6; i++) await p.deps.nas.writeAtomic(outboxPath(key(`c-large-${i}`)), Buffer.alloc(4 * mb + i, i));

    // Act
    const r = await runUpload(p.deps, { skipLease: true });

    // Assert: every file shipped whole; the small ones all at once, medium ones 16 (the bytes'
    // room, not a count), large ones at most 4
    expect(r.errors).toEqual([]);
    expect(r.uploaded).toBe(44);
    expect(most.small).toBe(20);
    expect(most.medium).toBe(16);
    expect(most.large).toBeGreaterThan(1);
    expect(most.large).toBeLessThanOrEqual(4);
    const medium = await local.getBuffer(key("b-medium-17"));
    expect([medium.length, medium[0], medium[medium.length - 1]]).toEqual([1.5 * mb + 17, 17, 17]);
    expect((await local.getBuffer(key("c-large-5"))).length).toBe(4 * mb + 5);
  });
});

describe("upload's pace", () => {
  it("starts its PUTs to a rate-limited store (OSS) at most LOGPIPE_UPLOAD_REQUESTS_PER_SECOND apart, and does not pace a local directory", async () => {
    // Arrange: 11 small files; a store that says it is rate limited and records when, on the
    // pacer's clock (virtual: it moves only when a paced request wakes), each PUT started
    p = testPipeline({ env: { LOGPIPE_UPLOAD_REQUESTS_PER_SECOND: "50" } }); // 20 ms apart
    const local = new LocalObjectStore(path.join(p.dir, "objects"), { fsync: false });
    const clock = virtualClock();
    p.deps.requestClock = clock;
    const starts: number[] = [];
    p.deps.objects = {
      ...storeWithPuts(local, {
        putBuffer: (k, b, e) => (starts.push(clock.now()), local.putBuffer(k, b, e)),
        putFile: (k, f, e, o) => (starts.push(clock.now()), local.putFile(k, f, e, o)),
      }),
      rateLimited: true,
    };
    const key = (name: string) => deadLetterKey(p!.prefix, name);
    for (let i = 0; i < 11; i++) await p.deps.nas.writeAtomic(outboxPath(key(`paced-${i}`)), Buffer.from(`paced ${i}`));

    // Act
    const r = await runUpload(p.deps, { skipLease: true });

    // Assert: all shipped, each PUT one interval after the one before
    expect(r.errors).toEqual([]);
    expect(r.uploaded).toBe(11);
    expect(starts.sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i * 20));

    // Act again: the same through the local directory itself (not rate limited)
    for (let i = 0; i < 11; i++) await p.deps.nas.writeAtomic(outboxPath(key(`unpaced-${i}`)), Buffer.from(`unpaced ${i}`));
    const before = clock.now();
    p.deps.objects = local;
    const again = await runUpload(p.deps, { skipLease: true });

    // Assert: shipped without a turn taken on the pacer's clock
    expect(again.uploaded).toBe(11);
    expect(clock.now()).toBe(before);
  });
});

describe("staging layout", () => {
  it("lays out large sections first, then the small ones by app name, so a sweep task's apps lie together in each file", async () => {
    // Arrange: small apps first in the batch, then one app with a large section (> 64 KB); no tail regions
    p = testPipeline({ env: { LOGPIPE_TAIL_SECTION_BYTES: "0" } });
    const apps = [...["orders", "auth", "zeta", "billing", "auth", "cart"], ...Array.from({ length: 2000 }, () => "yankee")];

    // Act
    await splitBatch(p.deps, kafkaEvent(apps.map((app, offset) => ({ app, offset }))));

    // Assert: one staging file; the large section leads, the small ones follow sorted by app
    const [file] = await p.deps.nas.walk(STAGING_DIR);
    const head = (await p.deps.nas.readRange(file!.rel, 0, 64 * 1024))!;
    const { sections } = decodeStagingIndex(head);
    expect(sections.map((x) => x.app)).toEqual(["yankee", "auth", "billing", "cart", "orders", "zeta"]);
    expect(sections[0]!.len).toBeGreaterThanOrEqual(64 * 1024);
    expect(sections.map((x) => x.off)).toEqual([...sections.map((x) => x.off)].sort((a, b) => a - b));
  });

  it("puts the smallest apps' records in one region per tail shard after the sections, each region's apps by name", async () => {
    // Arrange: 40 apps of a few records each, and one app with a large section
    p = testPipeline({ env: { LOGPIPE_TAIL_SHARDS: "4" } });
    const small = Array.from({ length: 40 }, (_, i) => `app-${String(i).padStart(2, "0")}`);
    const apps = [...small, ...small, ...Array.from({ length: 2000 }, () => "yankee")];

    // Act
    await splitBatch(p.deps, kafkaEvent(apps.map((app, offset) => ({ app, offset }))));

    // Assert: the large section, then the regions in shard order, each the chunks of its shard's apps by name
    const [file] = await p.deps.nas.walk(STAGING_DIR);
    const bytes = (await p.deps.nas.read(file!.rel))!;
    const index = decodeStagingIndex(bytes);
    expect(index.sections.map((x) => x.app)).toEqual(["yankee"]);
    const tails = index.tails!;
    expect(tails.map((t) => t.shard)).toEqual([...tails.map((t) => t.shard)].sort((a, b) => a - b));
    expect(tails[0]!.off).toBe(index.sections[0]!.off + index.sections[0]!.len);
    const seen: string[] = [];
    for (const t of tails) {
      const names = tailChunks(bytes.subarray(t.off, t.off + t.len)).map((c) => c.app);
      expect(names).toEqual([...names].sort());
      for (const app of names) expect(tailShardOf(app, 4)).toBe(t.shard);
      seen.push(...names);
      expect(t.records).toBe(2 * names.length);
    }
    expect(seen.sort()).toEqual(small);
    // one queue entry per region, none per app: no app of the tail is pending on its own
    expect(await p.deps.coord.dueShards(Number.MAX_SAFE_INTEGER, 100)).toEqual(expect.arrayContaining(tails.map((t) => t.shard)));
    expect(await p.deps.coord.dueApps(Number.MAX_SAFE_INTEGER, 100)).toEqual(["yankee"]);
  });
});

describe("the long tail's drain", () => {
  // 10:50 UTC: the drain at the max age (40 min with the local seal age of 10 min) falls in the next hour
  const T0 = Date.UTC(2026, 11, 1, 10, 50);

  it("seals a small app's slot at once when it is drained at the max age: one member per object, dated by its oldest record", async () => {
    // Arrange: two small apps staged at T0 (each a section of its own), the clock under the test's control
    p = testPipeline({ env: { LOGPIPE_TAIL_SECTION_BYTES: "0" } });
    let now = T0;
    p.deps.now = () => now;
    await splitBatch(p.deps, kafkaEvent(Array.from({ length: 200 }, (_, i) => ({ app: i % 2 ? "billing" : "search", offset: i }))));
    const tick = async () => {
      const r = await runUpload({ ...p!.deps, invoker: p!.emulator }, { skipLease: true });
      await p!.emulator.drain();
      return r;
    };

    // Act: a tick past the drain age (too little pending: they wait), then one at the max age, then one more
    now = T0 + 60_000;
    const early = await tick();
    now = T0 + p.deps.config.drainMaxAgeMs;
    const atMax = await tick();
    const after = await tick();

    // Assert: nothing drained early; the drain sealed both slots (no seal by the tick), the next tick shipped them
    expect(p.deps.config.drainMaxAgeMs).toBe(p.deps.config.sealMaxAgeMs);
    expect(early.swept).toBe(0);
    expect(atMax.swept).toBe(1);
    expect(atMax.sealed + after.sealed).toBe(0);
    expect(atMax.uploaded + after.uploaded).toBe(2);
    expect(readdirSync(path.join(p.dir, "nas", ACTIVE_DIR, "billing"))).toEqual([]); // the sealed file moved; no new generation started
    const objects = await collect(p.deps.objects!.list(""));
    expect(objects.map((o) => o.key).sort()).toEqual([
      expect.stringMatching(new RegExp(`^${p.prefix}/billing/dt=2026-12-01/hour=10/billing-0-0-[0-9a-f]{12}\\.log\\.gz$`)),
      expect.stringMatching(new RegExp(`^${p.prefix}/search/dt=2026-12-01/hour=10/search-0-0-[0-9a-f]{12}\\.log\\.gz$`)),
    ]);
    for (const o of objects) {
      const { members } = scanMembers(await p.deps.objects!.getBuffer(o.key));
      expect(members.map((m) => m.meta.n)).toEqual([100]);
    }
  });

  it("drains a tail shard before the max age once its queued regions reach LOGPIPE_TAIL_DRAIN_BYTES, and not before", async () => {
    // Arrange: 12 small apps (10 records each) in one tail shard's region, ~4 KB; two pipelines,
    // one whose shard minimum the region reaches and one whose it does not
    const run = async (tailDrainBytes: string) => {
      p = testPipeline({ env: { LOGPIPE_TAIL_SHARDS: "1", LOGPIPE_TAIL_DRAIN_BYTES: tailDrainBytes } });
      let now = T0;
      p.deps.now = () => now;
      const apps = Array.from({ length: 12 }, (_, i) => `tail-${String(i).padStart(2, "0")}`);
      await splitBatch(p.deps, kafkaEvent(Array.from({ length: 120 }, (_, i) => ({ app: apps[i % 12]!, offset: i }))));
      const [region] = decodeStagingIndex((await p.deps.nas.read((await p.deps.nas.walk(STAGING_DIR))[0]!.rel))!).tails!;

      // Act: one tick a minute later, far before the max age
      now = T0 + 60_000;
      const r = await runUpload({ ...p.deps, invoker: p.emulator }, { skipLease: true });
      await p.emulator.drain();
      return { regionBytes: region!.len, swept: r.swept, staged: (await p.deps.nas.walk(STAGING_DIR)).length, active: (await p.deps.nas.walk(ACTIVE_DIR)).length };
    };
    const full = await run("1KB");
    const under = await run("64KB");

    // Assert: the full shard was drained (one task; its apps' members appended, the staging file
    // gone with the claim), the other waits for its age
    expect(full.regionBytes).toBeGreaterThan(1024);
    expect(under.regionBytes).toBeLessThan(64 * 1024);
    expect(full).toMatchObject({ swept: 1, staged: 0, active: 12 });
    expect(under).toMatchObject({ swept: 0, staged: 1, active: 0 });
  });

  it("seals by age only at a seal window's first tick: the slots of a window together, a slot that fills later at the next window", async () => {
    // Arrange: apps "big-a" and "big-b" with more than the seal minimum, "late" with less, staged at
    // 10:02 and drained at 10:03 (seal windows of 15 min: 10:00, 10:15, 10:30)
    p = testPipeline({ env: { LOGPIPE_TAIL_SECTION_BYTES: "0", LOGPIPE_SEAL_AGE: "15m", LOGPIPE_SEAL_MIN_BYTES: "2KB" } });
    let now = Date.UTC(2026, 11, 1, 10, 2);
    p.deps.now = () => now;
    const at = (hh: number, mm: number, ss = 0) => void (now = Date.UTC(2026, 11, 1, hh, mm, ss));
    let offset = 0;
    const stage = (app: string, n: number) => splitBatch(p!.deps, noisyEvent(app, offset, n)).then(() => void (offset += n));
    const tick = async (sweepAll = false) => {
      const r = await runUpload({ ...p!.deps, invoker: p!.emulator }, { skipLease: true, sweepAll });
      await p!.emulator.drain();
      return r.sealed;
    };
    await stage("big-a", 100);
    await stage("big-b", 100);
    await stage("late", 2);
    at(10, 3);
    await tick(true);

    // Act: a tick late in the window, the next window's first tick, then "late" fills its slot
    // and a later tick of that window runs, then the first tick of the window after
    at(10, 14, 50);
    const before = await tick();
    at(10, 15, 30);
    const windowTick = await tick();
    at(10, 16);
    await stage("late", 100);
    at(10, 17);
    await tick(true);
    const filled = (await p.deps.coord.readSlotState("late", 0)).len;
    at(10, 18);
    const laterTick = await tick();
    at(10, 30, 10);
    const nextWindowTick = await tick();

    // Assert: the two large slots sealed together at 10:15, "late" (its generation from 10:02, over
    // the minimum since 10:17) not at 10:18 but at the 10:30 window's first tick
    expect([before, windowTick, laterTick, nextWindowTick]).toEqual([0, 2, 0, 1]);
    expect(filled).toBeGreaterThanOrEqual(2048);
    const keys = (await collect(p.deps.objects!.list(""))).map((o) => o.key.split("/")[1]).sort();
    expect(keys).toEqual(["big-a", "big-b", "late"]);
  });

  it("leaves a slot open when its app is drained soon after its data came (more will follow before the max age)", async () => {
    // Arrange
    p = testPipeline();
    let now = T0;
    p.deps.now = () => now;
    await splitBatch(p.deps, kafkaEvent(Array.from({ length: 50 }, (_, i) => ({ app: "billing", offset: i }))));

    // Act: every app drained a minute later, whatever it holds
    now = T0 + 60_000;
    await runUpload({ ...p.deps, invoker: p.emulator }, { sweepAll: true, skipLease: true });
    await p.emulator.drain();

    // Assert: the member is in the active file, nothing in the outbox; the generation is dated by
    // its oldest record (staged at T0), not by the drain a minute later
    expect(readdirSync(path.join(p.dir, "nas", ACTIVE_DIR, "billing"))).toHaveLength(1);
    expect((await p.deps.coord.readSlotState("billing", 0)).t0).toBe(T0);
    expect(await p.deps.nas.listNames(FLAT_OUTBOX_DIR)).toEqual([]);
  });
});

describe("a drain task's round trips", () => {
  it("seals the long tail's slots with two round trips for all of them: the seals' finish gives the locks back", async () => {
    // Arrange: 12 small apps staged in one file (each a section of its own), drained at the max age (each slot is sealed)
    const { apps, toMaxAge } = await stageSmallApps(12, "tail", { LOGPIPE_TAIL_SECTION_BYTES: "0" });
    toMaxAge();
    const coord = p!.deps.coord as RedisCoordStore;
    const before = coord.roundTrips;

    // Act
    const r = await compressTask(p!.deps, { v: 2, apps, reason: "sweep" });

    // Assert: every slot sealed into the outbox; one claim, one commit, one round trip recording
    // every seal and one finishing them all (no release round trip of its own); every lock is free
    expect([r.members, r.sealed, r.errors]).toEqual([12, 12, []]);
    expect(coord.roundTrips - before).toBe(4);
    expect(await p!.deps.nas.listNames(FLAT_OUTBOX_DIR)).toHaveLength(12);
    for (const app of apps) expect(await coord.acquireSlot(app, 0, "probe", 1000)).toEqual({ gen: 1, len: 0, t0: 0 });
  });
});

describe("a tail shard's drain", () => {
  it("drains 12 apps of a shard's region with six round trips in all: claim, place, commit, two for the seals, release", async () => {
    // Arrange: 12 small apps staged in one file, all in one tail shard's region, drained at the max age
    const { apps, toMaxAge } = await stageSmallApps(12, "tail", { LOGPIPE_TAIL_SHARDS: "1" });
    toMaxAge();
    const coord = p!.deps.coord as RedisCoordStore;
    expect(await coord.dueShards(nowMs(p!), 10)).toEqual([0]);
    const before = coord.roundTrips;

    // Act
    const r = await compressTask(p!.deps, { v: 2, apps: [], shard: 0, reason: "sweep" });

    // Assert: one member per app, every slot sealed, the staging file gone with the claim's end, every lock free
    expect([r.members, r.sealed, r.records, r.filesRead, r.filesDeleted, r.errors]).toEqual([12, 12, 120, 1, 1, []]);
    expect(coord.roundTrips - before).toBe(6);
    expect(await p!.deps.nas.listNames(FLAT_OUTBOX_DIR)).toHaveLength(12);
    expect(await p!.deps.nas.walk(STAGING_DIR)).toEqual([]);
    expect(await coord.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    for (const app of apps) expect(await coord.acquireSlot(app, 0, "probe", 1000)).toEqual({ gen: 1, len: 0, t0: 0 });
    // each object holds the app's ten records in one member naming the claim, not its sections
    for (const name of await p!.deps.nas.listNames(FLAT_OUTBOX_DIR)) {
      const { members } = scanMembers((await p!.deps.nas.read(`${FLAT_OUTBOX_DIR}/${name}`))!);
      expect(members.map((m) => [m.meta.n, m.meta.r.length, m.meta.r[0]!.startsWith("tail:0:")])).toEqual([[10, 1, true]]);
    }
  });

  it("leaves an app whose slots are all busy in the claim, and the shard's next task finishes it", async () => {
    // Arrange: 3 small apps in one shard; one app's only slot is held by someone else
    const { apps, toMaxAge } = await stageSmallApps(3, "busy", { LOGPIPE_TAIL_SHARDS: "1", LOGPIPE_MAX_WRITERS_PER_APP: "1" });
    toMaxAge();
    const coord = p!.deps.coord;
    expect(await coord.acquireSlot(apps[1]!, 0, "other-writer", 60_000)).not.toBeNull();
    const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = Object.create(p!.deps.logger) as NonNullable<typeof p>["deps"]["logger"];
    logger.warn = ((fields: Record<string, unknown>, msg: string) => void warnings.push({ fields, msg })) as typeof logger.warn;

    // Act: a task while it is busy, then one after it was released
    const first = await compressTask({ ...p!.deps, logger }, { v: 2, apps: [], shard: 0, reason: "sweep" });
    const warnedWhileBusy = warnings.filter((w) => w.msg.startsWith("tail claim stays open"));
    const dueBetween = await coord.dueShards(Number.MAX_SAFE_INTEGER, 10);
    await coord.release(apps[1]!, 0, "other-writer");
    const second = await compressTask({ ...p!.deps, logger }, { v: 2, apps: [], shard: 0, reason: "sweep" });

    // Assert: two apps then, the busy one after; the staging file went with the claim's end, not before
    expect([first.apps, first.busy, first.members, first.filesDeleted]).toEqual([2, 1, 2, 0]);
    // the open claim is said once, with how long its oldest region has waited
    expect(warnedWhileBusy).toHaveLength(1);
    expect(warnedWhileBusy[0]!.fields).toMatchObject({ shard: 0, busy: 1, appsInClaim: 3, regions: 1 });
    expect(warnedWhileBusy[0]!.fields.oldestRegionAgeMs).toBeGreaterThan(0);
    expect(warnings.filter((w) => w.msg.startsWith("tail claim stays open"))).toHaveLength(1);
    expect(dueBetween).toEqual([0]);
    expect([second.apps, second.busy, second.members, second.filesDeleted]).toEqual([1, 0, 1, 1]);
    expect(await p!.deps.nas.walk(STAGING_DIR)).toEqual([]);
    expect(await coord.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});

describe("a tail claim Redis remembers unfinished", () => {
  it("ends once every app it can read is done, the others' region gone, and the shard's next regions are drained", async () => {
    // Arrange: 3 small apps in one shard; one is busy, so the first task leaves the claim open
    // with two apps done; then its staging file goes (consumed in a history a rolled-back Redis
    // forgot) and 3 more apps are staged in a new file, queued in the same shard behind the claim
    const { apps, toMaxAge } = await stageSmallApps(3, "gone", { LOGPIPE_TAIL_SHARDS: "1", LOGPIPE_MAX_WRITERS_PER_APP: "1" });
    toMaxAge();
    const coord = p!.deps.coord;
    const reconciles: string[] = [];
    p!.deps.onReconcile = (e) => void reconciles.push(e.kind);
    expect(await coord.acquireSlot(apps[1]!, 0, "other-writer", 60_000)).not.toBeNull();
    const first = await compressTask(p!.deps, { v: 2, apps: [], shard: 0, reason: "sweep" });
    for (const f of await p!.deps.nas.walk(STAGING_DIR)) await p!.deps.nas.remove(f.rel);
    await coord.release(apps[1]!, 0, "other-writer");
    const next = ["next-00", "next-01", "next-02"];
    await splitBatch(p!.deps, kafkaEvent(Array.from({ length: 30 }, (_, i) => ({ app: next[i % 3]!, offset: 100 + i }))));

    // Act: the shard's next task (finds nothing it can do in the claim), then the one after
    const second = await compressTask(p!.deps, { v: 2, apps: [], shard: 0, reason: "sweep" });
    const third = await compressTask(p!.deps, { v: 2, apps: [], shard: 0, reason: "sweep" });

    // Assert: the claim ended at the second task (its missing region reported), and the third
    // drained the new file's apps: nothing left in staging, nothing due
    expect([first.apps, first.busy]).toEqual([2, 1]);
    expect([second.members, second.errors]).toEqual([0, []]);
    expect(reconciles).toContain("missing-staging-file");
    expect([third.members, third.records, third.errors]).toEqual([3, 30, []]);
    expect(await p!.deps.nas.walk(STAGING_DIR)).toEqual([]);
    expect(await coord.dueShards(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});

describe("a drain task's NAS time", () => {
  it("overlaps the apps' independent operations: reads, appends and seals of 24 apps book well under their serial sum", async () => {
    // Arrange: 24 small apps staged in one file (one tail shard's region), NAS operations booked on the overlap clock
    const { toMaxAge } = await stageSmallApps(24, "app", { LOGPIPE_TAIL_SHARDS: "1" });
    const nas = new NasLatencyDir(p!.deps.config.nasRoot, false, GENERAL_PURPOSE_PERFORMANCE_NAS, { chargeFsync: true, wait: "overlap" });
    p!.deps.nas = nas;

    // Act: the tick at the max age drains them all in one task, which seals each slot
    toMaxAge();
    const r = await runUpload({ ...p!.deps, invoker: p!.emulator }, { skipLease: true });
    await p!.emulator.drain();

    // Assert: one task appended and sealed every app (24 appends, 24 renames), and the clock moved
    // well under the serial sum (one after another it books exactly the sum; NAS_CONCURRENCY at a time books a
    // quarter to a half of it here — real Redis and disk I/O between operations lets the clock run
    // on — so the bound leaves room for a loaded machine)
    expect(r.swept).toBe(1);
    expect(nas.counts.rename).toBe(24);
    expect(nas.counts.fsync).toBe(24);
    expect(nas.counts.modelledMs).toBeGreaterThan(24 * 5);
    expect(nas.counts.bookedMs).toBeLessThan(nas.counts.modelledMs * 0.8);
  });
});

/**
 * A fresh pipeline (in `p`) on a clock the test moves, with `count` small apps (`name-00`, …; ten
 * records each) staged in one file at 10:50 UTC; `toMaxAge` moves the clock to their drain max age.
 */
async function stageSmallApps(count: number, name: string, env: Record<string, string> = {}): Promise<{ apps: string[]; toMaxAge: () => void }> {
  const T0 = Date.UTC(2026, 11, 1, 10, 50);
  const pipeline = (p = testPipeline({ env }));
  let now = T0;
  pipeline.deps.now = () => now;
  const apps = Array.from({ length: count }, (_, i) => `${name}-${String(i).padStart(2, "0")}`);
  await splitBatch(pipeline.deps, kafkaEvent(Array.from({ length: count * 10 }, (_, i) => ({ app: apps[i % count]!, offset: i }))));
  return { apps, toMaxAge: () => void (now = T0 + pipeline.deps.config.drainMaxAgeMs) };
}

const nowMs = (pipeline: TestPipeline): number => pipeline.deps.now!();

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

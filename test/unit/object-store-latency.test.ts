/**
 * The object-store latency model books each OSS request a call stands for on the handler's NAS
 * clock, so requests in flight together overlap with each other and with NAS operations, and
 * requests one after another add up; the objects themselves land in the store it wraps.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { md5AndCrc64 } from "../../functions/core/crc64.js";
import { LocalObjectStore } from "../../functions/adapters/local-object-store.js";
import { GENERAL_PURPOSE_PERFORMANCE_NAS, NasLatencyDir } from "../../functions/adapters/nas-latency.js";
import { DEFAULT_PART_SIZE } from "../../functions/adapters/object-store.js";
import { LatencyObjectStore, OSS_SMALL_OBJECT_LATENCY } from "../../functions/adapters/object-store-latency.js";
import { realClock, RequestPacer } from "../../functions/core/request-pacer.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), "lp-osslat-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function setup(requestMs = 100) {
  const nas = new NasLatencyDir(path.join(root, "nas"), false, { ...GENERAL_PURPOSE_PERFORMANCE_NAS, metadataMs: 10 }, { wait: "overlap" });
  const local = new LocalObjectStore(path.join(root, "objects"), { fsync: false });
  const store = new LatencyObjectStore(local, { ...OSS_SMALL_OBJECT_LATENCY, requestMs }, nas);
  return { nas, local, store };
}

describe("LatencyObjectStore", () => {
  it("cites a published figure for its default", () => {
    expect(OSS_SMALL_OBJECT_LATENCY.requestMs).toBe(100);
    expect(OSS_SMALL_OBJECT_LATENCY.source).toMatch(/https:\/\/www\.alibabacloud\.com\/.*checked 2026-12-02/);
  });

  it("stores what it is given in the store it wraps", async () => {
    const { local, store } = setup();
    const body = Buffer.from("hello\n");
    await store.putBuffer("a/b.log.gz", body, md5AndCrc64(body));
    expect(await local.getBuffer("a/b.log.gz")).toEqual(body);
    expect((await store.head("a/b.log.gz"))?.size).toBe(body.length);
  });

  it("overlaps PUTs in flight together and adds up PUTs one after another, on the handler's clock", async () => {
    const { nas, store } = setup(100);
    const body = Buffer.from("x");
    await Promise.all([1, 2, 3, 4].map((i) => store.putBuffer(`k/${i}`, body))); // four at once: 100 ms
    await store.putBuffer("k/5", body); // then one: 100 ms
    expect(store.counts).toMatchObject({ requests: 5, modelledMs: 500 });
    expect(nas.counts.bookedMs).toBe(200);
    expect(nas.counts.modelledMs).toBe(0); // not a NAS operation
    expect(nas.counts.unlink + nas.counts.open).toBe(0);
  });

  it("shares the clock with NAS operations in flight beside it", async () => {
    const { nas, store } = setup(100);
    // a PUT beside a chain of three 10 ms NAS operations, both started at once: the PUT's 100 ms
    // covers the chain (the clock does not move while the real unlinks between its steps run)
    await Promise.all([store.putBuffer("k", Buffer.from("x")), nas.remove("a").then(() => nas.remove("b")).then(() => nas.remove("c"))]);
    expect(nas.counts.bookedMs).toBe(100);
    expect(nas.counts.modelledMs).toBe(30);
  });

  it("counts a multipart upload as initiate, one request per part (four at a time) and complete", async () => {
    const { nas, store } = setup(100);
    const file = path.join(root, "big");
    const size = 5 * DEFAULT_PART_SIZE; // five parts: two rounds of four
    const body = Buffer.alloc(size, 1);
    writeFileSync(file, body);
    await store.putFile("big/obj", file, md5AndCrc64(body), { multipartThreshold: DEFAULT_PART_SIZE });
    expect(store.counts.requests).toBe(7);
    expect(nas.counts.bookedMs).toBe(400); // initiate + 2 rounds of parts + complete
    store.resetCounts();
    await store.putFile("small/obj", file, md5AndCrc64(body)); // no threshold given: one PutObject
    expect(store.counts.requests).toBe(1);
  });

  it("books a request's wait for its pace on the same clock as its round trip", async () => {
    // Arrange: upload's pace at 20 requests a second (50 ms apart), on the NAS model's clock
    const { nas, store } = setup(100);
    const pacer = new RequestPacer(20, nas.requestClock);
    // Act: five PUTs asked for at once
    await Promise.all([1, 2, 3, 4, 5].map(async (i) => {
      await pacer.acquire();
      await store.putBuffer(`k/${i}`, Buffer.from("x"));
    }));
    // Assert: they start 0, 50, …, 200 ms on the clock and each takes 100 ms: the last ends at 300
    expect(nas.counts.bookedMs).toBe(300);
    expect(store.counts.requests).toBe(5);
  });

  it("lets a request's turn come while the handler computes, with the handler's busy time on the clock", async () => {
    // Arrange: the pace at 20 requests a second (50 ms apart), the handler's CPU time a counter
    let busy = 0;
    const nas = new NasLatencyDir(path.join(root, "nas"), false, GENERAL_PURPOSE_PERFORMANCE_NAS, { wait: "overlap", busyMs: () => busy });
    const pacer = new RequestPacer(20, nas.requestClock);
    // Act: a turn, 50 ms of work (preparing the next object), a turn, 20 ms of work, a turn
    await pacer.acquire();
    busy += 50;
    await pacer.acquire();
    busy += 20;
    await pacer.acquire();
    // Assert: the second turn came during the work; the third waited the 30 ms the work left
    expect(nas.counts.bookedMs).toBe(30);
  });

  it("hands out real time as the pacer's clock when the model is waited, not booked on a virtual clock", () => {
    const waited = new NasLatencyDir(path.join(root, "w"), false, GENERAL_PURPOSE_PERFORMANCE_NAS, { wait: true });
    expect(waited.requestClock).toBe(realClock);
  });
});

describe("the OSS stand-in's time", () => {
  /** A stand-in whose PUT answers after `ms` of real time, during which the handler may burn CPU or wait. */
  function standIn(ms: number) {
    const inner = { description: "stand-in", putBuffer: () => new Promise<void>((r) => setTimeout(r, ms)) } as unknown as LocalObjectStore;
    const clock = { bookRoundTrip: async () => {}, trackRealWork: <T>(w: Promise<T>) => w };
    return new LatencyObjectStore(inner, undefined, clock);
  }
  const busyFor = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until); // the handler's own work while the request is out
  };

  it("counts the time the handler sat idle waiting for the stand-in, not the time it worked meanwhile", async () => {
    // Arrange: one store whose handler waits for its PUTs, one whose handler is busy through them
    const waiting = standIn(60), working = standIn(60);
    const body = Buffer.from("x");

    // Act
    let t = performance.now();
    await Promise.all([waiting.putBuffer("a", body), waiting.putBuffer("b", body)]); // together: one stretch
    const waitedWall = performance.now() - t;
    t = performance.now();
    const put = working.putBuffer("c", body);
    busyFor(80);
    await put;
    const workedWall = performance.now() - t;

    // Assert: idle is most of the first wall time and little of the second; requests counted, nothing booked
    expect(waiting.counts.standInIdleMs).toBeGreaterThan(0.5 * waitedWall);
    expect(waiting.counts.standInIdleMs).toBeLessThanOrEqual(waitedWall);
    expect(working.counts.standInIdleMs).toBeLessThan(0.25 * workedWall);
    expect(waiting.counts.requests).toBe(2);
    expect(waiting.counts.modelledMs).toBe(0);
  });
});

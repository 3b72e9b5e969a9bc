/**
 * kafkaSource (the Kafka source of `logpipe local`) against a real Kafka-protocol cluster
 * (librdkafka's mock): at-least-once through a broker outage, exact after dedup by offset,
 * commits on ack, resume from the committed position, maxRecords and idle termination.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kafkaSource, type SourceRecord } from "../../cli/sources/kafka.js";
import { startKafkaMock, type KafkaMock } from "../support/kafka-mock.js";

const quietKafka = (brokers: string[]) =>
  new Kafka({ clientId: "test", brokers, logLevel: logLevel.NOTHING, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 2_000 } });

/** Produces `count` records `{"i":n,...}` (n from `start`), 4 sends of 5000 in flight; returns records/s. */
async function produce(kafka: Kafka, topic: string, start: number, count: number): Promise<number> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const t0 = performance.now();
  const sends: Array<Promise<unknown>> = [];
  for (let i = start; i < start + count; i += 5_000) {
    const n = Math.min(5_000, start + count - i);
    const messages = Array.from({ length: n }, (_, j) => {
      const k = i + j;
      return {
        key: k % 3 === 0 ? null : `app-${k % 17}`,
        value: `{"i":${k},"app":"app-${k % 17}","msg":"line ${k} of the test log"}`,
        headers: k % 5 === 0 ? { app: `app-${k % 17}` } : undefined,
      };
    });
    sends.push(producer.send({ topic, acks: -1, messages }));
    if (sends.length >= 4) await sends.shift();
  }
  await Promise.all(sends);
  const rate = count / ((performance.now() - t0) / 1000);
  await producer.disconnect();
  return rate;
}

async function offsets(kafka: Kafka, topic: string, groupId?: string) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const highs = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }));
    const committed = groupId
      ? new Map((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => [p.partition, Number(p.offset)]))
      : new Map<number, number>();
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    const leaders = new Map(md.topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
    return { highs, committed, leaders };
  } finally {
    await admin.disconnect();
  }
}

const idOf = (r: SourceRecord) => (JSON.parse(r.value.toString()) as { i: number }).i;

describe("kafkaSource", () => {
  let mock: KafkaMock;
  let kafka: Kafka;
  /** The mock holds a group that a member left for sessionTimeout - 1 s: keep it short here. */
  const common = () => ({ brokers: mock.bootstrap, sessionTimeoutMs: 6_000 });
  beforeAll(async () => {
    mock = await startKafkaMock({ brokers: 3, topics: [{ name: "logs", partitions: 4 }, { name: "small", partitions: 4 }] });
    kafka = quietKafka(mock.bootstrap);
  });
  afterAll(async () => {
    await mock?.stop();
  });

  it("yields 120k records at least once through a leader outage, exactly once after dedup, and commits", async () => {
    const N = 120_000;
    const produceRate = await produce(kafka, "logs", 0, N);
    const before = await offsets(kafka, "logs");
    expect(before.highs.reduce((a, p) => a + p.high, 0)).toBe(N);
    expect(before.highs.every((p) => p.low === 0)).toBe(true); // nothing aged out of the mock's log
    const victim = before.leaders.get(0)!;

    const warnings: string[] = [];
    const source = kafkaSource({
      ...common(),
      topic: "logs",
      groupId: "g-logs",
      stopWhenIdleMs: 2_000,
      logger: { warn: (m) => void warnings.push(m) },
    });
    expect(source.description).toContain("logs");
    const seen = new Map<string, number>(); // "partition:offset" -> i
    let yielded = 0;
    let batches = 0;
    let outage: Promise<void> | null = null;
    let previous: { ack(): Promise<void> } | null = null;
    const t0 = performance.now();
    let firstAt = 0;
    let lastAt = 0;
    for await (const batch of source.batches({ maxRecords: 4_000, maxWaitMs: 100 })) {
      firstAt ||= performance.now();
      lastAt = performance.now();
      expect(batch.records.length).toBeGreaterThan(0);
      expect(batch.records.length).toBeLessThanOrEqual(4_000);
      batches++;
      for (const r of batch.records) {
        expect(r.topic).toBe("logs");
        const key = `${r.partition}:${r.offset}`;
        const i = idOf(r);
        const prev = seen.get(key);
        if (prev !== undefined) expect(prev).toBe(i); // a redelivery is the same record
        seen.set(key, i);
        if (i % 3 !== 0) expect(r.key?.toString()).toBe(`app-${i % 17}`);
        if (i % 5 === 0) expect(r.headers.app).toBe(`app-${i % 17}`);
        expect(r.timestamp).toBeGreaterThan(Date.now() - 600_000);
      }
      yielded += batch.records.length;
      if (!outage && yielded >= N / 4) {
        // Take partition 0's leader down mid-run for 2.5 s (leadership does not move).
        await mock.brokerDown(victim);
        outage = new Promise<void>((r) => setTimeout(r, 2_500)).then(() => mock.brokerUp(victim));
      }
      // Ack one batch behind: acks are cumulative, so the older batch is covered too.
      if (previous) await previous.ack();
      previous = batch;
      await new Promise((r) => setImmediate(r)); // a downstream that yields to the event loop
    }
    if (previous) await previous.ack();
    const consumeSeconds = (performance.now() - t0) / 1000;
    const streamSeconds = (lastAt - firstAt) / 1000;
    await outage;
    await source.close();

    expect(outage).not.toBeNull();
    // The client saw the outage (kafkajs errors are routed to the injected logger, not stdout).
    expect(warnings.some((w) => /ECONNREFUSED|Connection|Crash/i.test(w))).toBe(true);
    expect(yielded).toBeGreaterThanOrEqual(N);
    expect(seen.size).toBe(N);
    const ids = [...seen.values()].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => i));
    const after = await offsets(kafka, "logs", "g-logs");
    for (const p of after.highs) expect(after.committed.get(p.partition)).toBe(p.high);
    console.log(
      `[kafka-source] produce ${Math.round(produceRate)} rec/s; consume ${Math.round(yielded / streamSeconds)} rec/s ` +
        `first→last batch ${streamSeconds.toFixed(1)} s incl. the 2.5 s outage (whole run ${consumeSeconds.toFixed(1)} s incl. ` +
        `group join and the 2 s idle end; ${batches} batches, ${yielded - N} redelivered, ` +
        `${warnings.length} kafkajs warnings)`,
    );

    // Resuming with the same group starts at the committed position: nothing left, ends when idle.
    const again = kafkaSource({ ...common(), topic: "logs", groupId: "g-logs", stopWhenIdleMs: 1_000 });
    let more = 0;
    for await (const b of again.batches({ maxRecords: 1_000, maxWaitMs: 50 })) more += b.records.length;
    await again.close();
    expect(more).toBe(0);
  });

  it("stops at maxRecords, commits only what was acked, and the next run resumes there", async () => {
    const N = 10_000;
    await produce(kafka, "small", 0, N);
    const first = kafkaSource({ ...common(), topic: "small", groupId: "g-small", maxRecords: 2_500, stopWhenIdleMs: 1_000 });
    const got: SourceRecord[] = [];
    for await (const b of first.batches({ maxRecords: 1_000, maxWaitMs: 50 })) {
      got.push(...b.records);
      await b.ack();
    }
    await first.close();
    expect(got).toHaveLength(2_500);
    const mid = await offsets(kafka, "small", "g-small");
    const committedSum = [...mid.committed.values()].filter((o) => o > 0).reduce((a, b) => a + b, 0);
    expect(committedSum).toBe(2_500);

    // A batch that is never acked is delivered again by the next run.
    const second = kafkaSource({ ...common(), topic: "small", groupId: "g-small", maxRecords: 100, stopWhenIdleMs: 1_000 });
    const unacked: SourceRecord[] = [];
    for await (const b of second.batches({ maxRecords: 100, maxWaitMs: 50 })) unacked.push(...b.records);
    await second.close();
    expect(unacked).toHaveLength(100);

    const third = kafkaSource({ ...common(), topic: "small", groupId: "g-small", stopWhenIdleMs: 1_000 });
    const rest: SourceRecord[] = [];
    for await (const b of third.batches({ maxRecords: 3_000, maxWaitMs: 50 })) {
      rest.push(...b.records);
      await b.ack();
    }
    await third.close();
    const restKeys = new Set(rest.map((r) => `${r.partition}:${r.offset}`));
    for (const r of unacked) expect(restKeys.has(`${r.partition}:${r.offset}`)).toBe(true);
    const all = new Map([...got, ...rest].map((r) => [`${r.partition}:${r.offset}`, idOf(r)]));
    expect(rest).toHaveLength(N - 2_500);
    expect([...all.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it("ends on abort while waiting for records (no idle end)", async () => {
    const source = kafkaSource({ ...common(), topic: "small", groupId: "g-abort", stopWhenIdleMs: Infinity });
    const ac = new AbortController();
    let n = 0;
    let abortedAt = 0;
    for await (const b of source.batches({ maxRecords: 500, maxWaitMs: 50, signal: ac.signal })) {
      n += b.records.length;
      if (n >= 10_000 && !abortedAt) {
        setTimeout(() => {
          abortedAt = Date.now();
          ac.abort();
        }, 500);
      }
    }
    await source.close();
    expect(n).toBe(10_000);
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - abortedAt).toBeLessThan(2_000);
  });
});

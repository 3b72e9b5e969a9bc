/**
 * The Kafka mock cluster (librdkafka's mock brokers behind test/support/mockkafka.c) speaks
 * enough real Kafka protocol for kafkajs producers and consumer groups, including faults.
 */
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKafkaMock, type KafkaMock } from "../support/kafka-mock.js";

const quietKafka = (brokers: string[], clientId: string) =>
  new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 2_000 } });

const newProducer = (kafka: Kafka): Producer =>
  kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, retry: { retries: 12, maxRetryTime: 2_000 } });

async function committed(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(t!.partitions.map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("kafka mock cluster", () => {
  let mock: KafkaMock;
  beforeAll(async () => {
    mock = await startKafkaMock({ brokers: 3, topics: [{ name: "plain", partitions: 4 }, { name: "faulty", partitions: 3 }] });
  });
  afterAll(async () => {
    await mock?.stop();
  });

  it("answers commands and rejects bad ones", async () => {
    expect(mock.bootstrap).toHaveLength(3);
    expect(mock.bootstrap.every((b) => /^127\.0\.0\.1:\d+$/.test(b))).toBe(true);
    await mock.createTopic("extra", 2);
    await mock.setLeader("extra", 1, 3);
    await expect(mock.brokerDown(9)).rejects.toThrow(/unknown broker/);
    await expect(mock.createTopic("bad name", 1)).rejects.toThrow(/invalid Kafka name/);
    await mock.brokerDown(2);
    await mock.brokerUp(2);
    const kafka = quietKafka(mock.bootstrap, "md");
    const admin = kafka.admin();
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: ["extra"] });
    await admin.disconnect();
    expect(md.topics[0]!.partitions.find((p) => p.partitionId === 1)!.leader).toBe(3);
  });

  it("kafkajs produces N records over 4 partitions and a consumer group consumes exactly them", async () => {
    const N = 20_000;
    const kafka = quietKafka(mock.bootstrap, "plain");
    const producer = newProducer(kafka);
    await producer.connect();
    // Two produce requests fail with NOT_LEADER_OR_FOLLOWER (6); kafkajs retries them.
    await mock.pushRequestErrors(0, 6, 2);
    for (let i = 0; i < N; i += 1_000) {
      await producer.send({
        topic: "plain",
        acks: -1,
        messages: Array.from({ length: 1_000 }, (_, j) => ({ key: `k${(i + j) % 97}`, value: `rec-${i + j}` })),
      });
    }
    await producer.disconnect();
    const highs = await highWatermarks(kafka, "plain");
    expect([...highs.values()].reduce((a, b) => a + b, 0)).toBe(N);
    expect(highs.size).toBe(4);

    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: "g-plain", maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: "plain", fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await waitFor(() => seen.length >= N, 30_000, `${N} records`);
    await new Promise((r) => setTimeout(r, 300)); // would reveal extra deliveries
    await consumer.disconnect();

    expect(seen).toHaveLength(N);
    expect(new Set(seen).size).toBe(N);
    expect(seen.map((v) => Number(v.slice(4))).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(await committed(kafka, "g-plain", "plain")).toEqual(highs);
  });

  it("a broker going down and up mid-stream loses nothing and committed offsets advance", async () => {
    const N = 30_000;
    const kafka = quietKafka(mock.bootstrap, "faulty");
    const admin = kafka.admin();
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: ["faulty"] });
    await admin.disconnect();
    const victim = md.topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;

    const seen = new Set<number>();
    let deliveries = 0;
    const consumer = kafka.consumer({ groupId: "g-faulty", maxWaitTimeInMs: 200, retry: { retries: 12, maxRetryTime: 2_000 } });
    await consumer.connect();
    await consumer.subscribe({ topic: "faulty", fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        deliveries++;
        seen.add(Number(message.value!.toString()));
      },
    });

    const producer = newProducer(kafka);
    await producer.connect();
    let before: Map<number, number> | null = null;
    for (let i = 0; i < N; i += 500) {
      if (i === 10_000) {
        await waitFor(() => seen.size >= 5_000, 20_000, "first records consumed");
        before = await committed(kafka, "g-faulty", "faulty");
        await mock.brokerDown(victim);
        setTimeout(() => void mock.brokerUp(victim), 2_000);
      }
      await producer.send({ topic: "faulty", acks: -1, messages: Array.from({ length: 500 }, (_, j) => ({ value: String(i + j) })) });
    }
    await producer.disconnect();
    await waitFor(() => seen.size >= N, 60_000, "every record consumed");
    const highs = await highWatermarks(kafka, "faulty");
    // Wait for the final auto-commit to land, then compare with the log's end.
    const deadline = Date.now() + 20_000;
    let after = await committed(kafka, "g-faulty", "faulty");
    while ([...highs].some(([p, h]) => after.get(p) !== h) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = await committed(kafka, "g-faulty", "faulty");
    }
    await consumer.disconnect();

    expect(seen.size).toBe(N);
    expect(deliveries).toBeGreaterThanOrEqual(N);
    expect(after).toEqual(highs);
    for (const [p, off] of after) expect(off).toBeGreaterThan(Math.max(0, before!.get(p) ?? 0));
  });

  it("the cluster from the global setup is reachable through LOGPIPE_TEST_KAFKA_BROKERS", async () => {
    const brokers = process.env.LOGPIPE_TEST_KAFKA_BROKERS;
    expect(brokers, "global setup should publish LOGPIPE_TEST_KAFKA_BROKERS").toBeTruthy();
    const kafka = quietKafka(brokers!.split(","), "shared");
    const topic = `shared-smoke-${process.pid}`;
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner }); // topic auto-created
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: "a" }, { value: "b" }, { value: "c" }] });
    await producer.disconnect();
    const got: string[] = [];
    const consumer = kafka.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
    await waitFor(() => got.length >= 3, 20_000, "3 records");
    await consumer.disconnect();
    expect(got.sort()).toEqual(["a", "b", "c"]);
  });
});

/**
 * `logpipe local --kafka`: kafkajs produces to a real Kafka-protocol broker (librdkafka's mock
 * cluster); the local pipeline consumes it while a partition leader goes down and comes back;
 * the archive must hold every produced record exactly once (Kafka redelivers at least once).
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLocal } from "../../cli/local/run.js";
import { kafkaSource } from "../../cli/sources/kafka.js";
import { startKafkaMock, type KafkaMock } from "../support/kafka-mock.js";

describe("logpipe local consuming Kafka", () => {
  let mock: KafkaMock;
  beforeAll(async () => {
    mock = await startKafkaMock({ brokers: 3, topics: [{ name: "app-logs", partitions: 4 }] });
  });
  afterAll(async () => {
    await mock?.stop();
  });

  it("archives 100k produced records exactly once through a partition leader outage", async () => {
    // Arrange: 100k records over 30 apps (keys vary, app id in the value)
    const kafka = new Kafka({ clientId: "e2e", brokers: mock.bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 2_000 } });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const total = 100_000;
    for (let i = 0; i < total; i += 5_000) {
      await producer.send({
        topic: "app-logs",
        acks: -1,
        messages: Array.from({ length: 5_000 }, (_, j) => ({ key: `k${(i + j) % 97}`, value: JSON.stringify({ appId: `svc-${(i + j) % 30}`, n: i + j, msg: "request served" }) })),
      });
    }
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: ["app-logs"] });
    await admin.disconnect();
    const victim = md.topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;

    // Act: run the pipeline; once it is consuming, take partition 0's leader down for 2.5 s
    let outage: Promise<void> | undefined;
    const report = await runLocal({
      source: kafkaSource({ brokers: mock.bootstrap, topic: "app-logs", groupId: "logpipe-e2e", sessionTimeoutMs: 6_000, stopWhenIdleMs: 3_000 }),
      outDir: mkdtempSync(path.join(os.tmpdir(), "logpipe-kafka-")),
      redisUrl: process.env.LOGPIPE_TEST_REDIS_URL,
      keyPrefix: `kafka-e2e-${Date.now()}`,
      trigger: { batchRecords: 2_000 },
      compressWorkers: 2,
      onProgress: (p) => {
        if (!outage && p.records >= 20_000) {
          outage = mock.brokerDown(victim).then(() => new Promise<void>((r) => setTimeout(r, 2_500))).then(() => mock.brokerUp(victim));
        }
      },
    });
    await outage;

    // Assert
    expect(outage).toBeDefined();
    const v = report.verify!;
    expect(report.records).toBe(total); // distinct (partition, offset) pairs seen
    expect({ archived: v.archived, lost: v.lost, duplicated: v.duplicated, misrouted: v.misrouted }).toEqual({ archived: total, lost: 0, duplicated: 0, misrouted: 0 });
    expect(v.apps.length).toBe(30);
    expect(report.ok).toBe(true);
  }, 180_000);
});

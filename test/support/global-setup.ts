/**
 * Vitest global setup: starts every peer the tests talk to, publishes their addresses in
 * environment variables (inherited by the test workers and by processes the tests spawn),
 * and stops them afterwards.
 *   LOGPIPE_TEST_REDIS_URL      private redis-server
 *   LOGPIPE_TEST_OSS_ENDPOINT / _BUCKET / _AK / _SK   OSS test server (path-style, sldEnable)
 */
import { startRedisServer } from "../../cli/services/redis-server.js";

export default async function setup() {
  const stops: Array<() => Promise<void>> = [];
  const redis = await startRedisServer();
  stops.push(() => redis.stop());
  process.env.LOGPIPE_TEST_REDIS_URL = redis.url;

  // Kafka: one librdkafka mock cluster (3 brokers) for the run; topics are auto-created with
  // 4 partitions on first use. LOGPIPE_TEST_KAFKA_BROKERS = "127.0.0.1:P1,127.0.0.1:P2,...".
  // Tests that inject faults start their own cluster with startKafkaMock().
  {
    const { startKafkaMock } = await import("./kafka-mock.js");
    const kafka = await startKafkaMock({ brokers: 3 });
    stops.push(() => kafka.stop());
    process.env.LOGPIPE_TEST_KAFKA_BROKERS = kafka.bootstrap.join(",");
  }

  // OSS: one in-process OSS-compatible test server (test/support/oss-server.ts) for the run.
  // ali-oss reaches it with { endpoint, secure: false, sldEnable: true, bucket, accessKeyId,
  // accessKeySecret }. Workers inject faults over HTTP with connectOssTestServer(endpoint);
  // tests that count requests or inject faults should start their own with startOssServer().
  {
    const { startOssServer } = await import("./oss-server.js");
    const oss = await startOssServer({ bucket: "logpipe-test" });
    stops.push(() => oss.stop());
    process.env.LOGPIPE_TEST_OSS_ENDPOINT = oss.endpoint;
    process.env.LOGPIPE_TEST_OSS_BUCKET = oss.bucket;
    process.env.LOGPIPE_TEST_OSS_AK = oss.accessKeyId;
    process.env.LOGPIPE_TEST_OSS_SK = oss.accessKeySecret;
  }

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}

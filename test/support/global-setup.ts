/**
 * Vitest global setup: starts every peer the tests talk to, publishes their addresses in
 * environment variables (inherited by the test workers and by processes the tests spawn),
 * and stops them afterwards.
 *   LOGPIPE_TEST_REDIS_URL      private redis-server
 */
import { startRedisServer } from "../../cli/services/redis-server.js";

export default async function setup() {
  const stops: Array<() => Promise<void>> = [];
  const redis = await startRedisServer();
  stops.push(() => redis.stop());
  process.env.LOGPIPE_TEST_REDIS_URL = redis.url;

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}

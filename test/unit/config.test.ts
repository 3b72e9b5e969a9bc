import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration, parseSize } from "../../functions/core/config.js";

describe("handler config", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.maxWritersPerApp).toBe(10);
    expect(c.appIdSources).toEqual([{ kind: "field", path: ["appId"] }]);
    expect(c.lockTtlMs).toBeGreaterThan(c.functionTimeoutMs);
  });
  it("parses sizes and durations", () => {
    expect(parseSize("256MB")).toBe(256 * 1024 ** 2);
    expect(parseSize("4096")).toBe(4096);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("2h")).toBe(7_200_000);
  });
  it.each([
    [{ LOGPIPE_MAX_WRITERS_PER_APP: "zero" }, "LOGPIPE_MAX_WRITERS_PER_APP", /integer 1–1000/],
    [{ LOGPIPE_SEAL_BYTES: "lots" }, "LOGPIPE_SEAL_BYTES", /size like/],
    [{ LOGPIPE_APP_ID_SOURCE: "body" }, "LOGPIPE_APP_ID_SOURCE", /field:<path>/],
    [{ LOGPIPE_LOCK_TTL: "10s", LOGPIPE_FUNCTION_TIMEOUT: "60s" }, "LOGPIPE_LOCK_TTL", /longer than LOGPIPE_FUNCTION_TIMEOUT/],
    [{ LOGPIPE_TIMEZONE: "Mars/Base" }, "LOGPIPE_TIMEZONE", /IANA/],
    [{ LOGPIPE_REDIS_URL: "localhost:6379" }, "LOGPIPE_REDIS_URL", /redis:\/\//],
    [{ LOGPIPE_OSS_BUCKET: "Bad_Bucket" }, "LOGPIPE_OSS_BUCKET", /bucket name/],
  ])("names the variable in the error: %j", (env, key, message) => {
    try {
      loadConfig(env);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const issue = (e as ConfigError).issues.find((i) => i.key === key);
      expect(issue?.message).toMatch(message);
      expect((e as Error).message).toContain(key);
    }
  });
  it("never echoes the Redis password in errors", () => {
    try {
      loadConfig({ LOGPIPE_REDIS_PASSWORD: "s3cret-value", LOGPIPE_GZIP_LEVEL: "11" });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain("s3cret-value");
    }
  });
});

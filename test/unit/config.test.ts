import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration, parseSize } from "../../functions/core/config.js";
import { sealAtDrain } from "../../functions/core/seal.js";
import { sealCutoffs, sealIsDue, sealWindowStart } from "../../functions/core/upload.js";

describe("handler config", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.maxWritersPerApp).toBe(10);
    expect(c.appIdSources).toEqual([{ kind: "field", path: ["appId"] }]);
    expect(c.lockTtlMs).toBeGreaterThan(c.functionTimeoutMs);
  });
  it("lets a small slot wait 4 seal ages by default, at most an hour and never less than the seal age", () => {
    expect(loadConfig({}).sealMaxAgeMs).toBe(3_600_000);
    expect(loadConfig({ LOGPIPE_SEAL_AGE: "1s" }).sealMaxAgeMs).toBe(4_000);
    expect(loadConfig({ LOGPIPE_SEAL_AGE: "30m" }).sealMaxAgeMs).toBe(3_600_000);
    expect(loadConfig({ LOGPIPE_SEAL_AGE: "2h" }).sealMaxAgeMs).toBe(7_200_000);
    expect(loadConfig({ LOGPIPE_SEAL_MAX_AGE: "20m" }).sealMaxAgeMs).toBe(1_200_000);
  });
  it("paces upload under OSS's 2,000 requests a second on sequential names, with room to reach that pace at 100 ms a request", () => {
    const c = loadConfig({});
    expect(c.uploadRequestsPerSecond).toBe(1600);
    expect(c.uploadRequestsPerSecond).toBeLessThan(2000);
    expect((c.uploadConcurrency * 1000) / 100).toBeGreaterThan(c.uploadRequestsPerSecond);
  });
  it("drains the long tail at the seal max age unless told otherwise", () => {
    expect(loadConfig({}).drainMaxAgeMs).toBe(3_600_000);
    expect(loadConfig({ LOGPIPE_SEAL_MAX_AGE: "20m" }).drainMaxAgeMs).toBe(1_200_000);
    expect(loadConfig({ LOGPIPE_SEAL_MAX_AGE: "20m", LOGPIPE_DRAIN_MAX_AGE: "5m" }).drainMaxAgeMs).toBe(300_000);
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
    [{ LOGPIPE_SEAL_AGE: "20m", LOGPIPE_SEAL_MAX_AGE: "10m" }, "LOGPIPE_SEAL_MAX_AGE", /at least LOGPIPE_SEAL_AGE/],
    [{ LOGPIPE_SEAL_MAX_AGE: "2h" }, "LOGPIPE_SEAL_MAX_AGE", /at most 1h/],
    [{ LOGPIPE_UPLOAD_REQUESTS_PER_SECOND: "0" }, "LOGPIPE_UPLOAD_REQUESTS_PER_SECOND", /integer 1–10000/],
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

describe("when a slot is due for sealing", () => {
  // seal age 100: windows [9_900, 10_000), [10_000, 10_100), …; max age 400
  const config = { sealBytes: 1000, sealAgeMs: 100, sealMinBytes: 50, sealMaxAgeMs: 400 };
  const at = (now: number, windowTick = true) => sealCutoffs(config, now, windowTick);
  it.each([
    ["empty, however old", 0, 5_000, at(10_000), false],
    ["full, however young, at any tick", 1000, 10_050, at(10_050, false), true],
    ["large enough, its window ended, at the window's first tick", 50, 9_999, at(10_000), true],
    ["large enough, started at its window's start, at the next window's first tick", 50, 9_900, at(10_030), true],
    ["large enough, its window ended, at a later tick of the next window", 50, 9_999, at(10_030, false), false],
    ["large enough, its window not ended yet", 999, 10_000, at(10_099), false],
    ["small, its window ended", 49, 9_950, at(10_000), false],
    ["small, max age from its window's start, at any tick", 49, 9_650, at(10_010, false), true],
    ["small, just short of the max age from its window's start", 49, 9_700, at(10_099), false],
  ])("%s", (_what, len, t0, cut, due) => {
    expect(sealIsDue(config, len, t0, cut)).toBe(due);
  });
  it("seals every slot whose window ended when the small-slot rule is off", () => {
    expect(sealIsDue({ ...config, sealMinBytes: 0 }, 1, 9_999, at(10_000))).toBe(true);
    expect(sealIsDue({ ...config, sealMinBytes: 0 }, 1, 10_000, at(10_099))).toBe(false);
  });
  it("makes the slots of one window due together, at the next window's first tick", () => {
    // Arrange: three apps' generations started at different times of one window
    const starts = [10_000, 10_040, 10_099];
    // Act: ticks inside the window, then the next window's first tick and one after it
    const dueAt = (cut: ReturnType<typeof at>) => starts.filter((t0) => sealIsDue(config, 60, t0, cut)).length;
    // Assert: none before the boundary, all three at its first tick, none at a later tick (sealed there)
    expect([dueAt(at(10_050)), dueAt(at(10_099)), dueAt(at(10_100)), dueAt(at(10_130, false))]).toEqual([0, 0, 3, 0]);
    expect(sealWindowStart(config, 10_130)).toBe(10_100);
    expect(at(10_130)).toEqual({ before: 10_099, forceBefore: 9_799 });
  });
});

describe("when a drain seals its slot at once", () => {
  const config = { sealMinBytes: 50, sealMaxAgeMs: 400 };
  const now = 10_000;
  it.each([
    // what, committed bytes after the drain, generation's first commit (0: the drain started it), oldest record's age, key time
    ["a fresh slot of the long tail, drained at the max age", 10, 0, 400, now - 400],
    ["a fresh slot drained at half the max age (it would be due before its next drain)", 10, 0, 200, now - 200],
    ["a fresh slot drained sooner: it waits for more", 10, 0, 199, undefined],
    ["an older slot due before the next drain, dated by its first commit", 30, now - 350, 60, now - 350],
    ["an older slot not due before the next drain", 30, now - 300, 60, undefined],
    ["a slot at the minimum size: the usual seal at the seal age", 50, 0, 400, undefined],
    ["nothing committed", 0, 0, 400, undefined],
  ])("%s", (_what, lenAfter, t0, age, keyTime) => {
    expect(sealAtDrain(config, { lenAfter, t0, oldestStaged: now - age }, now)).toBe(keyTime);
  });
  it("never seals at the drain when the small-slot rule is off", () => {
    expect(sealAtDrain({ ...config, sealMinBytes: 0 }, { lenAfter: 1, t0: 0, oldestStaged: 1 }, now)).toBeUndefined();
  });
  it("seals every slot it appended to when the task seals everything, dated by the generation's start", () => {
    const always = { always: true };
    expect(sealAtDrain(config, { lenAfter: 5_000, t0: now - 50, oldestStaged: now - 10 }, now, always)).toBe(now - 50);
    expect(sealAtDrain(config, { lenAfter: 10, t0: 0, oldestStaged: now - 10 }, now, always)).toBe(now - 10);
    expect(sealAtDrain({ ...config, sealMinBytes: 0 }, { lenAfter: 1, t0: 0, oldestStaged: 1 }, now, always)).toBe(1);
    expect(sealAtDrain(config, { lenAfter: 0, t0: 0, oldestStaged: now - 10 }, now, always)).toBeUndefined(); // nothing to seal
  });
});

import { describe, expect, test } from "vitest";
import { soakSettings, soakShape } from "../faults/soak/settings.js";

describe("soak settings (npm run soak)", () => {
  test("default to six seeds from 1000 and a 3 % kill chance", () => {
    expect(soakSettings({})).toEqual({ seeds: [1000, 1001, 1002, 1003, 1004, 1005], killChance: 0.03 });
  });

  test("take FIRST:COUNT seeds and the kill chance from the environment", () => {
    expect(soakSettings({ LOGPIPE_SOAK_SEEDS: "7:3", LOGPIPE_SOAK_KILL_P: "0.1" })).toEqual({ seeds: [7, 8, 9], killChance: 0.1 });
  });

  test("name the key of a bad value", () => {
    expect(() => soakSettings({ LOGPIPE_SOAK_SEEDS: "12" })).toThrow(/LOGPIPE_SOAK_SEEDS/);
    expect(() => soakSettings({ LOGPIPE_SOAK_SEEDS: "5:0" })).toThrow(/LOGPIPE_SOAK_SEEDS/);
    expect(() => soakSettings({ LOGPIPE_SOAK_KILL_P: "0" })).toThrow(/LOGPIPE_SOAK_KILL_P/);
    expect(() => soakSettings({ LOGPIPE_SOAK_KILL_P: "often" })).toThrow(/LOGPIPE_SOAK_KILL_P/);
  });

  test("cycle through the three shapes of run, one of them on the long tail's shards", () => {
    expect([0, 1, 2].map((s) => soakShape(s).label)).toEqual(["tail shards", "small seals to OSS", "multipart"]);
    expect(soakShape(3).env.LOGPIPE_TAIL_SHARDS).toBe("3");
  });
});

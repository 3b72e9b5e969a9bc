import { describe, expect, it } from "vitest";
import { encodeTask, MAX_TASK_BYTES } from "../../functions/adapters/fc-invoker.js";
import { parseTask } from "../../functions/core/compress.js";
import { loadConfig } from "../../functions/core/config.js";
import { invokeDrains, invokeTails, type DrainTask } from "../../functions/core/deps.js";

/** The longest app directory name routing allows (64 safe characters). */
const longApp = (i: number) => `a-very-long-application-identifier-${String(i).padStart(29, "0")}`;
/** FC's async invocation payload limit (the guard stays well below it). */
const FC_ASYNC_PAYLOAD_LIMIT = 128 * 1024;

async function recordDrains(apps: string[], perTask: number): Promise<{ tasks: DrainTask[]; invoked: number }> {
  const tasks: DrainTask[] = [];
  const invoked = await invokeDrains({ invokeCompress: async (t) => void tasks.push(t) }, apps, perTask, "sweep");
  return { tasks, invoked };
}

/** The largest LOGPIPE_SWEEP_APPS_PER_TASK the configuration accepts. */
function largestAcceptedAppsPerTask(): number {
  let lo = 1, hi = 100_000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    let ok = true;
    try {
      loadConfig({ LOGPIPE_INVOKE_MODE: "inline", LOGPIPE_SWEEP_APPS_PER_TASK: String(mid) });
    } catch {
      ok = false;
    }
    if (ok) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

describe("compress payloads (drain tasks)", () => {
  it("a drain task names apps only, is tiny, and parses back to itself", () => {
    const task: DrainTask = { v: 2, apps: ["pay-gw", "order-svc"], reason: "hot" };
    const body = encodeTask(task);
    expect(body.length).toBeLessThan(100);
    expect(JSON.parse(body.toString())).toEqual(task);
    expect(parseTask(body)).toEqual(task);
  });

  it("a task that seals what it drains says so; anything but a boolean there is refused, naming the field", () => {
    const task: DrainTask = { v: 2, apps: ["pay-gw"], reason: "sweep", seal: true };
    expect(parseTask(encodeTask(task))).toEqual(task);
    expect(parseTask(encodeTask({ v: 2, apps: [], shard: 3, reason: "sweep", seal: true }))).toEqual({ v: 2, apps: [], shard: 3, reason: "sweep", seal: true });
    expect(parseTask(JSON.stringify({ v: 2, apps: ["pay-gw"], reason: "sweep", seal: false })).seal).toBeUndefined();
    expect(() => parseTask(JSON.stringify({ v: 2, apps: ["pay-gw"], reason: "sweep", seal: "yes" }))).toThrow(/"seal" is "yes", not true or false/);
  });

  it("invokeDrains and invokeTails mark their tasks to seal only when asked", async () => {
    const tasks: DrainTask[] = [];
    const invoker = { invokeCompress: async (t: DrainTask) => void tasks.push(t) };
    await invokeDrains(invoker, ["a", "b"], 1, "sweep", { seal: true });
    await invokeTails(invoker, [7], { seal: true });
    await invokeDrains(invoker, ["c"], 1, "sweep");
    expect(tasks.map((t) => t.seal)).toEqual([true, true, true, undefined]);
  });

  it("the default sweep task (500 apps of the longest allowed name) stays far under FC's 128 KB async limit", async () => {
    const config = loadConfig({ LOGPIPE_INVOKE_MODE: "inline" });
    expect(config.sweepAppsPerTask).toBe(500);
    const apps = Array.from({ length: config.sweepAppsPerTask }, (_, i) => longApp(i));
    expect(apps.every((a) => a.length === 64)).toBe(true);
    const body = encodeTask({ v: 2, apps, reason: "sweep" });
    expect(body.length).toBeLessThan(MAX_TASK_BYTES); // ~34 KB: under the guard, a quarter of FC's limit
    expect(body.length).toBeLessThan(FC_ASYNC_PAYLOAD_LIMIT / 3);
    expect(MAX_TASK_BYTES).toBeLessThan(FC_ASYNC_PAYLOAD_LIMIT);
  });

  it("refuses a task over the guard, naming its size", () => {
    const apps = Array.from({ length: 2000 }, (_, i) => longApp(i));
    expect(() => encodeTask({ v: 2, apps, reason: "sweep" })).toThrow(new RegExp(`compress payload is \\d+ bytes, over ${MAX_TASK_BYTES}`));
  });

  it("invokeDrains splits apps into tasks of at most perTask apps, all apps once and in order", async () => {
    const apps = Array.from({ length: 901 }, (_, i) => longApp(i));
    const { tasks, invoked } = await recordDrains(apps, 200);
    expect(invoked).toBe(Math.ceil(901 / 200));
    expect(tasks).toHaveLength(invoked);
    expect(tasks.every((t) => t.v === 2 && t.reason === "sweep" && t.apps.length <= 200)).toBe(true);
    expect(tasks.map((t) => t.apps.length)).toEqual([200, 200, 200, 200, 101]);
    expect(tasks.flatMap((t) => t.apps)).toEqual(apps);
    expect((await recordDrains([], 200)).invoked).toBe(0);
  });

  it("invokeDrains gives each task apps of neighbouring names (split lays out staging sections in name order)", async () => {
    const apps = ["orders", "auth", "zeta", "billing", "search", "cart"];
    const { tasks } = await recordDrains(apps, 2);
    expect(tasks.map((t) => t.apps)).toEqual([["auth", "billing"], ["cart", "orders"], ["search", "zeta"]]);
  });

  it("every task the configuration allows fits the payload guard, even with the longest app names", async () => {
    // LOGPIPE_SWEEP_APPS_PER_TASK is the only bound on a task's size: its largest accepted value
    // with 64-character app names must still encode (else every sweep of many apps would fail)
    const perTask = largestAcceptedAppsPerTask();
    const apps = Array.from({ length: perTask }, (_, i) => longApp(i));
    const { tasks } = await recordDrains(apps, perTask);
    expect(tasks).toHaveLength(1);
    for (const t of tasks) expect(encodeTask(t).length).toBeLessThanOrEqual(MAX_TASK_BYTES);
  });
});

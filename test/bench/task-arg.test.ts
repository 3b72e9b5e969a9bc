import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readTaskArgument, taskArgument } from "../../bench/task-arg.js";

describe("a bench task handed to a child process", () => {
  it("goes inline while short", () => {
    const task = { kind: "split", file: "/data/batch-00001.json" };
    const arg = taskArgument(task);
    expect(arg).toBe(JSON.stringify(task));
    expect(readTaskArgument(arg)).toEqual(task);
  });

  it("goes through a file the child reads and deletes when it is too long for one argument (E2BIG over 128 KB)", () => {
    // Arrange: a steady-state task listing ~3,100 batch files, as at --batch-records 5000
    const task = { kind: "lockstep", files: Array.from({ length: 3_100 }, (_, i) => `/work/bench/data/v2-batches-1992m-a3000-s42-r5000-p4/batch-${String(i).padStart(5, "0")}.json`) };

    // Act
    const arg = taskArgument(task);
    const read = readTaskArgument(arg);

    // Assert
    expect(JSON.stringify(task).length).toBeGreaterThan(128 * 1024);
    expect(arg.length).toBeLessThan(1024);
    expect(arg.startsWith("@")).toBe(true);
    expect(read).toEqual(task);
    expect(existsSync(arg.slice(1))).toBe(false);
  });
});

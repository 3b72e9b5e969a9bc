/**
 * How the bench hands a task to a child process: as its command-line argument, or — when the
 * task's JSON is too long for one (Linux refuses a single argument over 128 KB with E2BIG; a
 * steady-state task lists every batch file, ~3,100 of them at `--batch-records 5000`) — in a file
 * named by the argument `@<path>`, which the child reads and deletes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Longest task JSON passed inline (well under MAX_ARG_STRLEN, 128 KB). */
const INLINE_MAX = 64 * 1024;

export function taskArgument(task: object): string {
  const json = JSON.stringify(task);
  if (json.length <= INLINE_MAX) return json;
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), "logpipe-bench-task-")), "task.json");
  writeFileSync(file, json);
  return `@${file}`;
}

export function readTaskArgument(arg: string): unknown {
  if (!arg.startsWith("@")) return JSON.parse(arg);
  const file = arg.slice(1);
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } finally {
    rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

/** Shared output helpers for the operations commands (tables, JSON, error → exit code). */
import Table from "cli-table3";
import { exitCodeOf } from "./errors.js";

export function table(head: string[], rows: (string | number)[][], opts: { align?: ("left" | "right")[]; maxWidth?: number } = {}): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true }, ...(opts.align ? { colAligns: opts.align } : {}) });
  for (const r of rows) t.push(r.map((c) => clip(String(c), opts.maxWidth ?? 110)));
  return t.toString();
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** Runs a command action: prints errors as `logpipe <cmd>: …` and sets the exit code (1 or 2). */
export async function runAction(name: string, fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === "number") process.exitCode = code;
  } catch (e) {
    process.stderr.write(`logpipe ${name}: ${(e as Error).message}\n`);
    process.exitCode = exitCodeOf(e);
  }
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

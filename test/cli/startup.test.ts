/**
 * Start-up and the command table: --help costs at most 8× a bare `node -e 0` (measured in pairs,
 * here and now), and the table bin/ answers --help from lists exactly the modules in cli/commands.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { measureHelpStartup } from "../../bench/startup.js";
import { COMMANDS } from "../../bin/command-table.mjs";

const commandsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cli/commands");

describe("CLI start-up", () => {
  it("--help starts within 8× a bare node start (median of paired runs)", async () => {
    const m = await measureHelpStartup(7);
    expect(m.ratio, `help ${m.helpMs.toFixed(0)} ms vs node ${m.nodeMs.toFixed(0)} ms`).toBeLessThanOrEqual(8);
  });

  it("the command table lists every cli/commands module once, each summary a short line", () => {
    const files = readdirSync(commandsDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).map((f) => f.replace(/\.ts$/, ""));
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(files.sort());
    for (const c of COMMANDS) expect(c.summary.length, c.name).toBeLessThanOrEqual(56); // one line of an 80-column --help
  });
});

/**
 * `logpipe` command line. Each command lives in `cli/commands/<name>.ts`, exports
 * `register(program)` and is listed in bin/command-table.mjs; only the command that runs is
 * loaded (all of them cost over a second at start-up, and a broken one would break the others).
 */
import { CommanderError } from "commander";
import { commandOf, runWithoutCommand, topLevelProgram } from "../bin/command-table.mjs";

export async function main(argv: string[]): Promise<number> {
  const name = commandOf(argv.slice(2));
  if (name === undefined) return runWithoutCommand(argv);
  const mod = (await import(new URL(`./commands/${name}.ts`, import.meta.url).href)) as { register(program: import("commander").Command): void };
  const program = topLevelProgram({ [name]: mod.register });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    process.stderr.write(`logpipe ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}

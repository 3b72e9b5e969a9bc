/**
 * `logpipe` command line. Each command lives in `cli/commands/<name>.ts` and exports
 * `register(program)`; they are discovered here so commands can be added without touching this file.
 */
import { Command, CommanderError } from "commander";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

export async function main(argv: string[]): Promise<number> {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  const program = new Command("logpipe")
    .version(pkg.version)
    .description("Archive each application's logs from Kafka into its own compressed OSS objects (Function Compute 3.0)")
    .showHelpAfterError()
    .exitOverride();
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "commands");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).sort();
  for (const f of files) {
    const mod = await import(pathToFileURL(path.join(dir, f)).href);
    if (typeof mod.register === "function") mod.register(program);
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    console.error(`logpipe: ${(e as Error).message}`);
    return 1;
  }
}

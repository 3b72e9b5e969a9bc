#!/usr/bin/env node
// Entry point for `npx logpipe`. --help, --version and a missing or unknown command are answered
// from the command table in plain JavaScript; a command registers tsx (so the TypeScript CLI runs
// without a build step) and loads only its own module.
import { commandOf, runWithoutCommand } from "./command-table.mjs";

// A closed pipe (`logpipe build --json | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});

if (commandOf(process.argv.slice(2)) === undefined) {
  process.exitCode = await runWithoutCommand(process.argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../cli/index.ts");
  process.exitCode = await main(process.argv);
  // The command is done: a handle something forgot to close must not keep the process alive.
  setTimeout(() => process.exit(), 2000).unref();
}

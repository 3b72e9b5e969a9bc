// The `logpipe` commands, in the order --help lists them. Plain JavaScript on purpose: `--help`,
// `--version` and an unknown command are answered from this table without loading TypeScript;
// a command's module (cli/commands/<name>.ts, exporting register(program)) is loaded only when
// that command runs; its own description shows in `logpipe <command> --help`.
// test/cli/startup.test.ts checks the table against cli/commands/.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";

/** @type {readonly { name: string; args?: string; summary: string }[]} */
export const COMMANDS = [
  { name: "local", summary: "run the pipeline here; prove each record archived once" },
  { name: "logs", args: "<app>", summary: "read one app's archived records back (local or OSS)" },
  { name: "invoke", args: "<function>", summary: "run one handler once on one event, with local stores" },
  { name: "build", args: "[functions...]", summary: "bundle the functions into deterministic zips" },
  { name: "plan", summary: "list what a stack would create (no Pulumi CLI needed)" },
  { name: "cost", summary: "price a stack with dated price tables and a usage mix" },
  { name: "publish", summary: "upload built artifacts, pin their digests in a stack" },
  { name: "canary", summary: "move a live alias to a new release in gated steps" },
  { name: "promote", args: "<from> <to>", summary: "copy the digests one stack runs into another's config" },
  { name: "reset-partition", summary: "forget a partition's dedup state after a topic reset" },
  { name: "bench", summary: "measure cost per GB of the data path across app counts" },
];

const NAMES = new Set(COMMANDS.map((c) => c.name));

/** The command `args` (argv without node and script) selects, if any: `help <cmd>` selects <cmd>. */
export function commandOf(args) {
  const first = args.find((a) => !a.startsWith("-"));
  if (first === "help") {
    const next = args[args.indexOf(first) + 1];
    return NAMES.has(next) ? next : undefined;
  }
  return NAMES.has(first) ? first : undefined;
}

/**
 * Errors as one line with a pointer to the failing command's --help, instead of the message
 * followed by the whole help. (Commands share one output configuration, so the command is
 * tracked through preSubcommand hooks rather than configured per command.)
 */
export function oneLineErrors(program, usage) {
  let current = usage;
  const track = (cmd, prefix) => {
    if (cmd.commands.length === 0) return;
    cmd.hook("preSubcommand", (_parent, sub) => void (current = `${prefix} ${sub.name()}`));
    for (const sub of cmd.commands) track(sub, `${prefix} ${sub.name()}`);
  };
  track(program, usage);
  program.configureOutput({
    outputError: (str, write) => write(`${current}: ${str.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim()} (see 'npx ${current} --help')\n`),
  });
}

/**
 * The top-level program: every command of the table as a one-line stub, except those given in
 * `loaded` (name → register function of its module), registered for real in their place.
 */
export function topLevelProgram(loaded = {}) {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const program = new Command("logpipe")
    .version(pkg.version)
    .description("Archive each application's logs from Kafka into its own compressed OSS objects (Function Compute 3.0)")
    .exitOverride()
    .addHelpText("after", `
Run 'npx logpipe <command> --help' for a command's flags.
Exit codes: 0 ok; 1 failure or failed check; 2 bad flags or configuration; 130/143 interrupted.`);
  for (const c of COMMANDS) {
    if (loaded[c.name]) loaded[c.name](program);
    else program.command(c.args ? `${c.name} ${c.args}` : c.name).description(c.summary);
  }
  oneLineErrors(program, "logpipe");
  return program;
}

/** Parses argv with the table only (help, version, unknown or missing command) and returns the exit code. */
export async function runWithoutCommand(argv) {
  try {
    await topLevelProgram().parseAsync(argv);
    return 2; // a stub command never runs: commandOf would have selected it
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
}

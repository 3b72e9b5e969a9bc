/**
 * `logpipe bench [--quick] [--json]` — throughput and resources of the data path, with ratios
 * to baselines (gzip -1, zstd -1, Node gzipSync, JSON.parse) measured in the same run on the
 * same bytes. Writes bench/results.json (a --quick run writes bench/data/results-quick.json).
 */
import type { Command } from "commander";

export function register(program: Command): void {
  program.command("bench")
    .description("benchmark split / compress / append against gzip, zstd and JSON.parse baselines measured in the same run")
    .option("--quick", "small data and 3 repetitions (CI smoke run, under a minute)")
    .option("--json", "print the results as JSON on stdout (progress goes to stderr)")
    .option("--reps <n>", "repetitions of every timed step (default 5, quick 3)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error(`--reps expects an integer 1–50, got "${v}"`);
      return n;
    })
    .option("--cpu-prof", "also profile split and the end-to-end run (node --cpu-prof) and summarize where the time goes")
    .option("--no-local", "skip the `logpipe local` run (objects per app)")
    .option("--out <file>", "where to write the results JSON")
    .action(async (o: { quick?: boolean; json?: boolean; reps?: number; cpuProf?: boolean; local?: boolean; out?: string }) => {
      const { runBench, formatTable, writeResults, DEFAULT_RESULTS, QUICK_RESULTS } = await import("../../bench/run.js");
      const results = await runBench({ quick: o.quick, reps: o.reps, cpuProf: o.cpuProf, skipLocal: o.local === false });
      const out = o.out ?? (o.quick ? QUICK_RESULTS : DEFAULT_RESULTS);
      writeResults(results, out);
      if (o.json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
      else process.stdout.write(formatTable(results) + `\n\nResults written to ${out}\n`);
    });
}

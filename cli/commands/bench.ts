/**
 * `logpipe bench [--quick] [--json]` — throughput and resources of the data path, with ratios
 * to baselines (gzip -1, zstd -1, Node gzipSync, JSON.parse) measured in the same run on the
 * same bytes. Writes bench/results.json (a --quick run writes bench/data/results-quick.json).
 */
import type { Command } from "commander";
import { intFlag } from "../support/flags.js";

export function register(program: Command): void {
  program.command("bench")
    .description("benchmark the data path over 50–5,000 apps (NAS latency model off and on, cost per GB, issue-11 targets) and against gzip, zstd and JSON.parse baselines measured in the same run")
    .option("--quick", "small data and 3 repetitions (CI smoke run, under a minute)")
    .option("--json", "print the results as JSON on stdout (progress goes to stderr)")
    .option("--reps <n>", "repetitions of every timed step (default 5, quick 3)", intFlag(1, 50))
    .option("--cpu-prof", "also profile split, the end-to-end run and the steady state's window (V8 CPU profiles) and summarize where the time goes, per handler")
    .option("--no-local", "skip the `logpipe local` run (objects per app)")
    .option("--apps <list>", "app counts of the app-count axis, comma-separated (default 50,500,3000,5000; quick 50,500)", (v) => {
      const list = v.split(",").map((x) => Number(x.trim()));
      if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) throw new Error(`--apps expects whole numbers 1–100000 separated by commas, got "${v}"`);
      return list;
    })
    .option("--axis-mb <n>", "MB of NDJSON per app count on the axis (default 16, quick 4)", intFlag(1, 4096))
    .option("--batch-records <n>", "records per split batch, the trigger's CountBasedWindow (default 10000; `logpipe cost --stack S` shows the batch a stack gets)", intFlag(1, 10_000))
    .option("--steady-minutes <n>", "simulated minutes of the steady-state run per app count, 0 to skip (default: the warm-up — the longest drain or seal cycle + 10 min, 70 — plus a booked hour; quick 2)", intFlag(0, 1440))
    .option("--steady-reps <n>", "runs of the steady state per app count; each function is booked from the run where it used the least CPU (default 3, quick 1)", intFlag(1, 10))
    .option("--out <file>", "where to write the results JSON")
    .option("--work-dir <dir>", "where the runs' NAS directories go (default: /dev/shm when it is tmpfs with room, else bench/data; a local disk books its own cost of creating files as handler CPU)")
    .action(async (o: { quick?: boolean; json?: boolean; reps?: number; cpuProf?: boolean; local?: boolean; out?: string; workDir?: string; apps?: number[]; axisMb?: number; steadyMinutes?: number; steadyReps?: number; batchRecords?: number }) => {
      const { runBench, formatTable, writeResults, DEFAULT_RESULTS, QUICK_RESULTS } = await import("../../bench/run.js");
      const results = await runBench({
        quick: o.quick, reps: o.reps, cpuProf: o.cpuProf, skipLocal: o.local === false, apps: o.apps,
        axisBytes: o.axisMb ? o.axisMb * 1024 * 1024 : undefined, steadyMinutes: o.steadyMinutes, steadyReps: o.steadyReps, batchRecords: o.batchRecords, workDir: o.workDir,
      });
      const out = o.out ?? (o.quick ? QUICK_RESULTS : DEFAULT_RESULTS);
      writeResults(results, out);
      if (o.json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
      else process.stdout.write(formatTable(results) + `\n\nResults written to ${out}\n`);
    });
}

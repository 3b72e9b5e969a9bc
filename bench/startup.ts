/**
 * Start-up cost of the CLI: `node bin/logpipe.mjs --help` against a bare `node -e 0`, run in
 * pairs on the same machine at the same moment (so load and disk cache hit both alike); the
 * result is the median of the per-pair ratios. Goal: ratio ≤ 8 (each command is loaded only
 * when it runs; --help loads none).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/logpipe.mjs", import.meta.url));

export interface HelpStartup {
  /** Median over pairs of help time ÷ bare node time. */
  ratio: number;
  /** Median wall time of `node bin/logpipe.mjs --help`. */
  helpMs: number;
  /** Median wall time of `node -e 0`. */
  nodeMs: number;
}

function timeRun(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${r.status}: ${r.stderr.toString().trim()}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function measureHelpStartup(pairs = 7): Promise<HelpStartup> {
  timeRun([BIN, "--help"]); // warm the disk cache for both
  const help: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < pairs; i++) {
    // alternate which goes first, so a drift in machine load does not favour one side
    if (i % 2 === 0) {
      node.push(timeRun(["-e", "0"]));
      help.push(timeRun([BIN, "--help"]));
    } else {
      help.push(timeRun([BIN, "--help"]));
      node.push(timeRun(["-e", "0"]));
    }
  }
  return { ratio: median(help.map((h, i) => h / node[i]!)), helpMs: median(help), nodeMs: median(node) };
}

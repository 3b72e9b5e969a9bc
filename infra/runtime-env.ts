/**
 * Process settings of each function's Node.js runtime, set through its environment (no Pulumi
 * import: `npm run bench` runs split with exactly these).
 *
 * split holds a whole trigger batch (up to 32 MB) and its decoded records at once, so the rest
 * of its footprint is kept small:
 * - `--max-semi-space-size=16` (V8's own limit, set so that it is stated and measured): 1 until
 *   2026-12-04, then 4. A small young generation keeps the peak low, but over a stream of batches
 *   it promotes and collects more: split's CPU per 10,000-record batch (a harness over 250 bench
 *   batches, alternating settings, 2026-12-05) was 41.3 → 39.2 ms at 50 apps and 47.2 → 43.6 at
 *   3,000 from 4 to 16 MB, for a peak RSS on the 32 MB event of 146 → 154 MB (median of three
 *   processes each) of the 1,024 MB split is given (docs/bench.md, "Split's young generation at
 *   16 MB"). At 1 MB the collector took 9.4 ms of a 62.7 ms batch ("Each function in a process of
 *   its own");
 * - `MALLOC_ARENA_MAX=2`: without it the threads that malloc (V8's compiler and GC helpers,
 *   libuv's pool) can each get a glibc arena of their own, and their touched pages add to the peak.
 * Measured on the 32 MB bench event: peak RSS 4.6–4.8× the event with Node's defaults (glibc's arenas).
 *
 * compress and upload keep NAS_CONCURRENCY (16) file operations in flight — a drain of hundreds
 * of apps appends to hundreds of files, each open, write and fsync a NAS round trip — and upload
 * its object reads beside them; Node runs asynchronous file calls on libuv's pool, 4 threads
 * unless `UV_THREADPOOL_SIZE` says otherwise at start (https://docs.libuv.org/en/stable/threadpool.html,
 * checked 2026-12-02), so they get 32 (twice what one step keeps in flight, as a walk or a read
 * can run beside it): the round trips overlap instead of queueing behind 4.
 */
import type { FunctionKind } from "./config.js";

/** Source maps make the stack traces in the function logs point at the TypeScript sources. */
const NODE_OPTIONS = "--enable-source-maps";

export const RUNTIME_ENV: Readonly<Record<FunctionKind, Readonly<Record<string, string>>>> = {
  split: { NODE_OPTIONS: `${NODE_OPTIONS} --max-semi-space-size=16`, MALLOC_ARENA_MAX: "2" },
  compress: { NODE_OPTIONS, UV_THREADPOOL_SIZE: "32" },
  upload: { NODE_OPTIONS, UV_THREADPOOL_SIZE: "32" },
};

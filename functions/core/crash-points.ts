/**
 * Test-only crash hook. Inert unless LOGPIPE_CRASH_AT is set, e.g.
 *   LOGPIPE_CRASH_AT=compress.after-append        first time that point is reached
 *   LOGPIPE_CRASH_AT=compress.after-append:3      third time
 *   LOGPIPE_CRASH_AT=random:0.01:42               each point with probability 0.01 (seed 42)
 * The process kills itself with SIGKILL there, as FC does at a timeout or OOM.
 *
 * LOGPIPE_PAUSE_AT=<point>[:<nth>] instead stops the process (SIGSTOP) there, once: the test
 * decides when it continues (SIGCONT), to model a writer frozen past its lock TTL (GC pause,
 * a stalled NAS write, a frozen instance).
 */
export const CRASH_POINTS = [
  "split.mid-write",
  "split.after-write",
  "split.after-register",
  "compress.after-claim",
  "compress.tail-after-place",
  "repair.before-cut",
  "compress.before-write",
  "compress.mid-append",
  "compress.after-append",
  "compress.after-commit",
  "seal.after-record",
  "seal.after-rename",
  "upload.mid-upload",
  "upload.after-upload",
  "upload.mid-multipart",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const spec = process.env.LOGPIPE_CRASH_AT;
let hits = 0;
let rand: (() => number) | undefined;
let target: string | undefined;
let targetHit = 1;
let probability = 0;
if (spec) {
  const parts = spec.split(":");
  if (parts[0] === "random") {
    probability = Number(parts[1] ?? "0.01");
    let seed = Number(parts[2] ?? "1") >>> 0 || 1;
    rand = () => {
      // xorshift32: reproducible schedules per seed
      seed ^= seed << 13; seed >>>= 0;
      seed ^= seed >>> 17;
      seed ^= seed << 5; seed >>>= 0;
      return seed / 0x100000000;
    };
  } else {
    target = parts[0];
    targetHit = Number(parts[1] ?? "1");
  }
}

const pauseSpec = process.env.LOGPIPE_PAUSE_AT;
const [pauseTarget, pauseNth] = pauseSpec ? [pauseSpec.split(":")[0], Number(pauseSpec.split(":")[1] ?? "1")] : [undefined, 0];
let pauseHits = 0;

export function crashPoint(name: CrashPoint): void {
  if (pauseTarget === name && ++pauseHits === pauseNth) {
    process.stderr.write(`[pause-point] ${name}: SIGSTOP\n`);
    process.kill(process.pid, "SIGSTOP");
  }
  if (!spec) return;
  if (rand ? rand() < probability : name === target && ++hits === targetHit) {
    process.stderr.write(`[crash-point] ${name}: SIGKILL\n`);
    process.kill(process.pid, "SIGKILL");
  }
}

export const crashPointsEnabled = (): boolean => spec !== undefined || pauseSpec !== undefined;

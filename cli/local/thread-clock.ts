/**
 * How long the calling thread has waited, ready to run, for a core (Linux: the second field of
 * /proc/thread-self/schedstat, in ns). `logpipe local` runs several handlers' threads, the record
 * generator and redis-server on a few cores; an FC instance has its vCPU to itself, so that wait
 * is this machine's, not the handler's, and is left out of the billed time. Undefined where the
 * kernel does not say (not Linux, schedstats off): the time is then kept as measured.
 */
import { readFileSync } from "node:fs";

export function threadCoreWaitMs(): number | undefined {
  try {
    const fields = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
    const ns = Number(fields[1]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

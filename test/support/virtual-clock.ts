/**
 * A pacer clock for tests: virtual time that moves only when a sleeper wakes (each sleep ends at
 * its own virtual time, one event-loop turn later), and the sleeps asked for, in order.
 */
import type { PacerClock } from "../../functions/core/request-pacer.js";

export function virtualClock(): PacerClock & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      const end = now + ms;
      await new Promise((resolve) => setImmediate(resolve));
      if (end > now) now = end;
    },
  };
}

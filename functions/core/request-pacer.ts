/**
 * Paces requests to a service with a request-rate limit: each request is given a start time at
 * least 1/rate after the previous one's, and waits for it. Upload uses it for OSS, which throttles
 * an account above 2,000 requests per second on sequentially named objects (10,000 otherwise:
 * https://www.alibabacloud.com/help/en/oss/user-guide/0004-00000302, checked 2026-12-05). A cap on
 * requests in flight alone does not bound that rate: 128 PUTs in flight are 1,280 per second at
 * 100 ms each but 4,267 at 30 ms, so the rate is paced and the concurrency only bounds memory.
 *
 * The clock is injected: real time in a handler, the NAS model's overlap clock in the bench (a
 * request that waits for its turn then waits on the same virtual clock its round trip is booked on).
 */

export interface PacerClock {
  /** milliseconds, monotonic */
  now(): number;
  /** resolves `ms` later on this clock */
  sleep(ms: number): Promise<void>;
}

export const realClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class RequestPacer {
  private readonly intervalMs: number;
  /** the earliest start the next request may be given */
  private nextStart = -Infinity;

  constructor(
    readonly perSecond: number,
    private readonly clock: PacerClock = realClock,
  ) {
    if (!Number.isFinite(perSecond) || perSecond <= 0) throw new Error(`requests per second must be a positive number, got ${perSecond}`);
    this.intervalMs = 1000 / perSecond;
  }

  /** Resolves when the caller may send its request (at once when the pace allows). */
  async acquire(): Promise<void> {
    const now = this.clock.now();
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + this.intervalMs;
    // setTimeout's resolution is 1 ms: turns less than that away go now (the average rate holds,
    // since nextStart still advances by the interval)
    if (start - now >= 1) await this.clock.sleep(start - now);
  }
}

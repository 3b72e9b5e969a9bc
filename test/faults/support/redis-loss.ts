/**
 * What the "Redis loses state" scenarios share (test/faults/redis-loss.test.ts and the rollback
 * soak): an overwrite watch on the local object store, fault injection beside the instances through
 * an admin connection, the no-loss check (duplicates only when reported), and the file's own
 * redis-server that the rollbacks restart.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../../cli/services/redis-server.js";
import { describeResult, sleep, type RunContext, type runScenario, type Summary } from "./harness.js";

export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name.startsWith(".")) continue; // the store's temp files
      if (e.isDirectory()) visit(p);
      else out.push(p);
    }
  };
  try { visit(dir); } catch { /* not there yet */ }
  return out;
}

/** Watches the object directory: a key whose bytes change is an overwrite (must never happen). */
export class OverwriteWatch {
  private readonly seen = new Map<string, string>();
  overwrites: string[] = [];
  constructor(private readonly dir: string) {}
  scan(): number {
    for (const f of walkFiles(this.dir)) {
      let h: string;
      try { h = createHash("sha1").update(readFileSync(f)).digest("hex"); } catch { continue; }
      const before = this.seen.get(f);
      if (before && before !== h) this.overwrites.push(path.relative(this.dir, f));
      this.seen.set(f, h);
    }
    return this.seen.size;
  }
}

/** Resolves once `cond()` holds (polled), or the run is over; false if it never held. */
export async function until(ctx: RunContext, cond: () => boolean, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!ctx.isFinished() && Date.now() < deadline) {
    if (cond()) return true;
    await Promise.race([sleep(50), ctx.finished]);
  }
  return false;
}

/**
 * Fault injection beside the instances: an admin connection to redis-server and an overwrite watch
 * on the object store; `inject` runs its faults, then the watch keeps scanning until the run ends.
 */
export async function injectWatching(ctx: RunContext, redisUrl: string, watch: OverwriteWatch, inject: (admin: Redis) => Promise<void>): Promise<void> {
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  admin.on("error", () => {});
  try {
    await inject(admin);
    while (!ctx.isFinished()) {
      watch.scan();
      await Promise.race([sleep(200), ctx.finished]);
    }
  } finally {
    admin.disconnect();
  }
}

export function checkNoLoss(r: Awaited<ReturnType<typeof runScenario>>, overwrites: string[], summary: Summary) {
  console.log(describeResult(r) + ` reconcile kinds ${JSON.stringify(r.reconcile.kinds)}`);
  summary.addResult(r);
  expect(r.verify.lost, "lost records").toBe(0);
  expect(r.verify.misrouted).toBe(0);
  expect(r.leftOnNas, "files left on NAS: a stall").toEqual([]);
  expect(overwrites, "object keys rewritten with different bytes").toEqual([]);
  // duplicates are allowed only when Redis forgot, and then they are reported
  if (r.verify.duplicated > 0) expect(r.reconcile.events, "duplicates happened but no repair was reported").toBeGreaterThan(0);
}

/**
 * The test file's own redis-server, for rollbacks: no AOF and no automatic snapshots, so a test
 * decides which snapshot a restart comes back from. Started before the file's tests; after them
 * the summary is written and the server stopped.
 */
export function restartableRedis(summary: Summary): { readonly url: string; restart(): Promise<void> } {
  let server: RedisServerHandle | undefined;
  beforeAll(async () => {
    server = await startRedisServer({ appendonly: false });
  });
  afterAll(async () => {
    summary.flush();
    await server?.stop();
  });
  return { get url() { return server!.url; }, restart: () => server!.restart() };
}

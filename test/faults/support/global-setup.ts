/**
 * Global setup of `npm run test:faults`: one private redis-server for the scenarios that do not
 * restart Redis (each scenario uses its own key prefix), and a summary file every test file
 * appends its category totals to; the teardown prints one line per category at the very end:
 *   faults: N scenarios, records M, lost 0, duplicated 0 (category)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRedisServer } from "../../../cli/services/redis-server.js";

export default async function setup() {
  const redis = await startRedisServer();
  process.env.LOGPIPE_FAULT_REDIS_URL = redis.url;
  const dir = mkdtempSync(path.join(os.tmpdir(), "lp-fault-summary-"));
  const file = path.join(dir, "summary.jsonl");
  process.env.LOGPIPE_FAULT_SUMMARY_FILE = file;
  return async () => {
    await redis.stop().catch(() => {});
    if (existsSync(file)) {
      const totals = new Map<string, { scenarios: number; records: number; lost: number; duplicated: number }>();
      for (const line of readFileSync(file, "utf8").split("\n")) {
        if (!line) continue;
        const r = JSON.parse(line) as { category: string; scenarios: number; records: number; lost: number; duplicated: number };
        const t = totals.get(r.category) ?? { scenarios: 0, records: 0, lost: 0, duplicated: 0 };
        t.scenarios += r.scenarios; t.records += r.records; t.lost += r.lost; t.duplicated += r.duplicated;
        totals.set(r.category, t);
      }
      process.stdout.write("\n");
      for (const [category, t] of totals) {
        process.stdout.write(`faults: ${t.scenarios} scenarios, records ${t.records}, lost ${t.lost}, duplicated ${t.duplicated} (${category})\n`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

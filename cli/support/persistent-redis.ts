/**
 * A private redis-server whose data lives in a run directory (`DIR/coord`, append-only file,
 * fsync on every write), so coordination state — slot generations and committed lengths,
 * committed offsets, app admissions — survives between separate `logpipe invoke` processes,
 * as it does with a managed Redis in production. Started for one invocation, stopped after;
 * a lock file keeps two invocations from opening the same data at once.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { redisServerAvailable, startRedisServer } from "../services/redis-server.js";

export interface PersistentRedis {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function takeLock(lock: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(readFileSync(lock, "utf8").trim());
      if (owner && owner !== process.pid && alive(owner)) {
        throw new Error(`another logpipe invoke (pid ${owner}) is using the coordination state in ${path.dirname(lock)}; wait for it to finish`);
      }
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`could not lock ${lock}`);
}

export { redisServerAvailable };

export async function startPersistentRedis(dir: string): Promise<PersistentRedis> {
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, "lock");
  takeLock(lock);
  try {
    // graceful stop: the AOF is already fsynced on every write
    const server = await startRedisServer({ dir, appendonly: true });
    return {
      url: server.url,
      dir,
      async stop() {
        await server.stop();
        rmSync(lock, { force: true });
      },
    };
  } catch (e) {
    rmSync(lock, { force: true });
    throw e;
  }
}

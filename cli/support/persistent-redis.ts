/**
 * A private redis-server whose data lives in a run directory (`DIR/coord`, append-only file,
 * fsync on every write), so coordination state — slot generations and committed lengths,
 * committed offsets, app admissions — survives between separate `logpipe invoke` processes,
 * as it does with a managed Redis in production. Started for one invocation, stopped after;
 * a lock file keeps two invocations from opening the same data at once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { freePort, redisServerAvailable } from "../services/redis-server.js";

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

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.write("PING\r\n");
      s.once("data", (d) => {
        s.destroy();
        resolve(d.toString().startsWith("+PONG"));
      });
    });
    s.once("error", () => resolve(false));
  });
}

export { redisServerAvailable };

export async function startPersistentRedis(dir: string): Promise<PersistentRedis> {
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, "lock");
  takeLock(lock);
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const stderr: Buffer[] = [];
    child = spawn(
      "redis-server",
      [
        "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes",
        "--appendfilename", "coord.aof", "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => stderr.push(d));
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}: ${Buffer.concat(stderr).toString().slice(0, 500)}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const proc = child;
    return {
      url: `redis://127.0.0.1:${port}`,
      dir,
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) {
          await new Promise<void>((resolve) => {
            proc.once("exit", () => resolve());
            proc.kill("SIGTERM"); // graceful: the AOF is already fsynced on every write
          });
        }
        rmSync(lock, { force: true });
      },
    };
  } catch (e) {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(lock, { force: true });
    throw e;
  }
}

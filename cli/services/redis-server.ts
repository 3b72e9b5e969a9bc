/**
 * Starts a private redis-server on a free loopback port (tests, `logpipe local`, bench).
 * Nothing is persisted unless `appendonly` is asked for (fault tests restart it).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface RedisServerHandle {
  port: number;
  url: string;
  dir: string;
  process: ChildProcess;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** Kills and starts it again on the same port and directory (AOF survives when enabled). */
  restart(): Promise<void>;
}

export function redisServerAvailable(): boolean {
  return spawnSync("sh", ["-c", "command -v redis-server"], { stdio: "ignore" }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
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
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RedisServerOptions {
  /** Keep an append-only file so a restart keeps the state. */
  appendonly?: boolean;
  /** AOF fsync policy (default always); everysec is what managed Redis and infra/ deploy (may lose ~1 s). */
  appendfsync?: "always" | "everysec";
  port?: number;
  /** Data directory to use and keep (default: a temp directory removed on stop). */
  dir?: string;
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServerHandle> {
  if (!redisServerAvailable()) {
    throw new Error("redis-server is not installed; install it with: apt-get install -y redis-server");
  }
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), "logpipe-redis-"));
  const port = opts.port ?? (await freePort());
  const args = [
    "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
    "--appendonly", opts.appendonly ? "yes" : "no", "--appendfilename", "coord.aof", "--appendfsync", opts.appendfsync ?? "always", "--daemonize", "no",
    "--protected-mode", "yes", "--logfile", "",
  ];
  const launch = async () => {
    // Own process group: a terminal's Ctrl-C reaches only logpipe, which stops the run and then this
    // server in order (redis-server would otherwise shut down under the handlers still using it).
    const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
    await waitForPort(port, child, 10_000);
    return child;
  };
  const handle: RedisServerHandle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    process: await launch(),
    async stop() {
      await killAndWait(handle.process, ownDir ? "SIGKILL" : "SIGTERM");
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await killAndWait(handle.process);
      handle.process = await launch();
    },
  };
  return handle;
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

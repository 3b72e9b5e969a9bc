/**
 * A real Kafka-protocol cluster for tests: librdkafka's mock cluster wrapped in a tiny C helper
 * (`test/support/mockkafka.c`), compiled on first use into `test/support/bin/mockkafka`.
 *
 *   const kafka = await startKafkaMock({ brokers: 3, topics: [{ name: "logs", partitions: 4 }] });
 *   // kafkajs: new Kafka({ brokers: kafka.bootstrap })
 *   await kafka.brokerDown(2); await kafka.brokerUp(2);
 *   await kafka.stop();
 *
 * Limits of the mock (librdkafka 2.0.x): no CreateTopics admin API (use `createTopic`), no
 * idempotent/transactional kafkajs producers, no DescribeGroups; each partition keeps at most
 * 5 MB / 100000 message sets (hard-coded, no setting), so consumers must keep up with producers.
 * `brokerDown` disconnects a broker without moving leadership (use `setLeader` for that).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

export const KAFKA_MOCK_INSTALL_HINT = "apt-get install -y librdkafka-dev build-essential pkg-config";

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.join(here, "mockkafka.c");
const BINARY = path.join(here, "bin", "mockkafka");

export interface KafkaMockTopic {
  name: string;
  partitions: number;
  replication?: number;
}

export interface KafkaMock {
  /** host:port of every broker, for kafkajs `brokers`. */
  readonly bootstrap: string[];
  readonly brokers: number;
  readonly process: ChildProcess;
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /** Disconnects broker `id` (1-based) and refuses new connections; leadership does not move. */
  brokerDown(id: number): Promise<void>;
  brokerUp(id: number): Promise<void>;
  setLeader(topic: string, partition: number, id: number): Promise<void>;
  /** The next `count` requests with Kafka `apiKey` (e.g. 0 = Produce, 1 = Fetch) fail with `errorCode`. */
  pushRequestErrors(apiKey: number, errorCode: number, count: number): Promise<void>;
  setRtt(id: number, ms: number): Promise<void>;
  /** Pins the group (or transaction) coordinator for `key` to broker `id`. */
  setCoordinator(keyType: "group" | "transaction", key: string, id: number): Promise<void>;
  stop(): Promise<void>;
}

const has = (cmd: string) => spawnSync("sh", ["-c", cmd], { stdio: "ignore" }).status === 0;

/** Builds the helper when missing or older than its source; returns its path. Safe across processes. */
export function ensureMockKafkaBinary(): string {
  const fresh = existsSync(BINARY) && (!existsSync(SOURCE) || statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs);
  if (fresh) return BINARY;
  const missing = [
    !has("command -v gcc") && "gcc",
    !has("command -v pkg-config") && "pkg-config",
    has("command -v pkg-config") && !has("pkg-config --exists rdkafka") && "librdkafka headers (rdkafka.pc)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(`cannot build the Kafka mock broker: missing ${missing.join(", ")}; install with: ${KAFKA_MOCK_INSTALL_HINT}`);
  }
  mkdirSync(path.dirname(BINARY), { recursive: true });
  // Build to a private name, then rename: parallel test workers never see a half-written binary.
  const tmp = `${BINARY}.${process.pid}.${Date.now()}`;
  const r = spawnSync("sh", ["-c", `gcc -O2 -o "${tmp}" "${SOURCE}" $(pkg-config --cflags --libs rdkafka)`], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`building ${path.relative(process.cwd(), SOURCE)} failed:\n${r.stderr}\n(needs: ${KAFKA_MOCK_INSTALL_HINT})`);
  }
  renameSync(tmp, BINARY);
  return BINARY;
}

export async function startKafkaMock(opts: { brokers?: number; topics?: KafkaMockTopic[] } = {}): Promise<KafkaMock> {
  const brokers = opts.brokers ?? 3;
  const bin = ensureMockKafkaBinary();
  const child = spawn(bin, [String(brokers)], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.stdin!.on("error", () => {}); // EPIPE after the helper died is reported through `exit`

  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  const early: string[] = [];
  let exited: Error | null = null;
  lines.on("line", (line) => {
    const w = waiting.shift();
    if (w) w.resolve(line);
    else early.push(line);
  });
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = new Error(`mockkafka exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim()}` : ""}`);
      for (const w of waiting.splice(0)) w.reject(exited);
      resolve();
    });
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      if (early.length > 0) return resolve(early.shift()!);
      if (exited) return reject(exited);
      waiting.push({ resolve, reject });
    });

  let hello: { bootstrap: string; brokers: number };
  try {
    const first = await Promise.race([
      nextLine(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("mockkafka did not start within 10 s")), 10_000).unref()),
    ]);
    hello = JSON.parse(first);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }

  // Commands are serialized: one in flight, each awaits its "ok" / "err <message>".
  let chain: Promise<unknown> = Promise.resolve();
  const command = (line: string): Promise<void> => {
    const run = async () => {
      if (exited) throw exited;
      child.stdin!.write(line + "\n");
      const answer = await nextLine();
      if (answer !== "ok") throw new Error(`mockkafka: "${line}" failed: ${answer.replace(/^err /, "")}`);
    };
    const p = chain.then(run, run);
    chain = p.catch(() => {});
    return p;
  };
  const name = (s: string) => {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(s)) throw new Error(`invalid Kafka name: ${JSON.stringify(s)}`);
    return s;
  };
  const int = (n: number) => {
    if (!Number.isInteger(n)) throw new Error(`not an integer: ${n}`);
    return n;
  };

  const handle: KafkaMock = {
    bootstrap: hello.bootstrap.split(","),
    brokers: hello.brokers,
    process: child,
    createTopic: async (topic, partitions, replication = Math.min(3, brokers)) =>
      command(`topic ${name(topic)} ${int(partitions)} ${int(replication)}`),
    brokerDown: async (id) => command(`down ${int(id)}`),
    brokerUp: async (id) => command(`up ${int(id)}`),
    setLeader: async (topic, partition, id) => command(`leader ${name(topic)} ${int(partition)} ${int(id)}`),
    pushRequestErrors: async (apiKey, errorCode, count) => command(`error ${int(apiKey)} ${int(errorCode)} ${int(count)}`),
    setRtt: async (id, ms) => command(`rtt ${int(id)} ${int(ms)}`),
    setCoordinator: async (keyType, key, id) => command(`coordinator ${keyType} ${name(key)} ${int(id)}`),
    async stop() {
      if (exited) return;
      child.stdin!.end("quit\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
  try {
    for (const t of opts.topics ?? []) await handle.createTopic(t.name, t.partitions, t.replication);
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}

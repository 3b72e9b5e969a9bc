/**
 * `--redis URL` checked before a run starts: one connection attempt with a short timeout, so an
 * unreachable or misconfigured Redis is a one-line usage error naming it, not a retry loop.
 */
import { Redis } from "ioredis";
import { UsageError } from "../ops/errors.js";

/** `host:port` of a redis:// or rediss:// URL (never the password); throws a UsageError for anything else. */
export function redisTarget(flag: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${flag}: expected a URL such as redis://127.0.0.1:6379, got "${url}"`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new UsageError(`${flag}: expected a redis:// or rediss:// URL, got "${u.protocol}//…"`);
  if (!u.hostname) throw new UsageError(`${flag}: the URL has no host`);
  return `${u.hostname}:${u.port || "6379"}`;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset",
};

function reasonOf(e: Error & { code?: string }, timeoutMs: number): string {
  if (e.code && REASONS[e.code]) return REASONS[e.code]!;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(e.message)) return "authentication failed (credentials in the URL: redis://user:password@host:port)";
  if (e.code === "ETIMEDOUT" || /timed? ?out/i.test(e.message)) return `no answer within ${timeoutMs / 1000} s`;
  if (/Protocol error/i.test(e.message)) return "the server there does not speak the Redis protocol";
  if (/Connection is closed/i.test(e.message)) return "the connection was closed before Redis answered";
  return e.message;
}

/** Connects once and sends PING; throws `flag host:port: reason` within about `timeoutMs`. */
export async function checkRedisReachable(flag: string, url: string, timeoutMs = 3000): Promise<void> {
  const target = redisTarget(flag, url);
  const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: Error | undefined;
  client.on("error", (e: Error) => (lastError = e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    // the client's "error" event carries the cause; the rejection only says the connection closed
    const err = (lastError ?? (e as Error)) as Error & { code?: string };
    throw new UsageError(`${flag} ${target}: ${reasonOf(err, timeoutMs)}`);
  } finally {
    client.disconnect();
  }
}

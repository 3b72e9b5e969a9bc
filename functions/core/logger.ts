/**
 * Structured JSON logs (pino). Secrets are redacted by path wherever they might appear, and
 * nothing in the data path logs record contents or credentials.
 */
import { pino, destination, type DestinationStream, type Logger } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "password", "*.password", "accessKeySecret", "*.accessKeySecret", "securityToken", "*.securityToken",
  "credentials", "*.credentials", "LOGPIPE_REDIS_PASSWORD", "*.LOGPIPE_REDIS_PASSWORD",
];

export function createLogger(opts: { level?: string; base?: Record<string, unknown>; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: opts.base ?? {},
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    (opts.destination as DestinationStream | undefined) ?? destination({ dest: 1, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: "silent" });

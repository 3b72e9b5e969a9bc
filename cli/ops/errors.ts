/**
 * Errors the operations commands raise. The command layer maps them to exit codes:
 * UsageError / ConfigError → 2 (the user must fix an argument or a config file),
 * everything else → 1 (an operation failed or a gate/budget check did not pass).
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) { super(message); this.name = "UsageError"; }
}

export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string) { super(message); this.name = "ConfigError"; }
}

/** An operation failed (pulumi, metrics API…); the message says what state was left behind. */
export class OpsError extends Error {
  readonly exitCode = 1;
  constructor(message: string, readonly details?: Record<string, unknown>) { super(message); this.name = "OpsError"; }
}

export function exitCodeOf(e: unknown): number {
  const c = (e as { exitCode?: unknown })?.exitCode;
  return c === 2 ? 2 : 1;
}

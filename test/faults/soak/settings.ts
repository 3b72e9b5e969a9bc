/**
 * What a soak run explores, from the environment (`npm run soak`, docs/faults.md "Soak runs"):
 *   LOGPIPE_SOAK_SEEDS   FIRST:COUNT, the seeds of the scenarios (default 1000:6)
 *   LOGPIPE_SOAK_KILL_P  chance that an instance kills itself at each crash point it reaches (default 0.03)
 * The fault suite's scenarios run fixed seeds, so a rare interleaving they miss stays missed; a soak
 * run draws new kill schedules and rollback moments from new seeds.
 */
export interface SoakSettings {
  seeds: number[];
  killChance: number;
}

export function soakSettings(env: NodeJS.ProcessEnv = process.env): SoakSettings {
  const seedsText = env.LOGPIPE_SOAK_SEEDS ?? "1000:6";
  const m = /^(\d+):(\d+)$/.exec(seedsText);
  if (!m || Number(m[2]) < 1) throw new Error(`LOGPIPE_SOAK_SEEDS must be FIRST:COUNT with COUNT ≥ 1 (e.g. 1000:6), not ${JSON.stringify(seedsText)}`);
  const killText = env.LOGPIPE_SOAK_KILL_P ?? "0.03";
  const killChance = Number(killText);
  if (!(killChance > 0 && killChance <= 0.5)) throw new Error(`LOGPIPE_SOAK_KILL_P must be a number in (0, 0.5], not ${JSON.stringify(killText)}`);
  const first = Number(m[1]);
  return { seeds: Array.from({ length: Number(m[2]) }, (_, i) => first + i), killChance };
}

/** Three shapes of run, by seed: the long tail's shards, small seals shipped to OSS, and files past the multipart threshold. */
export function soakShape(seed: number): { label: string; apps: number; env: Record<string, string>; oss: boolean } {
  switch (seed % 3) {
    case 0:
      return { label: "tail shards", apps: 120, env: { LOGPIPE_TAIL_SECTION_BYTES: "1MB", LOGPIPE_TAIL_SHARDS: "3", LOGPIPE_SEAL_MAX_AGE: "1s" }, oss: false };
    case 1:
      return { label: "small seals to OSS", apps: 30, env: { LOGPIPE_SEAL_AGE: "1s", LOGPIPE_SEAL_BYTES: "64KB" }, oss: true };
    default:
      return { label: "multipart", apps: 30, env: { LOGPIPE_TAIL_SECTION_BYTES: "64KB", LOGPIPE_SEAL_AGE: "2s", LOGPIPE_SEAL_BYTES: "200KB", LOGPIPE_MULTIPART_THRESHOLD: "150KB" }, oss: true };
  }
}

// Makes sure the system programs the tests talk to are present: installs them when running
// as root (CI, fresh machines), otherwise prints the exact command to run and exits non-zero.
import { execSync, spawnSync } from "node:child_process";

const has = (cmd) => spawnSync("sh", ["-c", cmd], { stdio: "ignore" }).status === 0;

export const requirements = [
  { what: "redis-server", check: "command -v redis-server", pkg: "redis-server" },
  { what: "C compiler", check: "command -v gcc", pkg: "build-essential" },
  { what: "pkg-config", check: "command -v pkg-config", pkg: "pkg-config" },
  { what: "librdkafka headers", check: "pkg-config --exists rdkafka", pkg: "librdkafka-dev" },
];

export function ensureSystemDeps({ log = console.error } = {}) {
  const missing = requirements.filter((r) => !has(r.check));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const cmd = `apt-get install -y ${pkgs.join(" ")}`;
  if (process.getuid?.() === 0 && has("command -v apt-get")) {
    log(`[system-deps] missing ${missing.map((m) => m.what).join(", ")}; running: apt-get update && ${cmd}`);
    execSync(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${cmd}`, { stdio: "inherit" });
    const still = requirements.filter((r) => !has(r.check));
    if (still.length === 0) return;
    throw new Error(`still missing after install: ${still.map((m) => m.what).join(", ")}`);
  }
  log(`[system-deps] missing: ${missing.map((m) => m.what).join(", ")}`);
  log(`[system-deps] install them with:  sudo apt-get update && sudo ${cmd}`);
  process.exit(3);
}

if (import.meta.url === `file://${process.argv[1]}`) ensureSystemDeps();

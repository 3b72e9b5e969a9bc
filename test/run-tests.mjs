// `npm test`: checks system packages, then runs vitest (whose global setup starts a private
// redis-server, the Kafka mock broker and the OSS test server, and stops them afterwards).
import { spawnSync } from "node:child_process";
import { ensureSystemDeps } from "./support/system-deps.mjs";

ensureSystemDeps();
const args = ["vitest", "run", ...process.argv.slice(2)];
const r = spawnSync("npx", args, { stdio: "inherit" });
process.exit(r.status ?? 1);

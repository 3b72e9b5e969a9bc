import { defineConfig } from "vitest/config";

// `npm run test:faults`: kill -9 at every crash point, Redis and OSS faults, redelivery and
// hostile input (see docs/faults.md). Files run one at a time: each scenario already runs
// several processes, and the timing-sensitive ones (lock TTLs) must not fight for 2 cores.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts", "test/property/**/*.test.ts"],
    globalSetup: ["test/faults/support/global-setup.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});

import { defineConfig } from "vitest/config";
import faults from "./vitest.faults.config.js";

// `npm run soak`: the fault scenarios on new seeds (test/faults/soak/settings.ts; docs/faults.md,
// "Soak runs"). Not part of `npm test` or `npm run test:faults`: it explores, for as long as its
// seeds ask, where those prove fixed scenarios. Run as the fault suite is (one file at a time);
// `include` replaced, not merged (mergeConfig would append it to the suite's own).
export default defineConfig({ ...faults, test: { ...faults.test, include: ["test/faults/soak/*.soak.ts"] } });

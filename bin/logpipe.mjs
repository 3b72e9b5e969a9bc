#!/usr/bin/env node
// Entry point for `npx logpipe`: registers tsx so the TypeScript CLI runs without a build step.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../cli/index.ts");
process.exitCode = await main(process.argv);

/** FC entry point of upload (timer trigger): see functions/core/upload.ts. */
import { FcInvoker } from "../adapters/fc-invoker.js";
import { OssObjectStore } from "../adapters/oss-store.js";
import { defineHandler } from "../adapters/runtime.js";
import { parseTimerEvent } from "../core/events.js";
import { runUpload, uploadSummary } from "../core/upload.js";

export const handler = defineHandler("upload", async (deps, event) => {
  const timer = parseTimerEvent(event);
  // payload "drain" (manual invoke or a timer payload) drains every pending app and seals everything, e.g. before a migration
  const drain = timer.payload === "drain";
  // the log line and reply carry the records' ages as percentiles, not one entry per member
  return uploadSummary(await runUpload(deps, { sealAll: drain, sweepAll: drain, redriveAll: drain }));
}, {
  oss: (options) => new OssObjectStore(options),
  fcInvoker: (options) => new FcInvoker(options), // re-drives chunks whose compress never ran
});

/** FC entry point of split (Kafka trigger, sync invoke): see functions/core/split.ts. */
import { FcInvoker } from "../adapters/fc-invoker.js";
import { defineHandler } from "../adapters/runtime.js";
import { splitBatch } from "../core/split.js";

export const handler = defineHandler("split", (deps, event, ctx) => splitBatch(deps, event, { requestId: ctx.requestId }), {
  fcInvoker: (options) => new FcInvoker(options),
});

/** FC entry point of compress (async invoke with a drain task `{v:2, apps}`): see functions/core/compress.ts. */
import { defineHandler } from "../adapters/runtime.js";
import { BadTaskError, compressTask, parseTask } from "../core/compress.js";
import { writeDeadLetter } from "../core/dead-letter.js";

export const handler = defineHandler("compress", async (deps, event, ctx) => {
  let task;
  try {
    task = parseTask(event);
  } catch (e) {
    if (!(e instanceof BadTaskError)) throw e;
    // a malformed task cannot succeed on retry: keep it as a dead letter and acknowledge
    await writeDeadLetter(deps, { kind: "pointer", reason: e.message, payload: event, requestId: ctx.requestId });
    return { status: "dead-lettered", reason: e.message };
  }
  return compressTask(deps, task, { requestId: ctx.requestId });
});

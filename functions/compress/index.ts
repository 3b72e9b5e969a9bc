/** FC entry point of compress (async invoke with a chunk pointer): see functions/core/compress.ts. */
import { defineHandler } from "../adapters/runtime.js";
import { BadPointerError, compressChunk, parsePointer } from "../core/compress.js";
import { writeDeadLetter } from "../core/dead-letter.js";

export const handler = defineHandler("compress", async (deps, event, ctx) => {
  try {
    return await compressChunk(deps, parsePointer(event), { requestId: ctx.requestId });
  } catch (e) {
    if (!(e instanceof BadPointerError)) throw e; // retryable: the async retry (or the reconciler) takes it
    // A malformed pointer cannot succeed on retry: keep it as a dead letter and acknowledge.
    await writeDeadLetter(deps, { kind: "pointer", reason: e.message, payload: Buffer.isBuffer(event) ? event : String(event), requestId: ctx.requestId });
    return { status: "dead-lettered", reason: e.message };
  }
});

/** FC entry point of compress (async invoke with one chunk pointer or a group): see functions/core/compress.ts. */
import { defineHandler } from "../adapters/runtime.js";
import { BadPointerError, compressChunk, parsePointer, type CompressResult } from "../core/compress.js";
import { writeDeadLetter } from "../core/dead-letter.js";
import type { PipelineDeps } from "../core/deps.js";

/** `{pointers: [...]}` (grouped by split's FC invoker) or a single pointer. */
function taskPointers(event: Buffer): unknown[] {
  try {
    const doc = JSON.parse(event.toString());
    if (doc && typeof doc === "object" && Array.isArray(doc.pointers)) return doc.pointers;
  } catch {
    // not JSON: parsePointer reports it
  }
  return [event];
}

async function deadLetterPointer(deps: PipelineDeps, e: BadPointerError, payload: unknown, requestId?: string) {
  await writeDeadLetter(deps, { kind: "pointer", reason: e.message, payload: Buffer.isBuffer(payload) ? payload : JSON.stringify(payload), requestId });
}

export const handler = defineHandler("compress", async (deps, event, ctx) => {
  const results: (CompressResult | { status: "dead-lettered"; reason: string })[] = [];
  let retryable: Error | undefined;
  // Every chunk of the group is attempted; a failure is rethrown at the end so the async retry
  // runs the group again (chunks already done are gone by then and return at once).
  for (const item of taskPointers(event)) {
    try {
      results.push(await compressChunk(deps, parsePointer(item), { requestId: ctx.requestId }));
    } catch (e) {
      if (e instanceof BadPointerError) {
        // a malformed pointer cannot succeed on retry: keep it as a dead letter and acknowledge
        await deadLetterPointer(deps, e, item, ctx.requestId);
        results.push({ status: "dead-lettered", reason: e.message });
      } else retryable ??= e as Error;
    }
  }
  if (retryable) throw retryable;
  return results.length === 1 ? results[0]! : { chunks: results.length, results };
});

/**
 * Dead letters: input that cannot be archived as a record (unreadable batch, malformed element,
 * oversize record, corrupt chunk). Each is written whole, with its reason, into the outbox
 * under `<prefix>/_deadletter/…`, so the uploader ships it to OSS like any archive object.
 * Names derive from the content, so a redelivery rewrites the same object.
 */
import { gzipSync } from "node:zlib";
import { sha256Hex } from "./chunk.js";
import { nowOf, type PipelineDeps } from "./deps.js";
import { deadLetterKey, outboxPath } from "./layout.js";
import { SIGNAL_NAMES } from "./logger.js";

export interface DeadLetter {
  kind: "batch" | "elements" | "records" | "chunk" | "pointer";
  reason: string;
  /** The input as received. */
  payload: Buffer | string;
  details?: unknown;
  requestId?: string;
}

export async function writeDeadLetter(deps: Pick<PipelineDeps, "nas" | "config" | "now" | "logger">, dl: DeadLetter): Promise<string> {
  const payload = typeof dl.payload === "string" ? Buffer.from(dl.payload, "utf8") : dl.payload;
  const isUtf8 = Buffer.from(payload.toString("utf8"), "utf8").equals(payload);
  const id = sha256Hex(Buffer.concat([Buffer.from(dl.kind + "\0" + dl.reason + "\0"), payload])).slice(0, 24);
  const at = nowOf(deps);
  const key = deadLetterKey(deps.config.prefix, dl.kind, id, at, deps.config.timeZone);
  const doc = {
    kind: dl.kind,
    reason: dl.reason,
    receivedAt: new Date(at).toISOString(),
    requestId: dl.requestId,
    details: dl.details,
    encoding: isUtf8 ? "utf8" : "base64",
    payload: isUtf8 ? payload.toString("utf8") : payload.toString("base64"),
  };
  await deps.nas.writeAtomic(outboxPath(key), gzipSync(Buffer.from(JSON.stringify(doc))));
  deps.logger.warn({ deadLetter: key, kind: dl.kind, reason: dl.reason, bytes: payload.length, metrics: { [SIGNAL_NAMES.deadLetters]: 1 } }, "dead-lettered input");
  return key;
}

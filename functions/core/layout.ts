/**
 * Where everything lives, on NAS and in OSS. Names are deterministic: a retry rewrites the
 * same name with the same bytes. Every segment taken from data (app, topic) goes through
 * appSegment/topicSegment first, so data never becomes a raw path.
 *
 * NAS root:
 *   staging/<topic>.<partition>/<first>-<last>.<crc32>.batch    split → compress (all apps, one file per batch-partition)
 *   active/<app>/slot-<slot>.gen-<gen>.log.gz                   compress appends self-describing members here
 *   outbox-flat/<object key, "/" → "+">                         sealed files and dead letters, uploaded as-is
 *   outbox/<object key>                                         the same, nested (versions before outbox-flat; keys too long for one name)
 *   uploads/<sha1(key)>.checkpoint.json                         multipart checkpoints
 */
import { createHash } from "node:crypto";
import { appSegment, isSafeSegment } from "./routing.js";

export const STAGING_DIR = "staging";
export const ACTIVE_DIR = "active";
/** The nested outbox: what versions before the flat one wrote, and keys too long for one file name. */
export const OUTBOX_DIR = "outbox";
/**
 * The flat outbox. A directory of its own, beside `outbox/`: an older uploader (a version still
 * taking part of the traffic during a canary) walks only `outbox/` and would ship a flat name as
 * a key with "+" in it; here it never sees one.
 */
export const FLAT_OUTBOX_DIR = "outbox-flat";
/** Every directory the uploader ships from. */
export const OUTBOX_DIRS = [FLAT_OUTBOX_DIR, OUTBOX_DIR] as const;
export const UPLOADS_DIR = "uploads";
export const TEMP_PREFIX = ".tmp.";
export const DEADLETTER_APP = "_deadletter";

export function topicSegment(topic: string): string {
  return isSafeSegment(topic) && !topic.startsWith("_") ? topic : appSegment(topic);
}

export function activeFilePath(app: string, slot: number, gen: number): string {
  return `${ACTIVE_DIR}/${app}/slot-${slot}.gen-${gen}.log.gz`;
}

const ACTIVE_NAME = /^slot-(\d+)\.gen-(\d+)\.log\.gz$/;
export function parseActiveFileName(name: string): { slot: number; gen: number } | undefined {
  const m = ACTIVE_NAME.exec(name);
  return m ? { slot: Number(m[1]), gen: Number(m[2]) } : undefined;
}

export interface TimeParts {
  dt: string;
  hour: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
export function timeParts(epochMs: number, timeZone: string): TimeParts {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(epochMs)).map((x) => [x.type, x.value]));
  return { dt: `${p.year}-${p.month}-${p.day}`, hour: p.hour! };
}

/**
 * `<prefix>/<app>/dt=YYYY-MM-DD/hour=HH/<app>-<slot>-<gen>-<digest12>.log.gz`, hour the
 * generation started (its first member's oldest record was staged: SlotState.t0). The digest is of the sealed bytes: the same file always gets the
 * same key (a redone seal or upload rewrites it with the same bytes), and different bytes never
 * share a key, even when the coordination state forgot a generation or a run reuses a directory.
 */
export function archiveObjectKey(prefix: string, app: string, slot: number, gen: number, t0: number, timeZone: string, digest: string): string {
  const { dt, hour } = timeParts(t0, timeZone);
  return `${prefix ? prefix + "/" : ""}${app}/dt=${dt}/hour=${hour}/${app}-${slot}-${gen}-${digest.slice(0, 12)}.log.gz`;
}

const ARCHIVE_KEY = /(?:^|\/)([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([^/]+)$/;
export function parseArchiveKey(key: string): { app: string; dt: string; hour: string; file: string } | undefined {
  const m = ARCHIVE_KEY.exec(key);
  return m ? { app: m[1]!, dt: m[2]!, hour: m[3]!, file: m[4]! } : undefined;
}

export function appPrefix(prefix: string, app: string): string {
  return `${prefix ? prefix + "/" : ""}${app}/`;
}

export function deadLetterKey(prefix: string, kind: string, id: string, atMs: number, timeZone: string): string {
  const { dt, hour } = timeParts(atMs, timeZone);
  return `${prefix ? prefix + "/" : ""}${DEADLETTER_APP}/dt=${dt}/hour=${hour}/${kind}-${id}.json.gz`;
}

/**
 * Longest flat outbox name: NAME_MAX (255 on NFS and local file systems) less what a temp name
 * adds (`.tmp.` + `.` + 8 hex).
 */
const MAX_FLAT_NAME = 255 - TEMP_PREFIX.length - 9;

/**
 * The outbox file of an object key. Flat — the key with "/" written as "+", a character no key
 * holds (prefixes, app segments, dates and names are [A-Za-z0-9._=-]) — so sealing creates no
 * directories and an upload leaves none behind: per object that is a rename and an unlink, not
 * three mkdirs, four rmdirs and the readdirs of a nested tree. A key too long for one name (a
 * long configured prefix) keeps the nested layout under `outbox/`; the uploader reads both.
 */
export function outboxPath(key: string): string {
  const flat = key.split("/").join("+");
  return flat.length <= MAX_FLAT_NAME && !key.includes("+") ? `${FLAT_OUTBOX_DIR}/${flat}` : `${OUTBOX_DIR}/${key}`;
}

/** Inverse of outboxPath (flat or nested). */
export function keyOfOutboxPath(rel: string): string {
  if (rel.startsWith(`${FLAT_OUTBOX_DIR}/`)) return rel.slice(FLAT_OUTBOX_DIR.length + 1).split("+").join("/");
  return rel.slice(OUTBOX_DIR.length + 1);
}

export function checkpointPath(key: string): string {
  return `${UPLOADS_DIR}/${createHash("sha1").update(key).digest("hex")}.checkpoint.json`;
}

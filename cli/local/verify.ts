/**
 * Reads an archive back and proves exactly-once: every input record must be found exactly as
 * many times as it went in (a multiset by content), under its app's keys. Dead-lettered records
 * (e.g. oversize) count as accounted for, in the dead-letter prefix.
 */
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { ObjectStore } from "../../functions/adapters/object-store.js";
import { unframeRecords } from "../../functions/core/framing.js";
import { DEADLETTER_APP, parseArchiveKey } from "../../functions/core/layout.js";
import { OVERFLOW_APP } from "../../functions/core/routing.js";

const digest = (b: Uint8Array) => createHash("md5").update(b).digest("base64");

export interface AppFigures {
  app: string;
  records: number;
  rawBytes: number;
  compressedBytes: number;
  objects: number;
  objectSizes: number[];
}

export interface VerifyReport {
  expected: number;
  archived: number;
  deadLettered: number;
  lost: number;
  duplicated: number;
  misrouted: number;
  objects: number;
  compressedBytes: number;
  apps: AppFigures[];
  /** A few examples of problems, for the report. */
  examples: string[];
}

/** Multiset of expected records (by content digest) with the app each should land in. */
export class ExpectedRecords {
  readonly counts = new Map<string, { n: number; app: string }>();
  total = 0;
  rawBytes = 0;
  add(value: Uint8Array, app: string): void {
    const k = digest(value);
    const e = this.counts.get(k);
    if (e) {
      e.n++;
      if (e.app !== app) e.app = "*"; // same bytes routed differently (key/header routing): any app accepted
    } else this.counts.set(k, { n: 1, app });
    this.total++;
    this.rawBytes += value.length;
  }
}

export async function* archiveObjects(objects: ObjectStore, prefix: string): AsyncGenerator<{ key: string; app: string; size: number }> {
  for await (const o of objects.list(prefix ? `${prefix}/` : "")) {
    const parsed = parseArchiveKey(o.key);
    if (parsed) yield { key: o.key, app: parsed.app, size: o.size };
  }
}

/**
 * Reads every archived object back and compares it with the records sent. With `strictOverflow`,
 * a record under `_overflow` counts as misrouted unless `_overflow` is the app it was expected in
 * (tests that know each app's admission decision); otherwise `_overflow` is accepted for any app.
 */
export async function verifyArchive(objects: ObjectStore, prefix: string, expected: ExpectedRecords, opts: { strictOverflow?: boolean; skipKeys?: ReadonlySet<string> } = {}): Promise<VerifyReport> {
  const found = new Map<string, number>();
  const perApp = new Map<string, AppFigures>();
  const report: VerifyReport = { expected: expected.total, archived: 0, deadLettered: 0, lost: 0, duplicated: 0, misrouted: 0, objects: 0, compressedBytes: 0, apps: [], examples: [] };
  const note = (s: string) => void (report.examples.length < 10 && report.examples.push(s));

  for await (const o of archiveObjects(objects, prefix)) {
    if (opts.skipKeys?.has(o.key)) continue;
    const body = gunzipSync(await objects.getBuffer(o.key));
    report.objects++;
    report.compressedBytes += o.size;
    if (o.app === DEADLETTER_APP) {
      const doc = JSON.parse(body.toString("utf8")) as { kind: string; encoding: string; payload: string };
      if (doc.kind === "records") {
        const payload = Buffer.from(doc.payload, doc.encoding === "base64" ? "base64" : "utf8");
        const k = digest(payload);
        found.set(k, (found.get(k) ?? 0) + 1);
        report.deadLettered++;
      }
      continue;
    }
    let fig = perApp.get(o.app);
    if (!fig) perApp.set(o.app, (fig = { app: o.app, records: 0, rawBytes: 0, compressedBytes: 0, objects: 0, objectSizes: [] }));
    fig.objects++;
    fig.compressedBytes += o.size;
    fig.objectSizes.push(o.size);
    for (const rec of unframeRecords(body)) {
      const k = digest(rec);
      found.set(k, (found.get(k) ?? 0) + 1);
      fig.records++;
      fig.rawBytes += rec.length;
      report.archived++;
      const e = expected.counts.get(k);
      if (e && e.app !== "*" && e.app !== o.app && (opts.strictOverflow || o.app !== OVERFLOW_APP)) {
        report.misrouted++;
        note(`record expected under app ${e.app} found in ${o.key}`);
      }
    }
  }
  for (const [k, e] of expected.counts) {
    const got = found.get(k) ?? 0;
    if (got < e.n) {
      report.lost += e.n - got;
      note(`${e.n - got} lost record(s) of app ${e.app}`);
    } else if (got > e.n) {
      report.duplicated += got - e.n;
      note(`${got - e.n} duplicate(s) of a record of app ${e.app}`);
    }
  }
  for (const [k, got] of found) {
    if (!expected.counts.has(k)) {
      report.duplicated += got; // archived but never sent: counted as extra
      note("a record that was never sent was archived");
    }
  }
  report.apps = [...perApp.values()].sort((a, b) => b.rawBytes - a.rawBytes);
  return report;
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

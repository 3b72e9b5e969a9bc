/**
 * Deterministic, random-access test records for the fault suite: the value of (partition,
 * offset) is a pure function of the scenario seed, so a child process can rebuild any trigger
 * batch from a tiny descriptor, redeliveries carry byte-identical records (as Kafka would), and
 * the test can compute the expected multiset without keeping the batches around.
 */
import { ExpectedRecords } from "../../../cli/local/verify.js";
import type { SourceRecord } from "../../../cli/sources/types.js";
import { createRouter, routeSegment } from "../../../functions/core/routing.js";

export const TOPIC = "app-logs";

/** A range of one partition's log, [from, to) (offsets). */
export interface PartRange {
  partition: number;
  from: number;
  to: number;
  /** offsets o with o % gapEvery === gapEvery - 1 do not exist (transaction markers, compaction) */
  gapEvery?: number;
}

/** Offsets of a range that carry a record. */
export function* offsetsOf(r: PartRange): Generator<number> {
  for (let o = r.from; o < r.to; o++) if (!r.gapEvery || o % r.gapEvery !== r.gapEvery - 1) yield o;
}

/** One trigger batch: a list of partition ranges, delivered as one CloudEvents array. */
export interface BatchDescriptor {
  id: string;
  parts: PartRange[];
}

function mix(a: number, b: number, c: number): number {
  // small integer hash (murmur3 finaliser over a combination); good enough to spread test data
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c + 0x165667b1, 0x27d4eb2f)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const WORDS = ["request", "completed", "cache", "miss", "upstream", "timeout", "retrying", "order", "state", "changed", "payment", "authorized", "slow", "query", "session", "refreshed"];

/** App of a record: skewed (a few apps carry most of the volume). */
export function appOf(seed: number, apps: number, partition: number, offset: number): string {
  const u = mix(seed, partition, offset) / 0x100000000;
  return `app-${String(Math.floor(apps * u * u)).padStart(2, "0")}`;
}

export function recordValue(seed: number, apps: number, partition: number, offset: number): Buffer {
  const h = mix(seed + 1, partition, offset);
  const words: string[] = [];
  for (let i = 0, x = h; i < 4 + (h & 7); i++, x = mix(x, i, seed)) words.push(WORDS[x % WORDS.length]!);
  const line = {
    ts: new Date(Date.UTC(2026, 0, 1) + offset * 7).toISOString(),
    level: LEVELS[h % LEVELS.length],
    appId: appOf(seed, apps, partition, offset),
    p: partition,
    o: offset,
    trace: h.toString(16).padStart(8, "0") + mix(h, seed, 3).toString(16).padStart(8, "0"),
    msg: words.join(" "),
  };
  return Buffer.from(JSON.stringify(line));
}

export function recordsOf(seed: number, apps: number, parts: PartRange[]): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (const r of parts) {
    for (const o of offsetsOf(r)) {
      out.push({ topic: TOPIC, partition: r.partition, offset: o, timestamp: Date.UTC(2026, 0, 1) + o * 7, key: null, headers: {}, value: recordValue(seed, apps, r.partition, o) });
    }
  }
  return out;
}

/** Splits each partition's log [0, perPartition) into batches of `batchRecords`, interleaving partitions. */
export function plainBatches(partitions: number, perPartition: number, batchRecords: number): BatchDescriptor[] {
  const out: BatchDescriptor[] = [];
  for (let from = 0; from < perPartition; from += batchRecords) {
    for (let p = 0; p < partitions; p++) out.push({ id: `b-${p}-${from}`, parts: [{ partition: p, from, to: Math.min(perPartition, from + batchRecords) }] });
  }
  return out;
}

/** The multiset the archive must hold: every (partition, offset) once, under its app. */
export function expectedFor(seed: number, apps: number, partitions: number, perPartition: number): ExpectedRecords {
  const expected = new ExpectedRecords();
  const router = createRouter([{ kind: "field", path: ["appId"] }]);
  for (let p = 0; p < partitions; p++) {
    for (let o = 0; o < perPartition; o++) {
      const value = recordValue(seed, apps, p, o);
      expected.add(value, routeSegment(router, { key: null, headers: {}, value }));
    }
  }
  return expected;
}

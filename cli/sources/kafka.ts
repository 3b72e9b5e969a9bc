/**
 * Kafka source for `logpipe local`: a kafkajs consumer-group member that yields records in
 * batches and commits offsets only when the caller acks a batch (at-least-once).
 *
 * - Backpressure: each kafkajs `eachBatch` call waits until the caller has pulled all of its
 *   records, and kafkajs fetches no more from that broker meanwhile, so at most one fetched
 *   batch per broker is held in memory.
 * - Redelivery: if the consumer crashes or the group rebalances before a batch is acked, kafkajs
 *   re-reads from the last commit, so a record can be yielded twice (never skipped). Downstream
 *   dedups by (topic, partition, offset).
 * - End: after `maxRecords` records, or when nothing arrived for `stopWhenIdleMs` and the group's
 *   position has reached every assigned partition's high watermark (a broker outage that stalls
 *   fetching is therefore not mistaken for the end of the topic), or when `signal` aborts.
 */
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type KafkaMessage, type LogEntry } from "kafkajs";
import type { RecordSource, SourceBatch, SourceLogger, SourceRecord } from "./types.js";

export type { RecordSource, SourceBatch, SourceLogger, SourceRecord } from "./types.js";

export interface KafkaSourceOptions {
  /** host:port of one or more brokers. */
  brokers: string[];
  topic: string;
  /** Consumer group; default `logpipe-local-<topic>`. */
  groupId?: string;
  /** Where a group with no committed offsets starts; default true (the whole topic). */
  fromBeginning?: boolean;
  /** End after this long without new records once caught up; default 10 000. `Infinity`: never. */
  stopWhenIdleMs?: number;
  /** End after yielding this many records in total. */
  maxRecords?: number;
  clientId?: string;
  /** Receives kafkajs's warnings and errors (its own logger is silenced). Default: discard. */
  logger?: SourceLogger;
  /**
   * Consumer-group session timeout; default 30 000. librdkafka's mock broker (tests) holds a
   * rejoining group for sessionTimeout - 1 s after a member leaves, so tests use ~6 000.
   */
  sessionTimeoutMs?: number;
  /** How long an ack may wait for the group to be usable again (crash/rebalance); default 60 000. */
  commitTimeoutMs?: number;
}

interface Pending {
  partition: number;
  messages: KafkaMessage[];
  /** Index of the next message the generator will take. */
  next: number;
  /** Set by close(): the consumer is going away, do not resolve offsets. */
  abandoned: boolean;
  done: () => void;
  whenDone: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function toRecord(topic: string, partition: number, m: KafkaMessage): SourceRecord {
  const headers: Record<string, string> = {};
  if (m.headers) {
    for (const [k, v] of Object.entries(m.headers)) {
      const last = Array.isArray(v) ? v[v.length - 1] : v;
      if (last !== undefined) headers[k] = Buffer.isBuffer(last) ? last.toString("utf8") : String(last);
    }
  }
  return {
    topic,
    partition,
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    key: m.key ?? null,
    headers,
    value: m.value ?? Buffer.alloc(0),
  };
}

function kafkaLogCreator(logger: SourceLogger | undefined) {
  return () => (entry: LogEntry) => {
    if (!logger) return;
    const { message, timestamp: _t, logger: _l, stack: _s, ...fields } = entry.log as Record<string, unknown>;
    const text = `kafkajs ${entry.namespace}: ${String(message)}`;
    const f = Object.keys(fields).length > 0 ? fields : undefined;
    if (entry.level === logLevel.ERROR) (logger.error ?? logger.warn).call(logger, text, f);
    else if (entry.level === logLevel.WARN) logger.warn(text, f);
    else if (entry.level === logLevel.INFO) logger.info?.(text, f);
    else logger.debug?.(text, f);
  };
}

export function kafkaSource(opts: KafkaSourceOptions): RecordSource {
  if (opts.brokers.length === 0) throw new Error("kafkaSource: brokers is empty");
  if (!opts.topic) throw new Error("kafkaSource: topic is required");
  const topic = opts.topic;
  const groupId = opts.groupId ?? `logpipe-local-${topic}`;
  const fromBeginning = opts.fromBeginning ?? true;
  const stopWhenIdleMs = opts.stopWhenIdleMs ?? 10_000;
  const totalLimit = opts.maxRecords ?? Infinity;
  const commitTimeoutMs = opts.commitTimeoutMs ?? 60_000;
  const sessionTimeoutMs = opts.sessionTimeoutMs ?? 30_000;
  const log = opts.logger;

  const kafka = new Kafka({
    clientId: opts.clientId ?? "logpipe-local",
    brokers: opts.brokers,
    connectionTimeout: 3_000,
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  });
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
    maxWaitTimeInMs: 500,
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 8 },
  });
  const admin: Admin = kafka.admin();

  // ---- state shared by kafkajs callbacks and the generator ----
  const queue: Pending[] = [];
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  let failure: Error | null = null;
  let closing = false;
  let started = false;
  let joinedAt = 0; // 0 until the first group join: the idle clock starts there
  let assigned: number[] | null = null;
  let commitSeen = false;
  /** Next offset per partition after everything yielded so far. */
  const yieldedNext = new Map<number, number>();

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joinedAt ||= Date.now();
    const parts = (e.payload.memberAssignment as Record<string, number[]>)[topic];
    assigned = parts ? [...parts] : [];
    notify();
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, () => {
    commitSeen = true;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    const err = e.payload.error as Error;
    if (!e.payload.restart) {
      failure = new Error(`Kafka consumer for ${topic} failed: ${err.message}`, { cause: err });
      notify();
    } else {
      log?.warn(`kafka consumer restarting after: ${err.message}`, { topic, groupId });
    }
  });

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || closing) return;
    let done!: () => void;
    const whenDone = new Promise<void>((r) => (done = r));
    const item: Pending = { partition: batch.partition, messages: batch.messages, next: 0, abandoned: false, done, whenDone };
    queue.push(item);
    notify();
    const drop = () => {
      const i = queue.indexOf(item);
      if (i >= 0) queue.splice(i, 1);
    };
    try {
      for (;;) {
        const finished = await Promise.race([whenDone.then(() => true), sleep(1_000).then(() => false)]);
        if (finished) break;
        if (!isRunning() || isStale()) {
          drop();
          return;
        }
        await heartbeat();
      }
    } catch (e) {
      drop();
      throw e;
    }
    if (item.abandoned) return;
    // Advances the fetch position only (autoCommit is off): the commit happens on ack().
    resolveOffset(batch.lastOffset());
  }

  async function caughtUp(): Promise<boolean> {
    try {
      const [highs, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const committedBy = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
      const mine = assigned ? new Set(assigned) : null;
      for (const p of highs) {
        if (mine && !mine.has(p.partition)) continue;
        const high = Number(p.high);
        const c = committedBy.get(p.partition) ?? -1;
        const y = yieldedNext.get(p.partition);
        if (y === undefined && c < 0) {
          // Never read and never committed: caught up if it is empty, or if we start at the end.
          if (fromBeginning && Number(p.low) < high) return false;
          continue;
        }
        if (Math.max(y ?? -1, c) < high) return false;
      }
      return true;
    } catch (e) {
      log?.warn(`kafka idle check failed (treating as not idle): ${(e as Error).message}`, { topic });
      return false;
    }
  }

  async function commit(offsets: Map<number, number>): Promise<void> {
    const list = [...offsets].map(([partition, last]) => ({ topic, partition, offset: String(last + 1) }));
    const deadline = Date.now() + commitTimeoutMs;
    let lastError: unknown = null;
    for (;;) {
      commitSeen = false;
      try {
        // kafkajs silently skips the commit while the consumer restarts after a crash; the
        // COMMIT_OFFSETS event tells whether it really reached the coordinator.
        await consumer.commitOffsets(list);
        if (commitSeen) return;
        lastError = new Error("consumer not running (restarting)");
      } catch (e) {
        lastError = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`could not commit offsets for ${topic} within ${commitTimeoutMs} ms: ${(lastError as Error)?.message ?? lastError}`);
      }
      await sleep(250);
    }
  }

  // ---- acks: cumulative, serialized ----
  const unacked: Array<{ seq: number; offsets: Map<number, number> }> = [];
  let ackedSeq = 0;
  let commitChain: Promise<void> = Promise.resolve();
  const ack = (seq: number): Promise<void> => {
    const run = async () => {
      if (seq <= ackedSeq) return;
      const merged = new Map<number, number>();
      while (unacked.length > 0 && unacked[0]!.seq <= seq) {
        for (const [p, o] of unacked.shift()!.offsets) merged.set(p, Math.max(merged.get(p) ?? -1, o));
      }
      ackedSeq = seq;
      if (merged.size > 0) await commit(merged);
    };
    const p = commitChain.then(run, run);
    commitChain = p.catch(() => {});
    return p;
  };

  async function* generate(maxRecords: number, maxWaitMs: number, signal?: AbortSignal): AsyncGenerator<SourceBatch> {
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });

    let seq = 0;
    let total = 0;
    let acc: SourceRecord[] = [];
    let accOffsets = new Map<number, number>();
    let accStartedAt = 0;
    let lastActivity = 0;
    const flush = (): SourceBatch => {
      const mySeq = ++seq;
      unacked.push({ seq: mySeq, offsets: accOffsets });
      const batch: SourceBatch = { records: acc, ack: () => ack(mySeq) };
      acc = [];
      accOffsets = new Map();
      return batch;
    };
    const onAbort = () => notify();
    signal?.addEventListener("abort", onAbort);
    try {
      for (;;) {
        if (failure) throw failure;
        if (closing || signal?.aborted || total >= totalLimit) break;
        const head = queue[0];
        if (head) {
          const room = Math.min(maxRecords - acc.length, totalLimit - total);
          const end = Math.min(head.messages.length, head.next + room);
          if (acc.length === 0) accStartedAt = Date.now();
          for (let i = head.next; i < end; i++) acc.push(toRecord(topic, head.partition, head.messages[i]!));
          const lastOffset = Number(head.messages[end - 1]!.offset);
          accOffsets.set(head.partition, Math.max(accOffsets.get(head.partition) ?? -1, lastOffset));
          yieldedNext.set(head.partition, Math.max(yieldedNext.get(head.partition) ?? 0, lastOffset + 1));
          total += end - head.next;
          head.next = end;
          lastActivity = Date.now();
          if (head.next >= head.messages.length) {
            queue.shift();
            head.done();
          }
          if (acc.length >= maxRecords || total >= totalLimit) yield flush();
          continue;
        }
        // Nothing buffered: wait for records, the batch window, the idle deadline or an abort.
        const now = Date.now();
        const flushAt = acc.length > 0 ? accStartedAt + maxWaitMs : Infinity;
        const idleFrom = Math.max(lastActivity, joinedAt);
        const idleAt = joinedAt > 0 && Number.isFinite(stopWhenIdleMs) ? idleFrom + stopWhenIdleMs : Infinity;
        if (now >= flushAt) {
          yield flush();
          continue;
        }
        if (acc.length === 0 && now >= idleAt) {
          if (await caughtUp()) break;
          lastActivity = Date.now(); // behind (e.g. a broker is down): keep consuming
          continue;
        }
        const waitMs = Math.min(flushAt, idleAt, now + 60_000) - now;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            if (wake === resolve) wake = null;
            resolve();
          }, Math.max(1, waitMs));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (acc.length > 0) yield flush();
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    description: `kafka topic ${topic} from ${opts.brokers.join(",")} (group ${groupId})`,
    expectedRecords: undefined,
    batches({ maxRecords, maxWaitMs, signal }) {
      if (started) throw new Error("kafkaSource: batches() can only be iterated once");
      if (!(maxRecords >= 1)) throw new Error("kafkaSource: maxRecords must be >= 1");
      started = true;
      return generate(Math.floor(maxRecords), Math.max(0, maxWaitMs), signal);
    },
    async close() {
      if (closing) return;
      closing = true;
      for (const item of queue.splice(0)) {
        item.abandoned = true;
        item.done();
      }
      notify();
      await commitChain; // acks already given still reach the coordinator (bounded by commitTimeoutMs)
      await consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
    },
  };
}

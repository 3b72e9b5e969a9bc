/**
 * Record sources for `logpipe local` (synthetic generator, NDJSON file, Kafka): the local runner
 * pulls batches, feeds them to the trigger emulator, and acks a batch once the handlers are done
 * with it (for Kafka, ack = commit the consumer group's offsets: at-least-once).
 */

export interface SourceRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch (the record's Kafka timestamp). */
  timestamp: number;
  key: Buffer | null;
  /** Header values decoded as UTF-8; for a repeated header name the last value wins. */
  headers: Record<string, string>;
  /** The record's value (empty for a Kafka tombstone). */
  value: Buffer;
}

export interface SourceBatch {
  records: SourceRecord[];
  /**
   * Marks everything up to and including this batch as done (Kafka: commits the offsets).
   * Acks are cumulative; acking an older batch after a newer one is a no-op.
   */
  ack(): Promise<void>;
}

export interface RecordSource {
  /** Short description for the report, no secrets. */
  readonly description: string;
  /** Total records if known in advance (for the progress bar), else undefined. */
  readonly expectedRecords?: number;
  /**
   * Yields records in batches of at most `maxRecords`, a batch being yielded early once its
   * first record has waited `maxWaitMs`. Ends when the source is exhausted (or idle, for Kafka)
   * or `signal` aborts. Pulling the next batch is what lets the source read more (backpressure).
   */
  batches(opts: { maxRecords: number; maxWaitMs: number; signal?: AbortSignal }): AsyncIterable<SourceBatch>;
  close(): Promise<void>;
}

/** Console-like logger; pino users can pass `{ warn: (m, f) => log.warn(f ?? {}, m), ... }`. */
export interface SourceLogger {
  error?(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  debug?(message: string, fields?: Record<string, unknown>): void;
}

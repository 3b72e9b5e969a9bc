/**
 * Large scratch buffers kept for the next invocation of the same instance. Split needs two the
 * size of its batch every time — the scanner's arena of decoded values and the staging file it
 * writes — and compress reads staging ranges and gathers each member's lines. A buffer allocated
 * fresh each time costs a page fault per 4 KB the first time it is written, and, being memory
 * outside V8's heap, starts full garbage collections (docs/bench.md, "Scratch buffers kept" and
 * "Compress's buffers kept"). An FC instance runs one invocation at a time, so a few buffers
 * cover it; callers running at once each get buffers of their own.
 *
 * A buffer from `take` belongs to its taker until `give` hands it back; a taker that never gives
 * it back only loses the reuse. `give` ignores buffers the pool did not hand out, so a view
 * of one (a subarray) is enough to give the whole one back.
 */
const MB = 1024 * 1024;

export class BufferPool {
  private readonly free: Buffer[] = [];
  /** the ArrayBuffers handed out and not yet given back */
  private readonly out = new WeakSet<ArrayBufferLike>();
  /** bytes `take` had to allocate (for tests and reports: what reuse did not cover) */
  allocatedBytes = 0;

  constructor(
    /** at most this many bytes kept between takes */
    private readonly maxKeptBytes: number,
    /** buffers under this are not worth keeping (Node's own allocator serves them well) */
    private readonly minBytes = 256 * 1024,
  ) {}

  /** A buffer of at least `size` bytes (contents undefined) that nobody else holds. */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.length;
      if (len >= size && (best < 0 || len < this.free[best]!.length)) best = i;
    }
    if (best >= 0) {
      const b = this.free.splice(best, 1)[0]!;
      this.out.add(b.buffer);
      return b;
    }
    const unit = size < MB ? 64 * 1024 : MB; // sizes a later take of about the same size can reuse
    const b = size < this.minBytes ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(Math.ceil(size / unit) * unit);
    this.allocatedBytes += b.length;
    if (b.length >= this.minBytes) this.out.add(b.buffer);
    return b;
  }

  /** Hands back a buffer from `take` (or any view of it); nothing in it may be read afterwards. */
  give(view: Buffer): void {
    const ab = view.buffer;
    if (!this.out.has(ab)) return;
    this.out.delete(ab);
    this.free.push(Buffer.from(ab, 0, ab.byteLength));
    // keep the largest ones within the budget
    this.free.sort((a, b) => b.length - a.length);
    let kept = 0;
    for (let i = 0; i < this.free.length; i++) {
      kept += this.free[i]!.length;
      if (kept > this.maxKeptBytes) {
        this.free.length = i;
        break;
      }
    }
  }

  /** Bytes kept for reuse now. */
  keptBytes(): number {
    return this.free.reduce((s, b) => s + b.length, 0);
  }
}

/**
 * Split's pool: a batch is at most FC's 32 MB trigger payload (its arena as large, its staging
 * files together about the records' size), so 96 MB keeps what one batch needs.
 */
export const splitBuffers = new BufferPool(96 * MB);

/**
 * Compress's pool: the staging ranges a drain reads and each member's lines gathered for gzip,
 * given back when the task ends. 64 MB covers a hot drain (LOGPIPE_DRAIN_BYTES for each of a few
 * apps); a larger task (up to LOGPIPE_TASK_MAX_BYTES) allocates the rest.
 */
export const compressBuffers = new BufferPool(64 * MB, 32 * 1024);

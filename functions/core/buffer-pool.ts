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
  /** bytes in `free` */
  private kept = 0;

  constructor(
    /** at most this many bytes kept between takes */
    private readonly maxKeptBytes: number,
    /** buffers under this are not worth keeping (Node's own allocator serves them well) */
    private readonly minBytes = 256 * 1024,
    /**
     * A kept buffer serves a take of at most this many times smaller (beyond the size a new one
     * would have), and what is kept past the budget is the least recently given back; without it
     * any larger buffer serves and the largest are kept. A pool whose takes vary widely in size
     * needs the bound: compress's kept its few largest buffers (a sweep's), each then spent on a
     * 1 MB read, while the task's other reads were allocated anew — 2 of the 3.3 GB compress
     * allocated outside V8's heap in a 2 GB run, and each 64 MB of that starts a full garbage
     * collection (docs/bench.md, "A staging file written in place; compress's pool keeps what
     * its tasks take").
     */
    private readonly maxFit = Infinity,
  ) {}

  /** A buffer of at least `size` bytes (contents undefined) that nobody else holds. */
  take(size: number): Buffer {
    const unit = size < MB ? 64 * 1024 : MB; // sizes a later take of about the same size can reuse
    const rounded = Math.ceil(size / unit) * unit;
    const largest = Math.max(rounded, size * this.maxFit);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.length;
      if (len >= size && len <= largest && (best < 0 || len < this.free[best]!.length)) best = i;
    }
    if (best >= 0) {
      const b = this.free.splice(best, 1)[0]!;
      this.kept -= b.length;
      this.out.add(b.buffer);
      return b;
    }
    const b = size < this.minBytes ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(rounded);
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
    this.kept += ab.byteLength;
    if (this.kept <= this.maxKeptBytes) return;
    if (this.maxFit === Infinity) {
      // keep the largest ones within the budget (any of them serves any smaller take)
      this.free.sort((a, b) => b.length - a.length);
      let kept = 0;
      for (let i = 0; i < this.free.length; i++) {
        if (kept + this.free[i]!.length > this.maxKeptBytes) {
          this.free.length = i;
          break;
        }
        kept += this.free[i]!.length;
      }
      this.kept = kept;
      return;
    }
    // keep the most recently given back within the budget (`free` is in the order given back)
    while (this.kept > this.maxKeptBytes) this.kept -= this.free.shift()!.length;
  }

  /** Bytes kept for reuse now. */
  keptBytes(): number {
    return this.kept;
  }
}

/**
 * Split's pool: a batch is at most FC's 32 MB trigger payload (its arena as large, its staging
 * files together about the records' size), so 96 MB keeps what one batch needs.
 */
export const splitBuffers = new BufferPool(96 * MB);

/**
 * Compress's pool: the staging ranges a drain reads and each member's lines gathered for gzip,
 * given back when the task ends (the gathers at once). 320 MB keeps what a task may hold with the
 * defaults — its reads, LOGPIPE_TASK_MAX_BYTES (256 MB), and a member's gather,
 * LOGPIPE_DRAIN_MAX_BYTES (64 MB) — of the 2,048 MB compress is given; a buffer serves takes down
 * to half its size (its ranges vary from a tail app's 32 KB to a hot app's tens of MB).
 */
export const compressBuffers = new BufferPool(320 * MB, 32 * 1024, 2);

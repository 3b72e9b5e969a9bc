/**
 * Which batch's floor a lockstep run times after each of its steps (bench/child.ts lockstep()).
 * Not the batch just split: its bytes are still in the caches, which would make the floor look
 * faster than it is.
 */

/**
 * The batch whose floor is timed after batch `b` of a run whose booked batches are
 * [`windowStart`, `batches`): the one half the booked stretch away, so that its bytes are not the
 * ones the caches still hold from the step just taken, and each booked batch is taken once.
 */
export function floorBatchOf(b: number, windowStart: number, batches: number): number {
  const booked = batches - windowStart;
  return windowStart + ((b - windowStart + Math.floor(booked / 2)) % booked);
}

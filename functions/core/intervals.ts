/**
 * Sets of Kafka offsets as sorted, merged, inclusive intervals `[first, last]`: what a
 * (topic, partition) has staged (core/partition-state.ts) and which offsets of a staging file to
 * keep. The Redis Lua scripts implement the same operations over the same text encoding.
 */
export type Interval = [number, number];

/** Offsets must be sorted ascending (duplicates allowed). */
export function intervalsFromSorted(offsets: ArrayLike<number>): Interval[] {
  const out: Interval[] = [];
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]!;
    const last = out[out.length - 1];
    if (last && o <= last[1] + 1) last[1] = Math.max(last[1], o);
    else out.push([o, o]);
  }
  return out;
}

export function normalize(list: Interval[]): Interval[] {
  const sorted = list.map((iv) => [iv[0], iv[1]] as Interval).sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
    else out.push(iv);
  }
  return out;
}

export function union(a: Interval[], b: Interval[]): Interval[] {
  return normalize([...a, ...b]);
}

export function contains(list: Interval[], x: number): boolean {
  let lo = 0, hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const iv = list[mid]!;
    if (x < iv[0]) hi = mid - 1;
    else if (x > iv[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

export function overlaps(a: Interval[], b: Interval[]): boolean {
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!, y = b[j]!;
    if (x[1] < y[0]) i++;
    else if (y[1] < x[0]) j++;
    else return true;
  }
  return false;
}

/** a \ b */
export function subtract(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const iv of a) {
    let [s, e] = iv;
    while (j < b.length && b[j]![1] < s) j++;
    let k = j;
    while (k < b.length && b[k]![0] <= e) {
      const [bs, be] = b[k]!;
      if (bs > s) out.push([s, bs - 1]);
      s = be + 1;
      if (s > e) break;
      k++;
    }
    if (s <= e) out.push([s, e]);
  }
  return out;
}

/** a ∩ b */
export function intersect(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i]![0], b[j]![0]);
    const e = Math.min(a[i]![1], b[j]![1]);
    if (s <= e) out.push([s, e]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return out;
}

export function encodeIntervals(list: Interval[]): string {
  return list.map(([s, e]) => `${s}-${e}`).join(",");
}

export function decodeIntervals(text: string | null | undefined): Interval[] {
  if (!text) return [];
  const out: Interval[] = [];
  for (const part of text.split(",")) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (!m) throw new Error(`bad interval "${part}" in committed-offsets state`);
    out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}

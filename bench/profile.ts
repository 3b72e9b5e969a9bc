/**
 * Summary of a V8 .cpuprofile (from `node --cpu-prof`): self time per function, top first.
 */
export interface ProfileSummary {
  file?: string;
  /** when the summary is of one handler's invocations (summarizeProfile's `spans`): how many */
  invocations?: number;
  totalMs: number;
  top: { name: string; where: string; selfMs: number; percent: number }[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/**
 * One handler invocation of a profiled run, on the profile's clock: microseconds of the monotonic
 * clock, which V8 stamps samples with and `process.hrtime` reads (bench/child.ts records them).
 */
export interface InvocationSpan {
  fn: string;
  startUs: number;
  endUs: number;
}

/**
 * Self time per function, top first. With `spans`, only the samples taken during one of them
 * count: a data-path run profiles split, compress and upload in one process, one invocation at a
 * time, and this books each sample to the handler that was running (spans must not overlap).
 */
export function summarizeProfile(p: CpuProfile, limit = 25, spans?: readonly InvocationSpan[]): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const inSpan = spans ? sampleFilter(spans) : undefined;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0; // sample i was taken at startTime + the deltas up to it
    if (inSpan && !inSpan(at)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample's time is the delta to the next sample
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + dt);
  }
  const agg = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const f = n.callFrame;
    const name = f.functionName || (f.url ? "(anonymous)" : "(native/vm)");
    const file = f.url.replace(/^file:\/\//, "").replace(/^.*\/(bench|functions|cli|node_modules)\//, "$1/");
    const where = f.url ? `${file}:${f.lineNumber + 1}` : "";
    const key = `${name}@${where}`;
    const e = agg.get(key) ?? { name, where, us: 0 };
    e.us += us;
    agg.set(key, e);
  }
  const top = [...agg.values()].sort((a, b) => b.us - a.us).slice(0, limit).map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, percent: total > 0 ? (100 * e.us) / total : 0 }));
  return { totalMs: total / 1000, top, ...(spans ? { invocations: spans.length } : {}) };
}

/** Where a profiled data-path run writes its invocations' spans (InvocationSpan[], JSON): beside its profile. */
export function spansFileOf(profileFile: string): string {
  return `${profileFile}.spans.json`;
}

/** Whether a time falls in one of `spans`, for times asked in increasing order (samples are). */
function sampleFilter(spans: readonly InvocationSpan[]): (atUs: number) => boolean {
  const sorted = [...spans].sort((a, b) => a.startUs - b.startUs);
  let k = 0;
  return (atUs) => {
    while (k < sorted.length && sorted[k]!.endUs < atUs) k++;
    return k < sorted.length && sorted[k]!.startUs <= atUs;
  };
}

/** The handlers' summaries of a data-path profile: one per function name in `spans`, in order of first invocation. */
export function summarizeByHandler(p: CpuProfile, spans: readonly InvocationSpan[], limit = 25): Record<string, ProfileSummary> {
  const out: Record<string, ProfileSummary> = {};
  for (const fn of new Set(spans.map((s) => s.fn))) out[fn] = summarizeProfile(p, limit, spans.filter((s) => s.fn === fn));
  return out;
}

/**
 * Summary of a V8 .cpuprofile (from `node --cpu-prof`): self time per function, top first.
 */
export interface ProfileSummary {
  file?: string;
  totalMs: number;
  top: { name: string; where: string; selfMs: number; percent: number }[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarizeProfile(p: CpuProfile, limit = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
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
  return { totalMs: total / 1000, top };
}

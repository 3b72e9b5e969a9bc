/**
 * Break-even picture: monthly cost vs GB/day for logpipe (fixed + traffic-driven) and the
 * comparisons, on log–log axes so fixed costs show as the flat left part. Pure SVG text; each
 * data point is a <circle> carrying data-series / data-x / data-y so tests compare it with JSON.
 * `renderPng` rasterises that same SVG (resvg) at PNG_SCALE× for the README.
 */
import type { CostReport } from "../ops/cost.js";

export interface ChartSeries { name: string; y: (number | null)[] }
export interface ChartData { currency: "CNY" | "USD"; xGbPerDay: number[]; series: ChartSeries[]; notes: string[] }

/** GB/day values around the stack's own: 1/100× … 10×, log-spaced, with the stack's value included. */
export function chartXs(gbPerDay: number, n = 12): number[] {
  const lo = Math.log10(gbPerDay / 100), hi = Math.log10(gbPerDay * 10);
  const xs = Array.from({ length: n }, (_, i) => Number((10 ** (lo + ((hi - lo) * i) / (n - 1))).toPrecision(3)));
  return [...new Set([...xs, gbPerDay])].sort((a, b) => a - b);
}

/** One report per x (computed by the caller) → series in the report currency. */
export function chartData(reports: CostReport[], xs: number[]): ChartData {
  const first = reports[0]!;
  const notes: string[] = [];
  const series: ChartSeries[] = [{ name: "logpipe", y: reports.map((r) => r.total) }];
  first.comparisons.forEach((c, i) => {
    if (c.currency !== first.currency && !first.fx) { notes.push(`${c.name}: in ${c.currency}, not plotted (no dated exchange rate; add fx.USDCNY with --prices)`); return; }
    const conv = (v: number) => (c.currency === first.currency ? v : c.currency === "USD" ? v * first.fx!.usdToCny : v / first.fx!.usdToCny);
    series.push({ name: c.name, y: reports.map((r) => { const m = r.comparisons[i]?.monthly; return m === null || m === undefined ? null : Number(conv(m).toFixed(2)); }) });
  });
  if (first.excludes.length) notes.push(`logpipe excludes: ${first.excludes.join(", ")}`);
  return { currency: first.currency, xGbPerDay: xs, series, notes };
}

export const CHART_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
/** SVG canvas in px; the PNG is this × PNG_SCALE. */
export const CHART_SIZE = { width: 1000, height: 520 } as const;
export const PNG_SCALE = 2;

export function renderSvg(d: ChartData, title: string): string {
  const W = CHART_SIZE.width, H = CHART_SIZE.height, L = 90, R = 410, T = 50, B = 60;
  const ys = d.series.flatMap((s) => s.y).filter((v): v is number => v !== null && v > 0);
  const [xmin, xmax] = [Math.min(...d.xGbPerDay), Math.max(...d.xGbPerDay)];
  const ymin = 10 ** Math.floor(Math.log10(Math.min(...ys))), ymax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const px = (x: number) => L + ((Math.log10(x) - Math.log10(xmin)) / (Math.log10(xmax) - Math.log10(xmin) || 1)) * (W - L - R);
  const py = (y: number) => H - B - ((Math.log10(y) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin) || 1)) * (H - T - B);
  const sym = d.currency === "CNY" ? "¥" : "$";
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${L}" y="24" font-size="15">${esc(title)}</text>`];
  for (let e = Math.log10(ymin); e <= Math.log10(ymax); e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${L}" y1="${y.toFixed(1)}" x2="${W - R}" y2="${y.toFixed(1)}" stroke="#ddd"/>`, `<text x="${L - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${sym}${(10 ** e).toLocaleString("en-US")}</text>`);
  }
  for (let e = Math.ceil(Math.log10(xmin)); e <= Math.log10(xmax); e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x.toFixed(1)}" y1="${T}" x2="${x.toFixed(1)}" y2="${H - B}" stroke="#eee"/>`, `<text x="${x.toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${(10 ** e).toLocaleString("en-US")}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">GB of logs per day (log scale)</text>`, `<text x="20" y="${(T + H - B) / 2}" transform="rotate(-90 20 ${(T + H - B) / 2})" text-anchor="middle">monthly cost, ${d.currency} (log scale)</text>`);
  const color = (i: number) => CHART_COLORS[i % CHART_COLORS.length]!;
  const points = d.series.map((s) => s.y.map((y, j) => (y !== null && y > 0 ? { x: d.xGbPerDay[j]!, y } : null)).filter((p): p is { x: number; y: number } => p !== null));
  // lines first, then every series' points on top, so no line hides a point
  points.forEach((pts, i) => { if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color(i)}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`); });
  d.series.forEach((s, i) => {
    for (const p of points[i]!) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color(i)}" data-series="${esc(s.name)}" data-x="${p.x}" data-y="${p.y}"/>`);
    out.push(`<rect x="${W - R + 20}" y="${T + i * 22 - 9}" width="12" height="12" fill="${color(i)}"/>`, `<text x="${W - R + 38}" y="${T + i * 22 + 2}">${esc(legend(s.name, points[i]!.length === 0))}</text>`);
  });
  // notes wrap at word boundaries within the legend column; the rest is cut with "…"
  const noteLines = d.notes.flatMap((n) => wrapWords(n, 66));
  const maxLines = Math.floor((H - B - (T + d.series.length * 22 + 20)) / 14);
  const shown = noteLines.length > maxLines ? [...noteLines.slice(0, maxLines - 1), "…"] : noteLines;
  shown.forEach((n, i) => out.push(`<text x="${W - R + 20}" y="${T + d.series.length * 22 + 20 + i * 14}" font-size="10" fill="#555">${esc(n)}</text>`));
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function legend(name: string, empty: boolean): string {
  const n = name.length > 48 ? `${name.slice(0, 47)}…` : name;
  return empty ? `${n} (not priced)` : n;
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const w of text.split(" ")) {
    if (cur && cur.length + 1 + w.length > width) { lines.push(cur); cur = ""; }
    cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

/**
 * The SVG above as a PNG (resvg, a Rust renderer shipped as a prebuilt binary inside the npm
 * package), PNG_SCALE× its size; text uses the system's sans-serif font. Loaded on demand so the
 * CLI's start-up does not pay for it.
 */
export async function renderPng(svg: string, scale = PNG_SCALE): Promise<Buffer> {
  const { Resvg } = await import("@resvg/resvg-js");
  const r = new Resvg(svg, { fitTo: { mode: "zoom", value: scale }, background: "white", font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" } });
  return r.render().asPng();
}

// An SVG polyline for a series of readings: x by time (by index when the times do not spread),
// y from the series' own min..max (a flat series sits in the middle), inside a padded box.

export interface SparkPoint {
  timestamp: string;
  value: number;
}

export interface Sparkline {
  /** The polyline's `points` attribute ("x,y x,y …"), "" for no drawable point. */
  points: string;
  /** How many points were drawn. */
  count: number;
  min: number | null;
  max: number | null;
  /** The newest drawn point, for the caption and the end dot. */
  last: { x: number; y: number; value: number } | null;
}

const round = (n: number) => Math.round(n * 10) / 10;

export function sparkline(series: readonly SparkPoint[], width: number, height: number, pad = 2): Sparkline {
  const pts: { t: number; v: number }[] = [];
  for (const p of series) {
    const t = Date.parse(p.timestamp);
    if (Number.isFinite(t) && Number.isFinite(p.value)) pts.push({ t, v: p.value });
  }
  if (!pts.length) return { points: "", count: 0, min: null, max: null, last: null };
  pts.sort((a, b) => a.t - b.t);
  let min = Infinity;
  let max = -Infinity;
  for (const p of pts) {
    if (p.v < min) min = p.v;
    if (p.v > max) max = p.v;
  }
  const t0 = pts[0].t;
  const tSpan = pts[pts.length - 1].t - t0;
  const vSpan = max - min;
  const w = Math.max(width - 2 * pad, 0);
  const h = Math.max(height - 2 * pad, 0);
  const xs = pts.map((p, i) => pad + (tSpan > 0 ? ((p.t - t0) / tSpan) * w : pts.length > 1 ? (i / (pts.length - 1)) * w : w / 2));
  // SVG's y grows downwards: the maximum is at the top.
  const ys = pts.map((p) => pad + (vSpan > 0 ? (1 - (p.v - min) / vSpan) * h : h / 2));
  const points = xs.map((x, i) => `${round(x)},${round(ys[i])}`).join(" ");
  const n = pts.length - 1;
  return { points, count: pts.length, min, max, last: { x: round(xs[n]), y: round(ys[n]), value: pts[n].v } };
}

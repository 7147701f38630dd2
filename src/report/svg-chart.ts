/**
 * A small dependency-free SVG chart writer for benchmark and experiment reports: grouped bar
 * charts (one group per category, one bar per series) and line charts (x/y points per
 * series), linear or log10 axes, stacked into one document with svgDocument().
 */

export interface BarChart {
  title: string;
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
  yLabel: string;
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][]; dashed?: boolean }[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Horizontal reference bands (published ranges), drawn shaded behind the series. */
  bands?: { label: string; low: number; high: number }[];
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const M = { left: 70, right: 160, top: 36, bottom: 60 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fmt = (v: number): string => {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-2)) return v.toExponential(1);
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
};

interface Scale { map(v: number): number; ticks: number[] }

function scale(lo: number, hi: number, a: number, b: number, log: boolean): Scale {
  if (log) {
    const l0 = Math.floor(Math.log10(Math.max(lo, 1e-12)));
    const l1 = Math.max(l0 + 1, Math.ceil(Math.log10(Math.max(hi, 1e-12))));
    const ticks: number[] = [];
    for (let e = l0; e <= l1; e++) ticks.push(10 ** e);
    return { map: (v) => a + ((Math.log10(Math.max(v, 10 ** l0)) - l0) / (l1 - l0)) * (b - a), ticks };
  }
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const t0 = Math.floor(lo / step) * step;
  const t1 = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = t0; t <= t1 + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { map: (v) => a + ((v - t0) / (t1 - t0)) * (b - a), ticks };
}

function frame(w: number, h: number, title: string, xLabel: string, yLabel: string): string[] {
  return [
    `<rect x="0" y="0" width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${M.left + (w - M.left - M.right) / 2}" y="${h - 8}" text-anchor="middle" font-size="12">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(14 ${M.top + (h - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(yLabel)}</text>`,
  ];
}

function legend(w: number, names: string[]): string[] {
  return names.map((n, i) => {
    const y = M.top + 10 + i * 18;
    return `<rect x="${w - M.right + 12}" y="${y - 9}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
      `<text x="${w - M.right + 30}" y="${y + 1}" font-size="11">${escapeXml(n)}</text>`;
  });
}

function yAxis(s: Scale, w: number, h: number): string[] {
  const out = [`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${h - M.bottom}" stroke="black"/>`];
  for (const t of s.ticks) {
    const y = s.map(t);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${w - M.right}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end" font-size="10">${fmt(t)}</text>`);
  }
  return out;
}

/** A grouped bar chart as an <svg> element string. */
export function barChart(c: BarChart): string {
  const w = c.width ?? Math.max(480, M.left + M.right + c.categories.length * (18 * c.series.length + 16));
  const h = c.height ?? 360;
  const vals = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const lo = c.logY ? Math.min(...vals.filter((v) => v > 0), 1) : Math.min(0, ...vals);
  const hi = Math.max(...vals, c.logY ? 10 : 1);
  const ys = scale(lo, hi, h - M.bottom, M.top, c.logY === true);
  const out = [...frame(w, h, c.title, "", c.yLabel), ...yAxis(ys, w, h)];
  const groupW = (w - M.left - M.right) / Math.max(1, c.categories.length);
  const barW = Math.max(2, (groupW - 8) / Math.max(1, c.series.length));
  const base = ys.map(c.logY ? ys.ticks[0]! : 0);
  c.categories.forEach((cat, i) => {
    const gx = M.left + i * groupW + 4;
    c.series.forEach((s, j) => {
      const v = s.values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const y = ys.map(v);
      out.push(`<rect x="${gx + j * barW}" y="${Math.min(y, base)}" width="${barW - 1}" height="${Math.abs(base - y)}" fill="${COLORS[j % COLORS.length]}"><title>${escapeXml(`${cat} ${s.name}: ${fmt(v)}`)}</title></rect>`);
    });
    out.push(`<text transform="translate(${gx + groupW / 2} ${h - M.bottom + 10}) rotate(30)" font-size="9">${escapeXml(cat)}</text>`);
  });
  out.push(...legend(w, c.series.map((s) => s.name)));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${out.join("")}</svg>`;
}

/** A line chart as an <svg> element string. */
export function lineChart(c: LineChart): string {
  const w = c.width ?? 640;
  const h = c.height ?? 380;
  const pts = c.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xsVals = pts.map((p) => p[0]);
  const ysVals = [...pts.map((p) => p[1]), ...(c.bands ?? []).flatMap((b) => [b.low, b.high])];
  const xs = scale(Math.min(...xsVals), Math.max(...xsVals), M.left, w - M.right, c.logX === true);
  const ys = scale(c.logY ? Math.min(...ysVals.filter((v) => v > 0)) : Math.min(0, ...ysVals), Math.max(...ysVals), h - M.bottom, M.top, c.logY === true);
  const out = [...frame(w, h, c.title, c.xLabel, c.yLabel)];
  for (const b of c.bands ?? []) {
    const y1 = ys.map(b.high), y0 = ys.map(b.low);
    out.push(`<rect x="${M.left}" y="${y1}" width="${w - M.left - M.right}" height="${Math.max(1, y0 - y1)}" fill="#2ca02c" opacity="0.12"/>`,
      `<text x="${w - M.right - 4}" y="${y1 + 12}" text-anchor="end" font-size="10" fill="#2ca02c">${escapeXml(b.label)}</text>`);
  }
  out.push(...yAxis(ys, w, h), `<line x1="${M.left}" y1="${h - M.bottom}" x2="${w - M.right}" y2="${h - M.bottom}" stroke="black"/>`);
  for (const t of xs.ticks) {
    const x = xs.map(t);
    out.push(`<text x="${x}" y="${h - M.bottom + 14}" text-anchor="middle" font-size="10">${fmt(t)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${xs.map(x).toFixed(1)},${ys.map(y).toFixed(1)}`);
    if (p.length === 0) return;
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${p.join(" ")}"/>`);
    for (const q of p) { const [x, y] = q.split(","); out.push(`<circle cx="${x}" cy="${y}" r="3" fill="${color}"/>`); }
  });
  out.push(...legend(w, c.series.map((s) => s.name)));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${out.join("")}</svg>`;
}

/** Stack charts vertically into one standalone SVG document. */
export function svgDocument(charts: string[]): string {
  let y = 0;
  let width = 0;
  const parts: string[] = [];
  for (const c of charts) {
    const m = /width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"/.exec(c);
    const w = m ? Number(m[1]) : 640, h = m ? Number(m[2]) : 380;
    parts.push(`<g transform="translate(0 ${y})">${c}</g>`);
    y += h + 10;
    width = Math.max(width, w);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">${parts.join("")}</svg>\n`;
}

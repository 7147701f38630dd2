/**
 * A small dependency-free SVG chart writer for benchmark and experiment reports: grouped bar
 * charts (one group per category, one bar per series) and line charts (x/y points per
 * series), linear or log10 axes, stacked into one document with svgDocument().
 *
 * Layout is measured, not hoped: every piece of text is sized with textWidth() (per-glyph
 * advance widths of a Helvetica/Arial-like sans-serif, rounded up) and the margins, the
 * legend and the picture's width are computed from those sizes, so titles, tick labels,
 * rotated category labels and legends stay inside the view box (test/report/svg-text-boxes
 * checks this in a real browser). Series that coincide stay distinguishable: each series has
 * its own marker shape, and one drawn over an earlier one at every point gets a dash pattern
 * and a legend note "(same as NAME)". Axes switch to log10 on their own when the positive
 * values span three decades or more (logX / logY: true or false forces the choice).
 */

export interface BarChart {
  /** Say what is plotted (quantity, unit, conditions): it is the chart's first line. */
  title: string;
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
  yLabel: string;
  xLabel?: string;
  /** Log10 y axis; default: when the values are all > 0 and span three decades or more. */
  logY?: boolean;
  /** Minimum width; the picture grows to fit its labels and legend. */
  width?: number;
  height?: number;
  /** A line of explanation under the chart. */
  note?: string;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][]; dashed?: boolean }[];
  /** Log10 axes; default: when the values are all > 0 and span three decades or more. */
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Horizontal reference bands (published ranges), drawn shaded behind the series. */
  bands?: { label: string; low: number; high: number }[];
  note?: string;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const DASHES = ["", "7 4", "2 3", "10 3 2 3"];
const FONT = { title: 14, label: 12, tick: 10, legend: 11, category: 10, note: 11 };
const PAD = 8;

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// Advance widths in em of Helvetica/Arial (regular), grouped; bold is ~7 % wider.
const NARROW = new Set("ijl.,:;'|!`()[]{} ");
const SEMI = new Set("frt-/\\\"*");
const WIDE = new Set("mwMW%@");
const UPPER_WIDE = new Set("ABCDEFGHKNOPQRSUVXYZ&");
/** Estimated width in px of `s` in the chart's sans-serif at `size` px (an upper estimate: ~3 % over Arial). */
export function textWidth(s: string, size: number, bold = false): number {
  let em = 0;
  for (const ch of s) {
    if (NARROW.has(ch)) em += 0.28;
    else if (SEMI.has(ch)) em += 0.36;
    else if (WIDE.has(ch)) em += 0.89;
    else if (UPPER_WIDE.has(ch)) em += 0.72;
    else if (ch >= "A" && ch <= "Z") em += 0.61;
    else if (ch.charCodeAt(0) > 0x7f) em += 0.62;
    else em += 0.56;
  }
  return Math.ceil(em * size * (bold ? 1.07 : 1) * 1.03);
}

const fmt = (v: number): string => {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-2)) return v.toExponential(0).replace("e+", "e");
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
};

interface Scale { map(v: number): number; ticks: number[]; log: boolean }

/** Log when asked, or (undefined) when every value is > 0 and they span three decades or more. */
function wantLog(asked: boolean | undefined, vals: number[]): boolean {
  if (asked !== undefined) return asked;
  const v = vals.filter((x) => Number.isFinite(x));
  if (v.length < 2 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) >= 1000;
}

function scale(lo: number, hi: number, a: number, b: number, log: boolean): Scale {
  if (log) {
    const l0 = Math.floor(Math.log10(Math.max(lo, 1e-12)));
    const l1 = Math.max(l0 + 1, Math.ceil(Math.log10(Math.max(hi, 1e-12))));
    const ticks: number[] = [];
    for (let e = l0; e <= l1; e++) ticks.push(10 ** e);
    return { map: (v) => a + ((Math.log10(Math.max(v, 10 ** l0)) - l0) / (l1 - l0)) * (b - a), ticks, log };
  }
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const t0 = Math.floor(lo / step) * step;
  const t1 = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = t0; t <= t1 + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { map: (v) => a + ((v - t0) / (t1 - t0)) * (b - a), ticks, log };
}

/** Split `s` into lines no wider than `max` px (at word boundaries). */
function wrap(s: string, size: number, max: number, bold = false): string[] {
  const words = s.split(" ");
  const lines: string[] = [];
  let cur = "";
  for (const w of words) {
    const next = cur === "" ? w : `${cur} ${w}`;
    if (cur !== "" && textWidth(next, size, bold) > max) { lines.push(cur); cur = w; } else cur = next;
  }
  if (cur !== "") lines.push(cur);
  return lines;
}

function text(x: number, y: number, s: string, size: number, extra = ""): string {
  return `<text x="${r1(x)}" y="${r1(y)}" font-size="${size}"${extra}>${escapeXml(s)}</text>`;
}
const r1 = (v: number) => Math.round(v * 10) / 10;

/** Marker i (a shape per series) centred at x, y. */
function marker(i: number, x: number, y: number, color: string): string {
  const k = i % 5, s = 3.5;
  if (k === 0) return `<circle cx="${r1(x)}" cy="${r1(y)}" r="${s}" fill="${color}"/>`;
  if (k === 1) return `<rect x="${r1(x - s)}" y="${r1(y - s)}" width="${2 * s}" height="${2 * s}" fill="none" stroke="${color}" stroke-width="1.5"/>`;
  if (k === 2) return `<path d="M${r1(x)} ${r1(y - s - 1)}L${r1(x + s + 0.5)} ${r1(y + s)}L${r1(x - s - 0.5)} ${r1(y + s)}Z" fill="${color}"/>`;
  if (k === 3) return `<path d="M${r1(x)} ${r1(y - s - 1)}L${r1(x + s + 1)} ${r1(y)}L${r1(x)} ${r1(y + s + 1)}L${r1(x - s - 1)} ${r1(y)}Z" fill="none" stroke="${color}" stroke-width="1.5"/>`;
  return `<path d="M${r1(x - s)} ${r1(y - s)}L${r1(x + s)} ${r1(y + s)}M${r1(x + s)} ${r1(y - s)}L${r1(x - s)} ${r1(y + s)}" stroke="${color}" stroke-width="1.8"/>`;
}

interface LegendItem { name: string; color: string; kind: "bar" | "line"; index: number; dash: string }

/** Legend rows: their width, and the SVG at (x, y). */
function legendSize(items: LegendItem[]): { w: number; h: number } {
  return { w: items.length === 0 ? 0 : Math.max(...items.map((it) => 34 + textWidth(it.name, FONT.legend))), h: items.length * 18 };
}
function legendSvg(items: LegendItem[], x: number, y: number): string[] {
  return items.map((it, i) => {
    const cy = y + 9 + i * 18;
    const key = it.kind === "bar"
      ? `<rect x="${r1(x)}" y="${r1(cy - 6)}" width="12" height="12" fill="${it.color}"/>`
      : `<line x1="${r1(x)}" y1="${r1(cy)}" x2="${r1(x + 26)}" y2="${r1(cy)}" stroke="${it.color}" stroke-width="2"${it.dash ? ` stroke-dasharray="${it.dash}"` : ""}/>` + marker(it.index, x + 13, cy, it.color);
    return key + text(x + (it.kind === "bar" ? 18 : 32), cy + 4, it.name, FONT.legend);
  });
}

interface Frame { w: number; h: number; left: number; right: number; top: number; bottom: number; out: string[] }

/**
 * The picture's frame: title lines at the top, legend at the right of the plot, y label and
 * tick labels at the left, x label (and `belowPlot` px of labels) under it, note at the bottom.
 */
function layout(o: { title: string; yLabel: string; xLabel: string; note?: string; width: number; height: number; yTicks: string[];
  legend: LegendItem[]; belowPlot: number; rightSpill: number }): Frame {
  const tickW = Math.max(0, ...o.yTicks.map((t) => textWidth(t, FONT.tick)));
  const left = PAD + FONT.label + 6 + tickW + 8;
  const lg = legendSize(o.legend);
  const right = Math.max(PAD + 12, lg.w > 0 ? lg.w + 2 * PAD + 8 : 0, o.rightSpill + PAD);
  let w = Math.max(o.width, left + 240 + right);
  const titleLines = wrap(o.title, FONT.title, Math.max(w, 720) - 2 * PAD, true);
  const titleW = Math.max(...titleLines.map((l) => textWidth(l, FONT.title, true)));
  if (titleW + 2 * PAD > w) w = Math.min(Math.max(titleW + 2 * PAD, w), 720);
  const lines = wrap(o.title, FONT.title, w - 2 * PAD, true);
  const top = PAD + lines.length * 18 + 10;
  const noteLines = o.note ? wrap(o.note, FONT.note, w - 2 * PAD) : [];
  const bottom = 6 + o.belowPlot + (o.xLabel ? FONT.label + 8 : 0) + noteLines.length * 15 + PAD;
  const h = Math.max(o.height, top + Math.max(160, lg.h + 10) + bottom);
  const out = [`<rect x="0" y="0" width="${w}" height="${h}" fill="white"/>`];
  lines.forEach((l, i) => out.push(text(w / 2, PAD + 14 + i * 18, l, FONT.title, ` text-anchor="middle" font-weight="bold"`)));
  const plotMid = left + (w - left - right) / 2;
  if (o.xLabel) out.push(text(plotMid, h - bottom + 6 + o.belowPlot + FONT.label, o.xLabel, FONT.label, ` text-anchor="middle"`));
  noteLines.forEach((l, i) => out.push(text(PAD, h - PAD - (noteLines.length - 1 - i) * 15 - 3, l, FONT.note, ` fill="#444"`)));
  out.push(`<text transform="translate(${PAD + FONT.label} ${r1(top + (h - top - bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="${FONT.label}">${escapeXml(o.yLabel)}</text>`);
  out.push(...legendSvg(o.legend, w - right + PAD + 8, top));
  return { w, h, left, right, top, bottom, out };
}

function yAxis(f: Frame, s: Scale): string[] {
  const out = [`<line x1="${r1(f.left)}" y1="${f.top}" x2="${r1(f.left)}" y2="${f.h - f.bottom}" stroke="black"/>`];
  for (const t of s.ticks) {
    const y = s.map(t);
    out.push(`<line x1="${r1(f.left)}" y1="${r1(y)}" x2="${r1(f.w - f.right)}" y2="${r1(y)}" stroke="#ddd"/>`,
      text(f.left - 6, y + 4, fmt(t), FONT.tick, ` text-anchor="end"`));
  }
  return out;
}

const svgOpen = (w: number, h: number) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="Arial, Helvetica, sans-serif">`;

const ROT = 35 * Math.PI / 180;

/** A grouped bar chart as an <svg> element string. */
export function barChart(c: BarChart): string {
  const vals = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const log = wantLog(c.logY, vals);
  const lo = log ? Math.min(...vals.filter((v) => v > 0), 1) : Math.min(0, ...vals);
  const hi = Math.max(...vals, log ? 10 : 1);
  const probe = scale(lo, hi, 1, 0, log);
  // rotated category labels: down-right from each group's centre
  const catW = c.categories.map((s) => textWidth(s, FONT.category));
  const below = Math.ceil(Math.max(0, ...catW) * Math.sin(ROT) + FONT.category * Math.cos(ROT)) + 10;
  const groupMin = 14 * c.series.length + 14;
  const legend: LegendItem[] = c.series.length > 1 ? c.series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length]!, kind: "bar", index: i, dash: "" })) : [];
  // the last label may reach right of the plot: reserve what lies beyond the last group's centre
  const lastSpill = catW.length > 0 ? Math.ceil(catW[catW.length - 1]! * Math.cos(ROT)) - groupMin / 2 : 0;
  const f = layout({
    title: c.title, yLabel: c.yLabel, xLabel: c.xLabel ?? "", width: Math.max(c.width ?? 480, 0), height: c.height ?? 360,
    yTicks: probe.ticks.map(fmt), legend, belowPlot: below, rightSpill: Math.max(0, lastSpill),
    ...(c.note !== undefined ? { note: c.note } : {}),
  });
  // the plot must hold every group at its minimum width
  const need = f.left + c.categories.length * groupMin + f.right;
  if (need > f.w) return barChart({ ...c, width: need });
  const ys = scale(lo, hi, f.h - f.bottom, f.top, log);
  const out = [...f.out, ...yAxis(f, ys)];
  const groupW = (f.w - f.left - f.right) / Math.max(1, c.categories.length);
  const barW = Math.max(2, (groupW - 8) / Math.max(1, c.series.length));
  const base = ys.map(log ? ys.ticks[0]! : 0);
  c.categories.forEach((cat, i) => {
    const gx = f.left + i * groupW + 4;
    c.series.forEach((s, j) => {
      const v = s.values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const y = ys.map(v);
      // a zero bar has no height: say 0 so that it reads as measured, not missing
      if (v === 0) out.push(text(gx + j * barW + (barW - 1) / 2, base - 3, "0", FONT.tick, ` text-anchor="middle"`));
      out.push(`<rect x="${r1(gx + j * barW)}" y="${r1(Math.min(y, base))}" width="${r1(barW - 1)}" height="${r1(Math.abs(base - y))}" fill="${COLORS[j % COLORS.length]}"><title>${escapeXml(`${cat} ${s.name}: ${fmt(v)}`)}</title></rect>`);
    });
    out.push(`<text transform="translate(${r1(gx + groupW / 2 - 4)} ${r1(f.h - f.bottom + 12)}) rotate(35)" font-size="${FONT.category}">${escapeXml(cat)}</text>`);
  });
  out.push(`<line x1="${r1(f.left)}" y1="${r1(f.h - f.bottom)}" x2="${r1(f.w - f.right)}" y2="${r1(f.h - f.bottom)}" stroke="black"/>`);
  return `${svgOpen(f.w, f.h)}${out.join("")}</svg>`;
}

/** A line chart as an <svg> element string. */
export function lineChart(c: LineChart): string {
  const finite = (s: { points: [number, number][] }) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const pts = c.series.flatMap(finite);
  const xsVals = pts.map((p) => p[0]);
  const ysVals = [...pts.map((p) => p[1]), ...(c.bands ?? []).flatMap((b) => [b.low, b.high])];
  const logX = wantLog(c.logX, xsVals), logY = wantLog(c.logY, ysVals);
  const xLo = Math.min(...xsVals), xHi = Math.max(...xsVals);
  const yLo = logY ? Math.min(...ysVals.filter((v) => v > 0)) : Math.min(0, ...ysVals), yHi = Math.max(...ysVals);
  const probe = scale(yLo, yHi, 1, 0, logY);
  const xProbe = scale(xLo, xHi, 0, 1, logX);
  // which series lie over an earlier one at every point (they would hide it)
  const same = c.series.map(() => -1);
  const legend: LegendItem[] = c.series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length]!, kind: "line", index: i, dash: s.dashed ? DASHES[1]! : "" }));
  const lastX = fmt(xProbe.ticks[xProbe.ticks.length - 1]!);
  const f0 = layout({
    title: c.title, yLabel: c.yLabel, xLabel: logX && !/log/.test(c.xLabel) ? `${c.xLabel} (log)` : c.xLabel, width: c.width ?? 640, height: c.height ?? 380,
    yTicks: probe.ticks.map(fmt), legend, belowPlot: FONT.tick + 6,
    rightSpill: textWidth(lastX, FONT.tick) / 2, ...(c.note !== undefined ? { note: c.note } : {}),
  });
  const xs = scale(xLo, xHi, f0.left, f0.w - f0.right, logX);
  const ys = scale(yLo, yHi, f0.h - f0.bottom, f0.top, logY);
  const screen = c.series.map((s) => finite(s).map(([x, y]) => [xs.map(x), ys.map(y)] as [number, number]));
  for (let j = 1; j < c.series.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = screen[i]!, b = screen[j]!;
      if (b.length > 0 && b.length === a.length && b.every((p, k) => Math.abs(p[0] - a[k]![0]) < 1.5 && Math.abs(p[1] - a[k]![1]) < 1.5)) { same[j] = i; break; }
    }
  }
  // a series over an earlier one: a legend note and a dash pattern (the legend grows: drawLine lays out again)
  const items = legend.map((l, i) => same[i]! < 0 ? l : {
    ...l, name: `${l.name} (same as ${c.series[same[i]!]!.name})`, dash: l.dash === "" ? DASHES[1 + (i % (DASHES.length - 1))]! : l.dash,
  });
  return drawLine(c, items, same, logX, logY, xLo, xHi, yLo, yHi, probe, lastX);
}

function drawLine(c: LineChart, legend: LegendItem[], same: number[], logX: boolean, logY: boolean, xLo: number, xHi: number, yLo: number, yHi: number,
  probe: Scale, lastX: string): string {
  const f = layout({
    title: c.title, yLabel: c.yLabel, xLabel: logX && !/log/.test(c.xLabel) ? `${c.xLabel} (log)` : c.xLabel, width: c.width ?? 640, height: c.height ?? 380,
    yTicks: probe.ticks.map(fmt), legend, belowPlot: FONT.tick + 6, rightSpill: textWidth(lastX, FONT.tick) / 2,
    ...(c.note !== undefined ? { note: c.note } : {}),
  });
  const xs = scale(xLo, xHi, f.left, f.w - f.right, logX);
  const ys = scale(yLo, yHi, f.h - f.bottom, f.top, logY);
  const out = [...f.out];
  for (const b of c.bands ?? []) {
    const y1 = ys.map(b.high), y0 = ys.map(b.low);
    out.push(`<rect x="${r1(f.left)}" y="${r1(y1)}" width="${r1(f.w - f.left - f.right)}" height="${r1(Math.max(1, y0 - y1))}" fill="#2ca02c" opacity="0.12"/>`);
    // the band's label inside the plot, above the band when there is room, else under its top edge
    const ly = y1 - 3 - FONT.tick >= f.top ? y1 - 3 : y1 + FONT.tick + 2;
    out.push(text(f.w - f.right - 4, ly, b.label, FONT.tick, ` text-anchor="end" fill="#1a7a1a"`));
  }
  out.push(...yAxis(f, ys), `<line x1="${r1(f.left)}" y1="${r1(f.h - f.bottom)}" x2="${r1(f.w - f.right)}" y2="${r1(f.h - f.bottom)}" stroke="black"/>`);
  for (const t of xs.ticks) out.push(text(xs.map(t), f.h - f.bottom + 14, fmt(t), FONT.tick, ` text-anchor="middle"`));
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [xs.map(x), ys.map(y)] as const);
    if (p.length === 0) return;
    const dash = legend[i]!.dash;
    // a series over an earlier one: thinner, dashed, so the one under it shows through
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="${same[i]! >= 0 ? 1.5 : 2}"${dash ? ` stroke-dasharray="${dash}"` : ""} points="${p.map(([x, y]) => `${r1(x)},${r1(y)}`).join(" ")}"/>`);
    for (const [x, y] of p) out.push(marker(i, x, y, color));
  });
  return `${svgOpen(f.w, f.h)}${out.join("")}</svg>`;
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

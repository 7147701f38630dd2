/**
 * Every piece of text of every chart lies inside its picture: the experiments' charts, a
 * benchmark-like chart with long case names, and stress charts (long legend names, a long
 * title, many categories, coinciding series). Checked twice:
 *   - in Node with the chart writer's text-width estimate (textWidth), transforms applied;
 *   - in headless chromium with the real text boxes (getBoundingClientRect of each <text>
 *     against its own <svg>), which is what a reader sees.
 * And: a series drawn over an earlier one at every point is named in the legend and dashed.
 */
import { describe, expect, it } from "vitest";
import { barChart, lineChart, svgDocument, textWidth } from "../../src/report/svg-chart.js";
import { EXPERIMENTS } from "../../src/experiments/index.js";
import { CHROMIUM, CHROMIUM_MISSING, loadPage } from "./chromium.js";

interface Box { text: string; x0: number; y0: number; x1: number; y1: number; w: number; h: number }

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}
const unescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");

/** Estimated boxes of every <text> in `svg`, in the coordinates of its innermost <svg>, with that svg's size. */
export function estimatedBoxes(svg: string): Box[] {
  const out: Box[] = [];
  const stack: { w: number; h: number }[] = [];
  const re = /<svg\b[^>]*>|<\/svg>|<text\b[^>]*>([^<]*)<\/text>/g;
  for (let m = re.exec(svg); m !== null; m = re.exec(svg)) {
    const tag = m[0];
    if (tag.startsWith("</svg")) { stack.pop(); continue; }
    if (tag.startsWith("<svg")) {
      const vb = (attr(tag, "viewBox") ?? "0 0 0 0").split(/\s+/).map(Number);
      stack.push({ w: vb[2]!, h: vb[3]! });
      continue;
    }
    const open = /^<text\b[^>]*>/.exec(tag)![0];
    const content = unescape(m[1]!);
    const size = Number(attr(open, "font-size") ?? 16);
    const bold = attr(open, "font-weight") === "bold";
    const w = textWidth(content, size, bold);
    const anchor = attr(open, "text-anchor") ?? "start";
    let x = Number(attr(open, "x") ?? 0), y = Number(attr(open, "y") ?? 0), rot = 0;
    const t = attr(open, "transform");
    if (t !== undefined) {
      const tr = /translate\(([-\d.]+)[ ,]+([-\d.]+)\)/.exec(t);
      const ro = /rotate\(([-\d.]+)\)/.exec(t);
      if (tr) { x += Number(tr[1]); y += Number(tr[2]); }
      if (ro) rot = Number(ro[1]) * Math.PI / 180;
    }
    const dx0 = anchor === "middle" ? -w / 2 : anchor === "end" ? -w : 0;
    const corners = [[dx0, -0.8 * size], [dx0 + w, -0.8 * size], [dx0, 0.25 * size], [dx0 + w, 0.25 * size]].map(([cx, cy]) =>
      [x + cx! * Math.cos(rot) - cy! * Math.sin(rot), y + cx! * Math.sin(rot) + cy! * Math.cos(rot)]);
    const xs = corners.map((c) => c[0]!), ys = corners.map((c) => c[1]!);
    const box = stack[stack.length - 1]!;
    out.push({ text: content, x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys), w: box.w, h: box.h });
  }
  return out;
}

const outside = (b: Box) => b.x0 < -0.5 || b.y0 < -0.5 || b.x1 > b.w + 0.5 || b.y1 > b.h + 0.5;

const LONG = ["translate/hit", "translate/miss-4level-pde", "translate/miss-4level-pde-timed", "translate/miss-4level-nopde", "translate/miss-4level-nopde-timed",
  "translate/nested-4x4", "commands/invalidate-pages-ranged-512", "scenario/race-mixed-all-policies"];

function stressCharts(): [string, string][] {
  const same: [number, number][] = [[1, 0.3], [8, 0.04], [512, 0.0006]];
  return [
    ["bench-like", barChart({ title: "Host time per operation (v20.20.2, Intel(R) Xeon(R) CPU @ 2.20GHz), model vs baseline vs native reference", categories: LONG, yLabel: "ns / op (log)", logY: true,
      series: [{ name: "model", values: LONG.map((_, i) => 10 * 3 ** i) }, { name: "baseline (what each case is compared with)", values: LONG.map((_, i) => 3 * 3 ** i) }, { name: "native C reference", values: LONG.map(() => 2) }] })],
    ["coinciding", lineChart({ title: "Invalidation cost per page", xLabel: "pages", yLabel: "us per page", logX: true, logY: true,
      series: [{ name: "one command per page", points: [[1, 0.3], [8, 0.14], [512, 0.11]] }, { name: "one ranged command", points: same }, { name: "full flush", points: same.map(([x, y]) => [x, y * 1.001] as [number, number]) }] })],
    ["long legend", lineChart({ title: "t", xLabel: "x", yLabel: "y", width: 300,
      series: [{ name: "a series with a very long legend name that would not fit at the right edge", points: [[0, 1], [5, 2]] }],
      bands: [{ label: "published band with a long label (anchors B3, B10, B18)", low: 1, high: 1.5 }], note: "A note under the chart that is long enough to need more than one line at this width, so it wraps." })],
    ["one bar", barChart({ title: "x", categories: ["only"], yLabel: "y", series: [{ name: "s", values: [0] }] })],
  ];
}

const experimentSvgs = (() => {
  let cache: [string, string][] | null = null;
  return () => cache ??= EXPERIMENTS.map((e) => [e.name, e.run({ quick: true }).svg] as [string, string]);
})();

describe("chart text stays inside the picture", () => {
  it("by the estimate: every text box of the experiments' and the stress charts lies in its view box", () => {
    for (const [name, svg] of [...experimentSvgs(), ...stressCharts()]) {
      const boxes = estimatedBoxes(svg);
      expect(boxes.length, name).toBeGreaterThan(3);
      expect(boxes.filter(outside).map((b) => `${name}: "${b.text}" [${b.x0.toFixed(0)},${b.y0.toFixed(0)}]-[${b.x1.toFixed(0)},${b.y1.toFixed(0)}] in ${b.w}x${b.h}`)).toEqual([]);
    }
  }, 120_000);

  it("the estimate catches a label cut at the edge (the check can fail)", () => {
    const cut = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50"><text x="90" y="20" font-size="11">legend name</text></svg>`;
    expect(estimatedBoxes(cut).filter(outside)).toHaveLength(1);
  });

  it("a series drawn over an earlier one at every point is named in the legend and dashed", () => {
    const svg = stressCharts()[1]![1];
    expect(svg).toContain("full flush (same as one ranged command)");
    expect(svg).not.toContain("one ranged command (same as");
    const lines = [...svg.matchAll(/<polyline[^>]*>/g)].map((m) => m[0]);
    expect(lines[2]).toMatch(/stroke-dasharray/);
    expect(lines[1]).not.toMatch(/stroke-dasharray/);
    // and each series has its own marker shape: circle, square, triangle
    expect(svg).toMatch(/<circle/);
    expect(svg).toMatch(/<rect x="[^"]+" y="[^"]+" width="7" height="7" fill="none"/);
  });

  it.skipIf(CHROMIUM === null)(`in chromium: every <text> box lies inside its own <svg>${CHROMIUM === null ? ` -- SKIPPED: ${CHROMIUM_MISSING}` : ""}`, () => {
    // a control chart with a legend cut at the right edge: the browser check must report it (and only it)
    const control: [string, string] = ["control", `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50"><text x="90" y="20" font-size="11">legend name</text></svg>`];
    const charts = [...experimentSvgs(), ...stressCharts(), control];
    const body = charts.map(([name, svg], i) => `<div data-name="${name}" id="c${i}">${svg.replace(/^<\?xml[^>]*>\s*/, "")}</div>`).join("\n");
    const measure = `<script>
      var bad = [], n = 0;
      document.querySelectorAll("text").forEach(function (t) {
        n++;
        var s = t.ownerSVGElement.getBoundingClientRect(), b = t.getBoundingClientRect();
        if (b.left < s.left - 0.5 || b.top < s.top - 0.5 || b.right > s.right + 0.5 || b.bottom > s.bottom + 0.5)
          bad.push(t.closest("div").getAttribute("data-name") + ": " + t.textContent + " [" + Math.round(b.left - s.left) + "," + Math.round(b.top - s.top) + "]-[" + Math.round(b.right - s.left) + "," + Math.round(b.bottom - s.top) + "] in " + Math.round(s.width) + "x" + Math.round(s.height));
      });
      document.body.setAttribute("data-texts", String(n));
      document.body.setAttribute("data-outside", JSON.stringify(bad));
    </script>`;
    const run = loadPage(`<!doctype html><html><head><meta charset="utf-8"><title>charts</title></head><body style="margin:0">${body}${measure}</body></html>`);
    const n = Number(/data-texts="(\d+)"/.exec(run.dom)![1]);
    const bad = JSON.parse(/data-outside="([^"]*)"/.exec(run.dom)![1]!.replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as string[];
    expect(n).toBeGreaterThan(100);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^control: legend name/);
    expect(run.probeErrors).toEqual([]);
  }, 120_000);
});

/**
 * Experiment 2 (docs/calibration.md, "Hit rate"): added latency against the IOTLB hit rate.
 * Each read goes, with probability h, to a small hot set that stays in the IOTLB, and
 * otherwise to a page far away in a 64 MiB window (an IOTLB miss). Published: roughly
 * (1 - h) x 290 ns (D from B3/B4); steeper when the page-directory caches miss too.
 *
 * In the model the curve is a line by construction (every read costs the hit or the miss
 * latency), so its linearity is not checked; its end at h = 0 is the miss latency that
 * walkOverhead was fitted to (a fitted row). The curve is the translation's own latency; what
 * a hit adds to a DMA read (less the root complex's handling the look-ups overlap,
 * rootComplexOverlap) is experiment iotlb-reach's B1 row. The fitted row is a difference of two
 * translation latencies, which that overlap shifts alike.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { lineChart, svgDocument } from "../report/svg-chart.js";
import { fitted, Xorshift32, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { DEVICE, hostWorkload, MiB, type Workload } from "./workload.js";

const RATES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
const HOT = 16;

/** [measured IOTLB hit rate, mean latency in ns] when a fraction h of the reads target the hot set. */
function latencyAt(w: Workload, h: number, requests: number, rng: Xorshift32): [number, number] {
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0 };
  const io = w.io;
  let t = io.now;
  for (let p = 0; p < HOT; p++) { io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t, out); t = out.completionCycle; }
  let sum = 0, hits = 0;
  for (let i = 0; i < requests; i++) {
    const page = rng.next() < h ? rng.below(HOT) : HOT + rng.below(w.pages - HOT);
    req.address = w.address(page, 64 * rng.below(64));
    io.translateTimed(req, t, out);
    sum += out.completionCycle - t;
    if (out.iotlbHit) hits++;
    t = out.completionCycle;
  }
  return [hits / requests, (sum / requests) * (1e9 / io.timing.clockHz)];
}

/** One translation of every page of the window, in order. */
function warmUp(w: Workload): void {
  const out = new TranslationResult();
  let t = w.io.now;
  for (let p = 0; p < w.pages; p++) { w.io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t, out); t = out.completionCycle; }
}

/** Least-squares slope, intercept and R^2. */
export function linearFit(pts: [number, number][]): { slope: number; intercept: number; r2: number } {
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n, my = pts.reduce((a, p) => a + p[1], 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2; syy += (y - my) ** 2; }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

export const hitRate: Experiment = {
  name: "hit-rate",
  title: "Mean translation latency against IOTLB hit rate",
  run(o: ExperimentOptions = {}): ExperimentReport {
    const requests = o.quick ? 2000 : 20000;
    const rates = o.quick ? [0, 0.25, 0.5, 0.75, 1] : RATES;
    const timing = o.timing === undefined ? {} : { timing: o.timing };
    // an IOTLB that holds the hot set only when it is fully associative enough: use 64 entries (default) and a 16-page hot set
    const warm = hostWorkload({ pages: 64 * MiB / 4096, iommu: { ...timing } });
    const cold = hostWorkload({ pages: 64 * MiB / 4096, iommu: { ...timing, pdeCache: { entries: 0 } } });
    o.trace?.(warm.io, "page-directory cache on");
    o.trace?.(cold.io, "no page-directory cache");
    // steady state, as the published runs: one pass over the window warms the page-directory cache and the table lines
    for (const w of [warm, cold]) warmUp(w);
    const rng = new Xorshift32(o.seed ?? 2);
    const a: [number, number][] = [], b: [number, number][] = [], pub: [number, number][] = [];
    // x = the IOTLB hit rate measured (cold fills can evict the hot set), y = mean latency
    const rows: (string | number)[][] = [];
    for (const h of rates) {
      const x = latencyAt(warm, h, requests, rng), y = latencyAt(cold, h, requests, rng);
      a.push(x); b.push(y); pub.push([x[0], 2 + (1 - x[0]) * 290]);
      rows.push([h, x[0], x[1], y[0], y[1], 2 + (1 - x[0]) * 290]);
    }
    const fit = linearFit(a);
    const hit = a[a.length - 1]![1];
    const checks = [
      fitted(this.name, "added latency at hit rate 0, page-directory caches warm (ns)", a[0]![1] - hit, 226.0, 298.1,
        "B4 64 MiB (pcie-bench raw data, Intel VT-d, 5 platforms)", "walkOverhead"),
    ];
    const svg = svgDocument([lineChart({
      title: "Mean translation latency (ns) vs IOTLB hit rate, random reads over 64 MiB of 4 KiB pages", xLabel: "IOTLB hit rate", yLabel: "mean translation latency (ns)",
      series: [{ name: "model, PDE cache warm", points: a }, { name: "model, no PDE cache", points: b }, { name: "published (1-h) x 290 ns", points: pub, dashed: true }],
    })]);
    return {
      name: this.name, title: this.title,
      method: `${requests} dependent reads per rate: with probability h to a ${HOT}-page hot set, else to a random page of a 64 MiB window (4 KiB pages).`,
      columns: ["hot share", "hit rate (PDE warm)", "latency PDE warm (ns)", "hit rate (no PDE)", "latency no PDE (ns)", "published (1-h)x290+2 (ns)"], rows, checks, svg,
      data: { hotShare: rates, pdeWarm: a, noPde: b, fit },
    };
  },
};

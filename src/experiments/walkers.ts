/**
 * Experiment 3 (docs/calibration.md, "Walkers"; rows B8-B11): IOTLB-miss throughput against
 * the number of page-table walkers. A device streams random reads over a 64 MiB window of
 * 4 KiB pages (almost every read misses the IOTLB) without waiting for answers; throughput
 * is reads served per second.
 *
 * Published (Intel VT-d, pcie-bench raw data, 64 MiB window, four platforms): 18.0-19.6 M
 * transactions/s for 64 B reads, 17.7-19.3 M/s for 128 B reads. Fitted: profile.walkers to
 * the 64 B ceiling (with the walk latency fitted in iotlb-reach, Little's law gives the walks
 * in flight, B11). Predicted: the 128 B ceiling (walks bound both sizes: the model's
 * translation throughput does not depend on the transfer size). Larger transfers (256 B,
 * 512 B) are bound by the device and the link, which the model does not price.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { resolveTimingProfile } from "../iommu/timing-profile.js";
import { lineChart, svgDocument } from "../report/svg-chart.js";
import { fitted, predicted, Xorshift32, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { DEVICE, hostWorkload, MiB } from "./workload.js";

const WALKERS = [1, 2, 3, 4, 5, 6, 8, 12, 16];
const OFFERED = [5, 10, 15, 20, 25, 30, 40, 60];

type Timing = ExperimentOptions["timing"];

function withWalkers(timing: Timing, walkers: number): Timing {
  if (timing === undefined) return { walkers };
  if (typeof timing === "string") return { profile: timing, walkers };
  return { ...timing, walkers };
}

/** Achieved misses/s when `requests` random reads are issued every `interval` cycles. */
export function missThroughput(timing: Timing, walkers: number | null, interval: number, requests: number, seed: number): { perSecond: number; hitRate: number } {
  const t = walkers === null ? timing : withWalkers(timing, walkers);
  const w = hostWorkload({ pages: 64 * MiB / 4096, iommu: t === undefined ? {} : { timing: t } });
  const io = w.io;
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0 };
  const rng = new Xorshift32(seed);
  // warm the page-directory cache and the table lines with one pass over the window's pages
  // (the published runs are in steady state: millions of reads over the same window)
  let t0 = io.now;
  for (let p = 0; p < w.pages; p++) { io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t0, out); t0 = out.completionCycle; }
  t0 = io.timingModel.inFlightUntil + 1;
  let last = t0, hits = 0;
  for (let i = 0; i < requests; i++) {
    req.address = w.address(rng.below(w.pages), 64 * rng.below(64));
    io.translateTimed(req, t0 + i * interval, out);
    if (out.iotlbHit) hits++;
    if (out.completionCycle > last) last = out.completionCycle;
  }
  return { perSecond: (requests / (last - t0)) * io.timing.clockHz, hitRate: hits / requests };
}

export const walkers: Experiment = {
  name: "walkers",
  title: "IOTLB-miss throughput against the number of walkers",
  run(o: ExperimentOptions = {}): ExperimentReport {
    const requests = o.quick ? 4000 : 40000;
    const profile = resolveTimingProfile(o.timing);
    const seed = o.seed ?? 3;
    const sweep = (o.quick ? [1, 2, 5, 8, 16] : WALKERS).map((n) => [n, missThroughput(o.timing, n, 1, requests, seed).perSecond / 1e6] as [number, number]);
    const offered = (o.quick ? [5, 10, 20, 40, 60] : OFFERED).map((m) => {
      const r = missThroughput(o.timing, null, Math.max(1, Math.round(profile.clockHz / (m * 1e6))), requests, seed);
      return [m, r.perSecond / 1e6] as [number, number];
    });
    const ceiling = missThroughput(o.timing, null, 1, requests, seed).perSecond / 1e6;
    const rows: (string | number)[][] = sweep.map(([n, m]) => [n, m, n === profile.walkers ? "<- default" : "", "19-22 (B10)"]);
    const src = "pcie-bench raw data bw_dma_win_sweep_rd_rnd, 64 MiB window (Intel VT-d: BDW, HSW x2, IVB)";
    const checks = [
      fitted(this.name, `64 B reads under thrash: miss throughput ceiling (${profile.walkers} walkers), M/s`, ceiling, 17.98, 19.64, `B8/B10, ${src}`, "walkers"),
      predicted(this.name, "128 B reads under thrash: miss throughput ceiling, M/s", ceiling, 17.74, 19.34, `B9/B10, ${src}`),
    ];
    const svg = svgDocument([
      lineChart({ title: "IOTLB-miss throughput (M misses/s) vs walkers, open-loop stream of misses", xLabel: "walkers", yLabel: "M misses / s",
        series: [{ name: "model", points: sweep }], bands: [{ label: "published ceiling 19-22 M/s (B10)", low: 19, high: 22 }] }),
      lineChart({ title: `Achieved vs offered miss rate, default profile (${profile.walkers} walkers)`, xLabel: "offered M misses / s", yLabel: "achieved M misses / s",
        series: [{ name: "model", points: offered }, { name: "offered = achieved", points: offered.map(([x]) => [x, x] as [number, number]), dashed: true }],
        bands: [{ label: "published ceiling (B10)", low: 19, high: 22 }] }),
    ]);
    return {
      name: this.name, title: this.title,
      method: `${requests} random 64 B reads over 64 MiB of 4 KiB pages issued one per cycle (walker sweep) or at the offered rate; throughput = reads / (last completion - first issue).`,
      columns: ["walkers", "model M misses/s", "", "published M/s"], rows: [...rows, ["offered M/s", "achieved M/s", "", ""], ...offered.map(([a, b]) => [a, b, "", ""])],
      checks, svg, data: { walkerSweep: sweep, offeredLoad: offered, ceiling },
    };
  },
};

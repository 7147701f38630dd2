/**
 * Experiment 3 (docs/calibration.md, "Walkers"; rows B8-B11): IOTLB-miss throughput against
 * the number of page-table walkers. A device streams random reads over a 64 MiB window of
 * 4 KiB pages (almost every read misses the IOTLB) without waiting for answers; throughput
 * is reads served per second.
 *
 * Published (Intel VT-d, pcie-bench raw data, 64 MiB window, four platforms): 18.0-19.6 M
 * transactions/s for 64 B reads, 17.7-19.3 M/s for 128 B reads. Fitted: profile.walkers to
 * the 64 B ceiling. The walks in flight under thrash (B11: the ceiling times the miss latency,
 * Little's law) are set by the two fits (walkers and walkOverhead): a fitted row too.
 * Predicted: the 128 B ceiling (walks bound both sizes: the model's translation throughput
 * does not depend on the transfer size), and the 256 B and 512 B rates. Those two are also
 * bound by the device and the link, which the model does not price: the device offers its
 * reads at the rate the same platforms reach for that size when every read hits the IOTLB
 * (the 4 KiB window of the same runs, IOMMU on: a different row than the one checked), and
 * the model's IOMMU serves them (the two bounds in series).
 *
 * Beside the checks, unchecked: the same reads from a DMA device with N outstanding reads in a
 * closed loop through the model's IOMMU and a PCIe Gen3 x8 link (./dma-read-loop.ts), for a
 * few N, at a 4 KiB window (all hits) and at 64 MiB. No N puts the 64 B, 128 B and 256 B
 * rates all in their bands (docs/calibration.md section 5), so N is not fitted and the loop
 * does not replace the checked rows.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { resolveTimingProfile } from "../iommu/timing-profile.js";
import { lineChart, svgDocument } from "../report/svg-chart.js";
import { fitted, predicted, Xorshift32, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { DEVICE, hostWorkload, MiB } from "./workload.js";
import { closedLoopReads } from "./dma-read-loop.js";

const WALKERS = [1, 2, 3, 4, 5, 6, 8, 12, 16];
const OFFERED = [5, 10, 15, 20, 25, 30, 40, 60];
/** Outstanding reads tried for the closed-loop device (15-17 bracket the 128 B and 256 B thrash bands; 33 meets the 64 B all-hits rate). */
export const DEVICE_TAGS = [8, 15, 16, 17, 33];
const LOOP_SIZES = [64, 128, 256, 512] as const;

type Timing = ExperimentOptions["timing"];

function withWalkers(timing: Timing, walkers: number): Timing {
  if (timing === undefined) return { walkers };
  if (typeof timing === "string") return { profile: timing, walkers };
  return { ...timing, walkers };
}

/**
 * Read rates of the pcie-bench platforms (BDW, HSW, HSW2, IVB; -iommu-nosp runs,
 * bw_dma_win_sweep_rd_rnd_<size>.txt, Cold, Trans/s) at a 4 KiB window (every read hits the
 * IOTLB: the device and link bound) and at a 64 MiB window (under thrash), per transfer size
 * (docs/calibration.md table B8-B10).
 */
export const PUBLISHED_RATES: Readonly<Record<256 | 512, { hits: readonly number[]; thrash: readonly number[] }>> = {
  256: { hits: [22550416.7, 22697242.8, 22206753.6, 22625911.6], thrash: [16373388.0, 16450093.8, 16479168.1, 15460856.8] },
  512: { hits: [13429965.7, 13435720.7, 13450704.1, 13510915.7], thrash: [13097381.1, 13303636.8, 13322829.2, 12570083.7] },
};
/** Walks in flight under thrash per platform (B11): 64 B rate at 64 MiB x added latency at 64 MiB (tables B4, B8-B10). */
export const PUBLISHED_WALKS_IN_FLIGHT: readonly number[] = [19.22 * 288.4, 19.64 * 226.0, 19.22 * 264.9, 17.98 * 298.1].map((x) => x / 1000);

export interface MissThroughput {
  perSecond: number;
  hitRate: number;
  /** Mean walkers busy over the run (walker service cycles / elapsed cycles): Little's law's walks in flight. */
  walksInFlight: number;
}

/** Achieved reads/s when `requests` random reads are issued every `interval` cycles (a fraction: issue times are rounded). */
export function missThroughput(timing: Timing, walkers: number | null, interval: number, requests: number, seed: number, trace?: ExperimentOptions["trace"]): MissThroughput {
  const t = walkers === null ? timing : withWalkers(timing, walkers);
  const w = hostWorkload({ pages: 64 * MiB / 4096, iommu: t === undefined ? {} : { timing: t } });
  const io = w.io;
  trace?.(io, `${walkers ?? "default"} walkers, a read every ${Number(interval.toFixed(2))} cycles`);
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0 };
  const rng = new Xorshift32(seed);
  // warm the page-directory cache and the table lines with one pass over the window's pages
  // (the published runs are in steady state: millions of reads over the same window)
  let t0 = io.now;
  for (let p = 0; p < w.pages; p++) { io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t0, out); t0 = out.completionCycle; }
  t0 = io.timingModel.inFlightUntil + 1;
  const busy0 = io.timingModel.walkers.busyCycles;
  let last = t0, hits = 0;
  for (let i = 0; i < requests; i++) {
    req.address = w.address(rng.below(w.pages), 64 * rng.below(64));
    io.translateTimed(req, t0 + Math.round(i * interval), out);
    if (out.iotlbHit) hits++;
    if (out.completionCycle > last) last = out.completionCycle;
  }
  const walksInFlight = (io.timingModel.walkers.busyCycles - busy0) / (last - t0);
  return { perSecond: (requests / (last - t0)) * io.timing.clockHz, hitRate: hits / requests, walksInFlight };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

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
    // traced (--trace): this run and the 256 B / 512 B ones, not the sweeps (they repeat the same IOMMU 17 times)
    const top = missThroughput(o.timing, null, 1, requests, seed, o.trace);
    const ceiling = top.perSecond / 1e6;
    // 256 B and 512 B: the device offers reads at its all-hits rate for that size (mean of the four platforms)
    const sized = ([256, 512] as const).map((size) => {
      const offer = mean(PUBLISHED_RATES[size].hits);
      const r = missThroughput(o.timing, null, profile.clockHz / offer, requests, seed, o.trace);
      return { size, offer: offer / 1e6, achieved: r.perSecond / 1e6, thrash: PUBLISHED_RATES[size].thrash.map((x) => x / 1e6) };
    });
    // unchecked: the closed-loop device (N outstanding reads, link, IOMMU) for each N and size, all hits and under thrash
    const loop = DEVICE_TAGS.flatMap((tags) => LOOP_SIZES.map((size) => ({
      tags, size,
      allHits: closedLoopReads(o.timing, size, 1, tags, requests, seed).perSecond / 1e6,
      thrash: closedLoopReads(o.timing, size, 64 * MiB / 4096, tags, requests, seed).perSecond / 1e6,
    })));
    const rows: (string | number)[][] = sweep.map(([n, m]) => [n, m, n === profile.walkers ? "<- default" : "", "19-22 (B10)"]);
    const src = "pcie-bench raw data bw_dma_win_sweep_rd_rnd, 64 MiB window (Intel VT-d: BDW, HSW x2, IVB)";
    const checks = [
      fitted(this.name, `64 B reads under thrash: miss throughput ceiling (${profile.walkers} walkers), M/s`, ceiling, 17.98, 19.64, `B8/B10, ${src}`, "walkers"),
      predicted(this.name, "128 B reads under thrash: miss throughput ceiling, M/s", ceiling, 17.74, 19.34, `B9/B10, ${src}`),
      ...sized.map((s) => predicted(this.name, `${s.size} B reads under thrash, the device offering its all-hits rate (${s.offer.toFixed(2)} M/s): reads served, M/s`, s.achieved,
        Math.min(...s.thrash), Math.max(...s.thrash), `B9, ${src}; offered rate: the same runs' 4 KiB window`)),
      fitted(this.name, "64 B reads under thrash: walks in flight (walker busy time / elapsed)", top.walksInFlight, Math.min(...PUBLISHED_WALKS_IN_FLIGHT), Math.max(...PUBLISHED_WALKS_IN_FLIGHT),
        "B11 (64 B rate x added latency at 64 MiB per platform, Little's law; pcie-bench raw data, Intel VT-d: BDW, HSW x2, IVB)", "walkers, walkOverhead (B11 = B10 x B3, both fitted)"),
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
      columns: ["walkers", "model M misses/s", "", "published M/s"],
      rows: [...rows, ["offered M/s", "achieved M/s", "", ""], ...offered.map(([a, b]) => [a, b, "", ""]),
        ...sized.map((s) => [`${s.size} B: offered ${s.offer.toFixed(2)}`, s.achieved, "", `${Math.min(...s.thrash).toFixed(2)}..${Math.max(...s.thrash).toFixed(2)} (B9)`]),
        ["walks in flight", top.walksInFlight, "", `${Math.min(...PUBLISHED_WALKS_IN_FLIGHT).toFixed(2)}..${Math.max(...PUBLISHED_WALKS_IN_FLIGHT).toFixed(2)} (B11)`],
        ["closed loop (unchecked): outstanding, size", "64 MiB M/s", "4 KiB M/s", ""],
        ...loop.map((l) => [`${l.tags} outstanding, ${l.size} B`, l.thrash, l.allHits.toFixed(2), ""])],
      checks, svg, data: { walkerSweep: sweep, offeredLoad: offered, ceiling, walksInFlight: top.walksInFlight, sized, deviceLoop: loop },
    };
  },
};

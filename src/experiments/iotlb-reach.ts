/**
 * Experiment 1 (anchors section 3.1, rows B1-B6): translation latency against the working
 * set. A device does random 64-byte reads over a window of 4 KiB .. 64 MiB, one at a time
 * (each issued when the previous completed), with 4 KiB and with 2 MiB I/O pages. Published
 * (VT-d, pcie-bench): flat while the window fits the IOTLB (~256 KiB), +24 ns at 512 KiB,
 * +120-155 ns at 1 MiB, +230-300 ns from 4 MiB on; with 2 MiB pages flat to 64 MiB.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { lineChart, svgDocument } from "../report/svg-chart.js";
import { check, Xorshift32, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { DEVICE, hostWorkload, MiB, type Workload } from "./workload.js";

const KiB = 1024;
const WINDOWS = [4 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 1 * MiB, 2 * MiB, 4 * MiB, 16 * MiB, 64 * MiB];
const QUICK_WINDOWS = [4 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 64 * MiB];
/** Published added latency (ns) at a window, B4 (pcie-bench lat_cmd_sweep_rd_rnd_64, BDW/HSW/IVB/SNB). */
const PUBLISHED: Record<number, string> = {
  [4 * KiB]: "0-3", [64 * KiB]: "0-3", [256 * KiB]: "0-3", [512 * KiB]: "~24", [1 * MiB]: "120-155", [4 * MiB]: "230-300", [16 * MiB]: "230-300", [64 * MiB]: "228-297",
};

/** Mean latency (cycles) of random reads over `window` bytes, after a warm-up of the same size. */
export function meanLatency(w: Workload, window: number, requests: number, rng: Xorshift32): number {
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0 };
  const io = w.io;
  let t = io.now;
  const lines = window / 64;
  let sum = 0;
  for (let phase = 0; phase < 2; phase++) {
    for (let i = 0; i < requests; i++) {
      req.address = w.base + rng.below(lines) * 64;
      io.translateTimed(req, t, out);
      if (phase === 1) sum += out.completionCycle - t;
      t = out.completionCycle;
    }
  }
  return sum / requests;
}

export const iotlbReach: Experiment = {
  name: "iotlb-reach",
  title: "Translation latency against working-set size (the IOTLB reach knee)",
  run(o: ExperimentOptions = {}): ExperimentReport {
    const windows = o.quick ? QUICK_WINDOWS : WINDOWS;
    const requests = o.quick ? 3000 : 20000;
    const iommu = o.timing === undefined ? {} : { timing: o.timing };
    const small = hostWorkload({ pages: 64 * MiB / 4096, iommu });
    const large = hostWorkload({ pages: 32, pageSize: 2097152, iommu });
    const rng = new Xorshift32(o.seed ?? 1);
    const rows: (string | number)[][] = [];
    const s4: [number, number][] = [], s2: [number, number][] = [];
    const cyc = 1e9 / small.io.timing.clockHz;
    for (const win of windows) {
      const a = meanLatency(small, win, requests, rng) * cyc;
      const b = meanLatency(large, win, requests, rng) * cyc;
      s4.push([win / KiB, a]); s2.push([win / KiB, b]);
      rows.push([win >= MiB ? `${win / MiB} MiB` : `${win / KiB} KiB`, a, b, PUBLISHED[win] ?? "-"]);
    }
    const hit = s4[0]![1];
    const at = (s: [number, number][], kib: number) => s.find((p) => p[0] === kib)![1];
    const checks = [
      check("4 KiB pages: added latency at 256 KiB (fits the IOTLB), ns over a hit", at(s4, 256) - hit, 0, 10, "B1, B4"),
      check("4 KiB pages: added latency at 64 MiB, ns", at(s4, 64 * 1024) - hit, 228, 300, "B3"),
      check("2 MiB pages: added latency at 64 MiB, ns", at(s2, 64 * 1024) - s2[0]![1], 0, 10, "B6"),
    ];
    const svg = svgDocument([lineChart({
      title: "Latency vs working set (random 64 B reads)", xLabel: "window (KiB, log)", yLabel: "mean translation latency (ns)", logX: true,
      series: [{ name: "4 KiB pages", points: s4 }, { name: "2 MiB pages", points: s2 }],
      bands: [{ label: "published miss penalty +230-300 ns (B3)", low: hit + 230, high: hit + 300 }],
    })]);
    return {
      name: this.name, title: this.title,
      method: `${requests} dependent random 64 B reads per window after as many warm-up reads; default IOMMU (64-entry IOTLB); latency = completion - issue in timed mode.`,
      columns: ["window", "4 KiB pages (ns)", "2 MiB pages (ns)", "published added (ns, B4)"], rows, checks, svg,
      data: { windowsKiB: windows.map((w) => w / KiB), latency4k: s4.map((p) => p[1]), latency2m: s2.map((p) => p[1]) },
    };
  },
};

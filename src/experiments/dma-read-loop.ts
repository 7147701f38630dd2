/**
 * A DMA device reading host memory through the IOMMU in a closed loop, as pcie-bench's
 * bandwidth test drives a Netronome NFP6000 (docs/calibration.md section 5): the device keeps
 * `tags` reads outstanding (PCIe tags / completion space); a read starts when an earlier one
 * has completed. Each read:
 *
 *   1. is translated by the model's IOMMU (translateTimed: an IOTLB hit, or a walk that waits
 *      for a free walker); the translation delays the read by its latency less the root
 *      complex's own handling of the request, which the look-ups overlap (profile
 *      rootComplexOverlap, dmaAddedCycles; docs/calibration.md section 9);
 *   2. goes on for the rest of its unloaded round trip (host memory, root complex, the device's
 *      DMA engine): the published no-IOMMU read latency for that size less the completion's
 *      own time on the link;
 *   3. has its completions sent over the downstream link, a FIFO shared by all reads
 *      (src/device/pcie-gen3-link.ts); its tag is free when the last byte arrives.
 *
 * So the miss latency and the transfer are coupled: a walk holds a tag longer, fewer tags are
 * left to keep the link busy, and the rate falls where the tags, not the link or the walkers,
 * bound it.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { dmaAddedCycles } from "../iommu/timing-profile.js";
import { PcieLink } from "../device/pcie-gen3-link.js";
import { Xorshift32, type ExperimentOptions } from "./experiment.js";
import { DEVICE, hostWorkload } from "./workload.js";

type Timing = ExperimentOptions["timing"];

/**
 * Unloaded read round trip without the IOMMU, ns, per transfer size: pcie-bench raw data
 * (github.com/pcie-bench/data b2abf2f), no-IOMMU runs of BDW, HSW, HSW2, IVB, mean of the
 * four. 64 B: lat_dma_sweep_rd_rnd_64.txt, Cold, 64 MiB window, Avg(ns) (610.4, 604.1, 647.5,
 * 617.5). Larger sizes: that plus the size's increase over 64 B in lat_dma_sizes.txt
 * (LAT_DMA_RD, Avg(ns); 128 B +27.7, 256 B +72.3, 512 B +148.8, four-platform means).
 */
export const READ_ROUND_TRIP_NS: Readonly<Record<64 | 128 | 256 | 512, number>> = {
  64: 619.9, 128: 619.9 + 27.7, 256: 619.9 + 72.3, 512: 619.9 + 148.8,
};

export interface ReadLoopResult {
  /** Reads completed per second in steady state. */
  perSecond: number;
  hitRate: number;
  /** The link's busy share over the measured part. */
  linkBusy: number;
}

/** A small binary heap of (ready time, tag) pairs. */
class ReadyQueue {
  private t: number[] = [];
  get size(): number { return this.t.length; }
  push(x: number): void {
    const t = this.t; t.push(x);
    for (let i = t.length - 1; i > 0;) { const p = (i - 1) >> 1; if (t[p]! <= t[i]!) break; [t[p], t[i]] = [t[i]!, t[p]!]; i = p; }
  }
  pop(): number {
    const t = this.t, top = t[0]!, last = t.pop()!;
    if (t.length > 0) {
      t[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1; let m = i;
        if (l < t.length && t[l]! < t[m]!) m = l;
        if (r < t.length && t[r]! < t[m]!) m = r;
        if (m === i) break;
        [t[m], t[i]] = [t[i]!, t[m]!]; i = m;
      }
    }
    return top;
  }
}

/**
 * `requests` random reads of `size` bytes over `pages` 4 KiB pages, `tags` outstanding at most.
 * The first `requests / 10` completions are a warm-up (not measured).
 */
export function closedLoopReads(timing: Timing, size: 64 | 128 | 256 | 512, pages: number, tags: number, requests: number, seed: number,
  trace?: ExperimentOptions["trace"]): ReadLoopResult {
  const w = hostWorkload({ pages, iommu: timing === undefined ? {} : { timing } });
  const io = w.io;
  trace?.(io, `${size} B reads over ${pages} pages, ${tags} outstanding`);
  const ns = 1e9 / io.timing.clockHz; // ns per IOMMU cycle
  const link = new PcieLink(size);
  const rest = READ_ROUND_TRIP_NS[size] - link.serviceNs;
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0 };
  const rng = new Xorshift32(seed);
  const slots = 4096 / size;
  // warm the page-directory cache and table lines (steady state of the published runs)
  let t = io.now;
  for (let p = 0; p < pages; p++) { io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t, out); t = out.completionCycle; }
  const start = (io.timingModel.inFlightUntil + 1) * ns;
  const ready = new ReadyQueue();
  let hits = 0;
  const profile = io.timing;
  const issue = (at: number) => {
    req.address = w.address(rng.below(pages), size * rng.below(slots));
    const cycle = Math.ceil(at / ns);
    io.translateTimed(req, cycle, out);
    if (out.iotlbHit) hits++;
    ready.push((cycle + dmaAddedCycles(profile, out.completionCycle - cycle)) * ns + rest);
  };
  for (let i = 0; i < tags; i++) issue(start);
  const warm = Math.floor(requests / 10);
  let t0 = start, busy = 0;
  for (let done = 0; done < requests; done++) {
    const arrived = link.send(ready.pop());
    if (done === warm) { t0 = arrived; busy = 0; hits = 0; }
    else busy += link.serviceNs;
    issue(arrived);
  }
  const end = link.send(ready.pop());
  busy += link.serviceNs;
  const measured = requests - warm;
  return { perSecond: (measured / (end - t0)) * 1e9, hitRate: hits / (measured + tags), linkBusy: busy / (end - t0) };
}

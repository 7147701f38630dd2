/**
 * The invalidation as the host sees it (docs/calibration.md section 8): the IOMMU driver shim
 * (src/host/driver) flushes one page or a whole PASID of a bound process the way Linux's
 * iommu_v2 __flush_pasid did (INVALIDATE_IOMMU_PAGES, COMPLETION_WAIT and wait, then for an
 * ATS device INVALIDATE_IOTLB_PAGES, COMPLETION_WAIT and wait), and the host clock counts its
 * software: each command written to the ring, the MMIO reads of Head (and of Tail, as Linux
 * 4.0 did), the doorbell, and wait_on_sem's polling with udelay(1) between checks. The
 * device is a PCIe function whose ATC is shaped as a GPU's (GPU_ATC).
 *
 * With a seed, the driver draws each wait's poll phase from it (command-queue.ts: the host's
 * polling is not synchronised with the IOMMU), and the flush is repeated `shootdowns` times on
 * the same machine: the figure is the mean, as the published ones are means over many
 * shootdowns. Without a seed the checks fall on whole poll intervals and one flush is the figure.
 */
import { BumpAllocator } from "../builders/page-allocator.js";
import { PcieEndpoint } from "../device/pcie-endpoint.js";
import { Mm } from "../host/address-space.js";
import { IommuDriver } from "../host/driver/iommu-driver.js";
import { ALL_PAGES } from "../host/driver/range-policy.js";
import { FrameAllocator } from "../host/frame-allocator.js";
import { HostClock } from "../host/host-clock.js";
import { AmdIommu } from "../iommu/amd-iommu.js";
import { PhysicalMemory } from "../memory/physical-memory.js";
import { Prng } from "../scenarios/prng.js";
import type { ExperimentOptions } from "./experiment.js";

/**
 * The ATC of the GPU in the A5/A6 measurements (AMD Kaveri): its geometry is not published; the
 * model takes gem5's GCN3 GPU L2 TLB (docs/calibration.md S1: 4,096 entries, 32-way, 128 sets).
 */
export const GPU_ATC = { entries: 4096, ways: 32 } as const;

export interface HostFlushOptions {
  timing: ExperimentOptions["timing"];
  /** The device has ATS (its ATC is invalidated too). */
  ats: boolean;
  /** Flush the whole PASID (S = 1, all pages) instead of one page. */
  all: boolean;
  /** Linux 4.0's command queue: Head and Tail re-read from MMIO before each command (A5/A6 ran on Linux 4.0). */
  linux40: boolean;
  trace?: ExperimentOptions["trace"];
  label?: string;
  /** Seed of the driver's poll phases (a Prng); not given: no phase (whole intervals from each wait's start). */
  seed?: number;
  /** Shootdowns to average (default 1). */
  shootdowns?: number;
}

export interface HostFlush {
  /** Host cycles of one flush, from the first command written to the last poll that saw its store: the mean over the shootdowns. */
  hostCycles: number;
  /** The fastest and slowest of the shootdowns (host cycles). */
  minCycles: number;
  maxCycles: number;
  shootdowns: number;
  /** Commands written and COMPLETION_WAITs waited for, per flush. */
  commands: number;
  waits: number;
}

/** One PASID flush through the driver shim, timed on the host clock. */
export function hostFlush(o: HostFlushOptions): HostFlush {
  const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
  const iommu = new AmdIommu({ memory, ...(o.timing === undefined ? {} : { timing: o.timing }) });
  const clock = new HostClock();
  const frames = new FrameAllocator({ memory, base: 0x10_0000 });
  const shootdowns = o.shootdowns ?? 1;
  if (!Number.isInteger(shootdowns) || shootdowns < 1) throw new RangeError(`hostFlush: shootdowns must be an integer >= 1, got ${String(o.shootdowns)}`);
  const driver = new IommuDriver({
    iommu, memory, clock, pages: new BumpAllocator(memory, 4096, 0x10_0000), deviceTableEntries: 512, queueReadsTail: o.linux40,
    ...(o.seed === undefined ? {} : { pollPhase: new Prng(o.seed) }),
  });
  const deviceId = 0x100;
  if (o.ats) new PcieEndpoint(iommu, { deviceId, ats: { ...GPU_ATC } });
  driver.init();
  const dev = driver.attachDevice(deviceId, { ats: o.ats });
  const mm = new Mm({ memory, frames, id: "p", clock });
  const va = mm.mmap(16 * 4096, "rw-");
  for (let i = 0; i < 16; i++) mm.cpuAccess(va + i * 4096, true);
  const binding = driver.bindPasid(dev, 1, mm);
  const fill = () => {
    for (let i = 0; i < 16; i++) iommu.translate({ deviceId, address: va + i * 4096, pasid: 1 }); // entries to flush
    driver.queue.runIommu();
  };
  fill();
  if (o.trace !== undefined) o.trace(iommu, o.label ?? "host flush");
  const q = driver.queue.stats;
  let total = 0, min = Infinity, max = 0, commands = 0, waits = 0;
  for (let k = 0; k < shootdowns; k++) {
    if (k > 0) fill();
    const c0 = q.commands, w0 = q.syncs;
    const t0 = clock.now();
    driver.flushPasid([binding], [o.all ? ALL_PAGES : { address: BigInt(va), s: false }], "iommu-v2");
    const t = clock.now() - t0;
    total += t; min = Math.min(min, t); max = Math.max(max, t);
    commands = q.commands - c0; waits = q.syncs - w0;
  }
  return { hostCycles: total / shootdowns, minCycles: min, maxCycles: max, shootdowns, commands, waits };
}

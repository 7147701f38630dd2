/**
 * Host time of translation and invalidation (issue 6): IOTLB hit; 4- and 5-level misses with
 * and without the page-directory cache over 65,536 mapped pages; a nested (4x4) miss; a
 * first-touch walk that sets A/D; single-page, 2 MiB-range and all-pages invalidation with a
 * full IOTLB; and the timed-mode twins of the hit and miss cases (timed <= 1.5x functional).
 */
import type { BenchCase, BenchSubject } from "./bench-case.js";
import { TranslationResult, type TranslationRequest } from "../src/index.js";
import { CommandRing, DEVICE, DOMAIN, hostWorkload, nestedWorkload, type Workload } from "../src/experiments/workload.js";
import { buildInvalidateIommuPages, encodeInvalidationRange, ALL_PAGES_ADDRESS } from "../src/spec/commands.js";

const PAGES = 65536;
const BATCH = 1024;

/**
 * Translate BATCH addresses per call, cycling through `span` pages with stride `stride`. The
 * addresses are computed beforehand, so the loop around the model is a typed-array read.
 */
function translating(w: Workload, span: number, stride: number, timed: boolean, write = false): BenchSubject {
  const out = new TranslationResult();
  const req: TranslationRequest = w.pasid === undefined ? { deviceId: DEVICE, address: 0, write } : { deviceId: DEVICE, address: 0, pasid: w.pasid, write };
  const io = w.io;
  const order = new Float64Array(span);
  for (let k = 0, i = 0; k < span; k++) { order[k] = w.address(i, 64); i += stride; if (i >= span) i -= span; }
  let i = 0;
  let t = io.now;
  let refs = 0, n = 0;
  // (the loops keep their state in locals: a closure's variables are loaded and stored through its context)
  const functional = () => {
    const q = req, o = out, m = io, addresses = order;
    let j = i;
    for (let k = 0; k < BATCH; k++) {
      q.address = addresses[j]!;
      if (++j === span) j = 0;
      m.translateInto(q, o);
    }
    i = j;
    refs += o.walkReferences; n++;
  };
  const timedRun = () => {
    const q = req, o = out, m = io, addresses = order;
    let j = i, c = t;
    for (let k = 0; k < BATCH; k++) {
      q.address = addresses[j]!;
      if (++j === span) j = 0;
      c += 1000;
      m.translateTimed(q, c, o);
    }
    i = j; t = c;
    refs += o.walkReferences; n++;
  };
  const run = timed ? timedRun : functional;
  run();
  return { opsPerCall: BATCH, run, modelledCycles: () => out.cycles, memoryReferences: () => (n === 0 ? 0 : refs / n) };
}

const host = (o: Parameters<typeof hostWorkload>[0]) => hostWorkload(o);

function missCase(levels: 4 | 5, pde: boolean, timed = false): BenchCase {
  return {
    name: `translate/miss-${levels}level-${pde ? "pde" : "nopde"}${timed ? "-timed" : ""}`, group: "translation",
    setup: () => translating(host({ pages: PAGES, levels, iommu: { iotlb: { entries: 0 }, pdeCache: { entries: pde ? 64 : 0 } } }), PAGES, 1, timed),
  };
}

function firstTouch(): BenchSubject {
  const w = host({ pages: PAGES, fresh: true, iommu: { iotlb: { entries: 0 } } });
  const out = new TranslationResult();
  const req = { deviceId: DEVICE, address: 0, write: true };
  const mem = w.tb.memory.u32;
  let i = 0;
  return {
    opsPerCall: BATCH,
    run: () => {
      for (let k = 0; k < BATCH; k++) {
        const li = w.leaf(i) >>> 2;
        mem[li] = mem[li]! & ~0x60; // clear A (bit 5) and D (bit 6): the next walk sets them again
        req.address = w.address(i, 64);
        w.io.translateInto(req, out);
        if (++i === PAGES) i = 0;
      }
    },
    modelledCycles: () => out.cycles,
    memoryReferences: () => out.memoryReferences,
  };
}

/** One INVALIDATE_IOMMU_PAGES per operation through the ring with a full IOTLB. */
function invalidation(kind: "page" | "range-2mib" | "all"): BenchSubject {
  const w = host({ pages: 4096, iommu: { iotlb: { entries: 64 } } });
  const io = w.io;
  const ring = new CommandRing(w.tb);
  const out = new TranslationResult();
  const fill = () => { for (let p = 0; p < 64; p++) io.translateInto({ deviceId: DEVICE, address: w.address(p) }, out); };
  fill();
  // page and range commands target pages the IOTLB does not hold, so it stays full and every command scans all of it
  const far = w.address(2048);
  const cmd = kind === "page" ? buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, address: far })
    : kind === "range-2mib" ? (() => { const r = encodeInvalidationRange(BigInt(far), 2n * 1024n * 1024n); return buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: r.s, address: r.address }); })()
      : buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: true, address: ALL_PAGES_ADDRESS });
  let cycles = 0;
  return {
    opsPerCall: 1,
    run: () => {
      if (kind === "all") fill();
      const busy = io.commands.stats.busyCycles;
      ring.submit(cmd);
      io.runUntilIdle();
      cycles = io.commands.stats.busyCycles - busy;
    },
    modelledCycles: () => cycles,
    memoryReferences: () => (kind === "all" ? 64 * 4 : 1),
  };
}

export const cases: BenchCase[] = [
  { name: "translate/iotlb-hit", group: "translation", setup: () => translating(host({ pages: 64 }), 32, 1, false) },
  { name: "translate/iotlb-hit-timed", group: "translation", setup: () => translating(host({ pages: 64 }), 32, 1, true) },
  missCase(4, true), missCase(4, false), missCase(4, true, true), missCase(4, false, true),
  missCase(5, true), missCase(5, false),
  {
    name: "translate/nested-miss-4x4", group: "translation",
    setup: () => translating(nestedWorkload({ pages: 4096, iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 0 } } }), 4096, 1, false),
  },
  { name: "translate/first-touch-ad", group: "translation", setup: firstTouch },
  { name: "invalidate/page-full-iotlb", group: "invalidation", setup: () => invalidation("page") },
  { name: "invalidate/range-2mib-full-iotlb", group: "invalidation", setup: () => invalidation("range-2mib") },
  { name: "invalidate/all-pages-full-iotlb (incl. refill of 64)", group: "invalidation", setup: () => invalidation("all") },
];

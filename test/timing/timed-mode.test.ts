import { describe, expect, it } from "vitest";
import { TranslationResult } from "../../src/index.js";
import { buildInvalidateIommuPages, buildCompletionWait } from "../../src/spec/commands.js";
import { BREAKDOWN } from "../../src/iommu/timing/timing-statistics.js";
import { DEV, IOVA, timingRig } from "./rig.js";

describe("timed mode: completion cycles", () => {
  it("an IOTLB hit completes at issue + its cycles and takes no walker", () => {
    const { tb } = timingRig(4);
    const io = tb.iommu;
    io.translateTimed({ deviceId: DEV, address: IOVA }, 1000); // fill
    const busyBefore = io.timingModel.walkers.busyCycles;
    const r = io.translateTimed({ deviceId: DEV, address: IOVA + 8 }, 5000);
    expect(r.iotlbHit).toBe(true);
    expect(r.completionCycle).toBe(5000 + r.cycles);
    expect(io.timingModel.walkers.busyCycles).toBe(busyBefore);
  });

  it("a lone miss completes at issue + its functional cycles (no queueing)", () => {
    const { tb } = timingRig(4);
    const r = tb.iommu.translateTimed({ deviceId: DEV, address: IOVA }, 200);
    expect(r.iotlbHit).toBe(false);
    expect(r.completionCycle).toBe(200 + r.cycles);
    expect(tb.iommu.timingModel.lastQueue).toBe(0);
  });

  it("misses beyond the walker count queue for the first walker to come free", () => {
    const walkers = 2;
    const { tb } = timingRig(16, { iotlb: { entries: 0 }, pdeCache: { entries: 0 }, timing: { walkers } });
    const io = tb.iommu;
    const out = [0, 1, 2].map((i) => io.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 }, 0));
    const pre = (r: TranslationResult) => (r.dteCacheHit ? io.timing.dteCacheHit : io.timing.memoryReference) + io.timing.iotlbHit;
    // the first two start at once; the third waits for the earliest of them to finish
    expect(out[0]!.completionCycle).toBe(out[0]!.cycles);
    expect(out[1]!.completionCycle).toBe(out[1]!.cycles);
    const firstFree = Math.min(out[0]!.completionCycle, out[1]!.completionCycle);
    expect(io.timingModel.lastQueue).toBe(firstFree - pre(out[2]!));
    expect(out[2]!.completionCycle).toBe(firstFree + out[2]!.cycles - pre(out[2]!));
  });

  it("an IOTLB hit issued while every walker is busy does not wait", () => {
    const { tb } = timingRig(64, { timing: { walkers: 1 } });
    const io = tb.iommu;
    io.translateTimed({ deviceId: DEV, address: IOVA }, 0);
    const t0 = io.timingModel.inFlightUntil + 10;
    const miss = io.translateTimed({ deviceId: DEV, address: IOVA + 4096 }, t0);
    const hit = io.translateTimed({ deviceId: DEV, address: IOVA }, t0 + 1);
    expect(miss.iotlbHit).toBe(false);
    expect(hit.iotlbHit).toBe(true);
    expect(hit.completionCycle).toBe(t0 + 1 + hit.cycles);
    expect(hit.completionCycle).toBeLessThan(miss.completionCycle);
  });

  it("more walkers serve a burst of misses sooner", () => {
    const last = (walkers: number) => {
      const { tb } = timingRig(64, { iotlb: { entries: 0 }, timing: { walkers } });
      let end = 0;
      for (let i = 0; i < 64; i++) end = Math.max(end, tb.iommu.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 }, 0).completionCycle);
      return end;
    };
    const [a, b, c] = [last(1), last(4), last(16)];
    expect(b).toBeLessThan(a);
    expect(c).toBeLessThan(b);
  });

  it("issue cycles must be finite and non-negative (embedder misuse names the argument)", () => {
    const { tb } = timingRig(1);
    expect(() => tb.iommu.translateTimed({ deviceId: DEV, address: IOVA }, -1)).toThrow(/issueCycle/);
    expect(() => tb.iommu.translateTimed({ deviceId: DEV, address: IOVA }, NaN)).toThrow(/issueCycle/);
    expect(() => tb.iommu.advanceTo(Infinity)).toThrow(/cycle/);
  });
});

describe("timed mode: commands", () => {
  it("advanceTo runs only the commands that start before the cycle", () => {
    const { tb } = timingRig(4);
    const io = tb.iommu;
    const start = io.now;
    tb.submit(buildInvalidateIommuPages({ domainId: 1, address: IOVA }), buildInvalidateIommuPages({ domainId: 1, address: IOVA + 4096 }));
    const before = io.commands.stats.executed;
    io.advanceTo(start + 1); // the first command starts at `start`, the second only after it ends
    expect(io.commands.stats.executed).toBe(before + 1);
    const ranFirst = io.commands.stats.executed;
    io.advanceTo(io.commands.freeAt + 1);
    expect(io.commands.stats.executed).toBe(ranFirst + 1);
    expect(io.now).toBeGreaterThan(start);
  });

  it("a command starting after the cycle has not run: the IOTLB still hits", () => {
    const { tb } = timingRig(4);
    const io = tb.iommu;
    io.translateTimed({ deviceId: DEV, address: IOVA }, io.now);
    const t = io.now;
    tb.submit(buildInvalidateIommuPages({ domainId: 1, address: IOVA }));
    io.advanceTo(t); // nothing starts before t
    expect(io.translateTimed({ deviceId: DEV, address: IOVA }, t).iotlbHit).toBe(true);
    io.advanceTo(t + 1);
    expect(io.translateTimed({ deviceId: DEV, address: IOVA }, t + 2000).iotlbHit).toBe(false);
  });

  it("COMPLETION_WAIT completes after the translations already in flight", () => {
    const { tb } = timingRig(4, { iotlb: { entries: 0 }, pdeCache: { entries: 0 } });
    const io = tb.iommu;
    const t = io.now;
    const r = io.translateTimed({ deviceId: DEV, address: IOVA }, t);
    expect(r.completionCycle).toBeGreaterThan(t + io.timing.commandFetchPerLine + io.timing.commandDecode + 1);
    let storeAt = -1;
    io.commands.onCommand = ((prev) => (op: number, addr: number, dw: Uint32Array, s: number, e: number) => { prev?.(op, addr, dw, s, e); storeAt = e; })(io.commands.onCommand);
    tb.submit(buildCompletionWait({ store: true, address: tb.semaphore, data: 7n }));
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(7n);
    expect(storeAt).toBeGreaterThanOrEqual(r.completionCycle + io.timing.completionWaitStore);
  });

  it("without translations in flight COMPLETION_WAIT costs fetch, decode and the store", () => {
    const { tb } = timingRig(1);
    const io = tb.iommu;
    const before = io.stats().timing.histograms.completionWait!.count;
    tb.sync();
    const h = io.stats().timing.histograms.completionWait!;
    expect(h.count).toBe(before + 1);
    expect(h.max).toBeLessThanOrEqual(io.timing.commandFetchPerLine + io.timing.commandDecode + io.timing.completionWaitStore);
  });
});

describe("timed mode: statistics", () => {
  it("the cycle breakdown adds up to the latency of every timed translation", () => {
    const { tb } = timingRig(256, { timing: { walkers: 2 } });
    const io = tb.iommu;
    let total = 0, lineHits = 0;
    const out = new TranslationResult();
    for (let i = 0; i < 256; i++) {
      io.translateTimed({ deviceId: DEV, address: IOVA + ((i * 37) % 256) * 4096, write: i % 3 === 0 }, i * 10, out);
      total += out.completionCycle - i * 10;
      lineHits += out.tableLineHits;
    }
    const s = io.stats().timing;
    const sum = BREAKDOWN.reduce((a, k) => a + s.breakdown[k], 0);
    expect(sum).toBeCloseTo(total, 6);
    expect(s.histograms.translation!.sum).toBeCloseTo(total, 6);
    expect(s.breakdown.walkerQueue).toBeGreaterThan(0);
    // walk reads: DRAM unless the table-line cache held the line (then the LLC's latency)
    const refs = io.stats().translation.referencesPerWalk.reduce((a, n, r) => a + n * r, 0);
    expect(lineHits).toBeGreaterThan(0);
    expect(lineHits).toBeLessThan(refs);
    expect(s.breakdown.walkMemory).toBe(io.timing.memoryReference * (refs - lineHits) + io.timing.memoryReferenceLlc * lineHits);
  });

  it("hits, walks with and without page-directory-cache hits land in their own histograms", () => {
    const { tb } = timingRig(1024, { iotlb: { entries: 0 } });
    const io = tb.iommu;
    for (let i = 0; i < 8; i++) io.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 }, i * 1000);
    const h = io.stats().timing.histograms;
    expect(h.walkPdeMiss!.count).toBeGreaterThanOrEqual(1);
    expect(h.walkPdeHit!.count).toBe(8 - h.walkPdeMiss!.count);
    expect(h.walkPdeHit!.mean).toBeLessThan(h.walkPdeMiss!.mean);
    expect(h.iotlbHit!.count).toBe(0);
    expect(h.walkerService!.count).toBe(8);
  });

  it("every timed translation is one sample: each hit in iotlbHit, each walk in walkerQueue (queued or not), all in translation", () => {
    const { tb } = timingRig(64, { timing: { walkers: 1 } });
    const io = tb.iommu;
    const out = new TranslationResult();
    let hits = 0, walks = 0;
    for (let i = 0; i < 200; i++) {
      io.translateTimed({ deviceId: DEV, address: IOVA + (i % 16) * 4096 }, i < 50 ? i * 2000 : 100_000 + i, out); // spread, then bunched
      if (out.iotlbHit) hits++; else walks++;
    }
    const h = io.stats().timing.histograms;
    expect(hits).toBeGreaterThan(0);
    expect(h.iotlbHit!.count).toBe(hits);
    expect(h.iotlbHit!.min).toBe(io.timing.dteCacheHit + io.timing.iotlbHit);
    expect(h.walkerQueue!.count).toBe(walks);
    expect(h.walkerQueue!.min).toBe(0);
    expect(h.translation!.count).toBe(200);
  });

  it("functional translations leave the timing statistics alone", () => {
    const { tb } = timingRig(4);
    tb.iommu.translate({ deviceId: DEV, address: IOVA });
    expect(tb.iommu.stats().timing.timedTranslations).toBe(0);
    expect(tb.iommu.stats().timing.histograms.translation!.count).toBe(0);
  });
});

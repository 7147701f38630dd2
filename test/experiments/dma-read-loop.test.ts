/**
 * The device side of the walkers experiment: the PCIe Gen3 x8 link (completions as a FIFO at
 * the link's TLP bandwidth) and the DMA device's closed loop of outstanding reads driven
 * through the model's timed translations (src/device/pcie-gen3-link.ts,
 * src/experiments/dma-read-loop.ts).
 */
import { describe, expect, it } from "vitest";
import { completionBytes, PcieLink, tlpBytesPerNs } from "../../src/device/pcie-gen3-link.js";
import { closedLoopReads, READ_ROUND_TRIP_NS } from "../../src/experiments/dma-read-loop.js";
import { resolveTimingProfile } from "../../src/iommu/timing-profile.js";

describe("PCIe Gen3 x8 link (downstream completions)", () => {
  it("carries as many reads per second as pcie-bench's model (bw_calc.dat, MPS 256: 256 B 26,215,926.5/s, 512 B 13,107,963.2/s)", () => {
    expect(new PcieLink(256).maxReadsPerSecond).toBeCloseTo(26215926.5, -2);
    expect(new PcieLink(512).maxReadsPerSecond).toBeCloseTo(13107963.2, -2);
  });
  it("splits a read's data into MPS-sized completions, each with 20 bytes beside its data", () => {
    expect(completionBytes(64)).toBe(84);
    expect(completionBytes(256)).toBe(276);
    expect(completionBytes(512)).toBe(552);
    expect(tlpBytesPerNs()).toBeGreaterThan(7.2);
    expect(tlpBytesPerNs()).toBeLessThan(7.3);
  });
  it("queues completions ready while the link is busy behind the ones before them", () => {
    const l = new PcieLink(512);
    const a = l.send(0), b = l.send(0), c = l.send(10 * l.serviceNs);
    expect(a).toBeCloseTo(l.serviceNs, 9);
    expect(b).toBeCloseTo(2 * l.serviceNs, 9);
    expect(c).toBeCloseTo(11 * l.serviceNs, 9);
  });
});

describe("DMA device with a limited number of outstanding reads, closed loop through the IOMMU", () => {
  const walk = (() => { const p = resolveTimingProfile(undefined); return p.walkOverhead + p.pdeCacheHit + 2 * p.memoryReferenceLlc; })();
  it("every read hitting: the rate is the outstanding reads over the round trip", () => {
    const r = closedLoopReads(undefined, 64, 1, 8, 4000, 5);
    expect(r.hitRate).toBeGreaterThan(0.99);
    const bound = 8 / READ_ROUND_TRIP_NS[64] * 1e9;
    expect(r.perSecond / bound).toBeGreaterThan(0.98);
    expect(r.perSecond / bound).toBeLessThan(1.0001);
  });
  it("a hit delays the read by its look-ups less the root complex's handling they overlap: 5 ns with rootComplexOverlap 0, 1 ns with the fitted 4", () => {
    const p = resolveTimingProfile(undefined);
    const hit = p.dteCacheHit + p.iotlbHit;
    for (const [overlap, added] of [[0, hit], [p.rootComplexOverlap, hit - p.rootComplexOverlap], [100, 0]] as const) {
      const r = closedLoopReads({ rootComplexOverlap: overlap }, 64, 1, 8, 4000, 5);
      const bound = 8 / (READ_ROUND_TRIP_NS[64] + added) * 1e9;
      expect(r.perSecond / bound, `overlap ${overlap}`).toBeGreaterThan(0.9995);
      expect(r.perSecond / bound, `overlap ${overlap}`).toBeLessThan(1.0001);
    }
  });
  it("a walk holds the read's tag: under thrash the round trip grows by the walk (less the overlapped handling) and the rate falls with it", () => {
    const r = closedLoopReads(undefined, 64, 16384, 8, 4000, 5);
    expect(r.hitRate).toBeLessThan(0.05);
    const p = resolveTimingProfile(undefined);
    const bound = 8 / (READ_ROUND_TRIP_NS[64] + walk - p.rootComplexOverlap) * 1e9;
    expect(r.perSecond / bound).toBeGreaterThan(0.97);
    expect(r.perSecond / bound).toBeLessThan(1.03);
  });
  it("with tags to spare the link is the bound: its completions queue and it stays busy", () => {
    const r = closedLoopReads(undefined, 512, 1, 32, 4000, 5);
    expect(r.perSecond / new PcieLink(512).maxReadsPerSecond).toBeGreaterThan(0.999);
    expect(r.perSecond / new PcieLink(512).maxReadsPerSecond).toBeLessThan(1.001);
    expect(r.linkBusy).toBeGreaterThan(0.999);
    expect(r.linkBusy).toBeLessThan(1.001);
  });
  it("with tags to spare under thrash the walkers are the bound (the 64 B ceiling)", () => {
    const p = resolveTimingProfile(undefined);
    const r = closedLoopReads(undefined, 64, 16384, 48, 4000, 5);
    const ceiling = p.walkers / walk * 1e9;
    expect(r.perSecond / ceiling).toBeGreaterThan(0.97);
    expect(r.perSecond / ceiling).toBeLessThan(1.03);
  });
});

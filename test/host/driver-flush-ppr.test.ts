import { describe, expect, it } from "vitest";
import { ALL_PAGES_ADDRESS, decodeInvalidationRange } from "../../src/spec/commands.js";
import { invalidationRanges } from "../../src/host/driver/range-policy.js";
import { PprFaultHandler, PPR_INVALID, PPR_SUCCESS } from "../../src/host/driver/ppr-handler.js";
import { PAGE, boundFixture } from "./driver-fixture.js";

const covers = (r: { address: bigint; s: boolean }, start: number, end: number) => {
  const d = decodeInvalidationRange(r.address, r.s);
  return d.all || (d.start <= BigInt(start) && d.start + d.size >= BigInt(end));
};

describe("range policies (docs/spec-readings.md cmd 1.4, 5.d)", () => {
  it("page-or-all: a range inside one page flushes that page with S = 0; two pages flush the whole PASID", () => {
    expect(invalidationRanges("page-or-all", 0x5000, 0x5008)).toEqual([{ address: 0x5000n, s: false }]);
    expect(invalidationRanges("page-or-all", 0x5000, 0x7000)).toEqual([{ address: ALL_PAGES_ADDRESS, s: true }]);
  });

  it("exact: one S = 1 command whose naturally aligned block covers the range and is not 'all'", () => {
    const [r] = invalidationRanges("exact", 0x7000, 0xa000);
    expect(r!.s).toBe(true);
    expect(covers(r!, 0x7000, 0xa000)).toBe(true);
    expect(decodeInvalidationRange(r!.address, r!.s).all).toBe(false);
  });

  it("threshold: one S = 0 command per page up to the threshold, the whole PASID above it", () => {
    expect(invalidationRanges("threshold", 0x1000, 0x4000, 3).map((r) => r.address)).toEqual([0x1000n, 0x2000n, 0x3000n]);
    expect(invalidationRanges("threshold", 0x1000, 0x5000, 3)).toEqual([{ address: ALL_PAGES_ADDRESS, s: true }]);
  });
});

describe("PASID flush (INVALIDATE_IOMMU_PAGES GN = 1 + INVALIDATE_IOTLB_PAGES + COMPLETION_WAIT)", () => {
  it("a translation cached in the IOTLB survives a PTE change until the driver flushes that page", () => {
    const b = boundFixture();
    const pa = b.mm.translate(b.va)!;
    expect(b.dma(b.va).spa).toBe(pa);
    b.mm.munmap(b.va, PAGE); // no notifier registered: nothing tells the IOMMU
    expect(b.dma(b.va).spa).toBe(pa); // the stale IOTLB entry
    b.driver.flushPasid([b.binding], invalidationRanges("page-or-all", b.va, b.va + PAGE), "iommu-v2");
    expect(b.dma(b.va).ok).toBe(false);
  });

  it("iommu-v2 order waits after the IOMMU flush and again after the device flush; sva order waits once at the end", () => {
    const b = boundFixture({ ats: true });
    b.driver.flushPasid([b.binding], [{ address: BigInt(b.va), s: false }], "iommu-v2");
    expect(b.names()).toEqual(["INVALIDATE_IOMMU_PAGES", "COMPLETION_WAIT", "INVALIDATE_IOTLB_PAGES", "COMPLETION_WAIT"]);
    b.commands.length = 0;
    b.driver.flushPasid([b.binding], [{ address: BigInt(b.va), s: false }], "sva");
    expect(b.names()).toEqual(["INVALIDATE_IOMMU_PAGES", "INVALIDATE_IOTLB_PAGES", "COMPLETION_WAIT"]);
    expect(b.commands[0]!.fields).toMatchObject({ GN: 1n, PDE: 1n, S: 0n, PASID: 1n, DomainID: BigInt(b.dev.domainId) });
    expect(b.ep.invalidations.at(-1)).toMatchObject({ gn: true, pasid: 1, start: BigInt(b.va), size: 4096n, all: false });
  });

  it("the flush's host cycles include waiting for the device's ATS invalidation completion", () => {
    const plain = boundFixture();
    plain.driver.flushPasid([plain.binding], [{ address: BigInt(plain.va), s: false }], "sva");
    const ats = boundFixture({ ats: true });
    ats.driver.flushPasid([ats.binding], [{ address: BigInt(ats.va), s: false }], "sva");
    expect(ats.driver.stats.flushCycles).toBeGreaterThan(plain.driver.stats.flushCycles);
    expect(ats.driver.stats.flushCycles - plain.driver.stats.flushCycles).toBeGreaterThanOrEqual(1000);
  });
});

describe("PPR fault service (old iommu_v2, docs/spec-readings.md cmd 5.e)", () => {
  const request = (b: ReturnType<typeof boundFixture>, va: number, prgIndex: number, o: { write?: boolean; last?: boolean; pasid?: number } = {}) =>
    b.iommu.pageRequest({ deviceId: b.deviceId, pasid: o.pasid ?? 1, address: va, prgIndex, last: o.last ?? true, read: true, write: o.write ?? false });

  it("a request for a page of a VMA faults it in and answers Success for its group", () => {
    const b = boundFixture({ ats: true });
    const va = b.mm.mmap(PAGE, "rw-");
    expect(b.mm.translate(va)).toBeNull();
    expect(request(b, va, 5, { write: true })).toBe("logged");
    const h = new PprFaultHandler(b.driver);
    expect(h.drain()).toBe(1);
    expect(h.runWorkQueue()).toBe(1);
    expect(b.mm.translate(va)).not.toBeNull();
    expect(b.ep.responses).toEqual([expect.objectContaining({ deviceId: b.deviceId, pasid: 1, gn: true, prgIndex: 5, responseCode: PPR_SUCCESS })]);
    expect(b.iommu.translateAts({ deviceId: b.deviceId, address: va, pasid: 1, write: true }).writable).toBe(true);
  });

  it("a write request to a read-only VMA, or an address with no VMA, answers Invalid", () => {
    const b = boundFixture({ ats: true });
    const ro = b.mm.mmap(PAGE, "r--");
    request(b, ro, 1, { write: true });
    request(b, 0x1000_0000, 2);
    const h = new PprFaultHandler(b.driver);
    h.drain();
    h.runWorkQueue();
    expect(b.ep.responses.map((r) => [r.prgIndex, r.responseCode])).toEqual([[1, PPR_INVALID], [2, PPR_INVALID]]);
    expect(b.mm.translate(ro)).toBeNull();
  });

  it("one response per page-request group, after its last request, carrying the group's error", () => {
    const b = boundFixture({ ats: true });
    const good = b.mm.mmap(PAGE, "rw-");
    request(b, good, 7, { last: false });
    request(b, 0x1000_0000, 7, { last: true });
    const h = new PprFaultHandler(b.driver);
    h.drain();
    h.runWorkQueue();
    expect(b.ep.responses).toHaveLength(1);
    expect(b.ep.responses[0]).toMatchObject({ prgIndex: 7, responseCode: PPR_INVALID });
    expect(b.mm.translate(good)).not.toBeNull();
  });

  it("a request for a PASID with no binding is answered Invalid at once, without a work item", () => {
    const b = boundFixture({ ats: true });
    request(b, b.va, 3, { pasid: 9 });
    const h = new PprFaultHandler(b.driver);
    h.drain();
    expect(h.pending).toBe(0);
    b.driver.kick();
    expect(b.ep.responses).toEqual([expect.objectContaining({ pasid: 9, prgIndex: 3, responseCode: PPR_INVALID })]);
  });

  it("the drained log entries are zeroed and Head catches up with Tail", () => {
    const b = boundFixture({ ats: true });
    request(b, b.va, 1);
    request(b, b.va + PAGE, 2);
    new PprFaultHandler(b.driver).drain();
    const ring = b.driver.pprRing();
    expect(b.iommu.mmioRead64(ring.headReg)).toBe(b.iommu.mmioRead64(ring.tailReg));
    expect(b.memory.read64(ring.base)).toBe(0n);
  });
});

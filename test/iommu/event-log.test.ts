/**
 * The event log ring (docs/spec-readings.md cmd 2.1): entries at Tail, Tail advanced by the
 * IOMMU, Head by software; full when the next Tail equals Head: EventOverflow, logging stops,
 * nothing overwritten; EventLogInt and the interrupt callback.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/index.js";
import { spec, type InterruptSource } from "../../src/index.js";

const S = spec;
/** A device whose every request faults (V=1, TV=1, Mode 1 with an empty table). */
function faulting(tb: IommuTestbench, deviceId: number) {
  tb.deviceTable.set(deviceId, { V: true, TV: true, Mode: 1, HostPageTableRootPtr: tb.pages.alloc(), IR: true, IW: true, DomainID: deviceId });
}

describe("event log", () => {
  it("an event is written at Tail and Tail advances by 16 bytes", () => {
    const tb = new IommuTestbench({ ringLen: 8 });
    faulting(tb, 1);
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL)).toBe(16n);
    expect(tb.memory.read32(tb.eventLogBase + 4) >>> 28).toBe(S.EV_IO_PAGE_FAULT);
  });

  it("the ring wraps: Tail returns to 0 after 2^Len entries", () => {
    const tb = new IommuTestbench({ ringLen: 8 });
    faulting(tb, 1);
    for (let i = 0; i < 300; i++) {
      tb.iommu.translate({ deviceId: 1, address: 0x1000 * (i + 1) });
      if (i % 100 === 99 && i < 299) tb.events();
    }
    expect(Number(tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL))).toBe((300 * 16) % 4096);
    const ev = tb.events();
    expect(ev.map((e) => e.address)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(0x1000 * (201 + i))));
  });

  it("when full: EventOverflow set, EventLogRun cleared, no entry overwritten, later events dropped", () => {
    const tb = new IommuTestbench({ ringLen: 8 });
    faulting(tb, 1);
    for (let i = 0; i < 256; i++) tb.iommu.translate({ deviceId: 1, address: 0x1000 * (i + 1) });
    const st = tb.iommu.mmioRead64(S.MMIO_STATUS);
    expect(st & 1n).toBe(1n); // EventOverflow
    expect(st & 8n).toBe(0n); // EventLogRun
    expect(Number(tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL))).toBe(255 * 16);
    const ev = tb.events();
    expect(ev).toHaveLength(255);
    expect(ev[0]!.address).toBe(0x1000n);
    expect(ev[254]!.address).toBe(BigInt(0x1000 * 255));
    tb.iommu.translate({ deviceId: 1, address: 0xdead000 });
    expect(tb.events()).toEqual([]); // stopped until restarted
    expect(tb.iommu.stats().eventLog.dropped).toBe(2);
  });

  it("Linux's restart (clear EventLogEn, write 1 to EventOverflow, set EventLogEn) resumes logging", () => {
    const tb = new IommuTestbench({ ringLen: 8 });
    faulting(tb, 1);
    for (let i = 0; i < 256; i++) tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    tb.events();
    tb.control([], ["EventLogEn"]);
    tb.iommu.mmioWrite64(S.MMIO_STATUS, 1n);
    tb.control(["EventLogEn"]);
    expect(tb.iommu.mmioRead64(S.MMIO_STATUS) & 9n).toBe(8n);
    tb.iommu.translate({ deviceId: 1, address: 0x7000 });
    expect(tb.events().map((e) => e.address)).toEqual([0x7000n]);
  });

  it("with EventIntEn=1 an event sets EventLogInt and raises the interrupt; EventIntEn=0 raises none", () => {
    const seen: InterruptSource[] = [];
    const tb = new IommuTestbench({ iommu: { onInterrupt: (s) => seen.push(s) } });
    faulting(tb, 1);
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(seen).toEqual([]);
    expect(tb.iommu.mmioRead64(S.MMIO_STATUS) & 2n).toBe(0n);
    tb.control(["EventIntEn"]);
    tb.iommu.translate({ deviceId: 1, address: 0x2000 });
    expect(seen).toEqual(["event-log"]);
    expect(tb.iommu.mmioRead64(S.MMIO_STATUS) & 2n).toBe(2n);
  });

  it("overflow raises the interrupt when EventIntEn=1", () => {
    const seen: InterruptSource[] = [];
    const tb = new IommuTestbench({ ringLen: 8, iommu: { onInterrupt: (s) => seen.push(s) } });
    faulting(tb, 1);
    for (let i = 0; i < 255; i++) tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    tb.control(["EventIntEn"]);
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(seen).toEqual(["event-log"]);
    expect(tb.iommu.mmioRead64(S.MMIO_STATUS) & 1n).toBe(1n);
  });

  it("EventLogEn=0: no event is written", () => {
    const tb = new IommuTestbench();
    faulting(tb, 1);
    tb.control([], ["EventLogEn"]);
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL)).toBe(0n);
  });

  it("a log base outside memory drops the event without writing anything", () => {
    const tb = new IommuTestbench();
    faulting(tb, 1);
    tb.iommu.mmioWrite64(S.MMIO_EVENT_LOG_BASE, BigInt(tb.memory.bytes) | (9n << 56n));
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL)).toBe(0n);
    expect(tb.iommu.stats().eventLog.writeErrors).toBe(1);
  });

  it("a reserved EventLen below 8 is read as 8 (256 entries)", () => {
    const tb = new IommuTestbench({ ringLen: 8 });
    faulting(tb, 1);
    tb.iommu.mmioWrite64(S.MMIO_EVENT_LOG_BASE, BigInt(tb.eventLogBase) | (2n << 56n));
    for (let i = 0; i < 300; i++) tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(tb.events()).toHaveLength(255);
  });
});

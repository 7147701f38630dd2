/**
 * Dual (B) PPR and event logs (docs/spec-readings.md irq 4.1, 4.3; every behaviour a reading,
 * UNCERTAIN 21/22): EFR.DualPprLogSup / DualEventLogSup, the B base/head/tail registers,
 * Control.DualPprLogEn / DualEventLogEn 00b = log A, 01b = log B, 10b = switch to the other log
 * when the active one is full (Status.PprLogActive / EventLogActive, 1 = B), overflow only
 * when neither log can take the entry (PprOverflow for A, PprOverflowB for B).
 */
import { describe, expect, it } from "vitest";
import { builders, spec } from "../../src/index.js";

const S = spec;
const DEV = 0x30;

function setup(features: Record<string, boolean> = { dualPprLog: true, dualEventLog: true }) {
  const tb = new builders.IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256, ringLen: 8, iommu: { features } });
  tb.deviceTable.set(DEV, { V: true, TV: true, IR: true, IW: true, DomainID: 7, PPR: true, Mode: 3, HostPageTableRootPtr: tb.pages.alloc() });
  const pprB = tb.pages.allocContiguous(1), evB = tb.pages.allocContiguous(1);
  tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_BASE, BigInt(pprB) | (8n << 56n));
  tb.iommu.mmioWrite64(S.MMIO_EVENT_LOG_B_BASE, BigInt(evB) | (8n << 56n));
  const mode = (ppr: number, ev: number) => {
    const c = tb.iommu.mmioRead64(S.MMIO_CONTROL) & ~((3n << 30n) | (3n << 32n));
    tb.iommu.mmioWrite64(S.MMIO_CONTROL, c | (BigInt(ppr) << 30n) | (BigInt(ev) << 32n));
  };
  const req = (i: number) => tb.iommu.pageRequest({ deviceId: DEV, address: 0x1000 * i, prgIndex: i & 0x1ff, last: true, read: true });
  const status = () => Number(tb.iommu.mmioRead64(S.MMIO_STATUS));
  const tailB = () => Number(tb.iommu.mmioRead64(S.MMIO_PPR_LOG_B_TAIL));
  const tailA = () => Number(tb.iommu.mmioRead64(S.MMIO_PPR_LOG_TAIL));
  return { tb, pprB, evB, mode, req, status, tailA, tailB };
}

describe("dual logs", () => {
  it("EFR.DualPprLogSup / DualEventLogSup read 10b when enabled, 00b by default; the B registers exist only then", () => {
    const off = new builders.IommuTestbench({ bytes: 4 * 1024 * 1024, deviceTableEntries: 256 });
    expect(Number(off.iommu.mmioRead64(S.MMIO_EXTENDED_FEATURE) >> 24n) & 0x33).toBe(0);
    off.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_BASE, 0x0800_0000_0010_0000n);
    expect(off.iommu.mmioRead64(S.MMIO_PPR_LOG_B_BASE)).toBe(0n);
    const s = setup();
    expect(Number(s.tb.iommu.mmioRead64(S.MMIO_EXTENDED_FEATURE) >> 24n) & 0x33).toBe(0x22);
  });
  it("DualPprLogEn = 00b writes log A, 01b log B", () => {
    const s = setup();
    s.req(1);
    expect([s.tailA(), s.tailB()]).toEqual([16, 0]);
    s.mode(1, 0);
    s.req(2);
    expect([s.tailA(), s.tailB()]).toEqual([16, 16]);
    expect(s.tb.memory.read32(s.pprB + 4) >>> 28).toBe(spec.PPR_CODE_PAGE_SERVICE_REQUEST);
  });
  it("DualPprLogEn = 10b: when log A is full the entry goes to log B and PprLogActive (bit 12) flips; overflow only when both are full", () => {
    const s = setup();
    s.mode(2, 0);
    for (let i = 0; i < 255; i++) expect(s.req(i)).toBe("logged");
    expect([s.status() & 0x1000, s.tailB()]).toEqual([0, 0]);
    expect(s.req(300)).toBe("logged");
    expect([s.status() & 0x1000, s.tailB()]).toEqual([0x1000, 16]);
    for (let i = 0; i < 254; i++) expect(s.req(i)).toBe("logged");
    // log B full, log A still full: overflow of the active log B (PprOverflowB, bit 11), PPR logging stops
    expect(s.req(7)).toBe("dropped");
    expect(s.status() & (0x800 | 0x20 | 0x80)).toBe(0x800);
  });
  it("DualPprLogEn = 10b switches back to log A once software drained it", () => {
    const s = setup();
    s.mode(2, 0);
    for (let i = 0; i < 256; i++) s.req(i); // A full, the last one in B
    s.tb.pprEntries(); // software drains log A
    for (let i = 0; i < 254; i++) s.req(i); // B full now
    expect(s.req(9)).toBe("logged");
    expect(s.status() & 0x1000).toBe(0);
  });
  it("DualEventLogEn = 01b: events go to event log B", () => {
    const s = setup();
    s.mode(0, 1);
    const r = s.tb.iommu.translate({ deviceId: DEV, address: 0x5000 });
    expect(r.event).toBe(S.EV_IO_PAGE_FAULT);
    expect(Number(s.tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_B_TAIL))).toBe(16);
    expect(Number(s.tb.iommu.mmioRead64(S.MMIO_EVENT_LOG_TAIL))).toBe(0);
    expect(s.tb.memory.read32(s.evB + 4) >>> 28).toBe(S.EV_IO_PAGE_FAULT);
  });
  it("without EFR.DualPprLogSup the Control bits change nothing", () => {
    const s = setup({});
    s.mode(1, 1);
    s.req(1);
    expect(s.tailA()).toBe(16);
  });
});

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

describe("PPR log B early-overflow warning (docs/spec-readings.md irq 4.1, 4.2; register 0x2090 as VBox reads it, UNCERTAIN 21)", () => {
  const EARLY_B = 1 << 17, EARLY_A = 1 << 18;
  const early = (threshold: number, intEn: boolean) => BigInt((0x8000_0000 | (intEn ? 0x4000_0000 : 0) | threshold) >>> 0);
  const both = { dualPprLog: true, dualEventLog: true, pprEarlyOverflow: true };

  it("register 0x2090 exists only with both EFR.PprOvrflwEarlySup and EFR.DualPprLogSup", () => {
    for (const [features, present] of [[both, true], [{ dualPprLog: true }, false], [{ pprEarlyOverflow: true }, false]] as const) {
      const s = setup(features);
      s.tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY, early(5, true));
      expect(s.tb.iommu.mmioRead64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY), JSON.stringify(features)).toBe(present ? early(5, true) : 0n);
    }
  });

  it("log B reaching the threshold of 0x2090 sets Status.PprOverflowEarlyB (bit 17) once, with the PPR interrupt; bit 18 (log A) stays clear; clearing bit 17 re-arms it", () => {
    const s = setup(both);
    s.mode(1, 0);
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_OVERFLOW_EARLY, early(1, true));
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY, early(3, true));
    const irqs = () => s.tb.iommu.interrupts["ppr-log"];
    s.req(1); s.req(2);
    expect([s.status() & (EARLY_A | EARLY_B), irqs()]).toEqual([0, 0]);
    s.req(3);
    expect([s.status() & (EARLY_A | EARLY_B), irqs(), s.tb.iommu.ppr.stats.earlyWarnings]).toEqual([EARLY_B, 1, 1]);
    s.req(4); // still above the threshold: set once
    expect([s.status() & (EARLY_A | EARLY_B), irqs()]).toEqual([EARLY_B, 1]);
    s.tb.iommu.mmioWrite64(S.MMIO_STATUS, BigInt(EARLY_B)); // RW1C
    expect(s.status() & EARLY_B).toBe(0);
    s.req(5);
    expect([s.status() & (EARLY_A | EARLY_B), irqs()]).toEqual([EARLY_B, 2]);
  });

  it("without its IntEn the log B warning sets bit 17 and raises nothing", () => {
    const s = setup(both);
    s.mode(1, 0);
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY, early(1, false));
    s.req(1);
    expect([s.status() & EARLY_B, s.tb.iommu.interrupts["ppr-log"]]).toEqual([EARLY_B, 0]);
  });

  it("an entry in log A is checked against 0x2088 only (bit 18), even when 0x2090's threshold is lower", () => {
    const s = setup(both);
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_OVERFLOW_EARLY, early(2, false));
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY, early(1, false));
    s.req(1);
    expect(s.status() & (EARLY_A | EARLY_B)).toBe(0);
    s.req(2);
    expect(s.status() & (EARLY_A | EARLY_B)).toBe(EARLY_A);
  });

  it("DualPprLogEn = 10b: after the switch to log B, log B's entries are counted against 0x2090", () => {
    const s = setup(both);
    s.mode(2, 0);
    s.tb.iommu.mmioWrite64(S.MMIO_PPR_LOG_B_OVERFLOW_EARLY, early(2, false));
    for (let i = 0; i < 255; i++) s.req(i); // log A full
    expect(s.status() & EARLY_B).toBe(0);
    s.req(300); // first entry of log B
    expect(s.status() & EARLY_B).toBe(0);
    s.req(301);
    expect(s.status() & EARLY_B).toBe(EARLY_B);
  });
});

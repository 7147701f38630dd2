/**
 * Interrupt remapping as docs/spec-readings.md irq 1.2-1.9 describes it: DTE interrupt
 * controls, the MSI classes, the IRTE look-up (32-bit and 128-bit), x2APIC destinations,
 * faults and their events, the IRTE cache and INVALIDATE_INTERRUPT_TABLE.
 */
import { describe, expect, it } from "vitest";
import { spec } from "../../../src/index.js";
import { DEV, MSI, irSetup } from "./ir-setup.js";

const S = spec;

describe("DTE interrupt controls (digest 1.2, 1.4 steps 1-3)", () => {
  it("IommuEn = 0: the MSI is forwarded unchanged", () => {
    const { tb } = irSetup();
    tb.control([], ["IommuEn"]);
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 0x3000, data: 0x41 });
    expect([r.ok, r.path, r.address, r.data, r.vector, r.destination]).toEqual([true, "iommu-disabled", MSI + 0x3000, 0x41, 0x41, 3]);
  });
  it("IV = 0: the MSI is forwarded unchanged", () => {
    const { tb, setDte } = irSetup();
    setDte({ IV: false, IntCtl: 0 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 0x5000, data: 0x23 });
    expect([r.ok, r.path, r.address, r.data]).toEqual([true, "not-mapped", MSI + 0x5000, 0x23]);
  });
  it("IV = 1, IntCtl = 00b: fixed interrupts are target-aborted without an event", () => {
    const { tb, setDte } = irSetup();
    setDte({ IntCtl: 0 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x23 });
    expect([r.ok, r.fault, r.event]).toEqual([false, "remapping-blocked", 0]);
    expect(tb.events()).toEqual([]);
  });
  it("IV = 1, IntCtl = 01b: fixed interrupts are forwarded unchanged", () => {
    const { tb, setDte } = irSetup();
    setDte({ IntCtl: 1 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 0x1000, data: 0x123 });
    expect([r.ok, r.path, r.data, r.deliveryMode]).toEqual([true, "forwarded", 0x123, 1]);
  });
  it("IV = 1, IntCtl = 11b: ILLEGAL_DEV_TABLE_ENTRY with I = 1, address = MSI address with bits 1:0 clear", () => {
    const { tb, setDte } = irSetup();
    setDte({ IntCtl: 3 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 0x7, data: 0x23 });
    expect([r.ok, r.fault, r.event]).toEqual([false, "illegal-dte", S.EV_ILLEGAL_DEV_TABLE_ENTRY]);
    const [e] = tb.events();
    expect([e!.name, e!.deviceId, e!.flags.I, e!.flags.RZ, e!.address]).toEqual(["ILLEGAL_DEV_TABLE_ENTRY", DEV, true, false, BigInt(MSI + 0x4)]);
  });
  it("IV = 1 with a reserved interrupt bit (187): ILLEGAL_DEV_TABLE_ENTRY with I = 1 and RZ = 1", () => {
    const { tb, table } = irSetup();
    const dw = S.encodeDte({ V: true, TV: true, ...table.dteFields() });
    dw[5] = (dw[5]! | (1 << (187 - 160))) >>> 0;
    tb.deviceTable.setRaw(DEV, dw);
    tb.sync(S.buildInvalidateDevtabEntry(DEV));
    tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x23 });
    const [e] = tb.events();
    expect([e!.name, e!.flags.I, e!.flags.RZ]).toEqual(["ILLEGAL_DEV_TABLE_ENTRY", true, true]);
  });
  it("IntTabLen 12..15 with IV = 1 is ILLEGAL_DEV_TABLE_ENTRY", () => {
    const { tb, setDte } = irSetup();
    setDte({ IntTabLen: 12 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 }).fault).toBe("illegal-dte");
  });
  it("an illegal translation half does not stop interrupts: IV governs the interrupt half (UNCERTAIN 9)", () => {
    const { tb, setDte, table } = irSetup();
    setDte({ HAD: 2 }); // HAD = 10b is reserved: the DTE's translation half is illegal
    table.set(5, { RemapEn: true, Vector: 0x55, Destination: 2 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 5 });
    expect([r.ok, r.vector]).toEqual([true, 0x55]);
  });
  it("DTE outside memory: DEV_TAB_HARDWARE_ERROR with I = 1", () => {
    const { tb } = irSetup();
    tb.iommu.mmioWrite64(S.MMIO_DEVICE_TABLE_BASE, BigInt(tb.memory.bytes - 4096) | 0x1ffn);
    tb.sync(S.buildInvalidateIommuAll());
    const r = tb.iommu.remapInterrupt({ deviceId: 0xff00, address: MSI, data: 1 });
    expect([r.fault, r.event]).toEqual(["dte-hardware-error", S.EV_DEV_TAB_HARDWARE_ERROR]);
    expect(tb.events()[0]!.flags.I).toBe(true);
  });
  it("an address outside 0xFEE0_0000-0xFEEF_FFFF is not an interrupt request", () => {
    const { tb } = irSetup();
    for (const a of [0xfed0_0000, 0xfef0_0000, 0x1_fee0_0000]) {
      const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: a, data: 1 });
      expect([r.ok, r.fault]).toEqual([false, "not-an-interrupt"]);
    }
  });
});

describe("message classes (digest 1.4 step 5)", () => {
  const cases: [string, number, "NMIPass" | "InitPass" | "EIntPass"][] = [["NMI", 4, "NMIPass"], ["INIT", 5, "InitPass"], ["ExtINT", 7, "EIntPass"]];
  for (const [name, dm, bit] of cases) {
    it(`${name} with ${bit} = 1 and DM = 0 is forwarded unchanged; with ${bit} = 0 target-aborted; with DM = 1 aborted`, () => {
      const { tb, setDte } = irSetup();
      setDte({ [bit]: true });
      const data = (dm << 8) | 0x02;
      expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data })).toMatchObject({ ok: true, path: "forwarded", data, deliveryMode: dm });
      expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 4, data })).toMatchObject({ ok: false, fault: "logical-pass-through", event: 0 });
      setDte({ [bit]: false });
      expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data })).toMatchObject({ ok: false, fault: "pass-blocked", event: 0 });
      expect(tb.events()).toEqual([]);
    });
  }
  it("reserved delivery modes 011b and 110b are target-aborted", () => {
    const { tb } = irSetup();
    for (const m of [3, 6]) expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: m << 8 }).fault).toBe("reserved-delivery-mode");
  });
  it("SMI (010b) is forwarded when DTE.SysMgt = 01b and aborted otherwise (quirks.smiInterrupts = sysmgt, UNCERTAIN 1)", () => {
    const { tb, setDte } = irSetup();
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x200 }).ok).toBe(false);
    setDte({ SysMgt: 1 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x200 }).ok).toBe(true);
  });
  it("lowest-priority data 0x0105 uses IRTE index 0x105 (bit 8 is both delivery-mode bit and index bit)", () => {
    const { tb, table } = irSetup();
    table.set(0x105, { RemapEn: true, Vector: 0x77, Destination: 1 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x105 })).toMatchObject({ ok: true, index: 0x105, vector: 0x77 });
  });
  it("2048-entry mode: address DM = 1 makes data[10:0] = 0x7FF the index although data[10:8] reads as ExtINT; without the mode it is an ExtINT", () => {
    const { tb, table, setDte } = irSetup({ intTabLen: 11 });
    table.set(0x7ff, { RemapEn: true, Vector: 0x99, Destination: 3 });
    setDte({ EIntPass: true });
    tb.iommu.mmioWrite64(S.MMIO_CONTROL, tb.iommu.mmioRead64(S.MMIO_CONTROL) | (1n << 43n));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 4, data: 0x7ff })).toMatchObject({ ok: true, path: "remapped", index: 0x7ff, vector: 0x99 });
    tb.iommu.mmioWrite64(S.MMIO_CONTROL, tb.iommu.mmioRead64(S.MMIO_CONTROL) & ~(3n << 43n));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 4, data: 0x7ff })).toMatchObject({ ok: false, fault: "logical-pass-through" });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x7ff })).toMatchObject({ ok: true, path: "forwarded", deliveryMode: 7 });
  });
  it("2048-entry mode is not available when EFR2.NumIntRemapSup = 00b", () => {
    const { tb, table } = irSetup({ intTabLen: 11, iommu: { features: { intRemap2k: false } } });
    expect(Number(tb.iommu.mmioRead64(S.MMIO_EXTENDED_FEATURE_2) >> 8n) & 3).toBe(0);
    table.set(0x7ff, { RemapEn: true, Vector: 0x99 });
    tb.iommu.mmioWrite64(S.MMIO_CONTROL, tb.iommu.mmioRead64(S.MMIO_CONTROL) | (1n << 43n));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 4, data: 0x7ff }).path).not.toBe("remapped");
  });
});

describe("IRTE look-up (digest 1.4 steps 6-11, 1.5, 1.6)", () => {
  it("32-bit format: data 0x23 reads the IRTE at root + 0x8C and delivers its vector, destination, IntType and DM", () => {
    const { tb, table } = irSetup({ format: "32" });
    tb.memory.write32(table.root + 0x8c, S.encodeIrte32({ RemapEn: true, Vector: 0x31, Destination: 0x12, IntType: 1, DM: true }));
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x23 });
    expect([r.ok, r.path, r.vector, r.destination, r.deliveryMode, r.destinationMode]).toEqual([true, "remapped", 0x31, 0x12, 1, 1]);
    expect([r.address, r.data]).toEqual([(MSI + (0x12 << 12) | 4) >>> 0, 0x131]);
  });
  it("128-bit format (GAEn = 1): data 0x23 reads the IRTE at root + 0x230", () => {
    const { tb, table } = irSetup({ format: "128" });
    const dw = S.encodeIrte128({ RemapEn: true, Vector: 0x44, Destination: 0x9 });
    for (let i = 0; i < 4; i++) tb.memory.write32(table.root + 0x230 + 4 * i, dw[i]!);
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0x23 })).toMatchObject({ ok: true, vector: 0x44, destination: 9 });
  });
  it("XTEn = 0 uses Destination[7:0]; XTEn = 1 the 32-bit destination from bits 31:8 and 127:120", () => {
    const a = irSetup({ xt: false });
    a.table.set(1, { RemapEn: true, Vector: 0x20, Destination: 0x1234_5678 });
    expect(a.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 }).destination).toBe(0x78);
    const b = irSetup({ xt: true });
    b.table.set(1, { RemapEn: true, Vector: 0x20, Destination: 0x1234_5678 });
    expect(b.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 }).destination).toBe(0x1234_5678);
  });
  it("XTEn has no effect without EFR.XTSup", () => {
    const b = irSetup({ xt: true, iommu: { features: { x2apic: false } } });
    b.table.set(1, { RemapEn: true, Vector: 0x20, Destination: 0x1234_5678 });
    expect(b.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 }).destination).toBe(0x78);
  });
  it("GAEn is ignored without EFR.GASup: tables are read in the 32-bit format", () => {
    const { tb, table } = irSetup({ format: "32", iommu: { features: { guestVapic: false } } });
    tb.control(["GAEn"]);
    table.set(2, { RemapEn: true, Vector: 0x66 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 2 }).vector).toBe(0x66);
  });
  it("index >= 2^IntTabLen: IO_PAGE_FAULT with I = 1, PR = 0, DomainID, address = MSI address; target abort", () => {
    const { tb } = irSetup({ intTabLen: 4 });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI + 0x2000, data: 16 });
    expect([r.ok, r.fault, r.event]).toEqual([false, "index-out-of-range", S.EV_IO_PAGE_FAULT]);
    const [e] = tb.events();
    expect([e!.deviceId, e!.domainId, e!.flags.I, e!.flags.PR, e!.flags.RW, e!.address]).toEqual([DEV, 7, true, false, false, BigInt(MSI + 0x2000)]);
  });
  it("index 2^IntTabLen - 1 is inside the table", () => {
    const { tb, table } = irSetup({ intTabLen: 4 });
    table.set(15, { RemapEn: true, Vector: 0x50 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 15 }).ok).toBe(true);
  });
  it("RemapEn = 0: IO_PAGE_FAULT with I = 1, PR = 0", () => {
    const { tb } = irSetup();
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 });
    expect([r.fault, r.event]).toEqual(["irte-not-remapped", S.EV_IO_PAGE_FAULT]);
    const [e] = tb.events();
    expect([e!.flags.I, e!.flags.PR]).toEqual([true, false]);
  });
  it("IntType other than 000b/001b: IO_PAGE_FAULT with PR = 1, RZ = 1", () => {
    const { tb, table } = irSetup();
    table.set(3, { RemapEn: true, IntType: 4, Vector: 2 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 }).fault).toBe("irte-reserved");
    const [e] = tb.events();
    expect([e!.flags.PR, e!.flags.RZ, e!.flags.I]).toEqual([true, true, true]);
  });
  it("reserved IRTE bits (32-bit bits 31:24) fault with RZ when quirks.irteReservedBitsFault, and are ignored otherwise", () => {
    for (const q of [true, false]) {
      const { tb, table } = irSetup({ format: "32", iommu: { quirks: { irteReservedBitsFault: q } } });
      tb.memory.write32(table.address(3), (S.encodeIrte32({ RemapEn: true, Vector: 9 }) | 0x0100_0000) >>> 0);
      expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 }).ok).toBe(!q);
    }
  });
  it("GuestMode = 1 in the 32-bit format: IO_PAGE_FAULT with RZ = 1", () => {
    const { tb, table } = irSetup({ format: "32" });
    tb.memory.write32(table.address(3), S.encodeIrte32({ RemapEn: true, GuestMode: true, Vector: 9 }));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 }).fault).toBe("guest-mode-not-allowed");
    expect(tb.events()[0]!.flags.RZ).toBe(true);
  });
  it("GuestMode = 1 with GAMEn = 000b: IO_PAGE_FAULT with RZ = 1 (UNCERTAIN 6)", () => {
    const { tb, table } = irSetup({ format: "128", gam: false });
    table.set(3, { RemapEn: true, GuestMode: true, Vector: 9, VapicBackingPage: 0x10_0000 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 }).fault).toBe("guest-mode-not-allowed");
  });
  it("IRTE.SupIOPF = 1 suppresses the event; the interrupt is still aborted", () => {
    const { tb, table } = irSetup();
    table.set(3, { RemapEn: true, SupIOPF: true, IntType: 5, Vector: 9 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 })).toMatchObject({ ok: false, fault: "irte-reserved", event: 0 });
    expect(tb.events()).toEqual([]);
  });
  it("DTE.IG = 1 suppresses IO_PAGE_FAULT for unmapped interrupts (index out of range, RemapEn = 0)", () => {
    const { tb, setDte } = irSetup({ intTabLen: 2 });
    setDte({ IG: true });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 9 })).toMatchObject({ ok: false, fault: "index-out-of-range", event: 0 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 })).toMatchObject({ ok: false, fault: "irte-not-remapped", event: 0 });
    expect(tb.events()).toEqual([]);
  });
  it("DTE.IG scope: \"all\" (VBox) also suppresses a reserved-IntType fault, \"unmapped\" does not (UNCERTAIN 4)", () => {
    for (const scope of ["all", "unmapped"] as const) {
      const { tb, table, setDte } = irSetup({ iommu: { quirks: { interruptIgScope: scope } } });
      setDte({ IG: true });
      table.set(1, { RemapEn: true, IntType: 6 });
      expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 }).event).toBe(scope === "all" ? 0 : S.EV_IO_PAGE_FAULT);
    }
  });
  it("an interrupt with a PASID prefix: IO_PAGE_FAULT with I = 1", () => {
    const { tb } = irSetup();
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 1, pasid: 3 })).toMatchObject({ fault: "interrupt-with-pasid", event: S.EV_IO_PAGE_FAULT });
  });
  it("an IRTE outside memory: PAGE_TAB_HARDWARE_ERROR with I = 1 (UNCERTAIN 5)", () => {
    const { tb, setDte } = irSetup();
    setDte({ IntTableRootPtr: tb.memory.bytes - 64 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 100 })).toMatchObject({ fault: "irte-hardware-error", event: S.EV_PAGE_TAB_HARDWARE_ERROR });
  });
  it("the remapped message keeps the device's trigger-mode and level bits (UNCERTAIN 7) and puts RqEoi in the redirection hint", () => {
    const { tb, table } = irSetup();
    table.set(1, { RemapEn: true, Vector: 0x30, RqEoi: true });
    const r = tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 0xc001 });
    expect([r.data, r.address & 8, r.requestEoi]).toEqual([0xc030, 8, true]);
  });
});

describe("IRTE cache and INVALIDATE_INTERRUPT_TABLE (digest 1.8)", () => {
  it("a changed vector is not seen until INVALIDATE_INTERRUPT_TABLE for the DeviceID", () => {
    const { tb, table } = irSetup();
    table.set(4, { RemapEn: true, Vector: 0x40 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 }).vector).toBe(0x40);
    table.set(4, { RemapEn: true, Vector: 0x41 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 })).toMatchObject({ vector: 0x40, irteCacheHit: true });
    tb.sync(S.buildInvalidateInterruptTable(DEV + 1));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 }).vector).toBe(0x40);
    tb.sync(S.buildInvalidateInterruptTable(DEV));
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 })).toMatchObject({ vector: 0x41, irteCacheHit: false });
  });
  it("INVALIDATE_IOMMU_ALL drops cached IRTEs too", () => {
    const { tb, table } = irSetup();
    table.set(4, { RemapEn: true, Vector: 0x40 });
    tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 });
    table.set(4, { RemapEn: true, Vector: 0x42 });
    tb.sync(S.buildInvalidateIommuAll());
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 }).vector).toBe(0x42);
  });
  it("Control.IRTCacheDis = 1: every interrupt reads the IRTE from memory", () => {
    const { tb, table } = irSetup();
    tb.control(["IRTCacheDis"]);
    table.set(4, { RemapEn: true, Vector: 0x40 });
    tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 });
    table.set(4, { RemapEn: true, Vector: 0x43 });
    expect(tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 })).toMatchObject({ vector: 0x43, irteCacheHit: false });
  });
  it("peekInterrupt changes nothing: no cache fill, no event, no statistics", () => {
    const { tb, table } = irSetup();
    table.set(4, { RemapEn: true, Vector: 0x40 });
    const before = JSON.stringify(tb.iommu.stats());
    expect(tb.iommu.peekInterrupt({ deviceId: DEV, address: MSI, data: 4 })).toMatchObject({ ok: true, vector: 0x40 });
    expect(tb.iommu.peekInterrupt({ deviceId: DEV, address: MSI, data: 40 })).toMatchObject({ ok: false, fault: "irte-not-remapped", event: 0 });
    expect(JSON.stringify(tb.iommu.stats())).toBe(before);
    expect(tb.events()).toEqual([]);
  });
  it("remapInterruptTimed: completionCycle = issue cycle + modelled cycles, and a miss costs more than a hit", () => {
    const { tb, table } = irSetup();
    table.set(4, { RemapEn: true, Vector: 0x40 });
    const a = tb.iommu.remapInterruptTimed({ deviceId: DEV, address: MSI, data: 4 }, 1_000_000);
    const b = tb.iommu.remapInterruptTimed({ deviceId: DEV, address: MSI, data: 4 }, 2_000_000);
    expect(a.completionCycle).toBe(1_000_000 + a.cycles);
    expect(b.cycles).toBeLessThan(a.cycles);
  });
});

describe("bad input is refused with an error naming the field", () => {
  const { tb } = irSetup();
  it.each([
    [null, /request must be an object/], [{ deviceId: -1, address: MSI, data: 0 }, /deviceId/], [{ deviceId: 1, address: "x", data: 0 }, /address/],
    [{ deviceId: 1, address: MSI, data: 2 ** 32 }, /data/], [{ deviceId: 1, address: MSI, data: 1.5 }, /data/], [{ deviceId: 1, address: MSI, data: 0, pasid: -2 }, /pasid/],
    [{ deviceId: 1, address: -1, data: 0 }, /address/], [{ deviceId: 1, address: 1n << 64n, data: 0 }, /address/],
  ])("case %#", (req, re) => {
    expect(() => tb.iommu.remapInterrupt(req as never)).toThrow(re);
  });
});

describe("snapshots keep the interrupt state", () => {
  it("IRTE cache, remapper counters, GA log counters and performance counters survive snapshot -> JSON -> restore", () => {
    const { tb, table } = irSetup();
    table.set(4, { RemapEn: true, Vector: 0x40 });
    tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 });
    table.set(4, { RemapEn: true, Vector: 0x41 }); // not invalidated: the cached vector 0x40 is the state
    const snap = JSON.parse(JSON.stringify(tb.iommu.snapshot()));
    const io2 = (tb.iommu.constructor as typeof import("../../../src/index.js").AmdIommu).restore(snap, { memory: tb.memory });
    expect(io2.stats().interruptRemapping).toEqual(tb.iommu.stats().interruptRemapping);
    expect(io2.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 })).toMatchObject({ vector: 0x40, irteCacheHit: true });
  });
});

describe("x2APIC: the IOMMU's own interrupts (digest 1.10)", () => {
  it("IntCapXTEn = 1: the event-log, PPR-log and GA-log interrupts are the messages in 0x170 / 0x178 / 0x180 (32-bit destination, vector, DM)", () => {
    const { tb } = irSetup();
    const io = tb.iommu;
    io.mmioWrite64(S.MMIO_XT_GENERAL_INT_CTRL, (0x12n << 56n) | (0x41n << 32n) | (0x345678n << 8n) | 4n);
    io.mmioWrite64(S.MMIO_XT_PPR_INT_CTRL, (0x42n << 32n) | (7n << 8n));
    io.mmioWrite64(S.MMIO_XT_GA_INT_CTRL, (0x43n << 32n) | (9n << 8n));
    expect(io.interruptMessage("event-log")).toBeNull(); // IntCapXTEn = 0: the PCI MSI capability (not held by the model)
    tb.control(["IntCapXTEn"]);
    expect(io.interruptMessage("event-log")).toEqual({ destination: 0x1234_5678, destinationMode: 1, vector: 0x41, deliveryMode: 0 });
    expect(io.interruptMessage("completion-wait")!.vector).toBe(0x41);
    expect(io.interruptMessage("ppr-log")).toEqual({ destination: 7, destinationMode: 0, vector: 0x42, deliveryMode: 0 });
    expect(io.interruptMessage("ga-log")).toEqual({ destination: 9, destinationMode: 0, vector: 0x43, deliveryMode: 0 });
  });
  it("without EFR.XTSup the XT registers are absent and IntCapXTEn has no effect", () => {
    const { tb } = irSetup({ iommu: { features: { x2apic: false } } });
    tb.iommu.mmioWrite64(S.MMIO_XT_GA_INT_CTRL, 0x43n << 32n);
    tb.control(["IntCapXTEn"]);
    expect([tb.iommu.mmioRead64(S.MMIO_XT_GA_INT_CTRL), tb.iommu.interruptMessage("ga-log")]).toEqual([0n, null]);
  });
});

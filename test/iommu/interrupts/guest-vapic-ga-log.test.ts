/**
 * Guest-mode (vAPIC) interrupts and the GA log (docs/spec-readings.md irq 1.8, 2.1-2.4):
 * IRR bit in the backing page, doorbell for a running vCPU, GA log entry for a blocked one,
 * GALogEn/GAIntEn, overflow and restart, Status bits, the fields that are never cached.
 */
import { describe, expect, it, vi } from "vitest";
import { spec } from "../../../src/index.js";
import { DEV, MSI, irSetup } from "./ir-setup.js";

const S = spec;
const GA_LEN = 8n; // 512 entries x 8 bytes

function gaSetup(o: { gaIntEn?: boolean; entries?: number } = {}) {
  const s = irSetup({ format: "128", gam: true, xt: true });
  const { tb } = s;
  const log = tb.pages.allocContiguous(1);
  const backing = tb.pages.alloc();
  tb.iommu.mmioWrite64(S.MMIO_GA_LOG_BASE, BigInt(log) | (GA_LEN << 56n));
  tb.iommu.mmioWrite64(S.MMIO_GA_LOG_HEAD, 0n);
  tb.iommu.mmioWrite64(S.MMIO_GA_LOG_TAIL, 0n);
  tb.control(o.gaIntEn === false ? ["GALogEn"] : ["GAIntEn", "GALogEn"]);
  const irr = (v: number) => (tb.memory.read32(backing + 0x200 + (v >>> 5) * 0x10) >>> (v & 31)) & 1;
  const status = () => Number(tb.iommu.mmioRead64(S.MMIO_STATUS));
  const entries = () => {
    const out: spec.GaLogEntry[] = [];
    let head = Number(tb.iommu.mmioRead64(S.MMIO_GA_LOG_HEAD));
    const tail = Number(tb.iommu.mmioRead64(S.MMIO_GA_LOG_TAIL));
    while (head !== tail) { out.push(S.decodeGaLogEntry([tb.memory.read32(log + head), tb.memory.read32(log + head + 4)])); head = (head + 8) % 4096; }
    tb.iommu.mmioWrite64(S.MMIO_GA_LOG_HEAD, BigInt(head));
    return out;
  };
  return { ...s, log, backing, irr, status, entries };
}

describe("guest-mode IRTE delivery (digest 2.3)", () => {
  it("GALogEn sets Status.GALogRun (bit 8); clearing it clears GALogRun", () => {
    const g = gaSetup();
    expect(g.status() & 0x100).toBe(0x100);
    g.tb.control([], ["GALogEn"]);
    expect(g.status() & 0x100).toBe(0);
  });
  it("IsRun = 1: IRR bit of the guest vector set in the backing page, a doorbell to Destination, no GA log entry", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x61, IsRun: true, Destination: 0x1_0003, GATag: 0xabcd, GALogIntr: true, VapicBackingPage: g.backing });
    const bells: number[] = [];
    g.tb.iommu.interruptRemapper.onDoorbell = (d) => bells.push(d);
    const r = g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect([r.ok, r.posted, r.doorbell, r.gaLogged, r.vector, r.destination]).toEqual([true, true, true, false, 0x61, 0x1_0003]);
    expect(g.irr(0x61)).toBe(1);
    expect(bells).toEqual([0x1_0003]);
    expect(g.entries()).toEqual([]);
  });
  it("IsRun = 0, GALogIntr = 1: IRR bit set, GA log entry {GATag, DeviceID, type 1}, Status.GAInt and the GA interrupt with GAIntEn", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x22, IsRun: false, GATag: 0xdead_beef, GALogIntr: true, VapicBackingPage: g.backing });
    const r = g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect([r.ok, r.posted, r.doorbell, r.gaLogged]).toEqual([true, true, false, true]);
    expect(g.irr(0x22)).toBe(1);
    expect(g.entries()).toEqual([{ gaTag: 0xdead_beef, deviceId: DEV, type: 1 }]);
    expect(g.status() & 0x400).toBe(0x400);
    expect(g.tb.iommu.stats().interrupts["ga-log"]).toBe(1);
  });
  it("GAIntEn = 0: the entry is written, but no GAInt status and no interrupt", () => {
    const g = gaSetup({ gaIntEn: false });
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x22, GATag: 5, GALogIntr: true, VapicBackingPage: g.backing });
    g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect(g.entries().length).toBe(1);
    expect([g.status() & 0x400, g.tb.iommu.stats().interrupts["ga-log"]]).toEqual([0, 0]);
  });
  it("IsRun = 0, GALogIntr = 0: only the IRR bit is set", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x9f, GATag: 5, VapicBackingPage: g.backing });
    const r = g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect([r.posted, r.gaLogged, g.irr(0x9f), g.entries().length]).toEqual([true, false, 1, 0]);
  });
  it("IsRun, Destination, GATag and GALogIntr are re-read from memory without INVALIDATE_INTERRUPT_TABLE; the vector stays cached", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x30, IsRun: true, Destination: 1, GATag: 1, VapicBackingPage: g.backing });
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).doorbell).toBe(true);
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x31, IsRun: false, Destination: 2, GATag: 77, GALogIntr: true, VapicBackingPage: g.backing });
    const r = g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect([r.irteCacheHit, r.doorbell, r.gaLogged, r.destination, r.vector]).toEqual([true, false, true, 2, 0x30]);
    expect(g.entries()).toEqual([{ gaTag: 77, deviceId: DEV, type: 1 }]);
  });
  it("a backing page outside memory: PAGE_TAB_HARDWARE_ERROR with I = 1, nothing delivered", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x30, VapicBackingPage: g.tb.memory.bytes });
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 })).toMatchObject({ ok: false, fault: "vapic-hardware-error", event: S.EV_PAGE_TAB_HARDWARE_ERROR });
  });
  it("GA log full: no entry, Status.GALOverflow (bit 9) set, GALogRun cleared, GA interrupt; the IRR update still happens", () => {
    const g = gaSetup();
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x40, GATag: 9, GALogIntr: true, VapicBackingPage: g.backing });
    for (let i = 0; i < 511; i++) expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(true);
    const ints = g.tb.iommu.stats().interrupts["ga-log"];
    const r = g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect([r.ok, r.posted, r.gaLogged]).toEqual([true, true, false]);
    expect(g.status() & 0x300).toBe(0x200);
    expect(g.tb.iommu.stats().interrupts["ga-log"]).toBe(ints + 1);
    // restart (digest 2.4): GALogRun = 0, clear GALogEn, drain, write 1 to GALOverflow, set GALogEn
    g.tb.control([], ["GALogEn"]);
    expect(g.entries().length).toBe(511);
    g.tb.iommu.mmioWrite64(S.MMIO_STATUS, 0x200n);
    g.tb.control(["GALogEn"]);
    expect(g.status() & 0x300).toBe(0x100);
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(true);
  });
  it("GA Log Tail Address programmed: after each entry and the Tail register, the new Tail is written to the 8-byte tail mirror", () => {
    const g = gaSetup();
    const mirror = g.tb.pages.alloc() + 0x18;
    g.tb.iommu.mmioWrite64(S.MMIO_GA_LOG_TAIL_ADDRESS, BigInt(mirror));
    g.tb.memory.write32(mirror, 0xffff_ffff); g.tb.memory.write32(mirror + 4, 0xffff_ffff);
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x40, GATag: 9, GALogIntr: true, VapicBackingPage: g.backing });
    const stores: number[] = [];
    const st = vi.spyOn(g.tb.memory, "store32"), sn = vi.spyOn(g.tb.memory, "storeNotify32");
    st.mockImplementation((pa: number, v: number) => { stores.push(pa); g.tb.memory.write32(pa, v); });
    sn.mockImplementation((pa: number, v: number) => { stores.push(pa); g.tb.memory.write32(pa, v); });
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(true);
    st.mockRestore(); sn.mockRestore();
    // entry dwords first, then the mirror (high dword, then the low dword a poller watches)
    expect(stores.filter((a) => a >= g.log && a < g.log + 4096)).toEqual([g.log, g.log + 4]);
    expect(stores.slice(stores.indexOf(g.log + 4) + 1)).toEqual([mirror + 4, mirror]);
    expect([g.tb.memory.read32(mirror), g.tb.memory.read32(mirror + 4)]).toEqual([8, 0]);
    g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect(g.tb.memory.read32(mirror)).toBe(Number(g.tb.iommu.mmioRead64(S.MMIO_GA_LOG_TAIL)));
    expect(g.tb.memory.read32(mirror)).toBe(16);
  });
  it("GA log full: no entry and the tail mirror keeps the last Tail", () => {
    const g = gaSetup();
    const mirror = g.tb.pages.alloc() + 0x40;
    g.tb.iommu.mmioWrite64(S.MMIO_GA_LOG_TAIL_ADDRESS, BigInt(mirror));
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x40, GATag: 9, GALogIntr: true, VapicBackingPage: g.backing });
    for (let i = 0; i < 511; i++) g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 });
    expect(g.tb.memory.read32(mirror)).toBe(511 * 8);
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(false);
    expect(g.tb.memory.read32(mirror)).toBe(511 * 8);
  });
  it("GA Log Tail Address 0 (reset, not programmed): nothing is mirrored, SPA 0 is not written", () => {
    const g = gaSetup();
    g.tb.memory.write32(0, 0xa5a5_a5a5); g.tb.memory.write32(4, 0x5a5a_5a5a);
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x40, GATag: 9, GALogIntr: true, VapicBackingPage: g.backing });
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(true);
    expect([g.tb.memory.read32(0), g.tb.memory.read32(4)]).toEqual([0xa5a5_a5a5, 0x5a5a_5a5a]);
  });
  it("a tail mirror outside memory: the entry and the Tail register are written, the mirror is skipped and counted in writeErrors", () => {
    const g = gaSetup();
    g.tb.iommu.mmioWrite64(S.MMIO_GA_LOG_TAIL_ADDRESS, BigInt(g.tb.memory.bytes) + 0x1000n);
    g.table.set(6, { RemapEn: true, GuestMode: true, Vector: 0x40, GATag: 9, GALogIntr: true, VapicBackingPage: g.backing });
    expect(g.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 6 }).gaLogged).toBe(true);
    expect(g.entries()).toEqual([{ gaTag: 9, deviceId: DEV, type: 1 }]);
    expect(g.tb.iommu.stats().gaLog).toMatchObject({ written: 1, writeErrors: 1, dropped: 0 });
  });
  it("GA log registers are absent without EFR.GASup", () => {
    const s = irSetup({ iommu: { features: { guestVapic: false } }, format: "32" });
    s.tb.iommu.mmioWrite64(S.MMIO_GA_LOG_BASE, 0x0800_0000_0010_0000n);
    expect(s.tb.iommu.mmioRead64(S.MMIO_GA_LOG_BASE)).toBe(0n);
  });
});

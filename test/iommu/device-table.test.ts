/**
 * The device table (docs/spec-readings.md reg 1.2, 3): DTE fetch, every field's decode,
 * the outcomes of 3.4, and the DTE cache.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/index.js";
import { spec } from "../../src/index.js";

const S = spec;

describe("device table", () => {
  it("DTE address = DevTabBase + DeviceID x 32, and every field decodes from the bytes the driver wrote", () => {
    const tb = new IommuTestbench();
    const f = {
      V: true, TV: true, HAD: 3, Mode: 4, HostPageTableRootPtr: 0x1234_5000, PPR: true, GPRP: true, GIoV: true, GV: true, GLX: 1,
      IR: true, IW: false, DomainID: 0xabc, GCR3TableRootPtr: 0x0009_8765_4000, I: true, SE: true, SA: false, IoCtl: 1, Cache: true,
      SD: true, EX: true, SysMgt: 2, IV: false, IntTabLen: 0, IG: false, IntTableRootPtr: 0, GuestPagingMode: 1, InitPass: true,
      EIntPass: true, NMIPass: true, IntCtl: 0, Lint0Pass: true, Lint1Pass: true, AttrV: true, Mode0FC: true, SnoopAttribute: 0x5a,
    };
    tb.deviceTable.set(0x0a0b, f);
    expect(tb.deviceTable.address(0x0a0b)).toBe(tb.deviceTable.base + 0x0a0b * 32);
    const d = tb.iommu.deviceTable.lookup(0x0a0b);
    expect(d).not.toBeNull();
    expect(d!.f).toEqual(f);
    expect(d!.guestLevels).toBe(5);
  });

  it("a DTE outside memory gives DEV_TAB_HARDWARE_ERROR with the DTE's address", () => {
    const tb = new IommuTestbench({ deviceTableEntries: 65536 });
    tb.iommu.mmioWrite64(S.MMIO_DEVICE_TABLE_BASE, BigInt(tb.memory.bytes - 4096) | 0x1ffn);
    const r = tb.iommu.translate({ deviceId: 0x200, address: 0x1000, write: true });
    expect(r.fault).toBe("dte-hardware-error");
    const e = tb.events()[0]!;
    expect(e.code).toBe(S.EV_DEV_TAB_HARDWARE_ERROR);
    expect(e.address).toBe(BigInt(tb.memory.bytes - 4096 + 0x200 * 32));
    expect(e.flags.RW).toBe(true);
    expect(e.flags.Type).toBe(1);
  });

  it("a DeviceID beyond the programmed Size is an ILLEGAL_DEV_TABLE_ENTRY (named reading)", () => {
    const tb = new IommuTestbench({ deviceTableEntries: 128 }); // Size = 0: 128 DTEs
    const r = tb.iommu.translate({ deviceId: 128, address: 0x1000 });
    expect(r.fault).toBe("illegal-dte");
    expect(tb.events()[0]!.code).toBe(S.EV_ILLEGAL_DEV_TABLE_ENTRY);
    const alt = new IommuTestbench({ deviceTableEntries: 128, iommu: { quirks: { deviceIdBeyondTable: "dev-tab-hardware-error" } } });
    expect(alt.iommu.translate({ deviceId: 128, address: 0x1000 }).fault).toBe("dte-hardware-error");
  });

  const illegal: [string, Record<string, unknown> | ((dw: Uint32Array) => void)][] = [
    ["reserved bit 2 set", (dw) => { dw[0]! |= 4; }],
    ["reserved bit 63 set", (dw) => { dw[1]! |= 0x8000_0000; }],
    ["reserved bit 106 set", (dw) => { dw[3]! |= 0x400; }],
    ["GLX = 11b", { GLX: 3, GV: true, GCR3TableRootPtr: 0x1000 }],
    ["GV = 1 with a zero GCR3 root", { GV: true, GCR3TableRootPtr: 0 }],
    ["GuestPagingMode = 10b", { GuestPagingMode: 2 }],
    ["IoCtl = 11b", { IoCtl: 3 }],
    ["HAD = 10b", { HAD: 2 }],
    ["IV = 1 with IntCtl = 11b", { IV: true, IntCtl: 3 }],
    ["IV = 1 with a reserved interrupt-part bit", (dw) => { dw[4]! |= 1; dw[6]! |= 1; }],
  ];
  for (const [what, change] of illegal) {
    it(`V=1 and ${what}: ILLEGAL_DEV_TABLE_ENTRY, request aborted`, () => {
      const tb = new IommuTestbench();
      const base = { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 1 };
      const dw = S.encodeDte(typeof change === "function" ? base : { ...base, ...change });
      if (typeof change === "function") change(dw);
      tb.deviceTable.setRaw(5, dw);
      const r = tb.iommu.translate({ deviceId: 5, address: 0x4000, write: true });
      expect(r.ok).toBe(false);
      expect(r.fault).toBe("illegal-dte");
      const e = tb.events()[0]!;
      expect(e).toMatchObject({ code: S.EV_ILLEGAL_DEV_TABLE_ENTRY, deviceId: 5 });
      expect(e.flags).toMatchObject({ RZ: true, RW: true });
    });
  }

  it("fields of an absent feature count as reserved: GV=1 without GTSup is illegal", () => {
    const tb = new IommuTestbench({ iommu: { features: { guestTranslation: false } } });
    tb.deviceTable.set(6, { V: true, TV: true, IR: true, IW: true, GV: true, GCR3TableRootPtr: 0x1000 });
    expect(tb.iommu.translate({ deviceId: 6, address: 0 }).fault).toBe("illegal-dte");
  });

  it("with V=0 reserved bits are not checked (the entry is simply not valid)", () => {
    const tb = new IommuTestbench();
    const dw = S.encodeDte({ V: false });
    dw[0]! |= 4;
    tb.deviceTable.setRaw(7, dw);
    expect(tb.iommu.translate({ deviceId: 7, address: 0x1000 }).path).toBe("untranslated");
  });

  it("the DTE cache keeps a DTE until INVALIDATE_DEVTAB_ENTRY", () => {
    const tb = new IommuTestbench();
    tb.deviceTable.set(8, { V: true, TV: true, Mode: 0, IR: true, IW: true });
    expect(tb.iommu.translate({ deviceId: 8, address: 0x1000 }).ok).toBe(true);
    tb.deviceTable.set(8, { V: true, TV: true, Mode: 0, IR: false, IW: false });
    const cached = tb.iommu.translate({ deviceId: 8, address: 0x1000 });
    expect([cached.ok, cached.dteCacheHit]).toEqual([true, true]);
    tb.sync(S.buildInvalidateDevtabEntry(8));
    const fresh = tb.iommu.translate({ deviceId: 8, address: 0x1000 });
    expect([fresh.ok, fresh.dteCacheHit]).toEqual([false, false]);
  });

  it("INVALIDATE_IOMMU_ALL drops every cached DTE", () => {
    const tb = new IommuTestbench();
    tb.deviceTable.set(9, { V: true, TV: true, Mode: 0, IR: true, IW: true });
    tb.iommu.translate({ deviceId: 9, address: 0x1000 });
    tb.deviceTable.set(9, { V: false });
    tb.sync(S.buildInvalidateIommuAll());
    expect(tb.iommu.translate({ deviceId: 9, address: 0x1000 }).path).toBe("untranslated");
  });

  it("with the DTE cache off every request re-reads the DTE", () => {
    const tb = new IommuTestbench({ iommu: { dteCache: { entries: 0 } } });
    tb.deviceTable.set(10, { V: true, TV: true, Mode: 0, IR: true, IW: true });
    tb.iommu.translate({ deviceId: 10, address: 0x1000 });
    tb.deviceTable.set(10, { V: true, TV: true, Mode: 0, IR: false, IW: false });
    expect(tb.iommu.translate({ deviceId: 10, address: 0x1000 }).ok).toBe(false);
  });
});

describe("DTE cache replacement", () => {
  it("LRU: a DTE used again is kept and the least recently used one is evicted (FIFO would evict the oldest fill)", () => {
    const tb = new IommuTestbench({ iommu: { dteCache: { entries: 2, ways: 2 } } });
    for (const id of [2, 4, 6]) tb.deviceTable.set(id, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: id });
    tb.iommu.translate({ deviceId: 2, address: 0x1000 });
    tb.iommu.translate({ deviceId: 4, address: 0x1000 });
    tb.iommu.translate({ deviceId: 2, address: 0x1000 });
    tb.iommu.translate({ deviceId: 2, address: 0x2000 }); // served by the front entry
    tb.iommu.translate({ deviceId: 6, address: 0x1000 }); // evicts 4, the least recently used
    expect(tb.iommu.translate({ deviceId: 2, address: 0x1000 }).dteCacheHit).toBe(true);
    expect(tb.iommu.translate({ deviceId: 4, address: 0x1000 }).dteCacheHit).toBe(false);
  });
});

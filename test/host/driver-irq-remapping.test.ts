/**
 * The driver shim enables interrupt remapping as Linux does (docs/spec-readings.md irq 1.11,
 * 2.5): IV in every DTE, GAEn/XTEn/2K mode before IommuEn, IntCapXTEn, the GA log and GAMEn;
 * a device's first interrupt gets a table and its DTE interrupt half; the programmed MSI is
 * remapped to the vector and destination asked for; freeing makes it fault.
 */
import { describe, expect, it } from "vitest";
import { CONTROL, MMIO_CONTROL, MMIO_STATUS, STATUS, type BitRef } from "../../src/spec/registers.js";
import { EV_IO_PAGE_FAULT } from "../../src/spec/events.js";
import { boundFixture, driverFixture } from "./driver-fixture.js";

const bit = (v: bigint, b: BitRef) => ((v >> BigInt(32 * b.half)) & BigInt(b.mask)) !== 0n;

describe("driver shim: interrupt remapping enabled as Linux does", () => {
  it("init sets GAEn, XTEn, NumIntRemapMode = 01b, IntCapXTEn, GALogEn, GAIntEn and GAMEn = 001b; GALogRun follows", () => {
    const { driver, iommu } = driverFixture();
    driver.init();
    const c = iommu.mmioRead64(MMIO_CONTROL);
    for (const n of ["GAEn", "XTEn", "IntCapXTEn", "GALogEn", "GAIntEn", "IommuEn"] as const) expect(bit(c, CONTROL[n]), n).toBe(true);
    expect([Number((c >> 43n) & 3n), Number((c >> 25n) & 7n)]).toEqual([1, 1]);
    expect(bit(iommu.mmioRead64(MMIO_STATUS), STATUS.GALogRun)).toBe(true);
  });
  it("init_device_table: every DTE has IV = 1 and IntCtl = 00b, so a device without a table has its fixed interrupts aborted", () => {
    const { driver, iommu } = driverFixture();
    driver.init();
    for (const id of [0, 0x17, 0x1ff]) expect(driver.deviceTable.get(id)).toMatchObject({ IV: true, IntCtl: 0 });
    expect(iommu.remapInterrupt({ deviceId: 0x17, address: 0xfee0_0000, data: 0x30 })).toMatchObject({ ok: false, fault: "remapping-blocked" });
  });
  it("allocate(): the device's MSI (address with DM = 1 in 2K mode, data = index) is remapped to the vectors and x2APIC destination asked for", () => {
    const f = boundFixture();
    const msi = f.driver.irq.allocate(f.deviceId, 4, 0x40, 0x1_0002);
    expect(f.driver.deviceTable.get(f.deviceId)).toMatchObject({ IV: true, IntCtl: 2, IntTabLen: 11, GV: true, V: true });
    expect(f.names()).toEqual(["INVALIDATE_DEVTAB_ENTRY", "COMPLETION_WAIT", "INVALIDATE_INTERRUPT_TABLE", "COMPLETION_WAIT"]);
    for (let i = 0; i < 4; i++) {
      const r = f.iommu.remapInterrupt({ deviceId: f.deviceId, address: msi.address, data: msi.data + i });
      expect([r.ok, r.path, r.vector, r.destination, r.destinationMode]).toEqual([true, "remapped", 0x40 + i, 0x1_0002, 0]);
    }
    expect(f.dma(f.va).ok).toBe(true); // the translation half is untouched
  });
  it("attachDevice keeps IV = 1 in the DTE it writes", () => {
    const f = boundFixture();
    expect(f.driver.deviceTable.get(f.deviceId)).toMatchObject({ IV: true, IntCtl: 0 });
  });
  it("free(): the entries are zeroed and flushed, and the next interrupt faults (RemapEn = 0)", () => {
    const f = boundFixture();
    const msi = f.driver.irq.allocate(f.deviceId, 1, 0x50, 1);
    expect(f.iommu.remapInterrupt({ deviceId: f.deviceId, address: msi.address, data: msi.data }).ok).toBe(true);
    f.driver.irq.free(msi);
    expect(f.iommu.remapInterrupt({ deviceId: f.deviceId, address: msi.address, data: msi.data })).toMatchObject({ ok: false, event: EV_IO_PAGE_FAULT });
  });
});

import { describe, expect, it, vi } from "vitest";
import { CONTROL, MMIO_CONTROL, MMIO_STATUS, STATUS, MMIO_DEVICE_TABLE_BASE } from "../../src/spec/registers.js";
import { decodeDte, DTE_DWORDS } from "../../src/spec/dte.js";
import { ALL_PAGES_ADDRESS } from "../../src/spec/commands.js";
import { GCR3_V } from "../../src/spec/page-tables.js";
import { PAGE, boundFixture, driverFixture } from "./driver-fixture.js";
import { IommuDriver } from "../../src/host/driver/iommu-driver.js";
import { BumpAllocator } from "../../src/builders/page-allocator.js";

const bit = (v: bigint, b: { half: 0 | 1; mask: number }) => ((v >> BigInt(32 * b.half)) & BigInt(b.mask)) !== 0n;

describe("driver init (docs/spec-readings.md cmd 5.a)", () => {
  it("enables the IOMMU, command buffer, event log, guest translation and the PPR log, with InvTimeOut = 1 s", () => {
    const { iommu, driver } = driverFixture();
    driver.init();
    const c = iommu.mmioRead64(MMIO_CONTROL);
    for (const n of ["IommuEn", "CmdBufEn", "EventLogEn", "EventIntEn", "PPRLogEn", "PprIntEn", "PPREn", "GTEn", "Coherent"] as const) expect(bit(c, CONTROL[n]), n).toBe(true);
    expect(Number((c >> BigInt(CONTROL.InvTimeOut.lo)) & 7n)).toBe(4);
    const s = iommu.mmioRead64(MMIO_STATUS);
    for (const n of ["CmdBufRun", "EventLogRun", "PprLogRun"] as const) expect(bit(s, STATUS[n]), n).toBe(true);
    expect(iommu.mmioRead64(MMIO_DEVICE_TABLE_BASE)).toBe(driver.deviceTable.registerValue);
  });

  it("flushes every cache after IommuEn: INVALIDATE_IOMMU_ALL then a COMPLETION_WAIT whose store the driver sees", () => {
    const { driver, commands, memory } = driverFixture();
    driver.init();
    expect(commands.map((c) => c.name)).toEqual(["INVALIDATE_IOMMU_ALL", "COMPLETION_WAIT"]);
    expect(memory.read64(driver.semaphore)).toBe(1n);
    expect(driver.queue.stats.waitTimeouts).toBe(0);
  });

  it("the host clock waits for the completion store in whole 1 us polls (wait_on_sem)", () => {
    const { driver, clock } = driverFixture();
    driver.init();
    const t0 = clock.now();
    driver.queue.sync(true);
    const waited = driver.queue.stats.waitCycles;
    expect(waited).toBeGreaterThan(0);
    expect(waited % driver.cost.pollInterval).toBe(0);
    expect(clock.now()).toBeGreaterThan(t0);
  });

  it("a halted command buffer is hardware data: the wait times out after the poll budget and is counted, nothing throws", () => {
    const { driver, iommu, clock } = driverFixture();
    driver.init();
    driver.queue.queue(new Uint32Array([0, 0xf000_0000, 0, 0])); // opcode 0xF: illegal, halts the processor
    const t0 = clock.now();
    expect(driver.queue.sync()).toBe(false);
    expect(driver.queue.stats.waitTimeouts).toBe(1);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(driver.cost.pollLimit * driver.cost.pollInterval);
    expect(bit(iommu.mmioRead64(MMIO_STATUS), STATUS.CmdBufRun)).toBe(false);
    expect(driver.drainEventLog().map((e) => e.name)).toContain("ILLEGAL_COMMAND_ERROR");
  });

  it("need_sync: a COMPLETION_WAIT with nothing queued since the last one is skipped", () => {
    const { driver, commands } = driverFixture();
    driver.init();
    commands.length = 0;
    expect(driver.queue.sync()).toBe(true);
    expect(commands).toEqual([]);
    expect(driver.queue.stats.syncsSkipped).toBe(1);
  });

  it("API misuse throws naming the argument", () => {
    const { driver } = driverFixture();
    expect(() => driver.attachDevice(0x100)).toThrow(/init/);
    driver.init();
    expect(() => driver.attachDevice(0x10000)).toThrow(/deviceId/);
    expect(() => driver.init()).toThrow(/already/);
    const f = driverFixture();
    expect(() => new IommuDriver({ iommu: f.iommu, memory: f.memory, clock: f.clock, pages: new BumpAllocator(f.memory, 4096, 0x20_0000), queueReadsTail: 1 as unknown as boolean }))
      .toThrow(/options\.queueReadsTail/);
  });
});

describe("attach (5.b) and PASID bind (5.c)", () => {
  it("the DTE gets V, TV, IR, IW, Mode 0, DomainID, GV, GLX, the GCR3 root, PPR and I for an ATS/PRI device", () => {
    const f = driverFixture();
    f.driver.init();
    const dev = f.driver.attachDevice(0x100, { ats: true });
    const d = f.driver.deviceTable.get(0x100);
    expect(d).toMatchObject({ V: true, TV: true, IR: true, IW: true, Mode: 0, DomainID: dev.domainId, GV: true, GLX: 0, PPR: true, I: true });
    expect(d.GCR3TableRootPtr).toBe(dev.gcr3.root);
    const plain = f.driver.attachDevice(0x108, { ats: false });
    expect(f.driver.deviceTable.get(0x108)).toMatchObject({ PPR: false, I: false, DomainID: plain.domainId });
    expect(plain.domainId).not.toBe(dev.domainId);
  });

  it("the DTE is written upper half first: the dword holding V and GV is the last store", () => {
    const f = driverFixture();
    f.driver.init();
    const spy = vi.spyOn(f.memory, "write32");
    f.driver.attachDevice(0x100, { ats: true });
    const base = f.driver.deviceTable.address(0x100);
    const dteStores = spy.mock.calls.map((c) => Number(c[0])).filter((a) => a >= base && a < base + 4 * DTE_DWORDS);
    spy.mockRestore();
    expect(dteStores[dteStores.length - 1]).toBe(base);
    expect(dteStores.indexOf(base + 12)).toBeLessThan(dteStores.indexOf(base + 4));
  });

  it("attach issues INVALIDATE_DEVTAB_ENTRY, INVALIDATE_IOTLB_PAGES (ATS), the domain flush (all, PDE = 1) and a COMPLETION_WAIT", () => {
    const f = driverFixture();
    f.driver.init();
    f.commands.length = 0;
    const dev = f.driver.attachDevice(0x100, { ats: true });
    expect(f.names()).toEqual(["INVALIDATE_DEVTAB_ENTRY", "INVALIDATE_IOTLB_PAGES", "INVALIDATE_IOMMU_PAGES", "COMPLETION_WAIT"]);
    expect(f.commands[0]!.fields.DeviceID).toBe(0x100n);
    expect(f.commands[2]!.fields).toMatchObject({ DomainID: BigInt(dev.domainId), PDE: 1n, S: 1n, GN: 0n });
  });

  it("bind points GCR3[PASID] at the mm's CR3 with V set, then flushes the whole PASID from the IOMMU and the device", () => {
    const f = driverFixture();
    f.driver.init();
    const dev = f.driver.attachDevice(0x100, { ats: true });
    const mm = f.newMm();
    f.commands.length = 0;
    f.driver.bindPasid(dev, 1, mm);
    const entry = f.memory.read64(dev.gcr3.root + 8);
    expect(entry & ~0xfffn).toBe(BigInt(mm.cr3));
    expect(entry & BigInt(GCR3_V)).toBe(BigInt(GCR3_V));
    expect(f.names()).toEqual(["INVALIDATE_IOMMU_PAGES", "COMPLETION_WAIT", "INVALIDATE_IOTLB_PAGES", "COMPLETION_WAIT"]);
    const all = ALL_PAGES_ADDRESS >> 12n;
    expect(f.commands[0]!.fields).toMatchObject({ GN: 1n, PDE: 1n, S: 1n, PASID: 1n, DomainID: BigInt(dev.domainId) });
    expect((f.commands[0]!.fields.Address_63_32! << 20n) | f.commands[0]!.fields.Address_31_12!).toBe(all);
    expect(f.commands[2]!.fields).toMatchObject({ GN: 1n, S: 1n, PASID_7_0: 1n });
  });

  it("after bind the device translates the process's virtual addresses through its own page tables", () => {
    const b = boundFixture();
    const r = b.dma(b.va + 2 * PAGE + 8, true);
    expect(r.ok).toBe(true);
    expect(r.spa).toBe(b.mm.translate(b.va + 2 * PAGE + 8));
  });

  it("unbind clears GCR3[PASID] and flushes: the device's next request faults (GCR3 entry not valid)", () => {
    const b = boundFixture();
    expect(b.dma(b.va).ok).toBe(true);
    b.driver.unbindPasid(b.binding);
    expect(b.memory.read64(b.dev.gcr3.root + 8)).toBe(0n);
    const r = b.dma(b.va);
    expect(r.ok).toBe(false);
    expect(r.fault).toBe("gcr3-not-valid");
  });

  it("a PASID already bound on the device cannot be bound twice; PASID 0 and out-of-range PASIDs are refused", () => {
    const b = boundFixture();
    expect(() => b.driver.bindPasid(b.dev, 1, b.newMm("q"))).toThrow(/in use/);
    expect(() => b.driver.bindPasid(b.dev, 0, b.newMm("r"))).toThrow(/pasid/);
    expect(() => b.driver.bindPasid(b.dev, 512, b.newMm("s"))).toThrow(/pasid/);
  });
});

/**
 * Several IOMMUs in one process (one per PCI segment) are independent: each has its own
 * registers, device table, caches, command buffer, event log, statistics and notifiers, even
 * over one shared physical memory; nothing is global.
 */
import { describe, expect, it } from "vitest";
import { AmdIommu, spec, type TranslationRequest, type UnmapEvent } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, IommuTestbench, V1PageTable } from "../../src/builders/index.js";

const {
  CONTROL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_TAIL, MMIO_EVENT_LOG_BASE,
  MMIO_EVENT_LOG_TAIL, buildInvalidateIommuPages, EV_IO_PAGE_FAULT,
} = spec;
const bit = (n: keyof typeof CONTROL) => BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half);

/** A second IOMMU (segment 1) over the testbench's memory, with its own device table and rings, programmed as a driver would. */
function secondIommu(tb: IommuTestbench) {
  const io = new AmdIommu({ memory: tb.memory, segment: 1 });
  const pages = new BumpAllocator(tb.memory, 24 * 1024 * 1024, 32 * 1024 * 1024);
  const dt = new DeviceTableWriter(tb.memory, pages.allocContiguous(8), 256);
  const cmd = pages.allocContiguous(2), ev = pages.allocContiguous(2);
  io.mmioWrite64(MMIO_DEVICE_TABLE_BASE, dt.registerValue);
  io.mmioWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(cmd) | (9n << 56n));
  io.mmioWrite64(MMIO_EVENT_LOG_BASE, BigInt(ev) | (9n << 56n));
  io.mmioWrite64(MMIO_CONTROL, bit("IommuEn") | bit("CmdBufEn") | bit("EventLogEn"));
  const submit = (c: Uint32Array) => {
    const tail = Number(io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL));
    for (let i = 0; i < 4; i++) tb.memory.write32(cmd + tail + 4 * i, c[i]!);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(tail + 16));
    io.runUntilIdle();
  };
  return { io, pages, dt, submit };
}

describe("several IOMMUs", () => {
  it("the same DeviceID on two segments translates through each IOMMU's own device table and tables", () => {
    const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256 });
    const b = secondIommu(tb);
    const t0 = new V1PageTable(tb.memory, tb.pages, 3);
    t0.map(0x10_0000, 0x40_0000);
    tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t0.root, IR: true, IW: true, DomainID: 1 });
    const t1 = new V1PageTable(tb.memory, b.pages, 3);
    t1.map(0x10_0000, 0x50_0000);
    b.dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t1.root, IR: true, IW: true, DomainID: 1 });
    tb.sync();
    const req = { deviceId: 0x10, address: 0x10_0008 };
    expect([tb.iommu.translate(req).spa, b.io.translate(req).spa]).toEqual([0x40_0008, 0x50_0008]);
    expect([tb.iommu.segment, b.io.segment]).toEqual([0, 1]);
  });

  it("an invalidation on one IOMMU leaves the other's IOTLB, notifiers and statistics alone", () => {
    const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256 });
    const b = secondIommu(tb);
    const t = new V1PageTable(tb.memory, tb.pages, 3);
    t.map(0x10_0000, 0x40_0000);
    const dte = { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 7 };
    tb.deviceTable.set(0x10, dte);
    b.dt.set(0x10, dte);
    const seenA: UnmapEvent[] = [], seenB: UnmapEvent[] = [];
    tb.iommu.notifiers.on("unmap", (e) => seenA.push(e));
    b.io.notifiers.on("unmap", (e) => seenB.push(e));
    const req = { deviceId: 0x10, address: 0x10_0000 };
    tb.iommu.translate(req);
    b.io.translate(req);
    tb.sync(buildInvalidateIommuPages({ domainId: 7, address: 0x10_0000 }));
    expect([tb.iommu.translate(req).iotlbHit, b.io.translate(req).iotlbHit]).toEqual([false, true]);
    expect([seenA.length, seenB.length]).toEqual([1, 0]);
    expect(b.io.stats().commands.executed).toBe(0);
    b.submit(buildInvalidateIommuPages({ domainId: 7, address: 0x10_0000 }));
    expect([seenA.length, seenB.length]).toEqual([1, 1]);
  });

  it("faults are logged in the event log of the IOMMU that saw them", () => {
    const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256 });
    const b = secondIommu(tb);
    b.dt.set(0x20, { V: true, TV: false, DomainID: 3 });
    const r = b.io.translate({ deviceId: 0x20, address: 0x1000 });
    expect(r.event).toBe(EV_IO_PAGE_FAULT);
    expect([Number(tb.iommu.mmioRead64(MMIO_EVENT_LOG_TAIL)), Number(b.io.mmioRead64(MMIO_EVENT_LOG_TAIL))]).toEqual([0, 16]);
  });

  it("interleaving two IOMMUs gives each the results it gives alone (no shared state, seeded randomness)", () => {
    const build = () => {
      const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256, iommu: { iotlb: { entries: 4, ways: 4, replacement: "random" }, seed: 11 } });
      const b = secondIommu(tb);
      const t = new V1PageTable(tb.memory, tb.pages, 3);
      for (let i = 0; i < 16; i++) t.map(0x10_0000 + i * 4096, 0x40_0000 + i * 4096);
      tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
      b.dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
      tb.sync();
      return { a: tb.iommu, b: b.io };
    };
    const reqs: TranslationRequest[] = Array.from({ length: 40 }, (_, i) => ({ deviceId: 0x10, address: 0x10_0000 + ((i * 7) % 16) * 4096 }));
    const alone = build();
    const soloA = reqs.map((r) => ({ ...alone.a.translate(r) }));
    const both = build();
    const mixedA = reqs.map((r, i) => {
      both.b.translate(reqs[(i * 3) % reqs.length]!);
      return { ...both.a.translate(r) };
    });
    expect(mixedA).toEqual(soloA);
    expect(both.a.stats().iotlb).toEqual(alone.a.stats().iotlb);
  });
});

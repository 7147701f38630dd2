/**
 * Invalidation notifiers: UNMAP for every cache invalidation the command processor performs
 * (docs/spec-readings.md cmd 4.1), DEVICE-TLB UNMAP for INVALIDATE_IOTLB_PAGES, MAP on IOTLB
 * fills; ranges are the S-decoded blocks of 1.4 (possibly larger than software meant).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildScenario, D_GUEST, D_HOST, D_NESTED, GUEST, GVA, HOST, NESTED } from "./scenario.js";
import { spec, unmapCovers, WHOLE_SPACE, type DeviceTlbUnmapEvent, type MapEvent, type Mapping, type UnmapEvent } from "../../src/index.js";

const {
  buildInvalidateIommuPages, buildInvalidateIommuAll, buildInvalidateDevtabEntry, buildInvalidateIotlbPages, buildPrefetchIommuPages,
  encodeInvalidationRange, ALL_PAGES_ADDRESS,
} = spec;

function listen(o: Parameters<typeof buildScenario>[0] = {}) {
  const s = buildScenario(o);
  const unmaps: UnmapEvent[] = [], dev: DeviceTlbUnmapEvent[] = [], maps: MapEvent[] = [];
  s.tb.iommu.notifiers.on("unmap", (e) => unmaps.push(e));
  s.tb.iommu.notifiers.on("device-tlb-unmap", (e) => dev.push(e));
  s.tb.iommu.notifiers.on("map", (e) => maps.push(e));
  return { s, unmaps, dev, maps };
}

describe("UNMAP notifications", () => {
  it("INVALIDATE_IOMMU_PAGES S=0 reports its DomainID and the one 4 KiB page, GN=0 without a PASID", () => {
    const { s, unmaps } = listen();
    s.tb.sync(buildInvalidateIommuPages({ domainId: D_HOST, address: 0x1000_0000, pde: true }));
    expect(unmaps).toEqual([expect.objectContaining({
      type: "unmap", command: "INVALIDATE_IOMMU_PAGES", domainId: D_HOST, deviceId: null, gn: false, pasid: null,
      start: 0x1000_0000n, size: 4096n, all: false, pde: true,
    })]);
  });

  it("a Linux-encoded range reports the naturally aligned block that covers it, larger than asked (S=1)", () => {
    const { s, unmaps } = listen();
    const { address, s: sBit } = encodeInvalidationRange(0x1000_1000n, 0x2000n); // pages 1 and 2 of the block
    s.tb.sync(buildInvalidateIommuPages({ domainId: D_HOST, address, s: sBit }));
    expect(unmaps[0]).toMatchObject({ start: 0x1000_0000n, size: 0x4000n, all: false, pde: false });
  });

  it("GN=1 reports the PASID; the all-pages address reports the whole space", () => {
    const { s, unmaps } = listen();
    s.tb.sync(buildInvalidateIommuPages({ domainId: D_GUEST, pasid: 1, gn: true, address: ALL_PAGES_ADDRESS, s: true, pde: true }));
    expect(unmaps[0]).toMatchObject({ domainId: D_GUEST, gn: true, pasid: 1, start: 0n, size: WHOLE_SPACE, all: true });
  });

  it("INVALIDATE_IOMMU_ALL reports every domain, INVALIDATE_DEVTAB_ENTRY the device", () => {
    const { s, unmaps } = listen();
    s.tb.sync(buildInvalidateDevtabEntry(GUEST), buildInvalidateIommuAll());
    expect(unmaps.map((e) => [e.command, e.domainId, e.deviceId, e.all])).toEqual([
      ["INVALIDATE_DEVTAB_ENTRY", null, GUEST, true],
      ["INVALIDATE_IOMMU_ALL", null, null, true],
    ]);
  });

  it("notifications come when the command runs, not at the doorbell write", () => {
    const { s, unmaps } = listen();
    s.tb.submit(buildInvalidateIommuPages({ domainId: D_HOST, address: 0 }));
    expect(unmaps).toHaveLength(0);
    s.tb.iommu.runUntilIdle();
    expect(unmaps).toHaveLength(1);
    expect(unmaps[0]!.cycle).toBeGreaterThanOrEqual(0);
  });

  it("INVALIDATE_IOTLB_PAGES is a DEVICE-TLB UNMAP for the DeviceID with its PASID and range, no IOMMU UNMAP", () => {
    const { s, unmaps, dev } = listen();
    s.tb.sync(buildInvalidateIotlbPages({ deviceId: GUEST, pasid: 0x12345, gn: true, address: 0x5000n, s: true }));
    expect(unmaps).toEqual([]);
    expect(dev).toEqual([expect.objectContaining({ type: "device-tlb-unmap", deviceId: GUEST, gn: true, pasid: 0x12345, start: 0x4000n, size: 0x4000n, all: false })]);
  });

  it("off() and the function on() returns stop delivery; misuse throws naming the argument", () => {
    const s = buildScenario();
    const n = s.tb.iommu.notifiers;
    const got: UnmapEvent[] = [];
    const fn = (e: UnmapEvent) => got.push(e);
    const stop = n.on("unmap", fn);
    expect(n.count("unmap")).toBe(1);
    stop();
    n.on("unmap", fn);
    n.off("unmap", fn);
    s.tb.sync(buildInvalidateIommuAll());
    expect(got).toEqual([]);
    expect(() => n.on("flush" as never, fn as never)).toThrow(/kind/);
    expect(() => n.on("unmap", 5 as never)).toThrow(/listener/);
  });
});

describe("MAP notifications", () => {
  it("a walked translation reports the page it filled; an IOTLB hit, a fault and a peek report nothing", () => {
    const { s, maps } = listen();
    const io = s.tb.iommu;
    io.translate({ deviceId: HOST, address: 0x2012_3456 });
    io.translate({ deviceId: HOST, address: 0x2012_0000 });
    io.translate({ deviceId: HOST, address: 0x5000_0000 });
    io.peek({ deviceId: HOST, address: 0x1000_0000 });
    expect(maps).toEqual([{
      type: "map", cause: "untranslated", deviceId: HOST, domainId: D_HOST, pasid: null, gn: false, nested: false,
      address: 0x2000_0000n, pageSize: 2 * 1024 * 1024, spa: 0x60_0000, readable: true, writable: true, executable: true, user: true,
      cycle: io.now,
    }]);
  });

  it("guest and nested fills carry the PASID and the space they are tagged with; ATS and PREFETCH fills name their cause", () => {
    const { s, maps } = listen();
    const io = s.tb.iommu;
    io.translate({ deviceId: GUEST, address: GVA + 0x1000n, pasid: 1, privileged: true });
    io.translate({ deviceId: NESTED, address: GVA, pasid: 1 });
    s.tb.deviceTable.set(GUEST + 1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: s.host.root, IR: true, IW: true, DomainID: 9, I: true });
    io.translateAts({ deviceId: GUEST + 1, address: 0x1000_0000 });
    s.tb.sync(buildPrefetchIommuPages({ deviceId: HOST, address: 0x1000_1000 }));
    expect(maps.map((m) => [m.cause, m.domainId, m.pasid, m.gn, m.nested, m.user, m.spa])).toEqual([
      ["untranslated", D_GUEST, 1, true, false, false, 0x42_1000],
      ["untranslated", D_NESTED, 1, true, true, true, 0x30_0000 + 8 * 1024 * 1024],
      ["ats", 9, null, false, false, true, 0x40_0000],
      ["prefetch", D_HOST, null, false, false, true, 0x40_1000],
    ]);
  });
});

describe("a shadow TLB kept by notifiers (MAP adds, UNMAP drops with unmapCovers)", () => {
  it("property: after any invalidation, every page the shadow keeps is still in the IOTLB", () => {
    const pages = [0x1000_0000, 0x1000_1000, 0x1000_2000, 0x2000_0000, 0x3000_0000];
    const space = fc.record({
      gn: fc.boolean(), pasid: fc.constantFrom(1, 2), domain: fc.constantFrom(D_HOST, D_GUEST, D_NESTED),
      page: fc.integer({ min: 0, max: 0x3ffff }), s: fc.boolean(), pde: fc.boolean(), all: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(space, { minLength: 1, maxLength: 4 }), fc.boolean(), (invs, devtab) => {
      const { s, maps, unmaps } = listen({ iommu: { iotlb: { entries: 64, ways: 64 } } }); // no evictions: only invalidations drop
      const io = s.tb.iommu;
      const shadow: Mapping[] = [];
      io.notifiers.on("map", (m) => shadow.push(m));
      io.notifiers.on("unmap", (e) => { for (let i = shadow.length - 1; i >= 0; i--) if (unmapCovers(e, shadow[i]!)) shadow.splice(i, 1); });
      const results = [
        ...pages.map((a) => io.translate({ deviceId: HOST, address: a, write: true })),
        io.translate({ deviceId: GUEST, address: GVA, pasid: 1, write: true }),
        io.translate({ deviceId: GUEST, address: 0x5000n, pasid: 2 }),
        io.translate({ deviceId: NESTED, address: GVA, pasid: 1 }),
        io.translate({ deviceId: NESTED, address: GVA + 0x21_0000n, pasid: 1 }),
      ];
      expect(maps.length).toBe(results.filter((r) => r.ok && !r.iotlbHit).length);
      const cmds = invs.map((v) => buildInvalidateIommuPages({
        domainId: v.domain, gn: v.gn, pasid: v.pasid, pde: v.pde, s: v.s || v.all, address: v.all ? ALL_PAGES_ADDRESS : BigInt(v.page) << 12n,
      }));
      if (devtab) cmds.push(buildInvalidateDevtabEntry(HOST));
      s.tb.sync(...cmds);
      expect(unmaps.length).toBe(cmds.length);
      const cached = [...io.iotlb.entries()];
      for (const m of shadow) {
        const key = m.pasid === null ? -1 : m.pasid;
        const inIotlb = cached.some((c) => c.domain === m.domainId && (c.pasid ?? -1) === key && c.address <= m.address && m.address < c.address + BigInt(c.pageSize));
        if (!inIotlb) throw new Error(`shadow keeps ${JSON.stringify(m, (_k, x) => typeof x === "bigint" ? x.toString(16) : x)} which the IOTLB dropped`);
      }
    }), { numRuns: 40 });
  });
});

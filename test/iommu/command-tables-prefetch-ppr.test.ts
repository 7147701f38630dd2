/**
 * INVALIDATE_DEVTAB_ENTRY (02h), INVALIDATE_INTERRUPT_TABLE (05h), PREFETCH_IOMMU_PAGES
 * (06h), COMPLETE_PPR_REQUEST (07h) and INVALIDATE_IOMMU_ALL (08h)
 * (docs/spec-readings.md cmd 1.3 and 4.1), every field at its bit position.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/testbench.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { PcieEndpoint } from "../../src/device/pcie-endpoint.js";
import type { EndpointPort, PrgResponse } from "../../src/iommu/endpoint-port.js";
import {
  buildCompletePprRequest, buildInvalidateDevtabEntry, buildInvalidateInterruptTable, buildInvalidateIommuAll, buildPrefetchIommuPages, PPR_RESPONSE,
} from "../../src/spec/commands.js";
import { EFR_FIELDS, MMIO_EXTENDED_FEATURE } from "../../src/spec/registers.js";
import { getField } from "../../src/spec/bitfield.js";
import { hostDomain } from "../device/sva-fixture.js";

const DEV = 0x30;
const OTHER = 0x31;
const GDEV = 0x32;
const SPA = 0x100_0000;

function setup() {
  const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256 });
  const pt = hostDomain(tb, DEV, 1);
  const other = hostDomain(tb, OTHER, 2);
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  const g = new LongModeTable(tb.memory, tb.pages, 4);
  gcr3.set(1, g.root);
  tb.deviceTable.set(GDEV, { V: true, TV: true, IR: true, IW: true, DomainID: 3, GV: true, GCR3TableRootPtr: gcr3.root, I: true });
  return { tb, io: tb.iommu, pt, other, g };
}

describe("INVALIDATE_DEVTAB_ENTRY", () => {
  it("a DTE rewritten in memory is not seen until INVALIDATE_DEVTAB_ENTRY drops the cached copy", () => {
    const s = setup();
    s.pt.map(0x1000, SPA);
    expect(s.io.translate({ deviceId: DEV, address: 0x1000, write: true }).ok).toBe(true);
    const dte = s.tb.deviceTable.get(DEV);
    s.tb.deviceTable.set(DEV, { ...dte, IW: false });
    const cachedRead = s.io.translate({ deviceId: DEV, address: 0x1000, write: true });
    expect(cachedRead.dteCacheHit).toBe(true);
    expect(cachedRead.ok).toBe(true);
    s.tb.sync(buildInvalidateDevtabEntry(DEV));
    const fresh = s.io.translate({ deviceId: DEV, address: 0x1000, write: true });
    expect(fresh.dteCacheHit).toBe(false);
    expect(fresh.ok).toBe(false);
  });

  it("DeviceID selects the entry: another device's cached DTE stays", () => {
    const s = setup();
    s.io.translate({ deviceId: DEV, address: 0 });
    s.io.translate({ deviceId: OTHER, address: 0 });
    s.tb.sync(buildInvalidateDevtabEntry(DEV));
    expect(s.io.translate({ deviceId: OTHER, address: 0 }).dteCacheHit).toBe(true);
    expect(s.io.translate({ deviceId: DEV, address: 0 }).dteCacheHit).toBe(false);
  });

  it("it also drops the device's cached GCR3 entries, but not the cached translations (the IOTLB keeps them)", () => {
    const s = setup();
    s.g.map(0x7000, SPA);
    s.g.map(0x8000, SPA + 0x1000);
    s.io.translate({ deviceId: GDEV, address: 0x7000, pasid: 1 });
    s.tb.sync(buildInvalidateDevtabEntry(GDEV));
    expect(s.io.translate({ deviceId: GDEV, address: 0x8000, pasid: 1 }).gcr3CacheHit).toBe(false);
    expect(s.io.translate({ deviceId: GDEV, address: 0x7000, pasid: 1 }).iotlbHit).toBe(true);
  });
});

describe("INVALIDATE_INTERRUPT_TABLE", () => {
  it("is accepted and validated (interrupt remapping is not modelled): no event, Head moves on, no cache touched", () => {
    const s = setup();
    s.pt.map(0x1000, SPA);
    s.io.translate({ deviceId: DEV, address: 0x1000 });
    expect(s.tb.sync(buildInvalidateInterruptTable(DEV))).toBe(true);
    expect(s.tb.events()).toEqual([]);
    const r = s.io.translate({ deviceId: DEV, address: 0x1000 });
    expect(r.iotlbHit && r.dteCacheHit).toBe(true);
  });

  it("the EFR claims the interrupt-remapping extensions the model implements: XTSup = 1 and GASup = 1 (test/iommu/interrupts/)", () => {
    const s = setup();
    const efr = [s.io.mmioRead32(MMIO_EXTENDED_FEATURE), s.io.mmioRead32(MMIO_EXTENDED_FEATURE + 4)];
    for (const name of ["XTSup", "GASup"]) {
      const f = EFR_FIELDS.find((x) => x.name === name)!;
      expect(getField(efr, f.lo, f.hi)).toBe(1);
    }
  });
});

describe("PREFETCH_IOMMU_PAGES", () => {
  it("fills the IOTLB for DeviceID and Address without a request: the next translation hits", () => {
    const s = setup();
    s.pt.map(0x5000, SPA);
    s.tb.sync(buildPrefetchIommuPages({ deviceId: DEV, address: 0x5000 }));
    const r = s.io.translate({ deviceId: DEV, address: 0x5000 });
    expect(r.iotlbHit).toBe(true);
    expect(r.spa).toBe(SPA);
  });

  it("PFCount pages from Address are prefetched, the page after them is not", () => {
    const s = setup();
    for (let i = 0; i < 4; i++) s.pt.map(0x10000 + i * 0x1000, SPA + i * 0x1000);
    s.tb.sync(buildPrefetchIommuPages({ deviceId: DEV, address: 0x10000, count: 3 }));
    expect([0, 1, 2, 3].map((i) => s.io.translate({ deviceId: DEV, address: 0x10000 + i * 0x1000 }).iotlbHit)).toEqual([true, true, true, false]);
  });

  it("GN = 1 prefetches the PASID's guest translation", () => {
    const s = setup();
    s.g.map(0x9000, SPA);
    s.tb.sync(buildPrefetchIommuPages({ deviceId: GDEV, gn: true, pasid: 1, address: 0x9000 }));
    expect(s.io.translate({ deviceId: GDEV, address: 0x9000, pasid: 1 }).iotlbHit).toBe(true);
  });

  it("a page that is not mapped is not prefetched and logs no event", () => {
    const s = setup();
    s.tb.sync(buildPrefetchIommuPages({ deviceId: DEV, address: 0x6000 }));
    expect(s.tb.events()).toEqual([]);
    expect([...s.io.iotlb.entries()]).toEqual([]);
  });

  it("Inval = 1 drops the page's entry before prefetching: an entry for a page unmapped since goes; Inval = 0 keeps it", () => {
    const s = setup();
    s.pt.map(0x5000, SPA);
    s.io.translate({ deviceId: DEV, address: 0x5000 });
    s.pt.map(0x5000, SPA, { readable: false, writable: false }); // no permission any more
    s.tb.sync(buildPrefetchIommuPages({ deviceId: DEV, address: 0x5000 }));
    expect([...s.io.iotlb.entries()].map((e) => Number(e.address))).toEqual([0x5000]);
    s.tb.sync(buildPrefetchIommuPages({ deviceId: DEV, address: 0x5000, inval: true }));
    expect([...s.io.iotlb.entries()].map((e) => Number(e.address))).toEqual([]);
  });
});

describe("COMPLETE_PPR_REQUEST", () => {
  function port() {
    const got: PrgResponse[] = [];
    const p: EndpointPort = { atsInvalidate: () => 0, prgResponse: (r) => { got.push({ ...r }); } };
    return { got, p };
  }

  it("delivers a PRG Response with DeviceID, PASID (20 bits), GN, PRG Index (9 bits) and the response code to the endpoint at DeviceID", () => {
    const s = setup();
    const a = port(), b = port();
    s.io.attachEndpoint(0x0100, a.p);
    s.io.attachEndpoint(0x0101, b.p);
    const t0 = s.io.now;
    s.tb.sync(buildCompletePprRequest({ deviceId: 0x0100, pasid: 0xfedcb, gn: true, prgIndex: 0x1a5, responseCode: PPR_RESPONSE.InvalidRequest }));
    expect(b.got).toEqual([]);
    expect(a.got).toHaveLength(1);
    expect(a.got[0]).toMatchObject({ deviceId: 0x0100, pasid: 0xfedcb, gn: true, prgIndex: 0x1a5, responseCode: PPR_RESPONSE.InvalidRequest });
    expect(a.got[0]!.cycle).toBeGreaterThan(t0);
  });

  it("GN = 0 sends the response without a PASID; every 4-bit code is delivered as given (0h, Fh and a reserved 2h)", () => {
    const s = setup();
    const a = port();
    s.io.attachEndpoint(0x0100, a.p);
    s.tb.sync(...[PPR_RESPONSE.Success, PPR_RESPONSE.ResponseFailure, 2].map((c, i) => buildCompletePprRequest({ deviceId: 0x0100, prgIndex: i, responseCode: c })));
    expect(a.got.map((r) => [r.gn, r.prgIndex, r.responseCode])).toEqual([[false, 0, 0], [false, 1, 15], [false, 2, 2]]);
  });

  it("a response to a DeviceID with no endpoint attached goes nowhere (counted) and the queue moves on", () => {
    const s = setup();
    expect(s.tb.sync(buildCompletePprRequest({ deviceId: 0x0333, prgIndex: 1, responseCode: 0 }))).toBe(true);
    expect(s.io.commands.stats.pprResponsesDropped).toBe(1);
    expect(s.io.commands.stats.pprResponses).toBe(0);
  });
});

describe("INVALIDATE_IOMMU_ALL", () => {
  it("drops every IOMMU cache: IOTLB, page-directory cache, DTE cache and GCR3 cache, of every domain", () => {
    const s = setup();
    s.pt.map(0x1000, SPA);
    s.other.map(0x1000, SPA);
    s.g.map(0x1000, SPA);
    for (const r of [{ deviceId: DEV, address: 0x1000 }, { deviceId: OTHER, address: 0x1000 }, { deviceId: GDEV, address: 0x1000, pasid: 1 }]) s.io.translate(r);
    expect(s.io.iotlb.tags.occupancy).toBe(3);
    s.tb.sync(buildInvalidateIommuAll());
    expect(s.io.iotlb.tags.occupancy).toBe(0);
    expect(s.io.pdeCache.tags.occupancy).toBe(0);
    expect(s.io.gcr3Cache.tags.occupancy).toBe(0);
    expect(s.io.deviceTable.cache.occupancy).toBe(0);
  });

  it("leaves device TLBs alone: no ATS invalidation is sent and the endpoint's ATC keeps its entries", () => {
    const s = setup();
    const ep = new PcieEndpoint(s.io, { deviceId: GDEV });
    s.g.map(0x2000, SPA);
    expect(ep.read32({ address: 0x2000, pasid: 1 }).status).toBe("done");
    s.tb.sync(buildInvalidateIommuAll());
    expect(ep.stats.atsInvalidations).toBe(0);
    expect(ep.atc!.occupancy).toBe(1);
  });
});

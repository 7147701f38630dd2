/**
 * A PCIe function below the IOMMU: its DMA engine with untranslated requests, ATS
 * translation requests and translated requests from its ATC, and its answers to ATS
 * Invalidate Requests (docs/spec-readings.md cmd 4.4, 5.e).
 */
import { describe, expect, it } from "vitest";
import { PcieEndpoint } from "../../src/device/pcie-endpoint.js";
import { buildInvalidateDevtabEntry, buildInvalidateIommuPages, buildInvalidateIotlbPages } from "../../src/spec/commands.js";
import { EV_INVALID_DEVICE_REQUEST, EV_IO_PAGE_FAULT } from "../../src/spec/events.js";
import { DEVICE_ID, DOMAIN_ID, PASID, hostDomain, svaSetup } from "./sva-fixture.js";

const VA = 0x4000_0000;

describe("DMA without ATS: untranslated requests", () => {
  it("a read and a write reach the SPA the IOMMU translates to", () => {
    const s = svaSetup();
    const pt = hostDomain(s.tb, 0x0200, 9);
    const ep = new PcieEndpoint(s.tb.iommu, { deviceId: 0x0200, ats: false });
    const f = s.frame();
    pt.map(0x7000, f);
    expect(ep.write32({ address: 0x7008 }, 0xcafe_f00d)).toMatchObject({ status: "done", spa: f + 8, atcHit: false, atsRequests: 0 });
    expect(s.tb.memory.read32(f + 8)).toBe(0xcafe_f00d);
    expect(ep.read32({ address: 0x7008 }).value).toBe(0xcafe_f00d);
  });

  it("an untranslated read pays its translation less the root complex's handling the look-ups overlap (rootComplexOverlap), then the memory reference; the translation's own cycles do not change", () => {
    const run = (rootComplexOverlap: number) => {
      const s = svaSetup({ tb: { iommu: { timing: { rootComplexOverlap } } } });
      const pt = hostDomain(s.tb, 0x0200, 9);
      const ep = new PcieEndpoint(s.tb.iommu, { deviceId: 0x0200, ats: false });
      pt.map(0x7000, s.frame());
      const miss = ep.read32({ address: 0x7008 }).cycles, hit = ep.read32({ address: 0x7008 }).cycles;
      const t = s.tb.iommu.translate({ deviceId: 0x0200, address: 0x7008 }); // a hit, as the second read
      return { miss, hit, translation: t.cycles, memory: s.tb.iommu.timing.memoryReference };
    };
    const none = run(0), fit = run(4), big = run(1e6);
    expect(fit.translation).toBe(none.translation); // the IOMMU's latency is the same
    expect(none.hit).toBe(none.translation + none.memory); // in series
    expect(fit.hit).toBe(none.translation - 4 + fit.memory);
    expect(fit.miss).toBe(none.miss - 4);
    expect(big.hit).toBe(big.memory); // hidden entirely, never negative
    expect(big.miss).toBe(big.memory);
  });

  it("a refused untranslated request fails the access (no exception) and the IOMMU logs IO_PAGE_FAULT", () => {
    const s = svaSetup();
    hostDomain(s.tb, 0x0200, 9);
    const ep = new PcieEndpoint(s.tb.iommu, { deviceId: 0x0200, ats: false });
    expect(ep.read32({ address: 0x9000 })).toMatchObject({ status: "fault", fault: "not-present" });
    expect(s.tb.events().map((e) => e.code)).toEqual([EV_IO_PAGE_FAULT]);
  });
});

describe("DMA with ATS: the device TLB", () => {
  it("a miss sends one ATS translation request and fills the ATC; the next access hits without asking the IOMMU", () => {
    const s = svaSetup();
    const f = s.frame();
    s.table.map(VA, f);
    const a = s.ep.write32({ address: VA + 4, pasid: PASID }, 7);
    expect(a).toMatchObject({ status: "done", atcHit: false, atsRequests: 1, spa: f + 4 });
    const atsBefore = s.tb.iommu.translator.stats.atsRequests;
    const b = s.ep.read32({ address: VA + 4, pasid: PASID });
    expect(b).toMatchObject({ status: "done", atcHit: true, atsRequests: 0, value: 7 });
    expect(s.tb.iommu.translator.stats.atsRequests).toBe(atsBefore);
    expect(b.cycles).toBeLessThan(a.cycles);
  });

  it("a translated request from the ATC is refused once the DTE no longer allows ATS (DTE.I = 0 after INVALIDATE_DEVTAB_ENTRY)", () => {
    const s = svaSetup();
    const f = s.frame();
    s.table.map(VA, f);
    expect(s.ep.write32({ address: VA, pasid: PASID }, 1).status).toBe("done");
    s.setDte({ I: false });
    s.tb.sync(buildInvalidateDevtabEntry(DEVICE_ID));
    const r = s.ep.read32({ address: VA, pasid: PASID });
    expect(r).toMatchObject({ status: "fault", atcHit: true, fault: "ats-disabled" });
    expect(s.tb.events().map((e) => e.name)).toEqual(["INVALID_DEVICE_REQUEST"]);
  });

  it("the ATC entry has the size of the translation completion (a 2 MiB page is one entry)", () => {
    const s = svaSetup();
    s.table.map(0x4020_0000, 0x20_0000, { size: 0x20_0000 });
    s.ep.read32({ address: 0x4020_0000, pasid: PASID });
    expect(s.ep.read32({ address: 0x4020_0000 + 0x1f_fffc, pasid: PASID })).toMatchObject({ atcHit: true, spa: 0x20_0000 + 0x1f_fffc });
    expect([...s.ep.atc!.entries()].map((e) => e.pageSize)).toEqual([0x20_0000]);
  });

  it("the ATC keeps using a translation the tables no longer hold until software invalidates it with INVALIDATE_IOTLB_PAGES", () => {
    const s = svaSetup();
    const f1 = s.frame(), f2 = s.frame();
    s.table.map(VA, f1);
    s.ep.write32({ address: VA, pasid: PASID }, 1);
    s.table.map(VA, f2); // the CPU side remaps the page
    s.ep.write32({ address: VA, pasid: PASID }, 2);
    expect(s.tb.memory.read32(f1)).toBe(2); // stale: still the old frame
    // as Linux flushes a PASID page: the IOMMU's TLB first, then the device's
    s.tb.sync(buildInvalidateIommuPages({ domainId: DOMAIN_ID, gn: true, pasid: PASID, pde: true, address: VA }),
      buildInvalidateIotlbPages({ deviceId: DEVICE_ID, gn: true, pasid: PASID, address: VA }));
    expect(s.ep.stats.atsInvalidations).toBe(1);
    s.ep.write32({ address: VA, pasid: PASID }, 3);
    expect(s.tb.memory.read32(f2)).toBe(3);
  });

  it("flushing only the device TLB is not enough: the ATC refills from the IOMMU's stale entry (why Linux flushes the IOMMU first)", () => {
    const s = svaSetup();
    const f1 = s.frame(), f2 = s.frame();
    s.table.map(VA, f1);
    s.ep.read32({ address: VA, pasid: PASID });
    s.table.map(VA, f2);
    s.tb.sync(buildInvalidateIotlbPages({ deviceId: DEVICE_ID, gn: true, pasid: PASID, address: VA }));
    // (a read: a write would re-walk to set D and so find the new frame)
    expect(s.ep.read32({ address: VA, pasid: PASID })).toMatchObject({ atcHit: false, atsRequests: 1, spa: f1 });
  });

  it("a PASID-tagged ATS invalidation of another PASID leaves this PASID's ATC entries", () => {
    const s = svaSetup();
    s.table.map(VA, s.frame());
    s.ep.read32({ address: VA, pasid: PASID });
    s.tb.sync(buildInvalidateIotlbPages({ deviceId: DEVICE_ID, gn: true, pasid: PASID + 1, address: VA }));
    expect(s.ep.read32({ address: VA, pasid: PASID }).atcHit).toBe(true);
  });

  it("DTE.I = 0: the IOMMU refuses the translation request (INVALID_DEVICE_REQUEST), the access fails and nothing is cached", () => {
    const s = svaSetup({ dte: { I: false } });
    s.table.map(VA, s.frame());
    expect(s.ep.read32({ address: VA, pasid: PASID })).toMatchObject({ status: "fault", fault: "ats-disabled" });
    expect(s.tb.events().map((e) => e.code)).toEqual([EV_INVALID_DEVICE_REQUEST]);
    expect(s.ep.atc!.occupancy).toBe(0);
  });

  it("a missing page answered with no access logs no event; without PRI the access fails", () => {
    const s = svaSetup({ ep: { pri: false } });
    expect(s.ep.read32({ address: VA, pasid: PASID })).toMatchObject({ status: "fault", fault: "not-present", atsRequests: 1 });
    expect(s.tb.events()).toEqual([]);
    expect(s.tb.pprEntries()).toEqual([]);
  });

  it("a read-only completion serves reads from the ATC, while a write asks again (and without PRI fails)", () => {
    const s = svaSetup({ ep: { pri: false } });
    s.table.map(VA, s.frame(), { writable: false });
    expect(s.ep.read32({ address: VA, pasid: PASID }).status).toBe("done");
    expect(s.ep.read32({ address: VA, pasid: PASID }).atcHit).toBe(true);
    expect(s.ep.write32({ address: VA, pasid: PASID }, 1)).toMatchObject({ status: "fault", atsRequests: 1 });
  });

  it("a supervisor-only page serves privileged requests but not user ones", () => {
    const s = svaSetup({ ep: { pri: false } });
    s.table.map(VA, s.frame(), { user: false });
    expect(s.ep.read32({ address: VA, pasid: PASID, privileged: true }).status).toBe("done");
    expect(s.ep.read32({ address: VA, pasid: PASID }).status).toBe("fault");
  });

  it("a translation to an SPA outside memory makes the translated request an Unsupported Request, not an exception", () => {
    const s = svaSetup();
    s.table.map(VA, s.tb.memory.bytes + 0x10_0000);
    expect(s.ep.read32({ address: VA, pasid: PASID }).status).toBe("unsupported-request");
  });
});

describe("ATS Invalidate Requests: the completion", () => {
  it("answers after invalidationLatency cycles; null never answers; the value can change at run time", () => {
    const s = svaSetup({ ep: { invalidationLatency: 1234 } });
    const req = { deviceId: DEVICE_ID, gn: false, pasid: 0, start: 0n, size: 4096n, all: false, cycle: 0 };
    expect(s.ep.atsInvalidate(req)).toBe(1234);
    s.ep.invalidationLatency = null;
    expect(s.ep.atsInvalidate(req)).toBe(null);
    expect(s.ep.stats.atsInvalidationsUnanswered).toBe(1);
    expect(s.ep.lastInvalidation).toEqual(req);
  });

  it("a range or all pages cannot be looked up: the answer also waits for the walk of the ATC's other sets (invalidationPerSet each); one page does not", () => {
    const s = svaSetup({ ep: { invalidationLatency: 1000, ats: { entries: 4096, ways: 32 } } });
    const perSet = s.tb.iommu.timing.invalidationPerSet;
    expect(perSet).toBeGreaterThan(0);
    const req = { deviceId: DEVICE_ID, gn: false, pasid: 0, start: 0n, size: 4096n, all: false, cycle: 0 };
    expect(s.ep.atsInvalidate(req)).toBe(1000);
    expect(s.ep.atsInvalidate({ ...req, size: 8192n })).toBe(1000 + 127 * perSet);
    expect(s.ep.atsInvalidate({ ...req, all: true, size: 0n })).toBe(1000 + 127 * perSet);
    const noAtc = new PcieEndpoint(s.tb.iommu, { deviceId: 0x0300, ats: false, invalidationLatency: 1000 });
    expect(noAtc.atsInvalidate({ ...req, deviceId: 0x0300, all: true, size: 0n })).toBe(1000);
  });

  it("by default it answers after the profile's device invalidation time", () => {
    const s = svaSetup();
    expect(s.ep.invalidationLatency).toBe(s.tb.iommu.timing.atsInvalidationDevice);
  });
});

describe("PcieEndpoint: embedder misuse throws, naming the argument", () => {
  it("bad options", () => {
    const s = svaSetup();
    const io = s.tb.iommu;
    expect(() => new PcieEndpoint(io, { deviceId: 0x10000 })).toThrow(/deviceId/);
    expect(() => new PcieEndpoint(io, { deviceId: 1, ats: false, pri: {} })).toThrow(/options.pri/);
    expect(() => new PcieEndpoint(io, { deviceId: 1, invalidationLatency: -1 })).toThrow(/invalidationLatency/);
    expect(() => new PcieEndpoint(io, { deviceId: 1, pri: { outstanding: 0 } })).toThrow(/outstanding/);
    expect(() => new PcieEndpoint(io, { deviceId: 1, untaggedInvalidationScope: "x" as never })).toThrow(/untaggedInvalidationScope/);
  });

  it("bad DMA requests", () => {
    const s = svaSetup();
    expect(() => s.ep.read32({ address: VA + 2, pasid: PASID })).toThrow(/aligned/);
    expect(() => s.ep.read32({ address: -4 })).toThrow(/address/);
    expect(() => s.ep.read32({ address: VA, pasid: 1 << 20 })).toThrow(/pasid/);
    expect(() => s.ep.write32({ address: VA }, 2 ** 32)).toThrow(/value/);
  });
});

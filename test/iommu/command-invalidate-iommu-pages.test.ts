/**
 * INVALIDATE_IOMMU_PAGES (opcode 03h; docs/spec-readings.md cmd 1.3, 1.4 and 4.1): DomainID,
 * PASID with GN = 1 or the host space with GN = 0, S = 0 one page, S = 1 the naturally
 * aligned range named by the lowest clear address bit, the "all pages" encoding, and PDE.
 * Exact: entries outside the range stay.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IommuTestbench } from "../../src/builders/testbench.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { ALL_PAGES_ADDRESS, buildInvalidateIommuPages, decodeInvalidationRange } from "../../src/spec/commands.js";
import { hostDomain } from "../device/sva-fixture.js";

const DEV_A = 0x10; // host space of domain 1
const DEV_B = 0x11; // guest space (PASIDs 1 and 2) of domain 1
const DEV_C = 0x12; // host space of domain 2
const PAGE = 4096;
const SPA = 0x100_0000;

function setup() {
  const tb = new IommuTestbench({
    bytes: 32 * 1024 * 1024, deviceTableEntries: 256,
    iommu: { iotlb: { entries: 512, ways: 512 }, pdeCache: { entries: 64, ways: 64 }, gcr3Cache: { entries: 8, ways: 8 } },
  });
  const a = hostDomain(tb, DEV_A, 1);
  const c = hostDomain(tb, DEV_C, 2);
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  const g1 = new LongModeTable(tb.memory, tb.pages, 4);
  const g2 = new LongModeTable(tb.memory, tb.pages, 4);
  gcr3.set(1, g1.root);
  gcr3.set(2, g2.root);
  tb.deviceTable.set(DEV_B, { V: true, TV: true, IR: true, IW: true, Mode: 0, DomainID: 1, GV: true, GCR3TableRootPtr: gcr3.root });
  return { tb, io: tb.iommu, a, c, g1, g2 };
}

/** Cached IOTLB pages (addresses) of a domain's space: pasid null = host space. */
function cached(io: IommuTestbench["iommu"], domain: number, pasid: number | null): number[] {
  const out: number[] = [];
  for (const e of io.iotlb.entries()) if (e.domain === domain && e.pasid === pasid) out.push(Number(e.address));
  return out.sort((x, y) => x - y);
}

/** Map and translate `count` 4 KiB pages of the host space of domain 1 from `base`, filling the IOTLB. */
function fillHost(s: ReturnType<typeof setup>, base: number, count: number): number[] {
  const pages: number[] = [];
  for (let i = 0; i < count; i++) {
    const va = base + i * PAGE;
    s.a.map(va, SPA + (i % 256) * PAGE);
    expect(s.io.translate({ deviceId: DEV_A, address: va }).ok).toBe(true);
    pages.push(va);
  }
  expect(cached(s.io, 1, null)).toEqual(pages);
  return pages;
}

function run(s: ReturnType<typeof setup>, o: Parameters<typeof buildInvalidateIommuPages>[0]): void {
  expect(s.tb.sync(buildInvalidateIommuPages(o))).toBe(true);
}

describe("INVALIDATE_IOMMU_PAGES: S and Address", () => {
  it("S = 0 drops exactly the one 4 KiB page at Address[63:12]; its neighbours stay", () => {
    const s = setup();
    const pages = fillHost(s, 0x40_0000, 8);
    run(s, { domainId: 1, address: 0x40_3000 });
    expect(cached(s.io, 1, null)).toEqual(pages.filter((p) => p !== 0x40_3000));
  });

  it("S = 0 ignores Address[11:0] of the page: the page holding the address goes", () => {
    const s = setup();
    const pages = fillHost(s, 0x40_0000, 4);
    run(s, { domainId: 1, address: 0x40_2000 + 0x7ff });
    expect(cached(s.io, 1, null)).toEqual(pages.filter((p) => p !== 0x40_2000));
  });

  // [name, Address, first page of the range, range bytes]
  const ranges: [string, number, number, number][] = [
    ["bit 12 = 0: 8 KiB", 0x40_6000, 0x40_6000, 0x2000],
    ["bits 12..13 = 1, bit 14 = 0: 32 KiB", 0x40_b000, 0x40_8000, 0x8000],
    ["Address 0x1000 (bit 12 = 1, bit 13 = 0): 16 KiB at 0", 0x1000, 0, 0x4000],
    ["bits 12..19 = 1, bit 20 = 0: 2 MiB", 0x40_0000 + 0xff000, 0x40_0000, 0x20_0000],
  ];
  for (const [name, address, first, bytes] of ranges) {
    it(`S = 1, ${name}: pages inside the naturally aligned range go, the page before and the page after stay`, () => {
      const s = setup();
      const base = Math.max(0, first - 2 * PAGE);
      const count = Math.min(bytes / PAGE, 16) + 4;
      // pages around both ends of the range (a 2 MiB range is sampled at its ends)
      const around = [...new Set([...Array.from({ length: count }, (_, i) => base + i * PAGE), first + bytes - 2 * PAGE, first + bytes - PAGE, first + bytes, first + bytes + PAGE])].sort((x, y) => x - y);
      for (const [i, va] of around.entries()) { s.a.map(va, SPA + i * PAGE); s.io.translate({ deviceId: DEV_A, address: va }); }
      expect(cached(s.io, 1, null)).toEqual(around);
      run(s, { domainId: 1, s: true, address });
      const inside = (p: number) => p >= first && p < first + bytes;
      expect(cached(s.io, 1, null)).toEqual(around.filter((p) => !inside(p)));
      expect(cached(s.io, 1, null)).toContain(first + bytes); // the page after the range survives
      if (first > 0) expect(cached(s.io, 1, null)).toContain(first - PAGE);
    });
  }

  it("S = 1, 1 GiB (bits 12..28 = 1, bit 29 = 0): a page at the range's last 4 KiB goes, the first page of the next GiB stays", () => {
    const s = setup();
    const pages = [0x3fff_f000, 0x4000_0000, 0x7fff_f000, 0x8000_0000];
    for (const [i, va] of pages.entries()) { s.a.map(va, SPA + i * PAGE); s.io.translate({ deviceId: DEV_A, address: va }); }
    run(s, { domainId: 1, s: true, address: 0x4000_0000 + 0x1fff_f000 });
    expect(cached(s.io, 1, null)).toEqual([0x3fff_f000, 0x8000_0000]);
  });

  it("S = 1 with the all-pages address (bits 62:12 set, bit 63 clear) drops every page of the space", () => {
    const s = setup();
    fillHost(s, 0x40_0000, 6);
    s.a.map(0x7f_0000_0000, SPA);
    s.io.translate({ deviceId: DEV_A, address: 0x7f_0000_0000 });
    run(s, { domainId: 1, s: true, address: ALL_PAGES_ADDRESS });
    expect(cached(s.io, 1, null)).toEqual([]);
  });

  it("a 2 MiB IOTLB entry overlapping a single-page invalidation is dropped whole", () => {
    const s = setup();
    s.a.map(0x60_0000, 0x120_0000, { size: 0x20_0000 });
    expect(s.io.translate({ deviceId: DEV_A, address: 0x60_0000 + 0x12345 }).pageSize).toBe(0x20_0000);
    expect(cached(s.io, 1, null)).toEqual([0x60_0000]);
    run(s, { domainId: 1, address: 0x7f_f000 });
    expect(cached(s.io, 1, null)).toEqual([]);
  });

  it("the processor's reading of S and Address equals the spec codec for any address (property)", () => {
    const s = setup();
    const base = 0x80_0000;
    const window = 32;
    for (let i = 0; i < window; i++) s.a.map(base + i * PAGE, SPA + i * PAGE);
    fc.assert(fc.property(fc.integer({ min: 0, max: window - 1 }), fc.integer({ min: 0, max: 6 }), fc.boolean(), (page, ones, sBit) => {
      // an address inside the window with `ones` low page-number bits forced to 1
      const va = base + ((page | ((1 << ones) - 1)) % window) * PAGE;
      for (let i = 0; i < window; i++) s.io.translate({ deviceId: DEV_A, address: base + i * PAGE });
      run(s, { domainId: 1, s: sBit, address: va });
      const r = decodeInvalidationRange(BigInt(va), sBit);
      const left = cached(s.io, 1, null).filter((p) => p >= base && p < base + window * PAGE);
      const expected = Array.from({ length: window }, (_, i) => base + i * PAGE)
        .filter((p) => !(r.all || (BigInt(p) >= r.start && BigInt(p) < r.start + r.size)));
      expect(left).toEqual(expected);
    }), { numRuns: 60 });
  });
});

describe("INVALIDATE_IOMMU_PAGES: DomainID, GN and PASID", () => {
  function fillAll(s: ReturnType<typeof setup>) {
    const va = 0x50_0000;
    s.a.map(va, SPA); s.c.map(va, SPA + PAGE);
    s.g1.map(va, SPA + 2 * PAGE); s.g2.map(va, SPA + 3 * PAGE);
    s.io.translate({ deviceId: DEV_A, address: va });
    s.io.translate({ deviceId: DEV_C, address: va });
    s.io.translate({ deviceId: DEV_B, address: va, pasid: 1 });
    s.io.translate({ deviceId: DEV_B, address: va, pasid: 2 });
    const state = () => ({ host1: cached(s.io, 1, null), pasid1: cached(s.io, 1, 1), pasid2: cached(s.io, 1, 2), host2: cached(s.io, 2, null) });
    expect(state()).toEqual({ host1: [va], pasid1: [va], pasid2: [va], host2: [va] });
    return { va, state };
  }

  it("GN = 0 drops the host space of DomainID only: the domain's PASID spaces and other domains stay", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 1, address: va });
    expect(state()).toEqual({ host1: [], pasid1: [va], pasid2: [va], host2: [va] });
  });

  it("GN = 0 ignores the PASID field", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 1, pasid: 1, address: va });
    expect(state()).toEqual({ host1: [], pasid1: [va], pasid2: [va], host2: [va] });
  });

  it("GN = 1 drops the (DomainID, PASID) space only: other PASIDs, the host space and other domains stay", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 1, gn: true, pasid: 1, address: va });
    expect(state()).toEqual({ host1: [va], pasid1: [], pasid2: [va], host2: [va] });
  });

  it("GN = 1 matches DomainID too: the right PASID in another domain drops nothing", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 2, gn: true, pasid: 1, address: va });
    expect(state()).toEqual({ host1: [va], pasid1: [va], pasid2: [va], host2: [va] });
  });

  it("a 20-bit PASID is matched whole (PASID 1 vs 0x10001)", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 1, gn: true, pasid: 0x10001, address: va });
    expect(state().pasid1).toEqual([va]);
  });

  it("DomainID selects the domain (16 bits): invalidating domain 2 leaves domain 1", () => {
    const s = setup();
    const { va, state } = fillAll(s);
    run(s, { domainId: 2, address: va });
    expect(state()).toEqual({ host1: [va], pasid1: [va], pasid2: [va], host2: [] });
  });
});

describe("INVALIDATE_IOMMU_PAGES: PDE", () => {
  it("PDE = 0 keeps the page-directory cache: the re-walk after the invalidation starts from a cached PDE", () => {
    const s = setup();
    s.a.map(0x40_0000, SPA);
    expect(s.io.translate({ deviceId: DEV_A, address: 0x40_0000 }).walkReferences).toBe(4);
    run(s, { domainId: 1, pde: false, address: 0x40_0000 });
    const r = s.io.translate({ deviceId: DEV_A, address: 0x40_0000 });
    expect(r.iotlbHit).toBe(false);
    expect(r.pdeHits).toBe(1);
    expect(r.walkReferences).toBeLessThan(4);
  });

  it("PDE = 1 also drops the cached page-directory entries over the range: the re-walk reads every level", () => {
    const s = setup();
    s.a.map(0x40_0000, SPA);
    s.io.translate({ deviceId: DEV_A, address: 0x40_0000 });
    run(s, { domainId: 1, pde: true, address: 0x40_0000 });
    const r = s.io.translate({ deviceId: DEV_A, address: 0x40_0000 });
    expect(r.pdeHits).toBe(0);
    expect(r.walkReferences).toBe(4);
  });

  it("PDE = 1 keeps page-directory entries outside the range (another 1 GiB region still hits)", () => {
    const s = setup();
    s.a.map(0x40_0000, SPA);
    s.a.map(0x8000_0000, SPA + PAGE);
    s.io.translate({ deviceId: DEV_A, address: 0x40_0000 });
    s.io.translate({ deviceId: DEV_A, address: 0x8000_0000 });
    run(s, { domainId: 1, pde: true, address: 0x40_0000 });
    expect(s.io.translate({ deviceId: DEV_A, address: 0x8000_0000 }).iotlbHit).toBe(true);
    s.a.map(0x8000_2000, SPA + 2 * PAGE); // same page table as 0x8000_0000: its PDE is still cached
    expect(s.io.translate({ deviceId: DEV_A, address: 0x8000_2000 }).pdeHits).toBe(1);
    s.a.map(0x40_2000, SPA + 3 * PAGE); // same page table as the invalidated page: its PDE went
    expect(s.io.translate({ deviceId: DEV_A, address: 0x40_2000 }).pdeHits).toBe(0);
  });

  it("GN = 1 with PDE = 1 also drops the PASID's cached GCR3 entry (what Linux relies on after writing one); PDE = 0 keeps it", () => {
    const s = setup();
    s.g1.map(0x50_0000, SPA);
    s.g1.map(0x50_1000, SPA + PAGE);
    s.io.translate({ deviceId: DEV_B, address: 0x50_0000, pasid: 1 });
    run(s, { domainId: 1, gn: true, pasid: 1, pde: false, address: 0x50_0000 });
    expect(s.io.translate({ deviceId: DEV_B, address: 0x50_0000, pasid: 1 }).gcr3CacheHit).toBe(true);
    run(s, { domainId: 1, gn: true, pasid: 1, pde: true, address: 0x50_1000 });
    expect(s.io.translate({ deviceId: DEV_B, address: 0x50_1000, pasid: 1 }).gcr3CacheHit).toBe(false);
  });

  it("cost: one page is looked up in the set it indexes (IOTLB, and the page-directory cache with PDE = 1); a range or all pages walk every set", () => {
    const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 }); // default caches: 64 entries, 4-way (16 sets each)
    const io = tb.iommu, p = io.timing;
    const cost: number[] = [];
    io.commands.onCommand = (_op, _addr, _dw, start, end) => { cost.push(end - start); };
    const inv = (o: Parameters<typeof buildInvalidateIommuPages>[0]) => expect(tb.sync(buildInvalidateIommuPages(o))).toBe(true);
    inv({ domainId: 1, pde: true, address: 0x40_0000 });
    inv({ domainId: 1, pde: false, address: 0x40_0000 });
    inv({ domainId: 1, pde: true, s: true, address: 0x40_1000 }); // 8 KiB range
    inv({ domainId: 1, pde: true, s: true, address: ALL_PAGES_ADDRESS });
    const execs = cost.filter((_, i) => i % 2 === 0); // each sync is the command and a COMPLETION_WAIT
    const sets = io.iotlb.tags.sets + io.pdeCache.tags.sets;
    expect(sets).toBe(32);
    expect(execs).toEqual([p.invalidationBase + 2 * p.invalidationPerSet, p.invalidationBase + p.invalidationPerSet,
      p.invalidationBase + sets * p.invalidationPerSet, p.invalidationBase + sets * p.invalidationPerSet]);
  });
});

/**
 * Translation cases outside the per-configuration suite: page-directory cache behaviour and
 * reference counts, GCR3TRPMode (GCR3 table in guest-physical space), ATS with DTE.I = 0, and
 * cache geometry options.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench, LongModeTable, Gcr3Table, V1PageTable } from "../../src/builders/index.js";
import { spec, AmdIommu, PhysicalMemory } from "../../src/index.js";
import { TagStore } from "../../src/iommu/caches/tag-store.js";

const GVA = 0x7000_0000_0000n;

describe("page-directory cache", () => {
  it("with directory entries cached from level 2 (minLevel 2), a warm walk in the same 2 MiB region reads only the leaf", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 64, minLevel: 2 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    for (let i = 0; i < 8; i++) t.map(0x4000_0000 + i * 4096, tb.pages.alloc());
    tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
    const first = tb.iommu.translate({ deviceId: 1, address: 0x4000_0000 });
    expect(first.walkReferences).toBe(4);
    const second = tb.iommu.translate({ deviceId: 1, address: 0x4000_1000 });
    expect([second.walkReferences, second.pdeHits]).toEqual([1, 1]);
  });

  it("by default (levels >= 3 cached) a streaming workload reads 2 table entries per walk, the PDE and the PTE (docs/calibration.md B18)", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 64 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    const n = 256;
    for (let i = 0; i < n; i++) t.map(i * 4096, 0x100_0000 + i * 4096);
    tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
    tb.iommu.translate({ deviceId: 1, address: 0 });
    let refs = 0;
    for (let i = 1; i < n; i++) refs += tb.iommu.translate({ deviceId: 1, address: i * 4096 }).walkReferences;
    expect(refs / (n - 1)).toBe(2);
  });

  it("INVALIDATE_IOMMU_PAGES with PDE=1 drops cached directory entries; PDE=0 keeps them", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 0 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    t.map(0x1000, tb.pages.alloc());
    t.map(0x2000, tb.pages.alloc());
    tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 5 });
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 5, address: 0x1000, pde: false }));
    // (default geometry caches levels >= 3)
    expect(tb.iommu.translate({ deviceId: 1, address: 0x2000 }).pdeHits).toBe(1);
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 5, address: 0x1000, pde: true }));
    expect(tb.iommu.translate({ deviceId: 1, address: 0x2000 }).pdeHits).toBe(0);
  });

  it("directory entries of another domain survive an invalidation", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 0 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    t.map(0x1000, tb.pages.alloc());
    tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 5 });
    tb.iommu.translate({ deviceId: 1, address: 0x1000 });
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 6, address: 0x1000, pde: true, s: true }));
    expect(tb.iommu.translate({ deviceId: 1, address: 0x1000 }).pdeHits).toBe(1);
  });
});

describe("GCR3TRPMode (EFR2.GCR3TRPModeSup)", () => {
  it("with Control.GCR3TRPMode=1 and Mode != 0 the GCR3 table root is a GPA translated by the host table", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 0 }, gcr3Cache: { entries: 0 } } });
    const host = new V1PageTable(tb.memory, tb.pages, 4);
    const OFFSET = 0x100_0000; // guest RAM: GPA x lives at SPA x + 16 MiB
    for (let a = 0; a < 0x80_0000; a += 0x20_0000) host.map(a, a + OFFSET, { size: 0x20_0000 });
    const toSpa = (gpa: number) => gpa + OFFSET, fromSpa = (spa: number) => spa - OFFSET;
    // allocate guest tables inside guest RAM (SPA >= 16 MiB)
    while (tb.pages.used < OFFSET) tb.pages.alloc();
    const g = new LongModeTable(tb.memory, tb.pages, 4, toSpa, fromSpa);
    g.map(GVA, 0x30_0000);
    const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0, toSpa, fromSpa);
    gcr3.set(9, g.root);
    tb.deviceTable.set(2, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: host.root, IR: true, IW: true, GV: true, GCR3TableRootPtr: gcr3.root, DomainID: 2 });
    const without = tb.iommu.translate({ deviceId: 2, address: GVA, pasid: 9 });
    expect(without.ok).toBe(false); // GPA read as an SPA: no valid GCR3 entry there
    tb.sync(spec.buildInvalidateIommuAll());
    tb.control(["GCR3TRPMode"]);
    const r = tb.iommu.translate({ deviceId: 2, address: GVA, pasid: 9 });
    expect([r.ok, r.spa]).toEqual([true, 0x30_0000 + OFFSET]);
  });
});

describe("ATS requests and DTE.I", () => {
  it("an ATS translation request from a device whose DTE.I=0 is an INVALID_DEVICE_REQUEST with TR=1", () => {
    const tb = new IommuTestbench();
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    t.map(0x1000, tb.pages.alloc());
    tb.deviceTable.set(3, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 3, I: false });
    const r = tb.iommu.translateAts({ deviceId: 3, address: 0x1000 });
    expect(r.fault).toBe("ats-disabled");
    const e = tb.events()[0]!;
    expect(e.code).toBe(spec.EV_INVALID_DEVICE_REQUEST);
    expect(e.flags.TR).toBe(true);
  });

  it("an ATS write that hits a writable guest IOTLB entry whose D is clear walks again and sets D in the PTE (number and bigint address alike)", () => {
    for (const address of [Number(GVA), GVA]) {
      const tb = new IommuTestbench({ iommu: { iotlb: { entries: 64 } } });
      const g = new LongModeTable(tb.memory, tb.pages, 4);
      g.map(Number(GVA), 0x40_0000, { writable: true, accessed: true, dirty: false });
      const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
      gcr3.set(5, g.root);
      tb.deviceTable.set(3, { V: true, TV: true, IR: true, IW: true, GV: true, GCR3TableRootPtr: gcr3.root, DomainID: 3, I: true });
      const pte = g.entryAddress(Number(GVA), 1);
      // a read fills the IOTLB with the page, writable, D clear
      expect(tb.iommu.translate({ deviceId: 3, address, pasid: 5 }).ok).toBe(true);
      expect(tb.memory.read32(pte) & 0x40).toBe(0);
      const walks = tb.iommu.stats().translation.walks;
      const w = tb.iommu.translateAts({ deviceId: 3, address, pasid: 5, write: true });
      expect([w.ok, w.writable, w.iotlbHit]).toEqual([true, true, false]);
      expect(tb.memory.read32(pte) & 0x40).toBe(0x40);
      expect(tb.iommu.stats().translation.walks).toBe(walks + 1);
    }
  });

  it("a v1 PTE with U=1 (untranslated access only) is never handed out through ATS", () => {
    const tb = new IommuTestbench();
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    t.map(0x1000, 0x50_0000, { untranslatedOnly: true });
    tb.deviceTable.set(4, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 4, I: true });
    const ats = tb.iommu.translateAts({ deviceId: 4, address: 0x1000 });
    expect([ats.ok, ats.readable, ats.writable, ats.fault]).toEqual([false, false, false, "untranslated-only"]);
    expect(tb.iommu.translate({ deviceId: 4, address: 0x1000 }).spa).toBe(0x50_0000);
  });
});

describe("cache options", () => {
  it("a cache size or geometry the hardware could not have is an error naming the option", () => {
    const memory = new PhysicalMemory({ bytes: 1 << 20 });
    expect(() => new AmdIommu({ memory, iotlb: { entries: 48, ways: 4 } })).toThrow(/iotlb: entries \/ ways must be a power of two/);
    expect(() => new AmdIommu({ memory, iotlb: { entries: 64, ways: 5 } })).toThrow(/iotlb.ways must divide/);
    expect(() => new AmdIommu({ memory, pdeCache: { entries: -1 } })).toThrow(/pdeCache.entries/);
    expect(() => new AmdIommu({ memory, iotlb: { entries: 64, replacement: "mru" as "lru" } })).toThrow(/iotlb.replacement/);
    expect(() => new AmdIommu({ memory, features: { hats: 3 as 2 } })).toThrow(/options.features.hats/);
    expect(() => new AmdIommu({ memory, quirks: { tvZero: "x" as "abort" } })).toThrow(/options.quirks.tvZero/);
    expect(() => new AmdIommu({ memory, timing: { walkers: 0 } })).toThrow(/timing.walkers/);
  });

  it("a 4-entry direct-mapped IOTLB evicts on a set conflict (tiny caches reach eviction in short tests)", () => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 4, ways: 1 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 4);
    for (let i = 0; i < 16; i++) t.map(i * 4096, 0x100_0000 + i * 4096);
    tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
    for (let i = 0; i < 16; i++) tb.iommu.translate({ deviceId: 1, address: i * 4096 });
    const s = tb.iommu.stats().iotlb;
    expect(s.evictions).toBe(12);
    expect(s.occupancy).toBe(4);
  });

  it("random replacement is reproducible from the seed", () => {
    const run = (seed: number) => {
      const tb = new IommuTestbench({ iommu: { seed, iotlb: { entries: 8, ways: 8, replacement: "random" } } });
      const t = new V1PageTable(tb.memory, tb.pages, 4);
      for (let i = 0; i < 32; i++) t.map(i * 4096, 0x100_0000 + i * 4096);
      tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
      const hits: boolean[] = [];
      for (let i = 0; i < 200; i++) hits.push(tb.iommu.translate({ deviceId: 1, address: ((i * 7) % 32) * 4096 }).iotlbHit);
      return hits.join("");
    };
    expect(run(5)).toBe(run(5));
    expect(run(5)).not.toBe(run(6));
  });
});

describe("translated requests (PCIe AT = 10b)", () => {
  it("with DTE.I=1 a translated request passes to memory unchanged", () => {
    const tb = new IommuTestbench();
    tb.deviceTable.set(5, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: tb.pages.alloc(), IR: true, IW: true, DomainID: 5, I: true });
    const r = tb.iommu.translatedRequest({ deviceId: 5, address: 0x12_3458, write: true });
    expect([r.ok, r.spa, r.path]).toEqual([true, 0x12_3458, "pretranslated"]);
  });

  it("a translated request from a device whose DTE.I=0 is refused with INVALID_DEVICE_REQUEST", () => {
    const tb = new IommuTestbench();
    tb.deviceTable.set(6, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 6, I: false });
    const r = tb.iommu.translatedRequest({ deviceId: 6, address: 0x12_3458, write: true });
    expect([r.ok, r.fault]).toEqual([false, "ats-disabled"]);
    const e = tb.events()[0]!;
    expect(e.code).toBe(spec.EV_INVALID_DEVICE_REQUEST);
    expect([e.flags.TR, e.flags.RW, e.flags.Type]).toEqual([false, true, spec.INVALID_DEVICE_REQUEST_TYPE.TranslatedRequestWithIZero]);
  });
});

describe("GCR3-entry cache tags (DeviceID, PASID, DomainID)", () => {
  it("an entry is found only under its own DomainID: (PASID 17, DomainID 0) is not the entry of (PASID 1, DomainID 1024), which falls in the same set", async () => {
    const { Gcr3Cache } = await import("../../src/iommu/caches/gcr3-cache.js");
    const c = new Gcr3Cache({ entries: 64, ways: 4 }, 1);
    c.insert(7, 17, 0, 0x1000);
    c.insert(7, 1, 0, 0x2000);
    // (with the DomainID folded into the key's 6-bit field, DomainID 1024 = 16 x 64 added 16 to the PASID)
    expect(c.lookup(7, 1, 1024)).toBe(-1);
    expect(c.lookup(7, 17, 65535)).toBe(-1);
    const s = c.lookup(7, 17, 0);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(c.cr3[s]).toBe(0x1000);
    c.insert(7, 1, 1024, 0x3000);
    c.invalidatePasid(1024, 1);
    expect(c.lookup(7, 1, 1024)).toBe(-1);
    expect(c.cr3[c.lookup(7, 1, 0)]).toBe(0x2000); // invalidation by (DomainID, PASID) keeps the other domain's entry
  });

  it("the slot last found is not trusted once an LRU eviction gives its way to another PASID: the evicted PASID's look-up misses (its GCR3 entry is read again)", async () => {
    const { Gcr3Cache } = await import("../../src/iommu/caches/gcr3-cache.js");
    const c = new Gcr3Cache({ entries: 1, ways: 1 }, 1); // one way: every fill of another tag evicts
    c.insert(7, 1, 0, 0x1000);
    expect(c.cr3[c.lookup(7, 1, 0)]).toBe(0x1000); // PASID 1 is the front entry
    c.insert(7, 2, 0, 0x2000); // the set is full: PASID 2 takes the way
    expect(c.lookup(7, 1, 0)).toBe(-1);
    expect(c.cr3[c.lookup(7, 2, 0)]).toBe(0x2000);
    expect(c.tags.stats.evictions).toBe(1);
  });
});

describe("page-directory cache look-up hint (the slot last found or filled per level and space)", () => {
  it("a hinted slot serves only its own tag: another VA prefix, another space (host tables vs a PASID's) or another level scans the set, with the same outcome and counts as without the hint", async () => {
    const { PdeCache } = await import("../../src/iommu/caches/pde-cache.js");
    const c = new PdeCache({ entries: 16, ways: 4, minLevel: 2 }, 1);
    c.insert(7, -1, 3, 1, 0x1000, 2, 3, false); // host tables, level 3, prefix 1
    c.insert(7, 5, 3, 1, 0x2000, 2, 3, false); // PASID 5's tables, same level and prefix
    c.insert(7, -1, 3, 2, 0x3000, 2, 3, false); // host tables, prefix 2 (now the host hint at level 3)
    const host1 = c.lookup(7, -1, 3, 1);
    expect(c.next[host1]).toBe(0x1000); // not prefix 2's slot, which the hint held
    expect(c.next[c.lookup(7, 5, 3, 1)]).toBe(0x2000); // the guest space's own entry
    expect(c.next[c.lookup(7, -1, 3, 1)]).toBe(0x1000); // the hint now holds it
    expect(c.lookup(7, -1, 3, 3)).toBe(-1); // a prefix never filled misses although the hint holds a slot
    expect(c.lookup(7, -1, 2, 1)).toBe(-1); // another level
    expect(c.lookup(8, -1, 3, 1)).toBe(-1); // another domain
    expect(c.tags.stats).toMatchObject({ hits: 3, misses: 3 });
  });
});

describe("tag store replacement (IOTLB, page-directory, GCR3 and DTE caches)", () => {
  it("a way freed by an invalidation is taken by the next fill of its set before any valid entry is evicted, even when the freed entry was the most recently used", () => {
    const t = new TagStore("iotlb", { entries: 4, ways: 4 }, 1);
    const slots = [0, 1, 2, 3].map((page) => t.allocate(0, 1, -1, 12, page)); // one set, filled in order: page 0 is least recently used
    t.invalidateSlot(slots[3]!); // page 3, filled last
    const s = t.allocate(0, 1, -1, 12, 9);
    expect(s).toBe(slots[3]);
    expect([0, 1, 2, 9].map((page) => t.find(0, 1, -1, 12, page) >= 0)).toEqual([true, true, true, true]);
    expect([t.stats.evictions, t.occupancy]).toEqual([0, 4]);
    // a full set again: the next fill evicts the least recently used way (page 0)
    t.allocate(0, 1, -1, 12, 10);
    expect([t.find(0, 1, -1, 12, 0), t.stats.evictions]).toEqual([-1, 1]);
  });
});

describe("guest walks on the warm path (GCR3 entry cached, number address: GuestWalker.walkDirect's case)", () => {
  const MiB2 = 0x20_0000, GiB = 0x4000_0000;
  /** A guest device whose GCR3 entry a first translation has cached (IOTLB off, so every request walks). */
  function warm(size: 4096 | 2097152 | 1073741824) {
    const tb = new IommuTestbench({ bytes: 64 * 1024 * 1024, iommu: { iotlb: { entries: 0 } } });
    const g = new LongModeTable(tb.memory, tb.pages, 4);
    const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
    gcr3.set(5, g.root);
    tb.deviceTable.set(3, { V: true, TV: true, IR: true, IW: true, GV: true, GCR3TableRootPtr: gcr3.root, DomainID: 3 });
    const va = Number(GVA) - (Number(GVA) % size);
    g.map(va, size === GiB ? GiB : MiB2 * 3, { size });
    const first = tb.iommu.translate({ deviceId: 3, address: va, pasid: 5 });
    expect([first.ok, first.gcr3CacheHit]).toEqual([true, false]);
    return { tb, g, va };
  }

  it("a 2 MiB and a 1 GiB leaf translate with their own page size, and the GCR3 entry is a cache hit", () => {
    for (const size of [MiB2, GiB] as const) {
      const { tb, va } = warm(size);
      const r = tb.iommu.translate({ deviceId: 3, address: va + 0x1234, pasid: 5 });
      expect([r.ok, r.pageSize, r.spa, r.gcr3CacheHit]).toEqual([true, size, (size === GiB ? GiB : MiB2 * 3) + 0x1234, true]);
    }
  });

  it("a 2 MiB leaf with address bits 20:13 set, or a 1 GiB leaf with bits 29:13 set, is a reserved-bit fault (RZ)", () => {
    for (const [size, bit] of [[MiB2, 0x2000], [MiB2, 0x10_0000], [GiB, 0x2000], [GiB, 0x2000_0000]] as const) {
      const { tb, g, va } = warm(size);
      const pa = g.entryAddress(va, size === GiB ? 3 : 2);
      tb.memory.write32(pa, tb.memory.read32(pa) | bit);
      const r = tb.iommu.translate({ deviceId: 3, address: va, pasid: 5 });
      expect([r.ok, r.fault, r.gcr3CacheHit]).toEqual([false, "reserved-bit", true]);
      expect(tb.events().at(-1)!.flags.RZ).toBe(true);
    }
  });
});

describe("nested walks on the warm path (GCR3 entry cached, number address: GuestWalker.walkNested's case)", () => {
  const GPA_DATA = 0x4000_0000, SPA_DATA = 0x800_0000;
  /** A nested device (guest tables identity-mapped by the host, 4 KiB host pages) whose GCR3 entry a first translation has cached; every request walks. */
  function warm(iotlb: number, hostWritable: boolean) {
    const tb = new IommuTestbench({ bytes: 256 * 1024 * 1024, iommu: { iotlb: { entries: iotlb } } });
    const first = tb.pages.used;
    const g = new LongModeTable(tb.memory, tb.pages, 4);
    for (let k = 0; k < 4; k++) g.map(Number(GVA) + k * 4096, GPA_DATA + k * 4096, { accessed: true, dirty: true });
    const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
    gcr3.set(5, g.root);
    const end = tb.pages.used;
    const h = new V1PageTable(tb.memory, tb.pages, 4);
    for (let a = first; a < end; a += 4096) h.map(a, a, { accessed: true, dirty: true });
    for (let k = 0; k < 4; k++) h.map(GPA_DATA + k * 4096, SPA_DATA + k * 4096, { writable: hostWritable, accessed: true, dirty: true });
    tb.deviceTable.set(3, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: h.root, IR: true, IW: true, HAD: 3, GV: true, GCR3TableRootPtr: gcr3.root, DomainID: 3 });
    const warmUp = tb.iommu.translate({ deviceId: 3, address: Number(GVA), pasid: 5 });
    expect([warmUp.ok, warmUp.path]).toEqual([true, "nested"]);
    return { tb, g, h };
  }
  const va = Number(GVA) + 4096;

  it("a write to a page the host table maps read-only is a permission fault of the host space (GN = 0, the GPA); a read is served", () => {
    for (const iotlb of [0, 64]) {
      const { tb } = warm(iotlb, false);
      const r = tb.iommu.translate({ deviceId: 3, address: va + 8, pasid: 5 });
      expect([r.ok, r.spa, r.writable]).toEqual([true, SPA_DATA + 4096 + 8, false]);
      const w = tb.iommu.translate({ deviceId: 3, address: va + 0x2008, pasid: 5, write: true });
      expect([w.ok, w.fault]).toEqual([false, "permission"]);
      const e = tb.events().at(-1)!;
      expect([e.flags.GN, e.address]).toEqual([false, BigInt(GPA_DATA + 0x3008)]);
    }
  });

  it("a reserved bit in the host PTE of the final GPA, or of a guest table's GPA, is a reserved-bit fault (RZ) of the host space", () => {
    // (with the IOTLB on, the guest table's translation stays cached: the IOTLB-off walk reads its host PTE)
    for (const [which, iotlb] of [["data", 0], ["data", 64], ["table", 0]] as const) {
      {
        const { tb, g, h } = warm(iotlb, true);
        const pa = h.entryAddress(which === "data" ? GPA_DATA + 4096 : g.entryAddress(va, 1), 1);
        tb.memory.write32(pa + 4, tb.memory.read32(pa + 4) | (1 << 20)); // bit 52
        const r = tb.iommu.translate({ deviceId: 3, address: va, pasid: 5 });
        expect([which, iotlb, r.ok, r.fault]).toEqual([which, iotlb, false, "reserved-bit"]);
        const e = tb.events().at(-1)!;
        expect([e.flags.RZ, e.flags.GN]).toEqual([true, false]);
      }
    }
  });
});

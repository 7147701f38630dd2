/**
 * Property: the translator's fast path (fastHit / fastWalk / fastAtsHit, the guest miss route into
 * guestWalk, the guest walker's common cases GuestWalker.walkDirect and walkNested with the host
 * walks HostWalker.walkDirect, the plain-load branches of the walkers) gives exactly what the general path
 * gives. Two IOMMUs are built identically over random tables (host v1; guest long-mode with
 * a PASID, through GIoV, nested in a v1 table; 4 and 5 levels) with random corruption, HAD
 * settings, A/D bits, R/W, U/S, NX and cache geometries; one is driven with number addresses
 * (fast path, plain loads), the other with bigint addresses and the memory-access log on
 * (general path, reads through WalkContext). Requests mix reads and writes, privileged and
 * execute flags, ATS translation requests, other PASIDs and addresses beyond the table's width. After every request
 * the results, and at the end the memory (A/D bits, event log), every statistic, the caches
 * and the events must be identical.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Gcr3Table, IommuTestbench, LongModeTable, V1PageTable } from "../../src/builders/index.js";
import type { MemoryAccess } from "../../src/index.js";

const SIZES = [4096, 8192, 2 * 1024 * 1024];
const BYTES = 2 * 1024 * 1024;

const mostly = fc.constantFrom(true, true, true, false);
const mapping = fc.record({ slot: fc.integer({ min: 0, max: 1023 }), sizeIdx: fc.nat(2), read: mostly, write: mostly, accessed: fc.boolean(), dirty: fc.boolean() });
// a bit of any table entry, or of an entry on a mapping's path: any bit, or one the walk
// decides on (PR, A, D, NextLevel, an address bit above 8 GiB, a PDE / PTE reserved bit, U, IR, IW)
const bitNo = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 63 }), weight: 1 }, { arbitrary: fc.constantFrom(0, 5, 6, 9, 10, 11, 33, 52, 53, 58, 59, 60, 61, 62), weight: 3 });
const corruption = fc.record({ onPath: fc.boolean(), page: fc.nat(), entry: fc.integer({ min: 0, max: 511 }), level: fc.integer({ min: 1, max: 6 }), bitNo });
const request = fc.record({ which: fc.nat(), offset: fc.integer({ min: 0, max: 2 * 1024 * 1024 - 1 }), write: fc.boolean(), random: fc.constantFrom(false, false, false, true),
  repeat: fc.boolean(), device: fc.constantFrom(0, 0, 0, 1), pageRequest: fc.constantFrom(-1, -1, -1, -1, 0, 1, 2), ats: fc.constantFrom(false, false, false, true) });
const setup = fc.record({
  mode: fc.integer({ min: 1, max: 6 }), had: fc.constantFrom(0, 1, 3), ir: mostly, iw: mostly,
  iotlb: fc.constantFrom(0, 4, 64), pde: fc.constantFrom(0, 4, 64), pdeMin: fc.integer({ min: 2, max: 4 }), dte: fc.constantFrom(1, 2, 64), ats: mostly,
});

type Setup = { mode: number; had: number; ir: boolean; iw: boolean; iotlb: number; pde: number; pdeMin: number; dte: number; ats: boolean };
type Mapping = { slot: number; sizeIdx: number; read: boolean; write: boolean; accessed: boolean; dirty: boolean };

/** The entry at `level` on the walk of iova (or the leaf or non-present entry above it), or -1. */
function entryOnPath(tb: IommuTestbench, root: number, mode: number, iova: number, level: number): number {
  let table = root;
  for (let L = mode; L >= 1; L--) {
    const pa = table + Math.floor(iova / 2 ** (12 + 9 * (L - 1))) % 512 * 8;
    if (pa + 8 > BYTES) return -1;
    const lo = tb.memory.read32(pa), hi = tb.memory.read32(pa + 4);
    const nl = (lo >>> 9) & 7;
    if (L <= level || (lo & 1) === 0 || nl === 0 || nl === 7) return pa;
    table = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  }
  return -1;
}

function build(s: Setup, maps: Mapping[], corrupt: { onPath: boolean; page: number; entry: number; level: number; bitNo: number }[]) {
  const tb = new IommuTestbench({
    bytes: BYTES, deviceTableEntries: 256, ringLen: 8,
    iommu: { iotlb: { entries: s.iotlb }, pdeCache: { entries: s.pde, minLevel: s.pdeMin } as { entries: number }, dteCache: { entries: s.dte, ways: Math.min(s.dte, 2) } },
  });
  const first = tb.pages.used;
  const t = new V1PageTable(tb.memory, tb.pages, s.mode);
  const span = 2 ** Math.min(12 + 9 * s.mode, 40);
  const iovas: number[] = [];
  for (const m of maps) {
    const size = SIZES[m.sizeIdx]!;
    if (size === 2 * 1024 * 1024 && s.mode < 2) continue;
    const iova = (m.slot * 2 * 1024 * 1024) % span - ((m.slot * 2 * 1024 * 1024) % size);
    t.map(iova, size * (m.slot % 64 + 1), { size, readable: m.read, writable: m.write, accessed: m.accessed, dirty: m.dirty });
    iovas.push(iova);
  }
  const tablePages = Array.from({ length: (tb.pages.used - first) / 4096 }, (_, i) => first + i * 4096);
  // find every target entry before flipping anything (a flipped pointer could lead outside memory)
  const targets = corrupt.map((c) => {
    const onPath = c.onPath && iovas.length > 0 ? entryOnPath(tb, t.root, s.mode, iovas[c.page % iovas.length]!, c.level) : -1;
    return (onPath >= 0 ? onPath : tablePages[c.page % tablePages.length]! + c.entry * 8) + (c.bitNo >= 32 ? 4 : 0);
  });
  corrupt.forEach((c, i) => tb.memory.write32(targets[i]!, (tb.memory.read32(targets[i]!) ^ (1 << (c.bitNo % 32))) >>> 0));
  for (const dev of [1, 2, 3]) {
    tb.deviceTable.set(dev, { V: true, TV: true, Mode: s.mode, HostPageTableRootPtr: t.root, IR: s.ir || dev === 2, IW: s.iw, DomainID: dev, HAD: s.had, I: s.ats });
  }
  return { tb, iovas, span };
}

describe("fast path = general path (host v1 tables)", () => {
  it("same results, memory, statistics and events for random tables, corruption, HAD, A/D and cache geometries", () => {
    fc.assert(fc.property(setup, fc.array(mapping, { minLength: 1, maxLength: 10 }), fc.array(corruption, { maxLength: 4 }), fc.array(request, { minLength: 1, maxLength: 24 }),
      (s, maps, corrupt, reqs) => {
        const fast = build(s, maps, corrupt);
        const slow = build(s, maps, corrupt);
        const log: MemoryAccess[] = [];
        slow.tb.iommu.traceMemoryAccesses(log);
        let iova = 0;
        for (const q of reqs) {
          // the same page again (a write after a read re-walks to set D), a mapped page, or any page
          if (!q.repeat) iova = q.random || fast.iovas.length === 0 ? (q.offset * 4096) % fast.span : fast.iovas[q.which % fast.iovas.length]! + (q.offset % 8192);
          const deviceId = 1 + q.device;
          // another block looks a DTE up between translations (the PPR log, for a page request)
          if (q.pageRequest >= 0) {
            for (const io of [fast.tb.iommu, slow.tb.iommu]) io.pageRequest({ deviceId: 1 + q.pageRequest, address: BigInt(iova), prgIndex: 1, last: true, read: true, write: false });
          }
          // (ATS translation requests: fastAtsHit or the general path; DTE.I = 0 refuses them)
          const a = q.ats ? fast.tb.iommu.translateAts({ deviceId, address: iova, write: q.write }) : fast.tb.iommu.translate({ deviceId, address: iova, write: q.write });
          const b = q.ats ? slow.tb.iommu.translateAts({ deviceId, address: BigInt(iova), write: q.write }) : slow.tb.iommu.translate({ deviceId, address: BigInt(iova), write: q.write });
          expect({ ...a }, `iova 0x${iova.toString(16)} write ${q.write} ats ${q.ats}`).toEqual({ ...b });
        }
        expect(fast.tb.iommu.stats()).toEqual(slow.tb.iommu.stats());
        // every cache's tags, replacement state (LRU stamps and clock) and contents
        expect(fast.tb.iommu.snapshot()).toEqual(slow.tb.iommu.snapshot());
        const differs = Buffer.compare(new Uint8Array(fast.tb.memory.buffer), new Uint8Array(slow.tb.memory.buffer));
        expect(differs, "memory contents differ").toBe(0);
      }), { seed: 0x5eed, numRuns: 1000 });
  }, 180_000); // 8-9 s alone, 13 s and more on a loaded 2-core machine: an explicit budget, not vitest's 5 s default
});

// ---- guest (PASID and GIoV) and nested tables ----
const GVA = 0x7f00_0000_0000;
const gsetup = fc.record({
  kind: fc.constantFrom("guest", "nested", "giov"), levels: fc.constantFrom(4, 5), had: fc.constantFrom(0, 1, 3), ir: mostly, iw: mostly,
  iotlb: fc.constantFrom(0, 4, 64), pde: fc.constantFrom(0, 4, 64), gcr3: fc.constantFrom(0, 4), dte: fc.constantFrom(1, 64),
  // nested: the host maps the guest tables with A set or clear, and the data with 2 MiB or 4 KiB pages
  hostTablesAccessed: mostly, hostSmall: fc.boolean(), accessedInPde: fc.constantFrom(false, false, true),
});
// (a 4 KiB mapping is a run of 1-16 pages sharing their tables: walks of its other pages find the tables' translations cached)
const gmapping = fc.record({ slot: fc.integer({ min: 0, max: 255 }), big: fc.constantFrom(false, false, false, true), writable: mostly, user: mostly,
  nx: fc.constantFrom(false, false, true), accessed: fc.boolean(), dirty: fc.boolean(), run: fc.integer({ min: 1, max: 16 }) });
const grequest = fc.record({ which: fc.nat(), offset: fc.integer({ min: 0, max: 2 * 1024 * 1024 - 1 }), write: fc.boolean(), privileged: fc.constantFrom(undefined, false, true),
  execute: fc.constantFrom(undefined, false, true), far: fc.constantFrom(0, 0, 0, 0, 1, 2), pasid: fc.constantFrom(1, 1, 1, 2), repeat: fc.boolean(), device: fc.constantFrom(0, 0, 0, 1),
  ats: fc.constantFrom(false, false, false, true) });
type GSetup = { kind: string; levels: number; had: number; ir: boolean; iw: boolean; iotlb: number; pde: number; gcr3: number; dte: number; hostTablesAccessed: boolean; hostSmall: boolean; accessedInPde: boolean };
type GMapping = { slot: number; big: boolean; writable: boolean; user: boolean; nx: boolean; accessed: boolean; dirty: boolean; run: number };

function buildGuest(s: GSetup, maps: GMapping[], corrupt: { page: number; entry: number; bitNo: number }[]) {
  const tb = new IommuTestbench({
    bytes: 4 * 1024 * 1024, deviceTableEntries: 256, ringLen: 8,
    iommu: { iotlb: { entries: s.iotlb }, pdeCache: { entries: s.pde }, gcr3Cache: { entries: s.gcr3, ways: Math.min(Math.max(s.gcr3, 1), 4) }, dteCache: { entries: s.dte, ways: Math.min(s.dte, 2) },
      quirks: { v1AccessedInPde: s.accessedInPde } },
  });
  const first = tb.pages.used;
  const nested = s.kind === "nested";
  const levels = (s.levels === 5 ? 5 : 4) as 4 | 5;
  const guest = new LongModeTable(tb.memory, tb.pages, levels);
  const gvas: number[] = [];
  for (const m of maps) {
    const size = m.big ? 2097152 : 4096;
    for (let k = 0; k < (m.big ? 1 : m.run); k++) {
      const gva = GVA + m.slot * 2 * 1024 * 1024 + (m.big ? 0 : ((m.slot % 7) + k) * 4096);
      if (gvas.includes(gva)) continue;
      guest.map(gva, (m.big ? 64 : 32) * 1024 * 1024 * 16 + m.slot * 2 * 1024 * 1024 + k * 4096, { size, writable: m.writable, user: m.user, nx: m.nx, accessed: m.accessed, dirty: m.dirty });
      gvas.push(gva);
    }
  }
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(s.kind === "giov" ? 0 : 1, guest.root);
  const end = tb.pages.used;
  let hostRoot = 0;
  if (nested) {
    const host = new V1PageTable(tb.memory, tb.pages, 4);
    for (let a = first; a < end; a += 4096) host.map(a, a, { accessed: s.hostTablesAccessed, dirty: true });
    const mapped = new Set<number>();
    for (const m of maps) {
      const gpa = (m.big ? 64 : 32) * 1024 * 1024 * 16 + m.slot * 2 * 1024 * 1024, spa = 0x100000000 + m.slot * 2 * 1024 * 1024;
      if (mapped.has(gpa)) continue;
      mapped.add(gpa);
      // (host 4 KiB pages: under a 2 MiB guest page its first 128 KiB mapped, beyond them a host fault)
      if (s.hostSmall) for (let k = 0; k < 32; k++) host.map(gpa + k * 4096, spa + k * 4096, { accessed: m.accessed, dirty: m.dirty });
      else host.map(gpa, spa, { size: 2 * 1024 * 1024, accessed: m.accessed, dirty: m.dirty });
    }
    hostRoot = host.root;
  }
  const tablePages = Array.from({ length: (tb.pages.used - first) / 4096 }, (_, i) => first + i * 4096);
  corrupt.forEach((c) => {
    const pa = tablePages[c.page % tablePages.length]! + c.entry * 8 + (c.bitNo >= 32 ? 4 : 0);
    tb.memory.write32(pa, (tb.memory.read32(pa) ^ (1 << (c.bitNo % 32))) >>> 0);
  });
  for (const dev of [1, 2]) {
    tb.deviceTable.set(dev, {
      V: true, TV: true, Mode: nested ? 4 : 0, HostPageTableRootPtr: hostRoot, IR: s.ir || dev === 2, IW: s.iw, DomainID: dev, HAD: s.had, I: true,
      GV: true, GIoV: s.kind === "giov", GLX: 0, GCR3TableRootPtr: gcr3.root, GuestPagingMode: levels === 5 ? 1 : 0,
    });
  }
  return { tb, gvas };
}

type GRequest = { which: number; offset: number; write: boolean; privileged: boolean | undefined; execute: boolean | undefined; far: number; pasid: number; repeat: boolean; device: number; ats: boolean };
const gbit = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 63 }), weight: 1 }, { arbitrary: fc.constantFrom(0, 1, 2, 5, 6, 7, 63, 13, 21), weight: 3 });

/** Two IOMMUs over the same guest tables, one driven with number addresses (fast paths), the other with bigint addresses and the access log (general path): equal after every request. */
function guestProperty(setup: fc.Arbitrary<GSetup>, req: fc.Arbitrary<GRequest>, maxRequests: number, numRuns: number, seed: number) {
  fc.assert(fc.property(setup, fc.array(gmapping, { minLength: 1, maxLength: 8 }), fc.array(fc.record({ page: fc.nat(), entry: fc.integer({ min: 0, max: 511 }), bitNo: gbit }), { maxLength: 3 }),
    fc.array(req, { minLength: 1, maxLength: maxRequests }),
    (s, maps, corrupt, reqs) => {
      const fast = buildGuest(s, maps, corrupt);
      const slow = buildGuest(s, maps, corrupt);
      const log: MemoryAccess[] = [];
      slow.tb.iommu.traceMemoryAccesses(log);
      let gva = GVA;
      for (const q of reqs) {
        // a mapped page, beyond the width (non-canonical / above 2^48 or 2^57), or a page of the high half
        if (!q.repeat) {
          gva = fast.gvas[q.which % fast.gvas.length]! + (q.offset % 4096);
          if (q.far === 1) gva += 2 ** 50;
        }
        // (far 1: bit 50 set, beyond a 4-level table's width; far 2: bit 52, beyond both)
        const address = q.far === 2 ? gva + 2 ** 52 : gva;
        const deviceId = 1 + q.device;
        const pasid = s.kind === "giov" ? undefined : q.pasid;
        // (an ATS request fills the IOTLB without enforcing permissions: entries the untranslated requests must refuse)
        const go = (io: typeof fast.tb.iommu, r: Parameters<typeof io.translate>[0]) => (q.ats ? io.translateAts(r) : io.translate(r));
        const a = go(fast.tb.iommu, { deviceId, address, pasid, write: q.write, privileged: q.privileged, execute: q.execute });
        const b = go(slow.tb.iommu, { deviceId, address: BigInt(address), pasid, write: q.write, privileged: q.privileged, execute: q.execute });
        expect({ ...a }, `gva 0x${gva.toString(16)} ${JSON.stringify(q)}`).toEqual({ ...b });
      }
      expect(fast.tb.iommu.stats()).toEqual(slow.tb.iommu.stats());
      expect(fast.tb.iommu.snapshot()).toEqual(slow.tb.iommu.snapshot());
      const differs = Buffer.compare(new Uint8Array(fast.tb.memory.buffer), new Uint8Array(slow.tb.memory.buffer));
      expect(differs, "memory contents differ").toBe(0);
    }), { seed, numRuns });
}

describe("fast path = general path (guest tables: PASID, GIoV, nested, 4 and 5 levels)", () => {
  it("same results, memory, statistics and events for random guest tables, corruption, flags and cache geometries", { timeout: 180_000 }, () => {
    guestProperty(gsetup, grequest, 20, 400, 0x6e57);
  });
  // the walks of a device that keeps its PASID: the GCR3 cache's front slot holds it, and the
  // walks of a mapping's other pages find the tables' translations cached (the one-pass
  // walks, GuestWalker.walkDirect and walkNested, take most of them)
  it("same with warm caches: one device and PASID, runs of pages sharing their tables", { timeout: 180_000 }, () => {
    const warm = gsetup.chain((s) => fc.record({ kind: fc.constantFrom("guest", "nested", "nested", "giov"), gcr3: fc.constantFrom(4, 16), iotlb: fc.constantFrom(0, 16, 64), pde: fc.constantFrom(0, 64) })
      .map((g) => ({ ...s, ...g })));
    const steady = fc.record({ which: fc.nat(), offset: fc.integer({ min: 0, max: 4095 }), write: fc.boolean(), privileged: fc.constantFrom(undefined, false, true),
      execute: fc.constantFrom(undefined, undefined, false, true), far: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 1), pasid: fc.constantFrom(1, 1, 1, 1, 1, 1, 1, 2), repeat: fc.constantFrom(false, false, false, true),
      device: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 1), ats: fc.constantFrom(false, false, false, false, false, false, false, true) });
    guestProperty(warm, steady, 80, 300, 0x3a11);
  });
});

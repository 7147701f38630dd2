/**
 * Bounded work: whatever the tables, commands and options hold, replay, the command processor
 * and the caches do an amount of work bounded by the data actually there (or by a stated
 * limit), never by the size of the address space, the list of outstanding requests or the
 * capacity of an empty cache. Each test is named after the promise it checks; without the
 * mechanism it names, each one runs for hours, grows without end, or fails its count.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench, V1PageTable } from "../../src/builders/index.js";
import { AmdIommu, PhysicalMemory, spec, type Mapping } from "../../src/index.js";
import { ATS_ITAGS } from "../../src/iommu/command-processor.js";
import { OPTION_LIMITS } from "../../src/iommu/options.js";

const { V1_PR, V1_IR_HI, V1_IW_HI, MMIO_CONTROL, CONTROL, buildInvalidateIotlbPages, buildCompletionWait } = spec;

/** A device 0x10 whose v1 root (Mode `mode`) holds one leaf entry at index 0 with the given permissions. */
function oneLeaf(mode: number, perms: { read: boolean; write: boolean }) {
  const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 });
  const root = tb.pages.alloc();
  tb.memory.write32(root + 4, (perms.read ? V1_IR_HI : 0) | (perms.write ? V1_IW_HI : 0));
  tb.memory.write32(root, V1_PR); // NextLevel 0: a leaf at the root's level
  tb.deviceTable.set(0x10, { V: true, TV: true, Mode: mode, HostPageTableRootPtr: root, IR: true, IW: true, DomainID: 1 });
  tb.sync();
  return { tb, root };
}

describe("replay: bounded work", { timeout: 120_000 }, () => {
  it("a v1 leaf covering 2^57 bytes is one candidate, decided by one peek (translate faults at once, so does replay)", () => {
    const { tb } = oneLeaf(6, { read: true, write: true });
    const fault = tb.iommu.translate({ deviceId: 0x10, address: 0x1234_5000 });
    const it = tb.iommu.replay(0x10, { tableReads: 2000 });
    const got = [...it];
    expect(it.truncated).toBe(false); // finished well within 2,000 reads
    expect(got.length).toBe(fault.ok ? 1 : 0);
  });

  it("a 512 GiB and a 1 GiB leaf without permissions are skipped whole, not page by page", () => {
    for (const mode of [4, 3]) {
      const { tb } = oneLeaf(mode, { read: false, write: false });
      const it = tb.iommu.replay(0x10, { tableReads: 2000 });
      expect([...it]).toEqual([]);
      expect(it.truncated).toBe(false);
    }
  });

  it("a large leaf with permissions is one mapping of its size", () => {
    const { tb } = oneLeaf(3, { read: true, write: false });
    const got = [...tb.iommu.replay(0x10, { tableReads: 2000 })];
    expect(got.map((m) => [m.address, m.pageSize, m.readable, m.writable])).toEqual([[0n, 2 ** 30, true, false]]);
  });

  it("tables of 512^6 leaves stop at the table-read bound and say so; a refusing upper entry skips its subtree; limit stops after that many mappings", () => {
    const { tb, root } = oneLeaf(6, { read: false, write: false });
    // levels 6..2: every entry points at the next level's table (IR, IW set); level 1: 512 leaves without permissions (512^6 candidates)
    let table = root;
    for (let level = 6; level >= 2; level--) {
      const next = tb.pages.alloc();
      for (let i = 0; i < 512; i++) { tb.memory.write32(table + 8 * i + 4, V1_IR_HI | V1_IW_HI); tb.memory.write32(table + 8 * i, (next | ((level - 1) << 9) | V1_PR) >>> 0); }
      table = next;
    }
    for (let i = 0; i < 512; i++) tb.memory.write32(table + 8 * i, V1_PR);
    const it = tb.iommu.replay(0x10, { tableReads: 50_000 });
    expect([...it]).toEqual([]);
    expect(it.truncated).toBe(true);
    // the same tables with IR = IW = 0 at the root: the whole space is refused there, replay skips it at once
    for (let i = 0; i < 512; i++) tb.memory.write32(root + 8 * i + 4, 0);
    const pruned = tb.iommu.replay(0x10, { tableReads: 2000 });
    expect([...pruned]).toEqual([]);
    expect(pruned.truncated).toBe(false);
    // readable leaves: limit stops after that many mappings
    for (let i = 0; i < 512; i++) tb.memory.write32(root + 8 * i + 4, V1_IR_HI | V1_IW_HI);
    for (let i = 0; i < 512; i++) tb.memory.write32(table + 8 * i + 4, V1_IR_HI);
    const many = tb.iommu.replay(0x10, { limit: 3 });
    expect([...many]).toHaveLength(3);
    expect(many.truncated).toBe(true);
  }, 120_000);

  it("limit: replay stops after `limit` mappings and reports truncated", () => {
    const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 });
    const root = tb.pages.alloc();
    for (let i = 0; i < 512; i++) { // 512 readable 1 GiB leaves
      tb.memory.write32(root + 8 * i + 4, V1_IR_HI);
      tb.memory.write32(root + 8 * i, ((i << 30) >>> 0) | V1_PR);
    }
    tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: root, IR: true, IW: true, DomainID: 1 });
    tb.sync();
    const it = tb.iommu.replay(0x10, { limit: 5 });
    const got: Mapping[] = [...it];
    expect(got).toHaveLength(5);
    expect(it.truncated).toBe(true);
    const all = tb.iommu.replay(0x10);
    expect([...all]).toHaveLength(512);
    expect(all.truncated).toBe(false);
  });

  it("bad replay options are errors naming the argument", () => {
    const { tb } = oneLeaf(3, { read: true, write: true });
    expect(() => tb.iommu.replay(0x10, { limit: -1 })).toThrow(/options\.limit/);
    expect(() => tb.iommu.replay(0x10, { tableReads: 1.5 })).toThrow(/options\.tableReads/);
    expect(() => tb.iommu.replay(0x10, { pasd: 1 } as never)).toThrow(/options\.pasd is not an option/);
  });
});

describe("outstanding device invalidations: bounded as the ITag space bounds them", { timeout: 60_000 }, () => {
  it(`with InvTimeOut = 0 and a device that never answers, at most ${ATS_ITAGS} invalidations are outstanding; the next one waits`, () => {
    const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 });
    // Control.InvTimeOut = 0: no timeout; no endpoint is attached for device 0x20
    const field = BigInt(CONTROL.InvTimeOut.mask >>> 0) << BigInt(32 * CONTROL.InvTimeOut.half);
    tb.iommu.mmioWrite64(MMIO_CONTROL, tb.iommu.mmioRead64(MMIO_CONTROL) & ~field);
    const cmds = Array.from({ length: 100 }, (_, i) => buildInvalidateIotlbPages({ deviceId: 0x20, address: 0x1000 * i }));
    tb.submit(...cmds);
    tb.iommu.runUntilIdle();
    expect(tb.iommu.commands.pendingAts).toBe(ATS_ITAGS);
    expect(tb.iommu.stats().commands.atsInvalidationsSent).toBe(ATS_ITAGS);
    // a later timed translation is not slowed by a growing list
    expect(tb.iommu.commands.pendingAts).toBe(ATS_ITAGS);
  });

  it("an ITag comes free when its invalidation completes: the waiting command then runs", () => {
    const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 });
    let answered = 0;
    tb.iommu.attachEndpoint(0x20, { atsInvalidate: () => { answered++; return 1000; }, prgResponse: () => {} });
    tb.submit(...Array.from({ length: 100 }, (_, i) => buildInvalidateIotlbPages({ deviceId: 0x20, address: 0x1000 * i })), buildCompletionWait({ store: true, address: tb.semaphore, data: 1n }));
    tb.iommu.runUntilIdle();
    expect(answered).toBe(100);
    expect(tb.iommu.commands.pendingAts).toBe(0);
    expect(tb.memory.read64(tb.semaphore)).toBe(1n);
  });
});

describe("options: every numeric option has an upper limit", () => {
  const memory = new PhysicalMemory({ bytes: 1 << 20 });
  it.each([
    ["iotlb entries", { iotlb: { entries: OPTION_LIMITS.cacheEntries * 2 } }, /iotlb\.entries/],
    ["walkers", { timing: { walkers: OPTION_LIMITS.walkers + 1 } }, /timing\.walkers/],
    ["a latency", { timing: { memoryReference: OPTION_LIMITS.latencyCycles * 10 } }, /timing\.memoryReference/],
    ["the clock", { timing: { clockHz: 1e15 } }, /timing\.clockHz/],
    ["the seed", { seed: 2 ** 40 }, /options\.seed/],
    ["the segment", { segment: 70000 }, /options\.segment/],
  ])("%s above its limit is refused", (_n, o, re) => {
    expect(() => new AmdIommu({ memory, ...(o as object) })).toThrow(re);
  });
});

describe("invalidation cost follows the entries held, not the cache's capacity", { timeout: 60_000 }, () => {
  /** Replace a tag array by a proxy that counts element reads (the walk an invalidation makes). */
  function countReads(t: { valid: Uint8Array }): { reads: number } {
    const c = { reads: 0 };
    const real = t.valid;
    (t as { valid: Uint8Array }).valid = new Proxy(real, {
      get(target, key) {
        if (typeof key === "string" && /^\d+$/.test(key)) c.reads++;
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return c;
  }

  it("INVALIDATE_IOMMU_PAGES, INVALIDATE_DEVTAB_ENTRY and INVALIDATE_IOMMU_ALL on 2^16-entry caches holding 3 entries read 3 tags, not 65,536", () => {
    const big = { entries: 1 << 16, ways: 8 };
    const tb = new IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 256, iommu: { iotlb: big, pdeCache: big, gcr3Cache: big, dteCache: big } });
    const t = new V1PageTable(tb.memory, tb.pages, 3);
    for (let p = 0; p < 3; p++) t.map(0x10_0000 + p * 4096, 0x40_0000 + p * 4096);
    tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 7 });
    tb.sync();
    for (let p = 0; p < 3; p++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 + p * 4096 });
    expect(tb.iommu.iotlb.tags.occupancy).toBe(3);
    const caches = [tb.iommu.iotlb.tags, tb.iommu.pdeCache.tags, tb.iommu.gcr3Cache.tags, tb.iommu.deviceTable.cache];
    const held = caches.reduce((n, c) => n + c.occupancy, 0);
    const counters = caches.map((c) => countReads(c as unknown as { valid: Uint8Array }));
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 7, address: 0x10_1fff, s: true }), spec.buildInvalidateDevtabEntry(0x10), spec.buildInvalidateIommuAll());
    const reads = counters.reduce((n, c) => n + c.reads, 0);
    expect(tb.iommu.iotlb.tags.occupancy).toBe(0);
    expect(reads).toBeLessThanOrEqual(4 * held + 8); // each held entry's valid bit read a few times at most; the capacity is 4 x 65,536
  });

  it("the live list is exactly the valid slots after random fills and invalidations", () => {
    const tb = new IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 256, iommu: { iotlb: { entries: 64, ways: 4 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 3);
    for (let p = 0; p < 256; p++) t.map(0x10_0000 + p * 4096, 0x40_0000 + p * 4096);
    tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 7 });
    tb.sync();
    let x = 12345;
    const tags = tb.iommu.iotlb.tags;
    for (let step = 0; step < 2000; step++) {
      x = (x * 1103515245 + 12345) >>> 0;
      if (x % 7 === 0) tb.iommu.iotlb.invalidate(7, false, 0, 0x100 + (x >>> 8) % 256, 1 + (x >>> 20) % 8);
      else tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 + ((x >>> 8) % 256) * 4096 });
      const live = Array.from(tags.live.subarray(0, tags.occupancy)).sort((a, b) => a - b);
      const valid = Array.from(tags.valid).flatMap((v, i) => (v === 1 ? [i] : []));
      expect(live).toEqual(valid);
    }
  });
});

/**
 * The memory hierarchy walk reads go through (src/iommu/timing/table-line-cache.ts;
 * docs/calibration.md "Walk reads"): a set-associative LRU cache of 64-byte table lines;
 * a read whose line is cached costs memoryReferenceLlc, any other memoryReference.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { AmdIommu, TranslationResult } from "../../src/index.js";
import { TableLineCache } from "../../src/iommu/timing/table-line-cache.js";
import { resolveTimingProfile } from "../../src/iommu/timing-profile.js";
import { DEV, IOVA, timingRig } from "./rig.js";

const p = resolveTimingProfile(undefined);
/** No IOTLB and no page-directory cache: every request walks all four levels. */
const bare = { iotlb: { entries: 0 }, pdeCache: { entries: 0 } };

describe("table-line cache: a walk read costs DRAM the first time its line is read, the LLC's latency after", () => {
  it("is on in the calibrated profile (amd-default) and off in gem5-smmuv3", () => {
    expect(p.tableCacheLines).toBeGreaterThan(0);
    expect(resolveTimingProfile("gem5-smmuv3").tableCacheLines).toBe(0);
  });

  it("a second walk of the same page reads four cached lines: four times (DRAM - LLC) cheaper", () => {
    const { tb } = timingRig(4, bare);
    const a = tb.iommu.translate({ deviceId: DEV, address: IOVA });
    const b = tb.iommu.translate({ deviceId: DEV, address: IOVA });
    expect(a.walkReferences).toBe(4);
    expect([a.tableLineHits, b.tableLineHits]).toEqual([0, 4]);
    expect([a.dteCacheHit, b.dteCacheHit]).toEqual([false, true]); // the first fetched the DTE too
    expect(a.cycles - b.cycles).toBe(4 * (p.memoryReference - p.memoryReferenceLlc) + p.memoryReference - p.dteCacheHit);
  });

  it("the next page's PTE shares its 64-byte line (eight entries a line): the walk of page 1 hits all four lines, page 8 misses its PTE line", () => {
    const { tb } = timingRig(16, bare);
    tb.iommu.translate({ deviceId: DEV, address: IOVA });
    expect(tb.iommu.translate({ deviceId: DEV, address: IOVA + 4096 }).tableLineHits).toBe(4);
    expect(tb.iommu.translate({ deviceId: DEV, address: IOVA + 8 * 4096 }).tableLineHits).toBe(3);
  });

  it("tableCacheLines 0 turns it off: every walk read costs memoryReference, as before issue 18", () => {
    const { tb } = timingRig(4, { ...bare, timing: { tableCacheLines: 0 } });
    const a = tb.iommu.translate({ deviceId: DEV, address: IOVA });
    const b = tb.iommu.translate({ deviceId: DEV, address: IOVA });
    expect(b.tableLineHits).toBe(0);
    expect(a.cycles - b.cycles).toBe(p.memoryReference - p.dteCacheHit); // only the DTE fetch differs
    expect(b.cycles).toBe(p.dteCacheHit + p.iotlbHit + p.walkOverhead + 4 * p.memoryReference);
  });

  it("the general walk (access log on) and the fast walk price the same reads alike", () => {
    const fast = timingRig(64, bare).tb.iommu, slow = timingRig(64, bare).tb.iommu;
    slow.traceMemoryAccesses([]);
    for (const page of [0, 1, 9, 0, 63, 9, 40]) {
      const a = fast.translate({ deviceId: DEV, address: IOVA + page * 4096 });
      const b = slow.translate({ deviceId: DEV, address: BigInt(IOVA + page * 4096) });
      expect([a.tableLineHits, a.cycles]).toEqual([b.tableLineHits, b.cycles]);
    }
  });

  it("peek looks the lines up without bringing them in", () => {
    const { tb } = timingRig(4, bare);
    const seen = tb.iommu.peek({ deviceId: DEV, address: IOVA });
    expect(seen.tableLineHits).toBe(0);
    expect(tb.iommu.translate({ deviceId: DEV, address: IOVA }).tableLineHits).toBe(0);
    expect(tb.iommu.peek({ deviceId: DEV, address: IOVA }).tableLineHits).toBe(4);
  });

  it("the timed breakdown prices cached reads at the LLC's latency (walkMemory)", () => {
    const { tb } = timingRig(4, bare);
    const out = new TranslationResult();
    tb.iommu.translateTimed({ deviceId: DEV, address: IOVA }, 0, out);
    tb.iommu.translateTimed({ deviceId: DEV, address: IOVA }, 10_000, out);
    expect(tb.iommu.stats().timing.breakdown.walkMemory).toBe(4 * p.memoryReference + 4 * p.memoryReferenceLlc);
  });

  it("a snapshot carries the cached lines: the restored twin prices the next walk alike", () => {
    const { tb } = timingRig(8, bare);
    tb.iommu.translate({ deviceId: DEV, address: IOVA });
    const s = JSON.parse(JSON.stringify(tb.iommu.snapshot()));
    const twin = AmdIommu.restore(s, { memory: tb.memory });
    const a = tb.iommu.translate({ deviceId: DEV, address: IOVA + 4096 });
    const b = twin.translate({ deviceId: DEV, address: IOVA + 4096 });
    expect(b.tableLineHits).toBe(4);
    expect(b.cycles).toBe(a.cycles);
  });
});

describe("TableLineCache", () => {
  it("evicts the least recently used line of a full set", () => {
    const c = new TableLineCache(4, 2); // 2 sets x 2 ways; lines 0, 2, 4 share set 0
    expect([c.touch(0), c.touch(2 * 64), c.touch(0), c.touch(4 * 64)]).toEqual([0, 0, 1, 0]); // line 2 was the LRU
    expect([c.holds(0), c.holds(2 * 64), c.holds(4 * 64)]).toEqual([1, 0, 1]);
    expect([c.hits, c.misses]).toEqual([1, 3]);
  });

  it("a 4-way set (the unrolled geometry) is true LRU: a hit in any way moves its line to the front, a miss evicts way 3", () => {
    // against a reference LRU list per set, over reads that hit every way and miss
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 200 }), (picks) => {
      const c = new TableLineCache(8, 4); // 2 sets x 4 ways
      const sets: number[][] = [[], []];
      let hits = 0, misses = 0;
      for (const k of picks) {
        const line = k * 2 + (k & 1); // 12 lines over both sets, six to a set: hits in ways 0-3 and evictions
        const set = sets[line & 1]!;
        const at = set.indexOf(line);
        const want = at >= 0 ? 1 : 0;
        if (at >= 0) set.splice(at, 1); else if (set.length === 4) set.pop();
        set.unshift(line);
        if (want === 1) hits++; else misses++;
        expect(c.touch(line * 64)).toBe(want);
      }
      for (let line = 0; line < 24; line++) expect(c.holds(line * 64)).toBe(sets[line & 1]!.includes(line) ? 1 : 0);
      expect([c.hits, c.misses]).toEqual([hits, misses]);
      // the order within each set: the snapshot lists ways front to back
      expect(c.snapshot().lines.map(([, v]) => v)).toEqual([...sets[0]!, ...sets[1]!]);
    }), { seed: 18, numRuns: 300 });
  });

  it("refuses a bad geometry and a malformed snapshot, naming the field", () => {
    expect(() => new TableLineCache(12, 4)).toThrow(/power of two/);
    expect(() => new TableLineCache(8, 3)).toThrow(/tableCacheWays/);
    expect(() => resolveTimingProfile({ tableCacheLines: 1.5 })).toThrow(/tableCacheLines/);
    const c = new TableLineCache(8, 2);
    expect(() => c.restore({ lines: [[9, 1]], hits: 0, misses: 0 })).toThrow(/tableLines\.lines\[0\]/);
    expect(() => c.restore({ lines: [], hits: -1, misses: 0 })).toThrow(/tableLines\.hits/);
  });
});

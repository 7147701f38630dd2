import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { FrameAllocator } from "../../src/host/frame-allocator.js";
import { PAGE_1G, PAGE_2M, PAGE_4K, X86PageTable } from "../../src/host/x86-page-table.js";
import { LM_A, LM_ADDR_LO, LM_D, LM_NX_HI, LM_P, LM_PS, LM_RW, LM_US } from "../../src/spec/page-tables.js";

/** A memory that logs every 32-bit store and compare-exchange, and can play a concurrent agent. */
class LoggingMemory extends PhysicalMemory {
  log: string[] = [];
  /** Runs once before the next cas32, like another agent writing between read and CAS. */
  beforeCas: ((m: PhysicalMemory) => void) | null = null;
  override store32(pa: number, value: number): void {
    this.log.push(`store ${pa.toString(16)}=${(value >>> 0).toString(16)}`);
    super.store32(pa, value);
  }
  override cas32(pa: number, expected: number, replacement: number): number {
    const hook = this.beforeCas;
    if (hook) {
      this.beforeCas = null;
      hook(this);
    }
    const found = super.cas32(pa, expected, replacement);
    this.log.push(`cas ${pa.toString(16)} ${found === expected >>> 0 ? "ok" : "fail"}`);
    return found;
  }
}

function make(levels: 4 | 5 = 4, bytes = 8 * 1024 * 1024) {
  const memory = new LoggingMemory({ bytes });
  const frames = new FrameAllocator({ memory, base: 0x100000 });
  const pt = new X86PageTable({ memory, frames, owner: "mm1", levels });
  return { memory, frames, pt };
}

const low = (w: bigint) => Number(w & 0xffffffffn);
const high = (w: bigint) => Number(w >> 32n);

for (const levels of [4, 5] as const) {
  describe(`X86PageTable, ${levels}-level`, () => {
    it("maps a 4 KiB page through freshly allocated tables whose entries are P|RW|US with A clear", () => {
      const { memory, frames, pt } = make(levels);
      const va = levels === 4 ? 0x7f12_3456_7000 : 0x1f_ff12_3456_7000;
      pt.map(va, 0x40_0000, { writable: true });
      const leaf = pt.readPte(va)!;
      expect(leaf).toMatchObject({ va, pa: 0x40_0000, size: PAGE_4K, level: 1, writable: true, user: true, accessed: false, dirty: false, nx: false });
      const w = memory.read64(leaf.entryPa);
      expect(low(w)).toBe(0x40_0000 | LM_P | LM_RW | LM_US);
      // Walk by hand from the root: every non-leaf entry is P|RW|US, A = 0.
      let table = pt.root;
      for (let level = levels; level > 1; level--) {
        const shift = 12 + 9 * (level - 1);
        const e = memory.read64(table + (Math.floor(va / 2 ** shift) % 512) * 8);
        expect(low(e) & 0xfff).toBe(LM_P | LM_RW | LM_US);
        table = low(e) & LM_ADDR_LO;
        expect(frames.ownerOf(table)).toBe("mm1:pagetable");
      }
      expect(frames.stats.allocated).toBe(levels); // root + (levels - 1) tables
      expect(pt.readPte(va + PAGE_4K)).toBeNull();
    });
  });
}

describe("X86PageTable leaves and bits", () => {
  it("maps 2 MiB and 1 GiB leaves with PS set and NX in the high word", () => {
    const { memory, pt } = make(4, 2 * PAGE_1G);
    pt.map(0x4000_0000, PAGE_1G, { size: PAGE_1G, writable: false, nx: true });
    pt.map(0x20_0000, 0x60_0000, { size: PAGE_2M, writable: true });
    const g = pt.readPte(0x4000_1234)!;
    expect(g).toMatchObject({ va: 0x4000_0000, pa: PAGE_1G, size: PAGE_1G, level: 3, nx: true, writable: false });
    expect(low(memory.read64(g.entryPa)) & LM_PS).toBe(LM_PS);
    expect(high(memory.read64(g.entryPa)) >>> 0).toBe(LM_NX_HI);
    const m = pt.readPte(0x3f_ffff)!;
    expect(m).toMatchObject({ va: 0x20_0000, pa: 0x60_0000, size: PAGE_2M, level: 2 });
    expect(() => pt.map(0x20_1000, 0x1000)).toThrow(/larger page/);
    expect(() => pt.map(0x20_0000, 0x60_0000, { size: PAGE_2M })).toThrow(/already mapped/);
    expect(() => pt.map(0x1000, 0x1800)).toThrow(/pa must be/);
    expect(() => pt.map(2 ** 47, 0x1000)).toThrow(/va must be/);
  });

  it("unmap swaps the low word to 0 with a compare-exchange and reports the final A and D", () => {
    const { memory, pt } = make();
    const leaf = pt.map(0x1000, 0x20_0000, { writable: true });
    // Another agent (the IOMMU) sets A and D between our read and our compare-exchange.
    memory.beforeCas = (m) => m.store32(leaf.entryPa, (m.load32(leaf.entryPa) | LM_A | LM_D) >>> 0);
    memory.log = [];
    const old = pt.unmap(0x1000)!;
    expect(old).toMatchObject({ pa: 0x20_0000, accessed: true, dirty: true, writable: true });
    expect(memory.log.filter((l) => l.startsWith("cas"))).toEqual([`cas ${leaf.entryPa.toString(16)} fail`, `cas ${leaf.entryPa.toString(16)} ok`]);
    expect(memory.read64(leaf.entryPa)).toBe(0n);
    expect(pt.unmap(0x1000)).toBeNull();
  });

  it("write-protect keeps a D bit set concurrently by another agent", () => {
    const { memory, pt } = make();
    const leaf = pt.map(0x1000, 0x20_0000, { writable: true });
    memory.beforeCas = (m) => m.store32(leaf.entryPa, (m.load32(leaf.entryPa) | LM_D) >>> 0);
    pt.protect(0x1000, false);
    const w = low(memory.read64(leaf.entryPa));
    expect(w & LM_RW).toBe(0);
    expect(w & LM_D).toBe(LM_D);
  });

  it("changing NX of a present entry clears the low word, writes the high word, then the new low word", () => {
    const { memory, pt } = make();
    const leaf = pt.map(0x1000, 0x20_0000, { writable: true, accessed: true });
    memory.log = [];
    pt.protect(0x1000, false, true);
    const e = leaf.entryPa.toString(16);
    const h = (leaf.entryPa + 4).toString(16);
    expect(memory.log).toEqual([`cas ${e} ok`, `store ${h}=${LM_NX_HI.toString(16)}`, `store ${e}=${(0x20_0000 | LM_P | LM_US | LM_A).toString(16)}`]);
    expect(pt.readPte(0x1000)).toMatchObject({ nx: true, writable: false, accessed: true });
  });

  it("clearYoung and testAndClearDirty clear one bit atomically and say whether it was set", () => {
    const { memory, pt } = make();
    const leaf = pt.map(0x1000, 0x20_0000, { writable: true });
    expect(pt.clearYoung(0x1000)).toBe(false);
    memory.store32(leaf.entryPa, (memory.load32(leaf.entryPa) | LM_A | LM_D) >>> 0);
    expect(pt.clearYoung(0x1000)).toBe(true);
    expect(pt.clearYoung(0x1000)).toBe(false);
    expect(pt.readPte(0x1000)).toMatchObject({ accessed: false, dirty: true });
    expect(pt.testAndClearDirty(0x1000)).toBe(true);
    expect(pt.readPte(0x1000)).toMatchObject({ accessed: false, dirty: false, writable: true });
    expect(pt.clearYoung(0x5000)).toBe(false);
  });

  it("touch sets A along the walk and D in the leaf for a write, as the CPU walker does", () => {
    const { memory, pt } = make();
    const leaf = pt.map(0x1000, 0x20_0000, { writable: true });
    pt.touch(0x1000, true);
    expect(low(memory.read64(leaf.entryPa)) & (LM_A | LM_D)).toBe(LM_A | LM_D);
    expect(low(memory.read64(pt.root)) & LM_A).toBe(LM_A);
  });

  it("freePageTables detaches only empty tables wholly inside the range, bottom-up, never the root", () => {
    const { memory, frames, pt } = make();
    pt.map(0x1000, 0x20_0000);
    pt.map(0x40_0000, 0x21_0000); // a second PT under the same PD
    const tablesBefore = frames.framesOwnedBy("mm1:pagetable").length;
    expect(tablesBefore).toBe(5);
    pt.unmap(0x1000);
    // The PT of [0, 2 MiB) is empty but the range does not cover it all: nothing freed.
    expect(pt.freePageTables(0, 0x10_0000)).toEqual([]);
    const freed = pt.freePageTables(0, 0x20_0000);
    expect(freed.map((t) => [t.level, t.start, t.end])).toEqual([[1, 0, 0x20_0000]]);
    expect(frames.isFree(freed[0]!.pa)).toBe(true);
    pt.unmap(0x40_0000);
    const all = pt.freePageTables(0, 2 ** 47, () => undefined);
    expect(all.map((t) => t.level)).toEqual([1, 2, 3]);
    expect(memory.read64(pt.root)).toBe(0n);
    pt.freeRoot();
    expect(frames.isFree(pt.root)).toBe(true);
  });

  it("leaves lists every present leaf overlapping a range in address order", () => {
    const { pt } = make();
    pt.map(0x3000, 0x20_0000);
    pt.map(0x1000, 0x21_0000);
    pt.map(0x80_0000_0000, 0x22_0000);
    expect(pt.leaves(0, 0x4000).map((l) => l.va)).toEqual([0x1000, 0x3000]);
    expect(pt.leaves(0x2000, 2 ** 47).map((l) => l.va)).toEqual([0x3000, 0x80_0000_0000]);
  });
});

/**
 * x86-64 long-mode page tables (4-level PML4 and 5-level PML5) living in the shared
 * PhysicalMemory: the CPU's own tables that the IOMMU walks as guest (v2) tables through
 * GCR3. Models Linux's pgd/p4d/pud/pmd/pte helpers on x86 (set_pte, ptep_get_and_clear,
 * ptep_set_wrprotect, ptep_test_and_clear_young, pte_free through free_pgtables).
 *
 * Every PTE access is a 32-bit access, following docs/ARCHITECTURE.md section 5:
 * - A/D and R/W changes on a present entry are compare-exchange loops on the low word, so
 *   an A or D bit set by the IOMMU at the same moment is never lost;
 * - clearing an entry swaps the low word to 0 atomically (capturing the final A/D), then
 *   clears the high word;
 * - a change of the high word (NX, address) of a present entry clears the low word (not
 *   present), writes the high word, then writes the new low word;
 * - a new entry is published by writing the high word, then the low word.
 *
 * Entry bits come from src/spec/page-tables.ts (LM_*); no layout is redefined here.
 *
 * Accessed and dirty: Linux on x86 creates leaves with A already set (vm_page_prot has
 * _PAGE_ACCESSED) and D set on a write fault, and non-leaf entries with A set
 * (_PAGE_TABLE). This model deliberately creates every entry, leaf and non-leaf, with
 * A = 0 and D = 0, so that the A/D bits the IOMMU sets during a walk are visible and
 * testable, and access-bit aging sees only real accesses.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { LM_A, LM_ADDR_HI, LM_ADDR_LO, LM_D, LM_LEVEL_SHIFT, LM_NX_HI, LM_P, LM_PS, LM_RW, LM_US } from "../spec/page-tables.js";
import type { FrameAllocator } from "./frame-allocator.js";

export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;
export const PAGE_1G = 0x40000000;
export type PageSize = typeof PAGE_4K | typeof PAGE_2M | typeof PAGE_1G;

const TWO_32 = 4294967296;
const ENTRIES = 512;
/** Non-leaf entries: P | RW | US, A left clear for the IOMMU to set (see the file header). */
const TABLE_FLAGS = (LM_P | LM_RW | LM_US) >>> 0;
const SIZE_LEVEL: Record<number, number> = { [PAGE_4K]: 1, [PAGE_2M]: 2, [PAGE_1G]: 3 };

export interface MapOptions {
  size?: PageSize;
  writable?: boolean;
  user?: boolean;
  nx?: boolean;
  /** Create the leaf with A set (default false). */
  accessed?: boolean;
  /** Create the leaf with D set (default false). */
  dirty?: boolean;
}

/** A present leaf entry as found by a walk. */
export interface PteInfo {
  /** Base virtual address of the page. */
  va: number;
  /** Base physical address of the page frame. */
  pa: number;
  size: PageSize;
  /** 1 = PT, 2 = PD (2 MiB), 3 = PDPT (1 GiB). */
  level: number;
  /** Physical address of the 64-bit entry (read it with memory.read64). */
  entryPa: number;
  lo: number;
  hi: number;
  writable: boolean;
  user: boolean;
  nx: boolean;
  accessed: boolean;
  dirty: boolean;
}

/** A page-table page detached by freePageTables. */
export interface FreedTable {
  pa: number;
  /** Level of the freed table (1 = PT ... 4 = PML4 under a PML5). */
  level: number;
  /** Virtual range the table covered. */
  start: number;
  end: number;
}

export interface X86PageTableOptions {
  memory: PhysicalMemory;
  frames: FrameAllocator;
  /** Tag prefix: table frames are allocated with owner `${owner}:pagetable`. */
  owner: string;
  levels?: 4 | 5;
}

function span(level: number): number {
  return 2 ** LM_LEVEL_SHIFT[level]!;
}

function indexOf(va: number, level: number): number {
  return Math.floor(va / span(level)) % ENTRIES;
}

function addrOf(lo: number, hi: number): number {
  return ((lo & LM_ADDR_LO) >>> 0) + (hi & LM_ADDR_HI) * TWO_32;
}

export class X86PageTable {
  readonly memory: PhysicalMemory;
  readonly frames: FrameAllocator;
  readonly levels: 4 | 5;
  /** Root table physical address (CR3 without flags). */
  readonly root: number;
  readonly tableOwner: string;
  /** First virtual address above user space: 2^47 (4-level) or 2^56 (5-level). */
  readonly vaLimit: number;

  constructor(options: X86PageTableOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("X86PageTable: options must be an object");
    const levels = options.levels ?? 4;
    if (levels !== 4 && levels !== 5) throw new RangeError(`X86PageTable: options.levels must be 4 or 5, got ${String(levels)}`);
    if (typeof options.owner !== "string" || options.owner.length === 0) throw new TypeError("X86PageTable: options.owner must be a non-empty string");
    this.memory = options.memory;
    this.frames = options.frames;
    this.levels = levels;
    this.tableOwner = `${options.owner}:pagetable`;
    this.vaLimit = levels === 4 ? 2 ** 47 : 2 ** 56;
    this.root = this.frames.alloc(this.tableOwner);
  }

  /** Map `va` to `pa` with a leaf of `size` (default 4 KiB). Throws if anything is mapped there. */
  map(va: number, pa: number, options: MapOptions = {}): PteInfo {
    const size = options.size ?? PAGE_4K;
    const leafLevel = SIZE_LEVEL[size];
    if (leafLevel === undefined) throw new RangeError(`map: options.size must be 4096, 2 MiB or 1 GiB, got ${String(size)}`);
    this.checkVa("map", va, size);
    if (typeof pa !== "number" || !Number.isInteger(pa) || pa < 0 || pa % size !== 0) {
      throw new RangeError(`map: pa must be a ${size}-aligned physical address, got ${String(pa)}`);
    }
    if (!this.memory.contains(pa, size)) throw new RangeError(`map: pa 0x${pa.toString(16)} (+${size}) is outside memory`);
    let table = this.root;
    for (let level: number = this.levels; level > leafLevel; level--) {
      const e = table + indexOf(va, level) * 8;
      const lo = this.memory.load32(e);
      if ((lo & LM_P) === 0) {
        const next = this.frames.alloc(this.tableOwner);
        this.publish(e, (next % TWO_32) | TABLE_FLAGS, Math.floor(next / TWO_32));
        table = next;
      } else {
        if (level <= 3 && (lo & LM_PS) !== 0) throw new Error(`map: va 0x${va.toString(16)} is already covered by a larger page`);
        table = addrOf(lo, this.memory.load32(e + 4));
      }
    }
    const e = table + indexOf(va, leafLevel) * 8;
    if ((this.memory.load32(e) & LM_P) !== 0) throw new Error(`map: va 0x${va.toString(16)} is already mapped`);
    let lo = ((pa % TWO_32) & LM_ADDR_LO) | LM_P;
    if (options.writable) lo |= LM_RW;
    if (options.user ?? true) lo |= LM_US;
    if (options.accessed) lo |= LM_A;
    if (options.dirty) lo |= LM_D;
    if (leafLevel > 1) lo |= LM_PS;
    const hi = (Math.floor(pa / TWO_32) & LM_ADDR_HI) | (options.nx ? LM_NX_HI : 0);
    this.publish(e, lo >>> 0, hi >>> 0);
    return this.info(va, leafLevel, e, lo >>> 0, hi >>> 0);
  }

  /** Walk to the leaf that maps `va`; null if not mapped. */
  readPte(va: number): PteInfo | null {
    this.checkVa("readPte", va, 1);
    let table = this.root;
    for (let level: number = this.levels; level >= 1; level--) {
      const e = table + indexOf(va, level) * 8;
      const lo = this.memory.load32(e);
      if ((lo & LM_P) === 0) return null;
      const hi = this.memory.load32(e + 4);
      if (level === 1 || (level <= 3 && (lo & LM_PS) !== 0)) return this.info(va, level, e, lo, hi);
      table = addrOf(lo, hi);
    }
    return null;
  }

  /**
   * Clear the leaf mapping `va` (ptep_get_and_clear): the low word is swapped to 0 with a
   * compare-exchange loop, so the returned A/D are the final ones. Null if not mapped.
   * Nothing is freed: the caller hands the frame to an mmu_gather.
   */
  unmap(va: number): PteInfo | null {
    const cur = this.readPte(va);
    if (!cur) return null;
    const lo = this.swapLow(cur.entryPa, () => 0);
    if (lo === null) return null;
    const hi = this.memory.load32(cur.entryPa + 4);
    this.memory.store32(cur.entryPa + 4, 0);
    return this.info(va, cur.level, cur.entryPa, lo, hi);
  }

  /**
   * Change R/W (and NX if given) of the leaf mapping `va`; returns the entry as it was, or
   * null if not mapped. R/W alone is a compare-exchange on the low word (ptep_set_wrprotect);
   * an NX change rewrites the high word with the not-present protocol.
   */
  protect(va: number, writable: boolean, nx?: boolean): PteInfo | null {
    const cur = this.readPte(va);
    if (!cur) return null;
    const setRw = (lo: number) => (writable ? lo | LM_RW : lo & ~LM_RW) >>> 0;
    if (nx === undefined || nx === cur.nx) {
      const old = this.swapLow(cur.entryPa, setRw);
      return old === null ? null : this.info(va, cur.level, cur.entryPa, old, cur.hi);
    }
    const old = this.swapLow(cur.entryPa, () => 0);
    if (old === null) return null;
    const hi = nx ? (cur.hi | LM_NX_HI) >>> 0 : (cur.hi & ~LM_NX_HI) >>> 0;
    this.memory.store32(cur.entryPa + 4, hi);
    this.memory.store32(cur.entryPa, setRw(old));
    return this.info(va, cur.level, cur.entryPa, old, cur.hi);
  }

  /** Atomically clear A of the leaf mapping `va` (ptep_test_and_clear_young); true if it was set. */
  clearYoung(va: number): boolean {
    return this.testAndClear(va, LM_A);
  }

  /**
   * What the CPU's walker does on an access: set A in every entry of the walk and, for a
   * write, D in the leaf, each with a compare-exchange on the low word. Returns the leaf
   * (as it was before this access), or null if not mapped.
   */
  touch(va: number, write: boolean): PteInfo | null {
    this.checkVa("touch", va, 1);
    let table = this.root;
    for (let level: number = this.levels; level >= 1; level--) {
      const e = table + indexOf(va, level) * 8;
      const leaf = level === 1 || (level <= 3 && (this.memory.load32(e) & LM_PS) !== 0);
      const bits = leaf && write ? LM_A | LM_D : LM_A;
      const old = this.swapLow(e, (lo) => (lo | bits) >>> 0);
      if (old === null) return null;
      const hi = this.memory.load32(e + 4);
      if (leaf) return this.info(va, level, e, old, hi);
      table = addrOf(old, hi);
    }
    return null;
  }

  /** Atomically clear D of the leaf mapping `va`; true if it was set. */
  testAndClearDirty(va: number): boolean {
    return this.testAndClear(va, LM_D);
  }

  /** Every present leaf that overlaps [start, end), in address order. */
  leaves(start: number, end: number): PteInfo[] {
    this.checkRange("leaves", start, end);
    const out: PteInfo[] = [];
    this.collect(this.root, this.levels, 0, start, end, out);
    return out;
  }

  /**
   * Detach every empty page-table page whose whole virtual span lies inside [start, end)
   * (free_pgtables with floor = start, ceiling = end), bottom-up, so a directory emptied by
   * the tables freed under it goes too. The parent entry is cleared; the frame is passed
   * to `dispose` (an mmu_gather frees it after the TLB flush; default: free at once).
   * The root table is never freed here. Returns the detached tables.
   */
  freePageTables(start: number, end: number, dispose: (t: FreedTable) => void = (t) => this.frames.free(t.pa)): FreedTable[] {
    this.checkRange("freePageTables", start, end);
    if (typeof dispose !== "function") throw new TypeError("freePageTables: dispose must be a function");
    const out: FreedTable[] = [];
    this.prune(this.root, this.levels, 0, start, end, out, dispose);
    return out;
  }

  /** Free the root table after everything below it was freed (mm teardown, pgd_free). */
  freeRoot(): void {
    for (let i = 0; i < ENTRIES; i++) {
      if ((this.memory.load32(this.root + i * 8) & LM_P) !== 0) throw new Error("freeRoot: the root table still has present entries");
    }
    this.frames.free(this.root);
  }

  // ---- internals --------------------------------------------------------------------------

  /** Publish a not-present entry: high word first, then the low word that holds P. */
  private publish(e: number, lo: number, hi: number): void {
    this.memory.store32(e + 4, hi >>> 0);
    this.memory.store32(e, lo >>> 0);
  }

  /** Compare-exchange loop on the low word of a present entry; returns the old word or null. */
  private swapLow(e: number, f: (lo: number) => number): number | null {
    for (;;) {
      const lo = this.memory.load32(e);
      if ((lo & LM_P) === 0) return null;
      if (this.memory.cas32(e, lo, f(lo)) === lo) return lo;
    }
  }

  private testAndClear(va: number, bit: number): boolean {
    const cur = this.readPte(va);
    if (!cur) return false;
    for (;;) {
      const lo = this.memory.load32(cur.entryPa);
      if ((lo & LM_P) === 0 || (lo & bit) === 0) return false;
      if (this.memory.cas32(cur.entryPa, lo, (lo & ~bit) >>> 0) === lo) return true;
    }
  }

  private info(va: number, level: number, entryPa: number, lo: number, hi: number): PteInfo {
    const size = span(level) as PageSize;
    const pa = addrOf(lo, hi);
    return {
      va: va - (va % size),
      pa: pa - (pa % size),
      size,
      level,
      entryPa,
      lo: lo >>> 0,
      hi: hi >>> 0,
      writable: (lo & LM_RW) !== 0,
      user: (lo & LM_US) !== 0,
      nx: (hi & LM_NX_HI) !== 0,
      accessed: (lo & LM_A) !== 0,
      dirty: (lo & LM_D) !== 0,
    };
  }

  private collect(table: number, level: number, base: number, start: number, end: number, out: PteInfo[]): void {
    const s = span(level);
    const first = Math.max(0, Math.floor((start - base) / s));
    const last = Math.min(ENTRIES - 1, Math.floor((end - 1 - base) / s));
    for (let i = first; i <= last; i++) {
      const e = table + i * 8;
      const lo = this.memory.load32(e);
      if ((lo & LM_P) === 0) continue;
      const hi = this.memory.load32(e + 4);
      const va = base + i * s;
      if (level === 1 || (level <= 3 && (lo & LM_PS) !== 0)) out.push(this.info(va, level, e, lo, hi));
      else this.collect(addrOf(lo, hi), level - 1, va, start, end, out);
    }
  }

  /** Post-order prune; returns true when `table` has no present entry left. */
  private prune(table: number, level: number, base: number, start: number, end: number, out: FreedTable[], dispose: (t: FreedTable) => void): boolean {
    const s = span(level);
    const first = Math.max(0, Math.floor((start - base) / s));
    const last = Math.min(ENTRIES - 1, Math.floor((end - 1 - base) / s));
    for (let i = first; i <= last; i++) {
      const e = table + i * 8;
      const lo = this.memory.load32(e);
      if ((lo & LM_P) === 0 || level === 1 || (level <= 3 && (lo & LM_PS) !== 0)) continue;
      const child = addrOf(lo, this.memory.load32(e + 4));
      const cs = base + i * s;
      const childEmpty = this.prune(child, level - 1, cs, start, end, out, dispose);
      if (childEmpty && cs >= start && cs + s <= end) {
        this.memory.store32(e, 0);
        this.memory.store32(e + 4, 0);
        const t: FreedTable = { pa: child, level: level - 1, start: cs, end: cs + s };
        out.push(t);
        dispose(t);
      }
    }
    for (let i = 0; i < ENTRIES; i++) if ((this.memory.load32(table + i * 8) & LM_P) !== 0) return false;
    return true;
  }

  private checkVa(name: string, va: number, size: number): void {
    if (typeof va !== "number" || !Number.isSafeInteger(va) || va < 0 || va >= this.vaLimit) {
      throw new RangeError(`${name}: va must be an integer in [0, 2^${this.levels === 4 ? 47 : 56}) (below 2^53), got ${String(va)}`);
    }
    if (va % size !== 0) throw new RangeError(`${name}: va 0x${va.toString(16)} is not aligned to the page size ${size}`);
  }

  private checkRange(name: string, start: number, end: number): void {
    if (typeof start !== "number" || !Number.isSafeInteger(start) || start < 0) throw new RangeError(`${name}: start must be a non-negative integer, got ${String(start)}`);
    if (typeof end !== "number" || !Number.isInteger(end) || end < start || end > this.vaLimit) {
      throw new RangeError(`${name}: end must be an integer in [start, 0x${this.vaLimit.toString(16)}], got ${String(end)}`);
    }
  }
}

/**
 * Builder of AMD64 long-mode (guest, v2) page tables, 4 or 5 levels
 * (docs/spec-readings.md reg 5.3): map a virtual address to a physical one at 4 KiB,
 * 2 MiB or 1 GiB with R/W, U/S and NX. Non-leaf entries get P | R/W | U/S (A clear unless
 * asked, so the IOMMU's A updates are visible). Entries are written with 32-bit stores, low
 * word last (docs/ARCHITECTURE.md section 5).
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { LM_A, LM_D, LM_NX_HI, LM_P, LM_PS, LM_RW, LM_US, LM_LEVEL_SHIFT } from "../spec/page-tables.js";
import type { PageSource } from "./page-allocator.js";
import { checkAddress64, checkBoolean, checkOptions, checkPhysical } from "./arguments.js";

export interface LongModeMapOptions {
  size?: 4096 | 2097152 | 1073741824;
  /** A present long-mode page is always readable: only `true` (or absent) is accepted. */
  readable?: true;
  writable?: boolean;
  user?: boolean;
  nx?: boolean;
  accessed?: boolean;
  dirty?: boolean;
  /** Value of R/W, U/S and NX in the non-leaf entries created on the way (default writable, user, executable). */
  upper?: { writable?: boolean; user?: boolean; nx?: boolean };
}

const TWO32 = 4294967296;
const LM_MAP_OPTIONS = ["size", "readable", "writable", "user", "nx", "accessed", "dirty", "upper"] as const;

export class LongModeTable {
  /** SPA (or GPA, for nested use) of the top table: what goes in a GCR3 entry. */
  readonly root: number;
  /** Optional translation of table addresses (GPA -> SPA) when the tables live in guest memory. */
  constructor(private readonly memory: PhysicalMemory, private readonly pages: PageSource, readonly levels: 4 | 5 = 4,
    private readonly toSpa: (gpa: number) => number = (x) => x, private readonly fromSpa: (spa: number) => number = (x) => x) {
    if (levels !== 4 && levels !== 5) throw new RangeError(`LongModeTable: levels must be 4 or 5, got ${String(levels)}`);
    this.root = fromSpa(pages.alloc());
  }

  private static idx(va: bigint, level: number): number { return Number((va >> BigInt(LM_LEVEL_SHIFT[level]!)) & 0x1ffn); }

  map(virt: number | bigint, phys: number, options: LongModeMapOptions = {}): void {
    const W = "LongModeTable.map";
    const o = checkOptions(W, options, LM_MAP_OPTIONS) as LongModeMapOptions;
    for (const k of ["writable", "user", "nx", "accessed", "dirty"] as const) checkBoolean(W, `options.${k}`, o[k]);
    if (o.readable !== undefined && o.readable !== true) throw new RangeError(`${W}: options.readable must be true or absent (a present long-mode page is readable), got ${String(o.readable)}`);
    const upper = checkOptions(W, o.upper, ["writable", "user", "nx"]);
    for (const k of ["writable", "user", "nx"]) checkBoolean(W, `options.upper.${k}`, upper[k]);
    const va = checkAddress64(W, "virt", virt);
    checkPhysical(W, "phys", phys, 4096);
    const size = o.size ?? 4096;
    const level = size === 4096 ? 1 : size === 2097152 ? 2 : size === 1073741824 ? 3 : 0;
    if (level === 0) throw new RangeError(`LongModeTable.map: size must be 4 KiB, 2 MiB or 1 GiB, got ${size}`);
    if (va % BigInt(size) !== 0n || phys % size !== 0) throw new RangeError("LongModeTable.map: addresses must be aligned to size");
    const up = o.upper ?? {};
    let table = this.toSpa(this.root);
    for (let L = this.levels; L > level; L--) {
      const pa = table + LongModeTable.idx(va, L) * 8;
      let lo = this.memory.read32(pa);
      let hi = this.memory.read32(pa + 4);
      if ((lo & LM_P) === 0 || (L <= 3 && (lo & LM_PS) !== 0)) { // absent, or a large leaf on the way: replace by a table
        const nextSpa = this.pages.alloc();
        const next = this.fromSpa(nextSpa);
        hi = (Math.floor(next / TWO32) | (up.nx ? LM_NX_HI : 0)) >>> 0;
        lo = ((next % TWO32) | LM_P | (up.writable === false ? 0 : LM_RW) | (up.user === false ? 0 : LM_US) | (o.accessed ? LM_A : 0)) >>> 0;
        this.memory.write32(pa, 0);
        this.memory.write32(pa + 4, hi);
        this.memory.write32(pa, lo);
      }
      table = this.toSpa((hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0));
    }
    const pa = table + LongModeTable.idx(va, level) * 8;
    const hi = (Math.floor(phys / TWO32) | (o.nx ? LM_NX_HI : 0)) >>> 0;
    const lo = ((phys % TWO32) | LM_P | (o.writable === false ? 0 : LM_RW) | (o.user === false ? 0 : LM_US) |
      (level > 1 ? LM_PS : 0) | (o.accessed ? LM_A : 0) | (o.dirty ? LM_D : 0)) >>> 0;
    this.memory.write32(pa, 0);
    this.memory.write32(pa + 4, hi);
    this.memory.write32(pa, lo);
  }

  /** Clear the leaf mapping virt (P = 0); returns false if none. */
  unmap(virt: number | bigint, level = 1): boolean {
    const pa = this.entryAddress(virt, level);
    if (pa < 0 || (this.memory.read32(pa) & LM_P) === 0) return false;
    this.memory.write32(pa, 0);
    this.memory.write32(pa + 4, 0);
    return true;
  }

  /** SPA of the entry at `level` on the path of virt (1 = PTE), or -1 if a table above is missing. */
  entryAddress(virt: number | bigint, level: number): number {
    const va = BigInt.asUintN(64, BigInt(virt));
    let table = this.toSpa(this.root);
    for (let L = this.levels; L >= level; L--) {
      const pa = table + LongModeTable.idx(va, L) * 8;
      if (L === level) return pa;
      const lo = this.memory.read32(pa), hi = this.memory.read32(pa + 4);
      if ((lo & LM_P) === 0 || (lo & LM_PS) !== 0) return -1;
      table = this.toSpa((hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0));
    }
    return -1;
  }
}

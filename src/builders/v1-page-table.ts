/**
 * Builder of host (v1) I/O page tables (docs/spec-readings.md reg 4.1-4.4), so tests and
 * users write "map IOVA X to SPA Y, 2 MiB, read-only" instead of assembling entries.
 * Sizes: any power of two from 4 KiB; the level's default sizes use NextLevel = 0, others
 * NextLevel = 7 with the lowest-zero-bit encoding replicated over the covered entries.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { V1_IR_HI, V1_IW_HI, V1_PR, V1_U_HI, V1_FC_HI, V1_NL_ENCODED, v1LevelShift } from "../spec/page-tables.js";
import type { PageSource } from "./page-allocator.js";
import { checkAddress64, checkBoolean, checkOptions, checkPhysical } from "./arguments.js";

export interface V1MapOptions {
  /** Page size in bytes (power of two >= 4096). Default 4096. */
  size?: number;
  /** IR (default true). */
  readable?: boolean;
  /** IW (default true). */
  writable?: boolean;
  /** PTE.U: untranslated access only. */
  untranslatedOnly?: boolean;
  forceCoherent?: boolean;
  /** Initial A and D bits of the leaf. */
  accessed?: boolean;
  dirty?: boolean;
}

const TWO32 = 4294967296;
const V1_MAP_OPTIONS = ["size", "readable", "writable", "untranslatedOnly", "forceCoherent", "accessed", "dirty"] as const;

export class V1PageTable {
  readonly root: number;
  constructor(private readonly memory: PhysicalMemory, private readonly pages: PageSource, readonly mode: number) {
    if (!Number.isInteger(mode) || mode < 1 || mode > 6) throw new RangeError(`V1PageTable: mode must be 1..6, got ${mode}`);
    this.root = pages.alloc();
  }

  private static idx(va: bigint, level: number): number { return Number((va >> BigInt(v1LevelShift(level))) & 0x1ffn); }

  /** Map [iova, iova + size) to [spa, spa + size). */
  map(iova: number | bigint, spa: number, options: V1MapOptions = {}): void {
    const W = "V1PageTable.map";
    const o = checkOptions(W, options, V1_MAP_OPTIONS) as V1MapOptions;
    for (const k of ["readable", "writable", "untranslatedOnly", "forceCoherent", "accessed", "dirty"] as const) checkBoolean(W, `options.${k}`, o[k]);
    const va = checkAddress64(W, "iova", iova);
    checkPhysical(W, "spa", spa, 4096);
    const size = o.size ?? 4096;
    if (typeof size !== "number") throw new TypeError(`${W}: options.size must be a number, got ${typeof size}`);
    const s = Math.log2(size);
    if (!Number.isInteger(s) || s < 12 || s > 63) throw new RangeError(`V1PageTable.map: size must be a power of two >= 4096, got ${size}`);
    if (va % BigInt(size) !== 0n || spa % size !== 0) throw new RangeError("V1PageTable.map: iova and spa must be aligned to size");
    let level = 1;
    while (level < 6 && s >= v1LevelShift(level + 1)) level++;
    if (level > this.mode) throw new RangeError(`V1PageTable.map: a ${size}-byte page needs level ${level} > mode ${this.mode}`);
    let table = this.root;
    for (let L = this.mode; L > level; L--) {
      const pa = table + V1PageTable.idx(va, L) * 8;
      let lo = this.memory.read32(pa);
      let hi = this.memory.read32(pa + 4);
      const nl = (lo >>> 9) & 7;
      if ((lo & V1_PR) === 0 || nl === 0 || nl === 7) { // absent, or a leaf on the way: replace by a table
        const next = this.pages.alloc();
        hi = (Math.floor(next / TWO32) | V1_IR_HI | V1_IW_HI) >>> 0;
        lo = ((next % TWO32) | ((L - 1) << 9) | V1_PR) >>> 0;
        this.memory.write32(pa, 0);
        this.memory.write32(pa + 4, hi);
        this.memory.write32(pa, lo);
      }
      table = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    }
    const shift = v1LevelShift(level);
    const encoded = s !== shift;
    let addr = spa;
    if (encoded) addr = spa + (2 ** (s - 1) - 4096); // bits s-2..12 set, bit s-1 clear
    const copies = encoded ? 2 ** (s - shift) : 1;
    const first = V1PageTable.idx(va, level);
    const hi = (Math.floor(addr / TWO32) | (o.readable !== false ? V1_IR_HI : 0) | (o.writable !== false ? V1_IW_HI : 0) |
      (o.untranslatedOnly ? V1_U_HI : 0) | (o.forceCoherent ? V1_FC_HI : 0)) >>> 0;
    const lo = ((addr % TWO32) | ((encoded ? V1_NL_ENCODED : 0) << 9) | V1_PR | (o.accessed ? 1 << 5 : 0) | (o.dirty ? 1 << 6 : 0)) >>> 0;
    for (let i = 0; i < copies; i++) {
      const pa = table + (first + i) * 8;
      this.memory.write32(pa, 0);
      this.memory.write32(pa + 4, hi);
      this.memory.write32(pa, lo);
    }
  }

  /** SPA of the entry that maps iova at `level` (following present PDEs), or -1. */
  entryAddress(iova: number | bigint, level: number): number {
    const va = BigInt(iova);
    let table = this.root;
    for (let L = this.mode; L >= level; L--) {
      const pa = table + V1PageTable.idx(va, L) * 8;
      if (L === level) return pa;
      const lo = this.memory.read32(pa), hi = this.memory.read32(pa + 4);
      if ((lo & V1_PR) === 0) return -1;
      table = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    }
    return -1;
  }
}

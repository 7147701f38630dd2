/**
 * Builder of the GCR3 table (docs/spec-readings.md reg 5.2): a tree of 4 KiB tables
 * indexed by PASID, GLX + 1 levels, each entry V | address. set(pasid, cr3) installs the
 * guest CR3 (root of a long-mode table) for a PASID, allocating intermediate tables.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { GCR3_V } from "../spec/page-tables.js";
import type { PageSource } from "./page-allocator.js";
import { checkPhysical } from "./arguments.js";

const TWO32 = 4294967296;

export class Gcr3Table {
  readonly root: number;
  constructor(private readonly memory: PhysicalMemory, private readonly pages: PageSource, readonly glx: 0 | 1 | 2 = 0,
    private readonly toSpa: (gpa: number) => number = (x) => x, private readonly fromSpa: (spa: number) => number = (x) => x) {
    if (glx !== 0 && glx !== 1 && glx !== 2) throw new RangeError(`Gcr3Table: glx must be 0, 1 or 2, got ${String(glx)}`);
    this.root = fromSpa(pages.alloc());
  }

  /** Install (cr3 = address) or clear (cr3 = null) the entry of a PASID; returns the entry's SPA. */
  set(pasid: number, cr3: number | null): number {
    if (!Number.isInteger(pasid) || pasid < 0 || pasid >= 2 ** (9 * (this.glx + 1))) throw new RangeError(`Gcr3Table.set: pasid ${pasid} out of range for GLX ${this.glx}`);
    if (cr3 !== null) checkPhysical("Gcr3Table.set", "cr3", cr3, 4096);
    let table = this.toSpa(this.root);
    for (let k = this.glx; k > 0; k--) {
      const pa = table + ((pasid >>> (9 * k)) & 0x1ff) * 8;
      let lo = this.memory.read32(pa), hi = this.memory.read32(pa + 4);
      if ((lo & GCR3_V) === 0) {
        const next = this.fromSpa(this.pages.alloc());
        hi = Math.floor(next / TWO32); lo = ((next % TWO32) | GCR3_V) >>> 0;
        this.memory.write32(pa + 4, hi);
        this.memory.write32(pa, lo);
      }
      table = this.toSpa((hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0));
    }
    const pa = table + (pasid & 0x1ff) * 8;
    if (cr3 === null) { this.memory.write32(pa, 0); this.memory.write32(pa + 4, 0); return pa; }
    this.memory.write32(pa, 0);
    this.memory.write32(pa + 4, Math.floor(cr3 / TWO32));
    this.memory.write32(pa, ((cr3 % TWO32) & 0xfffff000 | GCR3_V) >>> 0);
    return pa;
  }
}

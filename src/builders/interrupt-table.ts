/**
 * An interrupt remapping table in memory, written the way Linux writes one
 * (docs/spec-readings.md irq 1.5, 1.9, 1.11): 2^IntTabLen entries of 4 bytes (32-bit IRTEs,
 * Control.GAEn = 0) or 16 bytes (128-bit IRTEs, GAEn = 1), 128-byte aligned. A 128-bit entry is
 * written high qword first and the low qword (which holds RemapEn) last, so a remapper never
 * sees a half-written valid entry. `dteFields()` gives the DTE interrupt fields that attach it.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { encodeIrte128, encodeIrte32, type IrteFields } from "../spec/interrupts.js";
import type { DteFields } from "../spec/dte.js";
import type { BumpAllocator } from "./page-allocator.js";

export interface InterruptTableOptions {
  /** log2 of the entry count: 0..11 (1..2048 entries); default 9 (512, Linux). */
  intTabLen?: number;
  /** "128" (Control.GAEn = 1, the default Linux picks with GASup) or "32". */
  format?: "32" | "128";
}

export class InterruptTable {
  readonly root: number;
  readonly intTabLen: number;
  readonly entryBytes: 4 | 16;
  readonly entries: number;

  constructor(private readonly memory: PhysicalMemory, pages: Pick<BumpAllocator, "allocContiguous">, options: InterruptTableOptions = {}) {
    const len = options.intTabLen ?? 9;
    if (!Number.isInteger(len) || len < 0 || len > 11) throw new RangeError(`InterruptTable: intTabLen must be an integer 0..11, got ${String(len)}`);
    const format = options.format ?? "128";
    if (format !== "32" && format !== "128") throw new RangeError(`InterruptTable: format must be "32" or "128", got ${String(format)}`);
    this.intTabLen = len;
    this.entries = 2 ** len;
    this.entryBytes = format === "128" ? 16 : 4;
    const pagesNeeded = Math.max(1, Math.ceil((this.entries * this.entryBytes) / 4096));
    this.root = pages.allocContiguous(pagesNeeded);
    for (let off = 0; off < this.entries * this.entryBytes; off += 4) memory.write32(this.root + off, 0);
  }

  address(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.entries) throw new RangeError(`InterruptTable: index must be an integer 0..${this.entries - 1}, got ${String(index)}`);
    return this.root + index * this.entryBytes;
  }

  /** Program entry `index` (fields as in spec.IrteFields; GuestMode selects the 128-bit guest layout). */
  set(index: number, fields: Partial<IrteFields>): void {
    const pa = this.address(index);
    if (this.entryBytes === 4) { this.memory.write32(pa, encodeIrte32(fields)); return; }
    this.setRaw(index, encodeIrte128(fields));
  }

  /** Write raw dwords (1 or 4): high qword first, low qword last. */
  setRaw(index: number, dw: ArrayLike<number>): void {
    const pa = this.address(index);
    if (this.entryBytes === 4) { this.memory.write32(pa, dw[0]! >>> 0); return; }
    for (const i of [2, 3, 1, 0]) this.memory.write32(pa + 4 * i, (dw[i] ?? 0) >>> 0);
  }

  /** Free an entry: zero it (low qword first, as Xen and Linux do). */
  clear(index: number): void {
    const pa = this.address(index);
    for (let i = 0; i < this.entryBytes / 4; i++) this.memory.write32(pa + 4 * i, 0);
  }

  /** DTE interrupt fields attaching this table with IntCtl = 10b (remap) and IV = 1. */
  dteFields(): Partial<DteFields> {
    return { IV: true, IntCtl: 2, IntTabLen: this.intTabLen, IntTableRootPtr: this.root };
  }
}

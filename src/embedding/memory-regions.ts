/**
 * A physical address space made of RAM regions at chosen bases (a co-simulation host's
 * memory map: DRAM below 4 GiB, more above it, holes between), as the IOMMU's memory port.
 * Each region is a PhysicalMemory (SharedArrayBuffer); an access outside every region is a
 * hole: `contains` says false and the IOMMU answers as the hardware does (hardware-error
 * events), never touching memory. Regions can be added while IOMMUs use the space.
 */
import { PhysicalMemory } from "../memory/physical-memory.js";
import type { MemoryPort } from "../memory/memory-port.js";

export interface MemoryRegion { base: number; bytes: number; memory: PhysicalMemory }

export class RegionMemory implements MemoryPort {
  private readonly list: MemoryRegion[] = [];
  /** One past the highest address of any region. */
  bytes = 0;
  private last: MemoryRegion | null = null;

  get regions(): readonly MemoryRegion[] { return this.list; }

  /** Add a zeroed RAM region [base, base + bytes): 4 KiB aligned, not overlapping another. */
  add(base: number, bytes: number): MemoryRegion {
    if (!Number.isSafeInteger(base) || base < 0 || base % 4096 !== 0) throw new RangeError(`add-memory: base must be a 4 KiB-aligned address, got ${String(base)}`);
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 4096 !== 0) throw new RangeError(`add-memory: bytes must be a positive multiple of 4096, got ${String(bytes)}`);
    for (const r of this.list) {
      if (base < r.base + r.bytes && r.base < base + bytes) throw new RangeError(`add-memory: [0x${base.toString(16)}, +0x${bytes.toString(16)}) overlaps the region at 0x${r.base.toString(16)}`);
    }
    const region = { base, bytes, memory: new PhysicalMemory({ bytes }) };
    this.list.push(region);
    this.list.sort((a, b) => a.base - b.base);
    this.bytes = Math.max(this.bytes, base + bytes);
    return region;
  }

  /** The region holding [pa, pa + length), or null. */
  find(pa: number, length: number): MemoryRegion | null {
    const l = this.last;
    if (l !== null && pa >= l.base && pa + length <= l.base + l.bytes) return l;
    for (const r of this.list) {
      if (pa >= r.base && pa + length <= r.base + r.bytes) { this.last = r; return r; }
    }
    return null;
  }

  /** The region holding the range, or a RangeError naming the range (embedder access). */
  at(pa: number, length: number, what: string): MemoryRegion {
    const r = Number.isSafeInteger(pa) && pa >= 0 && Number.isSafeInteger(length) && length >= 0 ? this.find(pa, length) : null;
    if (r === null) throw new RangeError(`${what}: [0x${Number(pa).toString(16)}, +${length}) is not inside one memory region`);
    return r;
  }

  readBytes(pa: number, length: number): Uint8Array {
    const r = this.at(pa, length, "read-memory");
    return r.memory.readBytes(pa - r.base, length);
  }
  writeBytes(pa: number, data: Uint8Array): void {
    const r = this.at(pa, data.length, "write-memory");
    r.memory.writeBytes(pa - r.base, data);
  }

  // ---- MemoryPort ----
  contains(pa: number, length: number): boolean { return this.find(pa, length) !== null; }
  load32(pa: number): number { const r = this.find(pa, 4)!; return r.memory.load32(pa - r.base); }
  store32(pa: number, value: number): void { const r = this.find(pa, 4)!; r.memory.store32(pa - r.base, value); }
  cas32(pa: number, expected: number, replacement: number): number { const r = this.find(pa, 4)!; return r.memory.cas32(pa - r.base, expected, replacement); }
  storeNotify32(pa: number, value: number): void { const r = this.find(pa, 4)!; r.memory.storeNotify32(pa - r.base, value); }
}

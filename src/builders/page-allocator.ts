/**
 * A bump allocator of zeroed 4 KiB pages inside a region of physical memory, for table
 * builders, tests and examples. (The host model has its own frame allocator with owners.)
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";

export interface PageSource { alloc(): number }

export class BumpAllocator implements PageSource {
  private next: number;
  constructor(private readonly memory: PhysicalMemory, start: number, private readonly end: number = memory.bytes) {
    if (!Number.isInteger(start) || start % 4096 !== 0 || start < 0) throw new RangeError(`BumpAllocator: start must be a 4 KiB-aligned address, got ${start}`);
    if (!Number.isInteger(end) || end > memory.bytes || end <= start) throw new RangeError(`BumpAllocator: end must be in (start, memory.bytes], got ${end}`);
    this.next = start;
  }
  /** Address of a fresh zeroed page. */
  alloc(): number {
    if (this.next + 4096 > this.end) throw new RangeError("BumpAllocator: region exhausted");
    const pa = this.next;
    this.next += 4096;
    this.memory.fill(pa, 4096);
    return pa;
  }
  /** `count` contiguous zeroed pages (rings, device tables). */
  allocContiguous(count: number): number {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`BumpAllocator.allocContiguous: count must be a positive integer, got ${String(count)}`);
    const pa = this.next;
    if (pa + count * 4096 > this.end) throw new RangeError("BumpAllocator: region exhausted");
    this.next += count * 4096;
    this.memory.fill(pa, count * 4096);
    return pa;
  }
  get used(): number { return this.next; }
}

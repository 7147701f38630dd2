/**
 * Virtual memory areas of a process (Linux struct vm_area_struct in the mm's maple tree):
 * sorted, non-overlapping [start, end) ranges with protections, split on partial munmap
 * and mprotect as __split_vma does. Only private anonymous mappings are modelled.
 */

export interface Prot {
  read: boolean;
  write: boolean;
  exec: boolean;
}

/** A Prot object, or a string of the form "rw-", "r--", "r-x", "rwx" (PROT_READ|...). */
export type ProtLike = Prot | string;

export interface Vma {
  readonly start: number;
  readonly end: number;
  readonly prot: Readonly<Prot>;
  readonly kind: "anonymous";
}

export function parseProt(name: string, p: ProtLike): Prot {
  if (typeof p === "string") {
    if (!/^[r-][w-][x-]$/.test(p)) throw new RangeError(`${name}: prot string must look like "rw-" or "r-x", got "${p}"`);
    return { read: p[0] === "r", write: p[1] === "w", exec: p[2] === "x" };
  }
  if (p === null || typeof p !== "object") throw new TypeError(`${name}: prot must be an object { read, write, exec } or a string like "rw-"`);
  return { read: !!p.read, write: !!p.write, exec: !!p.exec };
}

export function protString(p: Readonly<Prot>): string {
  return `${p.read ? "r" : "-"}${p.write ? "w" : "-"}${p.exec ? "x" : "-"}`;
}

export class VmaList {
  private list: Vma[] = [];

  /** All areas in address order (a copy). */
  all(): Vma[] {
    return this.list.slice();
  }

  /** The area containing `va`, if any (find_vma + the vm_start check). */
  find(va: number): Vma | undefined {
    for (const v of this.list) {
      if (va < v.start) return undefined;
      if (va < v.end) return v;
    }
    return undefined;
  }

  /** Areas that overlap [start, end). */
  overlapping(start: number, end: number): Vma[] {
    return this.list.filter((v) => v.start < end && v.end > start);
  }

  insert(vma: Vma): void {
    if (this.overlapping(vma.start, vma.end).length > 0) {
      throw new Error(`VmaList.insert: [0x${vma.start.toString(16)}, 0x${vma.end.toString(16)}) overlaps an existing area`);
    }
    this.list.push(vma);
    this.list.sort((a, b) => a.start - b.start);
  }

  /** Remove [start, end) from every area (splitting at the edges); returns the removed pieces. */
  remove(start: number, end: number): Vma[] {
    const removed: Vma[] = [];
    const kept: Vma[] = [];
    for (const v of this.list) {
      if (v.end <= start || v.start >= end) {
        kept.push(v);
        continue;
      }
      if (v.start < start) kept.push({ ...v, end: start });
      if (v.end > end) kept.push({ ...v, start: end });
      removed.push({ ...v, start: Math.max(v.start, start), end: Math.min(v.end, end) });
    }
    this.list = kept.sort((a, b) => a.start - b.start);
    return removed;
  }

  /** Give [start, end) the protection `prot`, splitting areas; returns the pieces as they were. */
  protect(start: number, end: number, prot: Prot): Vma[] {
    const old = this.remove(start, end);
    for (const v of old) this.insert({ ...v, prot: { ...prot } });
    return old;
  }

  /** End of the last area at or below `start` (the free_pgtables floor), or 0. */
  floorOf(start: number): number {
    let floor = 0;
    for (const v of this.list) if (v.end <= start) floor = v.end;
    return floor;
  }

  /** Start of the first area at or above `end` (the free_pgtables ceiling), or `limit`. */
  ceilingOf(end: number, limit: number): number {
    for (const v of this.list) if (v.start >= end) return v.start;
    return limit;
  }

  /** Highest free gap of `len` bytes that ends at or below `top` (top-down mmap), or null. */
  gapBelow(top: number, len: number, bottom: number): number | null {
    let hi = top;
    for (let i = this.list.length - 1; i >= -1; i--) {
      const v = this.list[i];
      const lo = v ? v.end : bottom;
      if (v && v.start >= hi) continue;
      const gapTop = Math.min(hi, top);
      if (gapTop - Math.max(lo, bottom) >= len) return gapTop - len;
      if (!v) break;
      hi = v.start;
    }
    return null;
  }

  clone(): VmaList {
    const c = new VmaList();
    c.list = this.list.map((v) => ({ ...v, prot: { ...v.prot } }));
    return c;
  }
}

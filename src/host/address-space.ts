/**
 * A process address space: Linux struct mm_struct with its VMAs, its x86-64 page tables
 * (CR3), its MMU-notifier chain, and the host operations that change mappings (mm/mmap.c,
 * mm/mprotect.c, mm/memory.c, mm/madvise.c, kernel/fork.c, mm/rmap.c, mm/migrate.c,
 * mm/vmscan.c), reduced to private anonymous memory.
 *
 * Every operation that clears or downgrades PTEs runs these steps:
 *   1. notifier.invalidateRangeStart(start, end, event)
 *   2. clear / modify the PTEs (32-bit protocol), collecting pages in an mmu_gather
 *   3. CPU TLB flush (flush_tlb_mm_range) => notifier.archInvalidateSecondaryTlbs
 *   4. free the gathered pages and page-table pages
 *   5. notifier.invalidateRangeEnd(start, end, event)
 * The zap operations (munmap, MADV_DONTNEED, exit) run them in Linux's order by default
 * (`gatherFinish: "after-end"`): 1, 2, 5, then tlb_finish_mmu (3 and 4), as unmap_region
 * (unmap_vmas ends the notifier range before free_pgtables and tlb_finish_mmu) and
 * zap_page_range (mmu_notifier_invalidate_range_end, then tlb_finish_mmu) do. Option
 * `gatherFinish: "before-end"` runs 1-5 in order instead (the end callback after the flush
 * and the frees). A full mmu_gather batch flushes and frees in the middle of step 2 either
 * way. The other operations (mprotect, COW break, migration, reclaim, fork) flush before
 * their end callback in the model (not checked against each kernel version). Fast mode frees each page in step 2, before step 3.
 * The per-operation sequences are in mm-operations.ts. Installing a mapping into an empty
 * PTE (a fault) calls no notifier.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { CpuTlb } from "./cpu-tlb.js";
import type { FrameAllocator } from "./frame-allocator.js";
import { HostClock, type HostCost } from "./host-clock.js";
import { MmuGather } from "./mmu-gather.js";
import { MmuNotifierChain, type MmuNotifierEvent } from "./mmu-notifier.js";
import { parseProt, VmaList, type ProtLike, type Vma } from "./vma.js";
import { PAGE_4K, X86PageTable } from "./x86-page-table.js";
import * as ops from "./mm-operations.js";

/** When the mmu_gather frees at once: "auto" = unless the mm has notifiers (the RFC's fix). */
export type FastModePolicy = "auto" | "off" | "forced";

export interface MmOptions {
  memory: PhysicalMemory;
  frames: FrameAllocator;
  /** Name used in frame owner tags ("<id>:page", "<id>:pagetable") and traces. */
  id: string;
  levels?: 4 | 5;
  /** mmu_gather fast mode; default "auto". */
  fastMode?: FastModePolicy;
  /** Pages an mmu_gather holds before a mid-operation flush. */
  gatherCapacity?: number;
  /** Where zap operations finish the gather (tlb_finish_mmu): after invalidateRangeEnd (default, Linux's order) or before it. */
  gatherFinish?: "before-end" | "after-end";
  /** Host cycle counter (shared with a forked child); default a new HostClock(cost). */
  clock?: HostClock;
  /** Fixed costs for a new HostClock (only without `clock`). */
  cost?: Partial<HostCost>;
  /** Top of the top-down mmap area; default 0x7f00_0000_0000. */
  mmapBase?: number;
}

export type FaultResult = "ok" | "segv";

export interface MmStats {
  faults: number;
  segv: number;
  cowCopies: number;
  cowReuses: number;
  swapIns: number;
  migrations: number;
  reclaimed: number;
}

/** Lowest address mmap hands out (mmap_min_addr). */
export const MMAP_MIN_ADDR = 0x10000;

export class Mm {
  readonly id: string;
  readonly memory: PhysicalMemory;
  readonly frames: FrameAllocator;
  readonly levels: 4 | 5;
  readonly pageTable: X86PageTable;
  readonly notifier: MmuNotifierChain;
  readonly cpuTlb: CpuTlb;
  readonly clock: HostClock;
  readonly options: Readonly<Required<Pick<MmOptions, "fastMode" | "gatherFinish" | "mmapBase">> & { gatherCapacity?: number }>;
  readonly stats: MmStats = { faults: 0, segv: 0, cowCopies: 0, cowReuses: 0, swapIns: 0, migrations: 0, reclaimed: 0 };
  /** @internal VMAs; read them through `vmas`. */
  vmaList = new VmaList();
  /** @internal Contents of reclaimed pages by page address (the swap device). */
  swap = new Map<number, Uint8Array>();
  /** @internal */
  forkCount = 0;
  private dead = false;

  constructor(options: MmOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("Mm: options must be an object like { memory, frames, id }");
    if (typeof options.id !== "string" || !/^[^\s:]+$/.test(options.id)) throw new TypeError(`Mm: options.id must be a non-empty string without spaces or ':', got ${String(options.id)}`);
    if (options.memory === null || typeof options.memory !== "object") throw new TypeError("Mm: options.memory must be a PhysicalMemory");
    if (options.frames === null || typeof options.frames !== "object") throw new TypeError("Mm: options.frames must be a FrameAllocator");
    if (options.frames.memory !== options.memory) throw new RangeError("Mm: options.frames allocates from another memory than options.memory");
    const fastMode = options.fastMode ?? "auto";
    if (fastMode !== "auto" && fastMode !== "off" && fastMode !== "forced") throw new RangeError(`Mm: options.fastMode must be "auto", "off" or "forced", got ${String(fastMode)}`);
    const gatherFinish = options.gatherFinish ?? "after-end";
    if (gatherFinish !== "before-end" && gatherFinish !== "after-end") throw new RangeError(`Mm: options.gatherFinish must be "before-end" or "after-end", got ${String(gatherFinish)}`);
    if (options.clock !== undefined && options.cost !== undefined) throw new RangeError("Mm: give options.cost to the HostClock passed as options.clock, not both");
    this.id = options.id;
    this.memory = options.memory;
    this.frames = options.frames;
    this.levels = options.levels ?? 4;
    this.pageTable = new X86PageTable({ memory: this.memory, frames: this.frames, owner: this.id, levels: this.levels });
    const mmapBase = options.mmapBase ?? 0x7f0000000000;
    if (!Number.isSafeInteger(mmapBase) || mmapBase % PAGE_4K !== 0 || mmapBase <= MMAP_MIN_ADDR || mmapBase > this.pageTable.vaLimit) {
      throw new RangeError(`Mm: options.mmapBase must be a 4 KiB aligned address in (0x${MMAP_MIN_ADDR.toString(16)}, 2^${this.levels === 4 ? 47 : 56}], got ${String(mmapBase)}`);
    }
    this.options = { fastMode, gatherFinish, mmapBase, ...(options.gatherCapacity !== undefined ? { gatherCapacity: options.gatherCapacity } : {}) };
    this.clock = options.clock ?? new HostClock(options.cost);
    this.notifier = new MmuNotifierChain(this, this.frames.sequence);
    this.cpuTlb = new CpuTlb(this.notifier, this.clock);
  }

  /** Physical address of the root table (CR3 without flags): what the GCR3 entry points at. */
  get cr3(): number {
    return this.pageTable.root;
  }

  get vmas(): Vma[] {
    return this.vmaList.all();
  }

  get exited(): boolean {
    return this.dead;
  }

  /** Owner tag of this mm's data pages. */
  get pageOwner(): string {
    return `${this.id}:page`;
  }

  findVma(va: number): Vma | undefined {
    return this.vmaList.find(va);
  }

  /** The physical address `va` maps to, or null (a walk, no fault, no A/D change). */
  translate(va: number): number | null {
    const pte = this.pageTable.readPte(va);
    return pte ? pte.pa + (va - pte.va) : null;
  }

  /** Whether a new mmu_gather would run in fast mode now. */
  gatherFastMode(): boolean {
    const p = this.options.fastMode;
    return p === "forced" || (p === "auto" && !this.notifier.hasNotifiers);
  }

  /** Map `len` bytes (rounded up to 4 KiB) of anonymous memory; returns the start address. */
  mmap(len: number, prot: ProtLike, options: { fixed?: number } = {}): number {
    this.live("mmap");
    const size = this.pageLen("mmap", len);
    const p = parseProt("mmap", prot);
    let start: number;
    if (options.fixed !== undefined) {
      start = this.checkStart("mmap: options.fixed", options.fixed, size);
      if (this.vmaList.overlapping(start, start + size).length > 0) this.munmap(start, size);
    } else {
      const gap = this.vmaList.gapBelow(this.options.mmapBase, size, MMAP_MIN_ADDR);
      if (gap === null) throw new Error(`mmap: no free gap of ${size} bytes below 0x${this.options.mmapBase.toString(16)} in mm ${this.id}`);
      start = gap;
    }
    this.vmaList.insert({ start, end: start + size, prot: p, kind: "anonymous" });
    return start;
  }

  /** Remove [start, start + len): VMAs, PTEs, pages, and page-table pages left empty. */
  munmap(start: number, len: number): void {
    this.live("munmap");
    const size = this.pageLen("munmap", len);
    this.checkStart("munmap: start", start, size);
    ops.munmap(this, start, start + size);
  }

  /** Change the protection of [start, start + len); downgrades are flushed. */
  mprotect(start: number, len: number, prot: ProtLike): void {
    this.live("mprotect");
    const size = this.pageLen("mprotect", len);
    this.checkStart("mprotect: start", start, size);
    const p = parseProt("mprotect", prot);
    if (!p.read && !p.write && !p.exec) throw new RangeError("mprotect: prot PROT_NONE (\"---\") is not modelled (Linux makes such PTEs not present)");
    ops.mprotect(this, start, start + size, p);
  }

  /** MADV_DONTNEED: drop the pages of [start, start + len); the VMAs stay. */
  madviseDontneed(start: number, len: number): void {
    this.live("madviseDontneed");
    const size = this.pageLen("madviseDontneed", len);
    this.checkStart("madviseDontneed: start", start, size);
    ops.madviseDontneed(this, start, start + size);
  }

  /**
   * handle_mm_fault for one access: map a new zeroed (or swapped-in) frame, or break COW on
   * a write to a read-only page of a writable VMA. 'segv' when no VMA allows the access.
   */
  handleFault(va: number, write: boolean, exec = false): FaultResult {
    this.live("handleFault");
    this.checkVa("handleFault", va);
    return ops.handleFault(this, va, !!write, !!exec);
  }

  /**
   * A CPU load or store: fault if needed, then set A (and D for a store) as the CPU's
   * walker does. Returns the physical address accessed, or null for a segmentation fault.
   */
  cpuAccess(va: number, write: boolean): number | null {
    this.live("cpuAccess");
    this.checkVa("cpuAccess", va);
    for (let attempt = 0; attempt < 3; attempt++) {
      const pte = this.pageTable.readPte(va);
      if (pte && (!write || pte.writable)) {
        const t = this.pageTable.touch(va, !!write);
        if (t && t.pa === pte.pa && (!write || t.writable)) return t.pa + (va - t.va);
        continue;
      }
      if (this.handleFault(va, !!write) === "segv") return null;
    }
    throw new Error(`cpuAccess: va 0x${va.toString(16)} kept faulting in mm ${this.id}`);
  }

  /** Move the page at `va` to a new frame; null if nothing is mapped there. */
  migratePage(va: number): { va: number; oldPa: number; newPa: number } | null {
    this.live("migratePage");
    this.checkVa("migratePage", va);
    return ops.migratePage(this, va);
  }

  /** Copy this address space copy-on-write; returns the child (no notifiers registered). */
  fork(childId?: string): Mm {
    this.live("fork");
    const id = childId ?? `${this.id}.${++this.forkCount}`;
    const child = new Mm({
      memory: this.memory,
      frames: this.frames,
      id,
      levels: this.levels,
      fastMode: this.options.fastMode,
      gatherFinish: this.options.gatherFinish,
      mmapBase: this.options.mmapBase,
      clock: this.clock,
      ...(this.options.gatherCapacity !== undefined ? { gatherCapacity: this.options.gatherCapacity } : {}),
    });
    ops.forkInto(this, child);
    return child;
  }

  /** ptep_clear_flush_young_notify on the page at `va`: clear A, ask the notifiers; true if young. */
  clearFlushYoung(va: number): boolean {
    this.live("clearFlushYoung");
    this.checkVa("clearFlushYoung", va);
    return ops.clearFlushYoung(this, va);
  }

  /**
   * Two-pass access-bit aging over [start, start + len): the first pass clears A (through
   * clear_flush_young), `betweenPasses` runs, and the second pass unmaps and frees every
   * page that is still not young. Reclaimed contents go to a swap store and come back on
   * the next fault.
   */
  reclaim(start: number, len: number, options: { betweenPasses?: () => void } = {}): ops.ReclaimResult {
    this.live("reclaim");
    const size = this.pageLen("reclaim", len);
    this.checkStart("reclaim: start", start, size);
    if (options.betweenPasses !== undefined && typeof options.betweenPasses !== "function") {
      throw new TypeError("reclaim: options.betweenPasses must be a function");
    }
    return ops.reclaim(this, start, start + size, options.betweenPasses);
  }

  /** try_to_unmap + free of the page at `va` (to swap); false if nothing is mapped. */
  reclaimPage(va: number): boolean {
    this.live("reclaimPage");
    this.checkVa("reclaimPage", va);
    return ops.reclaimPage(this, va);
  }

  /** exit_mmap: release the notifiers, then unmap and free everything, page tables included. */
  exit(): void {
    this.live("exit");
    ops.exitMmap(this);
    this.dead = true;
  }

  // ---- helpers for mm-operations.ts ----------------------------------------------------------

  /** @internal A new mmu_gather wired to this mm's TLB flush and frame allocator. */
  newGather(): MmuGather {
    return new MmuGather({
      fastMode: this.gatherFastMode(),
      ...(this.options.gatherCapacity !== undefined ? { capacity: this.options.gatherCapacity } : {}),
      flushTlb: (s, e, t) => this.cpuTlb.flushRange(s, e, t),
      releasePage: (pa) => {
        this.frames.put(pa);
      },
      releaseTable: (pa) => this.frames.free(pa),
    });
  }

  /** @internal Run `body` between invalidateRangeStart and invalidateRangeEnd. */
  invalidate(start: number, end: number, event: MmuNotifierEvent, body: () => void): void {
    this.notifier.invalidateRangeStart(start, end, event);
    body();
    this.notifier.invalidateRangeEnd(start, end, event);
  }

  private live(name: string): void {
    if (this.dead) throw new Error(`${name}: mm ${this.id} has exited`);
  }

  private checkVa(name: string, va: number): void {
    if (typeof va !== "number" || !Number.isSafeInteger(va) || va < 0 || va >= this.pageTable.vaLimit) {
      throw new RangeError(`${name}: va must be a user address in [0, 2^${this.levels === 4 ? 47 : 56}), got ${String(va)}`);
    }
  }

  private pageLen(name: string, len: number): number {
    if (typeof len !== "number" || !Number.isSafeInteger(len) || len <= 0) throw new RangeError(`${name}: len must be a positive integer, got ${String(len)}`);
    return Math.ceil(len / PAGE_4K) * PAGE_4K;
  }

  private checkStart(name: string, start: number, size: number): number {
    if (typeof start !== "number" || !Number.isSafeInteger(start) || start < 0 || start % PAGE_4K !== 0) {
      throw new RangeError(`${name} must be a 4 KiB aligned address, got ${String(start)}`);
    }
    if (start + size > this.pageTable.vaLimit) throw new RangeError(`${name} + len runs past the user address limit 0x${this.pageTable.vaLimit.toString(16)}`);
    return start;
  }
}

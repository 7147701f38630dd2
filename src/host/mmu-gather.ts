/**
 * struct mmu_gather (Linux mm/mmu_gather.c, include/asm-generic/tlb.h).
 *
 * A zap clears PTEs and hands the pages (tlb_remove_page) and page-table pages
 * (pte_free_tlb / tlb_remove_table) to the gather, which widens the range to flush
 * (__tlb_adjust_range). tlb_flush_mmu flushes the TLB for that range first and only then
 * frees what it gathered; tlb_finish_mmu does a last flush. When a batch is full the
 * gather flushes and frees in the middle of the operation, as Linux does when it cannot
 * chain another batch page (so a zap can free pages before invalidate_range_end).
 *
 * Fast mode (the pre-2014 `tlb->fast_mode`): every page and table is freed the moment it is
 * handed over, right after its PTE was cleared and BEFORE the TLB flush. Harmless for the
 * CPU on a uniprocessor; wrong for a device TLB that can still reach the page. The RFC's
 * first patch turned fast mode off when the mm has notifiers.
 */
import type { PageSize } from "./x86-page-table.js";

/** Pages per batch page on x86-64 (MAX_GATHER_BATCH = (4096 - 16) / 8). */
export const MAX_GATHER_BATCH = 510;
/** Pages a gather holds before it must flush (MAX_GATHER_BATCH_COUNT * MAX_GATHER_BATCH). */
export const DEFAULT_GATHER_CAPACITY = Math.floor(10000 / MAX_GATHER_BATCH) * MAX_GATHER_BATCH;

export interface MmuGatherOptions {
  /** Free each page and table at once instead of after the TLB flush. */
  fastMode: boolean;
  /** Pages and tables held before a mid-operation flush (default DEFAULT_GATHER_CAPACITY). */
  capacity?: number;
  /** The TLB flush (flush_tlb_mm_range): runs the secondary-TLB notifier. */
  flushTlb: (start: number, end: number, freedTables: boolean) => void;
  /** Drop the reference the mapping held on a page frame (put_page). */
  releasePage: (pa: number) => void;
  /** Free a page-table page. */
  releaseTable: (pa: number) => void;
}

export interface MmuGatherStats {
  /** TLB flushes done by this gather. */
  flushes: number;
  pagesReleased: number;
  tablesReleased: number;
  /** Pages and tables released before the TLB flush that covered them (fast mode). */
  releasedBeforeFlush: number;
}

export class MmuGather {
  readonly fastMode: boolean;
  readonly capacity: number;
  readonly stats: MmuGatherStats = { flushes: 0, pagesReleased: 0, tablesReleased: 0, releasedBeforeFlush: 0 };
  private start = Infinity;
  private end = -Infinity;
  private freedTables = false;
  private pages: number[] = [];
  private tables: number[] = [];
  private finished = false;

  constructor(private readonly options: MmuGatherOptions) {
    this.fastMode = options.fastMode;
    const cap = options.capacity ?? DEFAULT_GATHER_CAPACITY;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`MmuGather: options.capacity must be an integer >= 1, got ${String(cap)}`);
    this.capacity = cap;
  }

  /** A PTE in [start, end) changed and needs a TLB flush (tlb_flush_pte_range). */
  adjustRange(start: number, end: number): void {
    if (start < this.start) this.start = start;
    if (end > this.end) this.end = end;
  }

  /** The PTE mapping `pa` at `va` was cleared (tlb_remove_page). */
  removePage(pa: number, va: number, size: PageSize): void {
    this.live();
    this.adjustRange(va, va + size);
    if (this.fastMode) {
      this.stats.releasedBeforeFlush++;
      this.stats.pagesReleased++;
      this.options.releasePage(pa);
      return;
    }
    this.pages.push(pa);
    if (this.pages.length + this.tables.length >= this.capacity) this.flush();
  }

  /** A page-table page covering [start, end) was detached (pte_free_tlb). */
  removeTable(pa: number, start: number, end: number): void {
    this.live();
    this.adjustRange(start, end);
    this.freedTables = true;
    if (this.fastMode) {
      this.stats.releasedBeforeFlush++;
      this.stats.tablesReleased++;
      this.options.releaseTable(pa);
      return;
    }
    this.tables.push(pa);
    if (this.pages.length + this.tables.length >= this.capacity) this.flush();
  }

  /** tlb_flush_mmu: flush the TLB for the gathered range, then free what was gathered. */
  flush(): void {
    if (this.end > this.start) {
      this.stats.flushes++;
      this.options.flushTlb(this.start, this.end, this.freedTables);
    }
    this.start = Infinity;
    this.end = -Infinity;
    this.freedTables = false;
    const pages = this.pages;
    const tables = this.tables;
    this.pages = [];
    this.tables = [];
    for (const pa of pages) {
      this.stats.pagesReleased++;
      this.options.releasePage(pa);
    }
    for (const pa of tables) {
      this.stats.tablesReleased++;
      this.options.releaseTable(pa);
    }
  }

  /** tlb_finish_mmu: the last flush; the gather cannot be used afterwards. */
  finish(): void {
    this.live();
    this.flush();
    this.finished = true;
  }

  /** Pages and tables waiting for the flush. */
  get pending(): number {
    return this.pages.length + this.tables.length;
  }

  private live(): void {
    if (this.finished) throw new Error("MmuGather: used after finish()");
  }
}

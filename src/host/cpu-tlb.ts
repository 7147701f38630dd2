/**
 * The CPU TLB flush point: x86 flush_tlb_mm_range (arch/x86/mm/tlb.c).
 *
 * The CPU TLB itself is not modelled; what matters is the moment of the flush, because
 * since Linux v6.6 that is where mmu_notifier_arch_invalidate_secondary_tlbs runs (and
 * where the RFC placed invalidate_range): after the PTEs were cleared or downgraded, before
 * the pages and page-table pages they pointed to are freed.
 */
import type { HostClock } from "./host-clock.js";
import type { MmuNotifierChain } from "./mmu-notifier.js";

export interface CpuTlbStats {
  /** Flushes performed. */
  flushes: number;
  /** Flushes that also covered freed page-table pages (paging-structure caches). */
  tableFlushes: number;
}

export class CpuTlb {
  readonly stats: CpuTlbStats = { flushes: 0, tableFlushes: 0 };

  constructor(
    private readonly notifier: MmuNotifierChain,
    private readonly clock: HostClock,
  ) {}

  /** flush_tlb_mm_range(mm, start, end, freed_tables): CPU flush, then the secondary TLBs. */
  flushRange(start: number, end: number, freedTables: boolean): void {
    this.stats.flushes++;
    if (freedTables) this.stats.tableFlushes++;
    this.clock.charge("tlbFlush");
    this.notifier.archInvalidateSecondaryTlbs(start, end, freedTables);
  }
}

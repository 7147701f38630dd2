/**
 * The race checker: an oracle beside the co-simulation that judges every DMA a device
 * completes against what the host has done (docs/ARCHITECTURE.md section 7).
 *
 * Provenance. When the IOMMU makes a translation by walking the tables (an untranslated
 * request or an ATS Translation Request that missed the IOTLB), the checker notes the frame
 * it points to with that frame's owner and allocation generation (FrameAllocator). A later
 * IOTLB hit, or an ATC hit in the device, carries the provenance of the walk that filled it.
 * The walk's page-table reads (iommu.traceMemoryAccesses) are checked too: a read of a table
 * frame the process no longer owns as a page table is a walk through a freed table.
 *
 * Verdict of one completed DMA at `va` that reached frame F:
 *   stale              F is free, or its owner or generation changed since the translation
 *                      was made (use-after-free through a stale TLB); or the walk read a
 *                      freed table; or the process no longer maps F at va and the CPU TLB
 *                      flush covering va has run; or F lies outside the host's frames
 *   stale-permission   the process still maps F at va, read-only, the DMA wrote, and the
 *                      CPU TLB flush after that downgrade has run
 *   window             the process no longer maps F at va (or maps it read-only and the DMA
 *                      wrote), F is still allocated to it, and the CPU TLB flush covering va
 *                      has not run yet: the CPU's own TLB may still use the old entry too
 *
 * The window opens at invalidate_range_start and, for each address, closes at the CPU TLB
 * flush (flush_tlb_mm_range, the secondary-TLB callback) that covers it, not at
 * invalidate_range_end: in Linux's order (unmap_region, zap_page_range) the end callback
 * runs before tlb_finish_mmu flushes and frees, and a DMA between the two reaches a frame
 * the process still owns through a translation the CPU may still hold as well.
 *   ok                 the process maps F at va with the permission used
 *
 * Data: device writes are remembered per va; settle() compares them with what the process
 * reads at va afterwards (lost writes). Device reads of a stale frame are compared with the
 * process's own view (mismatched reads). Writes into frames owned as page tables by anyone
 * are not performed (they would corrupt the host model); they are counted as stale.
 */
import type { Mm } from "../host/address-space.js";
import { FREE_OWNER, type FrameAllocator, type FrameOwner } from "../host/frame-allocator.js";
import type { MemoryAccess } from "../iommu/translation/request.js";
import type { PhysicalMemory } from "../memory/physical-memory.js";

const PAGE = 4096;

export interface Provenance {
  frame: number;
  owner: FrameOwner;
  generation: number;
  /** The walk that made the translation read a freed page table. */
  staleWalk: boolean;
}

export type DmaVerdict = "ok" | "window" | "stale" | "stale-permission";

export interface CheckerStats {
  /** DMAs judged (completed translations). */
  judged: number;
  staleAccesses: number;
  stalePermissionAccesses: number;
  windowAccesses: number;
  /** Stale DMAs whose translation came from a walk through a freed page-table page. */
  staleTableWalks: number;
  /** Stale DMAs into a frame that had been handed to another owner. */
  staleIntoOtherOwner: number;
  /** Device reads whose data differed from what the process sees at that address. */
  mismatchedReads: number;
  /** Device writes the process could not see afterwards. */
  lostWrites: number;
  /** Words of another owner's frames changed by device DMA. */
  corruptedWords: number;
  /** Device writes not performed because they targeted a page-table frame or no frame. */
  suppressedWrites: number;
}

export class RaceChecker {
  readonly stats: CheckerStats = {
    judged: 0, staleAccesses: 0, stalePermissionAccesses: 0, windowAccesses: 0, staleTableWalks: 0, staleIntoOtherOwner: 0,
    mismatchedReads: 0, lostWrites: 0, corruptedWords: 0, suppressedWrites: 0,
  };
  /** Walk log the IOMMU appends to (iommu.traceMemoryAccesses(checker.walkLog)). */
  readonly walkLog: MemoryAccess[] = [];
  /** Provenance of IOTLB fills, by `${deviceId}:${pasid}:${page}`. */
  private readonly shadow = new Map<string, Provenance>();
  /** The host operation running and the range it changes (null between operations). */
  private window: { mm: Mm; start: number; end: number; flushed: { start: number; end: number }[] } | null = null;
  /** Last value written per va (device or CPU) since the last settle. */
  private readonly written = new Map<number, number>();

  constructor(private readonly memory: PhysicalMemory, private readonly frames: FrameAllocator) {}

  /** A host operation on [start, end) of `mm` begins (invalidate_range_start) / has finished (the window of every address closes). */
  beginOperation(mm: Mm, start: number, end: number): void { this.window = { mm, start, end, flushed: [] }; }
  endOperation(): void { this.window = null; }
  /** The CPU TLB flush (flush_tlb_mm_range) of [start, end) ran: from now on a downgrade there is in force. */
  cpuFlushed(start: number, end: number): void { this.window?.flushed.push({ start, end }); }

  private inWindow(mm: Mm, va: number): boolean {
    const w = this.window;
    return w !== null && w.mm === mm && va >= w.start && va < w.end;
  }
  /** Inside the window and before the CPU TLB flush that covers va: the PTE change is not in force yet. */
  private beforeFlush(mm: Mm, va: number): boolean {
    return this.inWindow(mm, va) && !this.window!.flushed.some((r) => va >= r.start && va < r.end);
  }

  private provenanceNow(frame: number, staleWalk: boolean): Provenance {
    if (!this.frames.manages(frame)) return { frame, owner: "outside", generation: 0, staleWalk };
    return { frame, owner: this.frames.ownerOf(frame), generation: this.frames.generationOf(frame), staleWalk };
  }

  /**
   * After a translation by the IOMMU (iotlbHit tells whether it walked): the provenance of
   * the translation it returned. Consumes the walk log.
   */
  translated(mm: Mm, deviceId: number, pasid: number, va: number, spa: number, iotlbHit: boolean): Provenance {
    const frame = spa - (spa % PAGE);
    const key = `${deviceId}:${pasid}:${Math.floor(va / PAGE)}`;
    let p: Provenance | undefined;
    if (iotlbHit) p = this.shadow.get(key);
    if (p === undefined || p.frame !== frame) {
      p = this.provenanceNow(frame, this.walkedFreedTable(mm));
      this.shadow.set(key, p);
    }
    this.walkLog.length = 0;
    return p;
  }

  /** Drop the walk log of a translation that failed. */
  failed(): void { this.walkLog.length = 0; }

  private walkedFreedTable(mm: Mm): boolean {
    const tableOwner = `${mm.id}:pagetable`;
    for (const a of this.walkLog) {
      if (!a.what.startsWith("guest-L")) continue;
      const f = a.pa - (a.pa % PAGE);
      if (this.frames.manages(f) && this.frames.ownerOf(f) !== tableOwner) return true;
    }
    return false;
  }

  /**
   * Judge a DMA about to access `va` through a translation with provenance `p`. Returns the
   * verdict and whether the access may be performed on memory.
   */
  judge(mm: Mm, va: number, p: Provenance, write: boolean): { verdict: DmaVerdict; perform: boolean } {
    this.stats.judged++;
    const f = p.frame;
    const managed = this.frames.manages(f);
    const owner = managed ? this.frames.ownerOf(f) : "outside";
    const perform = managed && !String(owner).endsWith(":pagetable") && this.memory.contains(f, PAGE);
    if (write && !perform) this.stats.suppressedWrites++;
    let verdict: DmaVerdict;
    if (!managed || owner === FREE_OWNER || owner !== p.owner || this.frames.generationOf(f) !== p.generation || p.staleWalk) {
      verdict = "stale";
      if (p.staleWalk) this.stats.staleTableWalks++;
      if (managed && owner !== FREE_OWNER && owner !== p.owner) this.stats.staleIntoOtherOwner++;
    } else {
      const pte = mm.exited ? null : mm.pageTable.readPte(va);
      if (pte !== null && pte.pa === f) verdict = !write || pte.writable ? "ok" : this.beforeFlush(mm, va) ? "window" : "stale-permission";
      else if (this.beforeFlush(mm, va)) verdict = "window";
      else verdict = "stale";
    }
    if (verdict === "stale") this.stats.staleAccesses++;
    else if (verdict === "stale-permission") this.stats.stalePermissionAccesses++;
    else if (verdict === "window") this.stats.windowAccesses++;
    return { verdict, perform };
  }

  /** A device read of `value` at va through a non-ok translation: compare with the process's view. */
  compareRead(mm: Mm, va: number, value: number): void {
    if (mm.exited) return;
    const pa = mm.translate(va);
    if (pa !== null && this.memory.read32(pa - (pa % 4)) !== value) this.stats.mismatchedReads++;
  }

  /** Remember the last value written at va (device or CPU). */
  noteWrite(va: number, value: number): void { this.written.set(va - (va % 4), value >>> 0); }

  /** Forget remembered writes in [start, end) (the process itself discards that memory). */
  forget(start: number, end: number): void {
    for (const va of [...this.written.keys()]) if (va >= start && va < end) this.written.delete(va);
  }

  /** After an operation: writes the process still maps but cannot see are lost writes. */
  settle(mm: Mm): void {
    if (!mm.exited) {
      for (const [va, v] of this.written) {
        const pa = mm.translate(va);
        if (pa !== null && this.memory.read32(pa) !== v) this.stats.lostWrites++;
      }
    }
    this.written.clear();
  }

  /** Another owner's frame should hold `pattern` in every word; count the words that do not. */
  checkPattern(frame: number, pattern: (i: number) => number): void {
    for (let i = 0; i < PAGE / 4; i++) if (this.memory.read32(frame + 4 * i) !== pattern(i) >>> 0) this.stats.corruptedWords++;
  }
}

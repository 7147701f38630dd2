/**
 * The host operations of an Mm, each at Linux's notifier and mmu_gather points:
 *
 *   munmap        (unmap_region)       start(unmap) -> clear PTEs into gather -> detach empty
 *                                      page tables into gather -> TLB flush + arch callback ->
 *                                      free pages, tables -> end(unmap)
 *   madviseDontneed (zap_page_range_single, per VMA)   same with event "clear", no tables
 *   exitMmap      release -> as munmap over the whole user range -> free the root table
 *   mprotect      (change_protection)  start(protection-vma) -> clear RW / set NX ->
 *                                      TLB flush + arch callback (if a PTE changed) -> end
 *   forkInto      (copy_page_range, per VMA with pages) on the parent: start(protection-page)
 *                                      -> clear RW of writable PTEs, share frames into the
 *                                      child read-only -> flush + arch (if any changed) -> end
 *   COW break     (wp_page_copy)       copy to a new frame -> start(clear) -> clear PTE ->
 *                                      flush + arch -> map the new frame writable -> put
 *                                      the old frame -> end.  Reuse (only one reference):
 *                                      set RW, no notifier (an upgrade needs no flush on x86)
 *   migratePage   (try_to_migrate + remove_migration_ptes)  new frame -> start(migrate) ->
 *                                      clear PTE -> flush + arch -> copy -> map new -> free
 *                                      old -> end
 *   reclaimPage   (try_to_unmap + shrink_folio_list) start(clear) -> clear PTE -> flush +
 *                                      arch -> save to swap -> free -> end
 *   clearFlushYoung (ptep_clear_flush_young_notify) clear A (no CPU flush on x86), then
 *                                      clearFlushYoung on the chain; young if either says so
 *
 * The ranges are [start, end) in bytes; the arch callback gets the range of PTEs that
 * actually changed (widened to cover detached page-table pages) and freedTables.
 */
import type { FaultResult, Mm } from "./address-space.js";
import type { MmuGather } from "./mmu-gather.js";
import type { Prot } from "./vma.js";
import { PAGE_4K, type PteInfo } from "./x86-page-table.js";

export interface ReclaimResult {
  /** Pages seen by the first pass. */
  scanned: number;
  /** Pages young in the first pass. */
  youngFirstPass: number;
  /** Pages young again in the second pass (kept). */
  youngSecondPass: number;
  /** Page addresses unmapped and freed. */
  reclaimed: number[];
}

function zapRange(mm: Mm, g: MmuGather, start: number, end: number): void {
  for (const leaf of mm.pageTable.leaves(start, end)) {
    const old = mm.pageTable.unmap(leaf.va);
    if (!old) continue;
    mm.clock.charge("pteUpdate");
    g.removePage(old.pa, old.va, old.size);
  }
}

function dropSwap(mm: Mm, start: number, end: number): void {
  for (const va of [...mm.swap.keys()]) if (va >= start && va < end) mm.swap.delete(va);
}

/** start -> zap -> [free page tables] -> finish gather -> end (or finish after end). */
function zapFlow(mm: Mm, start: number, end: number, event: "unmap" | "clear", tables?: { floor: number; ceiling: number }): void {
  const g = mm.newGather();
  const freeTables = () => {
    if (tables) mm.pageTable.freePageTables(tables.floor, tables.ceiling, (t) => g.removeTable(t.pa, t.start, t.end));
  };
  mm.notifier.invalidateRangeStart(start, end, event);
  zapRange(mm, g, start, end);
  if (mm.options.gatherFinish === "after-end") {
    mm.notifier.invalidateRangeEnd(start, end, event);
    freeTables();
    g.finish();
  } else {
    freeTables();
    g.finish();
    mm.notifier.invalidateRangeEnd(start, end, event);
  }
}

export function munmap(mm: Mm, start: number, end: number): void {
  const removed = mm.vmaList.remove(start, end);
  dropSwap(mm, start, end);
  if (removed.length === 0) return;
  const floor = mm.vmaList.floorOf(start);
  const ceiling = mm.vmaList.ceilingOf(end, mm.pageTable.vaLimit);
  zapFlow(mm, start, end, "unmap", { floor, ceiling });
}

export function madviseDontneed(mm: Mm, start: number, end: number): void {
  for (const v of mm.vmaList.overlapping(start, end)) {
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    dropSwap(mm, s, e);
    zapFlow(mm, s, e, "clear");
  }
}

export function exitMmap(mm: Mm): void {
  mm.notifier.release();
  const limit = mm.pageTable.vaLimit;
  mm.vmaList.remove(0, limit);
  mm.swap.clear();
  zapFlow(mm, 0, limit, "unmap", { floor: 0, ceiling: limit });
  mm.pageTable.freeRoot();
}

export function mprotect(mm: Mm, start: number, end: number, prot: Prot): void {
  const vmas = mm.vmaList.overlapping(start, end);
  if (vmas.length === 0) return;
  mm.vmaList.protect(start, end, prot);
  let cs = Infinity;
  let ce = -Infinity;
  mm.invalidate(start, end, "protection-vma", () => {
    for (const leaf of mm.pageTable.leaves(start, end)) {
      // Write is never granted here: a later write fault reuses or copies (COW-safe).
      const writable = leaf.writable && prot.write;
      const nx = !prot.exec;
      if (writable === leaf.writable && nx === leaf.nx) continue;
      if (!mm.pageTable.protect(leaf.va, writable, nx)) continue;
      mm.clock.charge("pteUpdate");
      cs = Math.min(cs, leaf.va);
      ce = Math.max(ce, leaf.va + leaf.size);
    }
    if (ce > cs) mm.cpuTlb.flushRange(cs, ce, false);
  });
}

export function forkInto(parent: Mm, child: Mm): void {
  child.vmaList = parent.vmaList.clone();
  for (const [va, data] of parent.swap) child.swap.set(va, data.slice());
  for (const vma of parent.vmaList.all()) {
    const leaves = parent.pageTable.leaves(vma.start, vma.end);
    if (leaves.length === 0) continue;
    let cs = Infinity;
    let ce = -Infinity;
    parent.invalidate(vma.start, vma.end, "protection-page", () => {
      for (const leaf of leaves) {
        let cur: PteInfo | null = leaf;
        if (leaf.writable) {
          cur = parent.pageTable.protect(leaf.va, false);
          if (!cur) continue;
          parent.clock.charge("pteUpdate");
          cs = Math.min(cs, leaf.va);
          ce = Math.max(ce, leaf.va + leaf.size);
        }
        parent.frames.get(cur.pa);
        // copy_present_pte: the child's entry is old (A clear), read-only, dirty kept.
        child.pageTable.map(cur.va, cur.pa, { size: cur.size, writable: false, user: cur.user, nx: cur.nx, dirty: cur.dirty });
        parent.clock.charge("pteUpdate");
      }
      if (ce > cs) parent.cpuTlb.flushRange(cs, ce, false);
    });
  }
}

export function handleFault(mm: Mm, va: number, write: boolean, exec: boolean): FaultResult {
  mm.stats.faults++;
  mm.clock.charge("faultService");
  const vma = mm.vmaList.find(va);
  const allowed = vma && (write ? vma.prot.write : exec ? vma.prot.exec : vma.prot.read);
  if (!vma || !allowed || (exec && !vma.prot.exec)) {
    mm.stats.segv++;
    return "segv";
  }
  const page = va - (va % PAGE_4K);
  const pte = mm.pageTable.readPte(page);
  if (!pte) {
    const pa = mm.frames.alloc(mm.pageOwner);
    const saved = mm.swap.get(page);
    if (saved) {
      mm.memory.writeBytes(pa, saved);
      mm.swap.delete(page);
      mm.clock.charge("pageCopy");
      mm.stats.swapIns++;
    }
    mm.pageTable.map(page, pa, { writable: vma.prot.write, user: true, nx: !vma.prot.exec });
    mm.clock.charge("pteUpdate");
    return "ok";
  }
  if (write && !pte.writable) {
    if (mm.frames.refCountOf(pte.pa) === 1) {
      // wp_page_reuse: the only mapper may write in place; an upgrade needs no flush.
      mm.pageTable.protect(pte.va, true);
      mm.clock.charge("pteUpdate");
      mm.stats.cowReuses++;
      return "ok";
    }
    if (pte.size !== PAGE_4K) throw new Error(`handleFault: copy-on-write of a ${pte.size}-byte page is not modelled (va 0x${va.toString(16)})`);
    wpPageCopy(mm, pte);
  }
  return "ok";
}

function wpPageCopy(mm: Mm, pte: PteInfo): void {
  const page = pte.va;
  const pa = mm.frames.alloc(mm.pageOwner);
  mm.memory.writeBytes(pa, mm.memory.readBytes(pte.pa, PAGE_4K));
  mm.clock.charge("pageCopy");
  mm.invalidate(page, page + PAGE_4K, "clear", () => {
    const old = mm.pageTable.unmap(page);
    if (!old) {
      mm.frames.free(pa);
      return;
    }
    mm.clock.charge("pteUpdate");
    mm.cpuTlb.flushRange(page, page + PAGE_4K, false);
    mm.pageTable.map(page, pa, { writable: true, user: old.user, nx: old.nx });
    mm.clock.charge("pteUpdate");
    mm.frames.put(old.pa);
    mm.stats.cowCopies++;
  });
}

export function migratePage(mm: Mm, va: number): { va: number; oldPa: number; newPa: number } | null {
  const pte = mm.pageTable.readPte(va);
  if (!pte) return null;
  if (pte.size !== PAGE_4K) throw new Error(`migratePage: migrating a ${pte.size}-byte page is not modelled (va 0x${va.toString(16)})`);
  const page = pte.va;
  const newPa = mm.frames.alloc(mm.pageOwner);
  let oldPa = -1;
  mm.invalidate(page, page + PAGE_4K, "migrate", () => {
    const old = mm.pageTable.unmap(page);
    if (!old) return;
    oldPa = old.pa;
    mm.clock.charge("pteUpdate");
    mm.cpuTlb.flushRange(page, page + PAGE_4K, false);
    mm.memory.writeBytes(newPa, mm.memory.readBytes(old.pa, PAGE_4K));
    mm.clock.charge("pageCopy");
    mm.pageTable.map(page, newPa, { writable: old.writable, user: old.user, nx: old.nx });
    mm.clock.charge("pteUpdate");
    mm.frames.put(old.pa);
    mm.stats.migrations++;
  });
  if (oldPa < 0) {
    mm.frames.free(newPa);
    return null;
  }
  return { va: page, oldPa, newPa };
}

export function clearFlushYoung(mm: Mm, va: number): boolean {
  const pte = mm.pageTable.readPte(va);
  if (!pte) return false;
  const cpuYoung = mm.pageTable.clearYoung(pte.va);
  if (cpuYoung) mm.clock.charge("pteUpdate");
  const notifierYoung = mm.notifier.clearFlushYoung(pte.va, pte.va + pte.size);
  return cpuYoung || notifierYoung;
}

export function reclaimPage(mm: Mm, va: number): boolean {
  const pte = mm.pageTable.readPte(va);
  if (!pte) return false;
  if (pte.size !== PAGE_4K) throw new Error(`reclaimPage: reclaiming a ${pte.size}-byte page is not modelled (va 0x${va.toString(16)})`);
  const page = pte.va;
  let done = false;
  mm.invalidate(page, page + PAGE_4K, "clear", () => {
    const old = mm.pageTable.unmap(page);
    if (!old) return;
    mm.clock.charge("pteUpdate");
    mm.cpuTlb.flushRange(page, page + PAGE_4K, false);
    // pageout after the flush: writes that reached the frame until now are kept.
    mm.swap.set(page, mm.memory.readBytes(old.pa, PAGE_4K));
    mm.frames.put(old.pa);
    mm.stats.reclaimed++;
    done = true;
  });
  return done;
}

export function reclaim(mm: Mm, start: number, end: number, betweenPasses?: () => void): ReclaimResult {
  const first = mm.pageTable.leaves(start, end);
  let youngFirstPass = 0;
  for (const leaf of first) if (clearFlushYoung(mm, leaf.va)) youngFirstPass++;
  betweenPasses?.();
  let youngSecondPass = 0;
  const reclaimed: number[] = [];
  for (const leaf of mm.pageTable.leaves(start, end)) {
    if (clearFlushYoung(mm, leaf.va)) {
      youngSecondPass++;
      continue;
    }
    if (leaf.size === PAGE_4K && reclaimPage(mm, leaf.va)) reclaimed.push(leaf.va);
  }
  return { scanned: first.length, youngFirstPass, youngSecondPass, reclaimed };
}

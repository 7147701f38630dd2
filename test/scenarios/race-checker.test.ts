import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { FrameAllocator } from "../../src/host/frame-allocator.js";
import { Mm } from "../../src/host/address-space.js";
import { RaceChecker } from "../../src/scenarios/race-checker.js";

const PAGE = 4096;

function setup() {
  const memory = new PhysicalMemory({ bytes: 8 * 1024 * 1024 });
  const frames = new FrameAllocator({ memory, base: 0x10_0000 });
  const mm = new Mm({ memory, frames, id: "p", fastMode: "off" });
  const va = mm.mmap(4 * PAGE, "rw-");
  for (let i = 0; i < 4; i++) mm.cpuAccess(va + i * PAGE, true);
  const checker = new RaceChecker(memory, frames);
  /** The provenance a walk made now would have. */
  const walk = (v: number) => checker.translated(mm, 1, 1, v, mm.translate(v)!, false);
  return { memory, frames, mm, va, checker, walk };
}

describe("race checker verdicts", () => {
  it("a DMA through the current mapping with its permission is ok", () => {
    const { mm, va, checker, walk } = setup();
    expect(checker.judge(mm, va, walk(va), true)).toEqual({ verdict: "ok", perform: true });
  });

  it("a DMA into a frame freed since its translation is stale; into a frame re-allocated since, even to the same owner, too", () => {
    const { mm, va, frames, checker, walk } = setup();
    const p = walk(va);
    mm.munmap(va, PAGE);
    expect(frames.isFree(p.frame)).toBe(true);
    expect(checker.judge(mm, va, p, false).verdict).toBe("stale");
    const again = mm.mmap(PAGE, "rw-", { fixed: va });
    expect(mm.cpuAccess(again, true)! - (mm.translate(again)! % PAGE)).toBe(p.frame); // LIFO hands the same frame back
    expect(checker.judge(mm, va, p, true).verdict).toBe("stale");
    expect(checker.stats.staleAccesses).toBe(2);
  });

  it("between the PTE clear and the free, inside the operation, a DMA into the still-allocated frame is the window; after the operation it is stale", () => {
    const { mm, va, checker, walk } = setup();
    const p = walk(va);
    const verdicts: string[] = [];
    mm.notifier.register({ archInvalidateSecondaryTlbs: () => verdicts.push(checker.judge(mm, va, p, true).verdict) });
    checker.beginOperation(mm, va, va + PAGE);
    mm.migratePage(va);
    expect(verdicts).toEqual(["window"]);
    checker.endOperation();
    expect(checker.judge(mm, va, p, false).verdict).toBe("stale");
  });

  it("Linux's order: a DMA at invalidate_range_end (before tlb_finish_mmu) reaches a still-owned frame in the window; after the CPU TLB flush covering va it is stale, before the free", () => {
    const { mm, va, frames, checker, walk } = setup();
    expect(mm.options.gatherFinish).toBe("after-end"); // Linux's order is the default
    const p = walk(va);
    const seen: string[] = [];
    mm.notifier.register({
      invalidateRangeStart: (_m, s, e) => checker.beginOperation(mm, s, e),
      invalidateRangeEnd: () => seen.push(`end: ${frames.isFree(p.frame) ? "freed" : "owned"} ${checker.judge(mm, va, p, true).verdict}`),
      archInvalidateSecondaryTlbs: (_m, s, e) => {
        checker.cpuFlushed(s, e);
        seen.push(`flush: ${frames.isFree(p.frame) ? "freed" : "owned"} ${checker.judge(mm, va, p, true).verdict}`);
      },
    });
    mm.madviseDontneed(va, PAGE);
    expect(seen).toEqual(["end: owned window", "flush: owned stale"]);
    checker.endOperation();
  });

  it("the other order (gatherFinish before-end): the flush comes first, so at invalidate_range_end the frame is freed and the DMA stale", () => {
    const memory = new PhysicalMemory({ bytes: 8 * 1024 * 1024 });
    const frames = new FrameAllocator({ memory, base: 0x10_0000 });
    const mm = new Mm({ memory, frames, id: "p", fastMode: "off", gatherFinish: "before-end" });
    const va = mm.mmap(4 * PAGE, "rw-");
    mm.cpuAccess(va, true);
    const checker = new RaceChecker(memory, frames);
    const p = checker.translated(mm, 1, 1, va, mm.translate(va)!, false);
    const seen: string[] = [];
    mm.notifier.register({
      invalidateRangeStart: (_m, s, e) => checker.beginOperation(mm, s, e),
      invalidateRangeEnd: () => seen.push(`end: ${frames.isFree(p.frame) ? "freed" : "owned"} ${checker.judge(mm, va, p, true).verdict}`),
      archInvalidateSecondaryTlbs: (_m, s, e) => { checker.cpuFlushed(s, e); seen.push(`flush: ${checker.judge(mm, va, p, true).verdict}`); },
    });
    mm.madviseDontneed(va, PAGE);
    expect(seen).toEqual(["flush: stale", "end: freed stale"]);
  });

  it("a write through a removed write permission is stale-permission once the CPU TLB flush ran; before it, the window", () => {
    const { mm, va, checker, walk } = setup();
    const p = walk(va);
    checker.beginOperation(mm, va, va + PAGE);
    mm.mprotect(va, PAGE, "r--");
    expect(checker.judge(mm, va, p, true).verdict).toBe("window");
    expect(checker.judge(mm, va, p, false).verdict).toBe("ok");
    checker.cpuFlushed(va, va + PAGE);
    expect(checker.judge(mm, va, p, true).verdict).toBe("stale-permission");
    checker.endOperation();
    expect(checker.judge(mm, va, p, true).verdict).toBe("stale-permission");
  });

  it("a translation whose walk read a page-table frame the process no longer owns is stale, and writes into table frames are not performed", () => {
    const { mm, va, frames, checker } = setup();
    const pte = mm.pageTable.readPte(va)!;
    const table = pte.entryPa - (pte.entryPa % PAGE);
    checker.walkLog.push({ kind: "read", pa: pte.entryPa, what: "guest-L1", value: pte.lo });
    const ok = checker.translated(mm, 1, 1, va, pte.pa, false);
    expect(ok.staleWalk).toBe(false);
    mm.munmap(va, 4 * PAGE); // frees the data pages and the page table
    expect(frames.isFree(table)).toBe(true);
    checker.walkLog.push({ kind: "read", pa: pte.entryPa, what: "guest-L1", value: pte.lo });
    const p = checker.translated(mm, 1, 1, va, table, false);
    expect(p.staleWalk).toBe(true);
    expect(checker.judge(mm, va, p, false).verdict).toBe("stale");
    const root = checker.translated(mm, 1, 1, va + PAGE, mm.cr3, false); // a garbage translation onto a live page table
    expect(checker.judge(mm, va + PAGE, root, true)).toEqual({ verdict: "stale", perform: false });
    expect(checker.stats.suppressedWrites).toBe(1);
  });

  it("an IOTLB hit carries the provenance of the walk that filled it", () => {
    const { mm, va, checker, walk } = setup();
    const first = walk(va);
    mm.munmap(va, PAGE);
    const hit = checker.translated(mm, 1, 1, va, first.frame, true);
    expect(hit).toEqual(first);
    expect(checker.judge(mm, va, hit, false).verdict).toBe("stale");
  });

  it("settle counts device writes the process cannot see; forget drops memory the process discarded", () => {
    const { mm, va, memory, checker } = setup();
    checker.noteWrite(va, 0x1234);
    checker.noteWrite(va + PAGE, 0x5678);
    memory.write32(mm.translate(va)!, 0x1234);
    checker.settle(mm);
    expect(checker.stats.lostWrites).toBe(1);
    checker.noteWrite(va + 2 * PAGE, 0x9);
    checker.forget(va + 2 * PAGE, va + 3 * PAGE);
    checker.settle(mm);
    expect(checker.stats.lostWrites).toBe(1);
  });
});

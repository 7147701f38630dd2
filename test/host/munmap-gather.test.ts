import { describe, expect, it } from "vitest";
import { LM_P } from "../../src/spec/page-tables.js";
import { FREE_OWNER } from "../../src/host/frame-allocator.js";
import { PAGE, faultIn, present, recorder, setup } from "./helpers.js";

describe("munmap through the notifier chain and the mmu_gather", () => {
  it("munmap clears the PTE before the secondary-TLB callback and frees the frame after it; in Linux's order (the default) invalidate_range_end comes before tlb_finish_mmu", () => {
    const { mm, memory, frames } = setup();
    const { va, pa, entryPa } = faultIn(mm);
    const { sub, calls } = recorder(() => ({ present: present(memory.read64(entryPa)), owner: frames.ownerOf(pa) }));
    mm.notifier.register(sub);
    mm.munmap(va, PAGE);
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", { present: true, owner: "mm1:page" }],
      ["invalidateRangeEnd", { present: false, owner: "mm1:page" }],
      ["archInvalidateSecondaryTlbs", { present: false, owner: "mm1:page" }],
    ]);
    expect(calls[0]).toMatchObject({ start: va, end: va + PAGE });
    // The frame is freed after the arch callback (tlb_finish_mmu: flush, then free).
    const arch = mm.notifier.trace.find((e) => e.callback === "archInvalidateSecondaryTlbs")!;
    expect(frames.info(pa).lastSeq).toBeGreaterThan(arch.seq);
    expect(frames.ownerOf(pa)).toBe(FREE_OWNER);
    expect(mm.findVma(va)).toBeUndefined();
  });

  it("with gatherFinish 'before-end' the free is ordered between the arch callback and the end callback", () => {
    const { mm, memory, frames } = setup({ gatherFinish: "before-end" });
    const { va, pa, entryPa } = faultIn(mm);
    const { sub, calls } = recorder(() => ({ present: present(memory.read64(entryPa)), owner: frames.ownerOf(pa) }));
    mm.notifier.register(sub);
    mm.munmap(va, PAGE);
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", { present: true, owner: "mm1:page" }],
      ["archInvalidateSecondaryTlbs", { present: false, owner: "mm1:page" }],
      ["invalidateRangeEnd", { present: false, owner: FREE_OWNER }],
    ]);
    const t = mm.notifier.trace;
    const arch = t.find((e) => e.callback === "archInvalidateSecondaryTlbs")!;
    const end = t.find((e) => e.callback === "invalidateRangeEnd")!;
    const freedAt = frames.info(pa).lastSeq;
    expect(freedAt).toBeGreaterThan(arch.seq);
    expect(freedAt).toBeLessThan(end.seq);
  });

  it("fast mode frees the page before the TLB flush, so the frame can be reused before the device TLB is flushed", () => {
    const { mm, memory, frames } = setup({ fastMode: "forced" });
    // Two pages, so that unmapping the first frees no page table: the only frame freed is pa.
    const { va, pa, entryPa } = faultIn(mm, "rw-", 2 * PAGE);
    mm.cpuAccess(va + PAGE, true);
    let reusedInFlush = -1;
    mm.notifier.register({
      archInvalidateSecondaryTlbs: () => {
        expect(memory.read64(entryPa)).toBe(0n);
        expect(frames.isFree(pa)).toBe(true);
        reusedInFlush = frames.alloc("other:page");
      },
    });
    mm.munmap(va, PAGE);
    expect(reusedInFlush).toBe(pa); // LIFO: the very frame the device may still reach
    expect(frames.ownerOf(pa)).toBe("other:page");
    expect(frames.generationOf(pa)).toBe(2);
  });

  it("auto fast mode is off once the mm has a notifier: a frame allocated during the flush is a different one", () => {
    const { mm, frames } = setup();
    expect(mm.gatherFastMode()).toBe(true);
    const { va, pa } = faultIn(mm);
    let other = -1;
    mm.notifier.register({ archInvalidateSecondaryTlbs: () => (other = frames.alloc("other:page")) });
    expect(mm.gatherFastMode()).toBe(false);
    mm.munmap(va, PAGE);
    expect(other).not.toBe(pa);
    expect(frames.isFree(pa)).toBe(true);
  });

  it("auto fast mode without notifiers frees before the flush (the pre-RFC uniprocessor behaviour)", () => {
    const { mm, frames } = setup();
    const { va, pa } = faultIn(mm);
    mm.munmap(va, PAGE);
    const arch = mm.notifier.trace.find((e) => e.callback === "archInvalidateSecondaryTlbs")!;
    expect(frames.info(pa).lastSeq).toBeLessThan(arch.seq);
  });

  it("munmap frees empty page-table pages after the flush, which reports freedTables and covers their span", () => {
    const { mm, memory, frames } = setup();
    const { va, entryPa } = faultIn(mm);
    const ptPage = entryPa - (entryPa % PAGE);
    const seen: unknown[] = [];
    mm.notifier.register({
      archInvalidateSecondaryTlbs: (_mm, start, end, info) => seen.push({ start, end, ...info, ptOwner: frames.ownerOf(ptPage) }),
    });
    mm.munmap(va, PAGE);
    expect(seen).toHaveLength(1);
    const s = seen[0] as { start: number; end: number; freedTables: boolean; ptOwner: string };
    expect(s.freedTables).toBe(true);
    expect(s.ptOwner).toBe("mm1:pagetable");
    expect(s.start).toBeLessThanOrEqual(va - (va % 0x20_0000));
    expect(s.end).toBeGreaterThanOrEqual(va - (va % 0x20_0000) + 0x20_0000);
    expect(frames.isFree(ptPage)).toBe(true);
    expect(frames.framesOwnedBy("mm1:pagetable")).toEqual([mm.cr3]);
    expect(memory.read64(mm.cr3 + Math.floor(va / 2 ** 39) * 8) & BigInt(LM_P)).toBe(0n);
  });

  it("munmap keeps a page table still used by a neighbouring VMA", () => {
    const { mm, frames } = setup();
    const a = faultIn(mm);
    const b = faultIn(mm);
    expect(Math.floor(a.va / 0x20_0000)).toBe(Math.floor(b.va / 0x20_0000));
    mm.munmap(a.va, PAGE);
    expect(frames.ownerOf(b.entryPa - (b.entryPa % PAGE))).toBe("mm1:pagetable");
    expect(mm.translate(b.va)).toBe(b.pa);
  });

  it("a full mmu_gather batch flushes and frees in the middle of munmap, before invalidate_range_end", () => {
    const { mm, frames } = setup({ gatherCapacity: 2 });
    const va = mm.mmap(5 * PAGE, "rw-"); // the fifth page keeps the page tables alive
    const pas = [0, 1, 2, 3].map((i) => mm.cpuAccess(va + i * PAGE, true)!);
    const log: string[] = [];
    mm.notifier.register({
      archInvalidateSecondaryTlbs: (_m, s, e) => log.push(`arch ${(s - va) / PAGE}-${(e - va) / PAGE} free=${pas.filter((p) => frames.isFree(p)).length}`),
      invalidateRangeEnd: () => log.push(`end free=${pas.filter((p) => frames.isFree(p)).length}`),
    });
    mm.munmap(va, 4 * PAGE);
    // Two flushes in the middle of the zap, each freeing its two pages before the end callback.
    expect(log).toEqual(["arch 0-2 free=0", "arch 2-4 free=2", "end free=4"]);
  });

  it("gatherFinish 'after-end' runs invalidate_range_end before the TLB flush and the frees, as unmap_region does", () => {
    const { mm, frames } = setup({ gatherFinish: "after-end" });
    const { va, pa } = faultIn(mm);
    const log: string[] = [];
    mm.notifier.register({
      invalidateRangeEnd: () => log.push(`end free=${frames.isFree(pa)}`),
      archInvalidateSecondaryTlbs: () => log.push(`arch free=${frames.isFree(pa)}`),
    });
    mm.munmap(va, PAGE);
    expect(log).toEqual(["end free=false", "arch free=false"]);
    expect(frames.isFree(pa)).toBe(true);
  });

  it("munmap of a range with no VMA calls no notifier", () => {
    const { mm } = setup();
    mm.munmap(0x1000_0000, PAGE);
    expect(mm.notifier.trace).toEqual([]);
    expect(() => mm.munmap(0x1001, PAGE)).toThrow(/munmap: start must be a 4 KiB aligned/);
    expect(() => mm.munmap(0x1000, 0)).toThrow(/munmap: len/);
  });
});

describe("MADV_DONTNEED and exit", () => {
  it("madviseDontneed zaps the pages between start and end callbacks and keeps the VMA; the next fault gets a zeroed frame", () => {
    const { mm, memory, frames } = setup();
    const { va, pa } = faultIn(mm);
    memory.write32(pa, 0xdeadbeef);
    const { sub, calls } = recorder(() => frames.isFree(pa));
    mm.notifier.register(sub);
    mm.madviseDontneed(va, PAGE);
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", false],
      ["invalidateRangeEnd", false], // zap_page_range: the end callback, then tlb_finish_mmu
      ["archInvalidateSecondaryTlbs", false],
    ]);
    expect(frames.isFree(pa)).toBe(true);
    expect(mm.notifier.trace[0]!.event).toBe("clear");
    expect(mm.findVma(va)).toBeDefined();
    expect(mm.translate(va)).toBeNull();
    const pa2 = mm.cpuAccess(va, false)!;
    expect(memory.read32(pa2)).toBe(0);
  });

  it("exit calls release first, delivers no invalidation afterwards, and frees every frame of the mm", () => {
    const { mm, frames } = setup();
    faultIn(mm);
    faultIn(mm, "rw-", 3 * PAGE);
    const { sub, calls } = recorder();
    mm.notifier.register(sub);
    mm.exit();
    expect(calls.map((c) => c.callback)).toEqual(["release"]);
    expect(mm.notifier.trace.map((e) => [e.callback, e.delivered])).toEqual([
      ["release", 1],
      ["invalidateRangeStart", 0],
      ["invalidateRangeEnd", 0],
      ["archInvalidateSecondaryTlbs", 0],
    ]);
    expect(frames.stats.allocated).toBe(0);
    expect(frames.isFree(mm.cr3)).toBe(true);
    expect(() => mm.handleFault(0x1000, false)).toThrow(/has exited/);
  });
});

describe("5-level address spaces", () => {
  it("a 5-level mm maps above 2^47 through a PML5 root and exit frees every table", () => {
    const { mm, frames, memory } = setup({ levels: 5, mmapBase: 2 ** 52 });
    const va = mm.mmap(PAGE, "rw-");
    expect(va).toBeGreaterThan(2 ** 47);
    const pa = mm.cpuAccess(va, true)!;
    expect(frames.framesOwnedBy("mm1:pagetable")).toHaveLength(5);
    const pml5e = memory.read64(mm.cr3 + Math.floor(va / 2 ** 48) * 8);
    expect(present(pml5e)).toBe(true);
    mm.notifier.register({});
    mm.exit();
    expect(frames.isFree(pa)).toBe(true);
    expect(frames.stats.allocated).toBe(0);
    expect(mm.notifier.trace.find((e) => e.callback === "invalidateRangeEnd")).toMatchObject({ start: 0, end: 2 ** 56 });
  });
});

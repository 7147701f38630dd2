import { describe, expect, it } from "vitest";
import { LM_A, LM_D, LM_NX_HI, LM_P, LM_RW, LM_US } from "../../src/spec/page-tables.js";
import { PAGE, faultIn, recorder, setup } from "./helpers.js";

const low = (w: bigint) => Number(w & 0xffffffffn);
const high = (w: bigint) => Number(w >> 32n) >>> 0;

describe("handleFault", () => {
  it("maps a zeroed frame owned by the mm, with A and D clear so the IOMMU's updates show", () => {
    const { mm, memory, frames } = setup();
    const va = mm.mmap(2 * PAGE, "rw-");
    expect(mm.handleFault(va + PAGE + 0x123, true)).toBe("ok");
    const pte = mm.pageTable.readPte(va + PAGE)!;
    expect(frames.ownerOf(pte.pa)).toBe("mm1:page");
    expect(low(memory.read64(pte.entryPa))).toBe((pte.pa | LM_P | LM_RW | LM_US) >>> 0);
    expect(high(memory.read64(pte.entryPa))).toBe(LM_NX_HI); // no exec right
    expect(mm.notifier.trace).toEqual([]); // filling an empty PTE needs no invalidation
  });

  it("answers segv outside a VMA and for an access the VMA does not allow", () => {
    const { mm } = setup();
    const ro = mm.mmap(PAGE, "r--");
    const rx = mm.mmap(PAGE, "r-x");
    expect(mm.handleFault(0x5000, false)).toBe("segv");
    expect(mm.handleFault(ro, true)).toBe("segv");
    expect(mm.handleFault(ro, false, true)).toBe("segv");
    expect(mm.handleFault(rx, false, true)).toBe("ok");
    expect(mm.pageTable.readPte(rx)).toMatchObject({ nx: false, writable: false });
    expect(mm.translate(ro)).toBeNull();
    expect(mm.stats).toMatchObject({ faults: 4, segv: 3 });
  });

  it("charges the fixed host costs: fault service and one PTE update per mapping", () => {
    const { mm } = setup({ cost: { faultService: 1000, pteUpdate: 10 } });
    const va = mm.mmap(PAGE, "rw-");
    mm.handleFault(va, false);
    expect(mm.clock.now()).toBe(1010);
    expect(mm.clock.byCategory).toMatchObject({ faultService: 1000, pteUpdate: 10, pageCopy: 0 });
  });
});

describe("fork and copy-on-write", () => {
  it("fork makes both PTEs read-only and a write fault breaks COW into a new frame", () => {
    const { mm, memory, frames } = setup();
    const { va, pa, entryPa } = faultIn(mm);
    memory.write32(pa + 8, 0xc0ffee);
    const { sub, calls } = recorder(() => low(memory.read64(entryPa)) & LM_RW);
    mm.notifier.register(sub);
    const child = mm.fork();
    expect(child.id).toBe("mm1.1");
    // Parent: start saw RW still set, the flush saw it cleared.
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", LM_RW],
      ["archInvalidateSecondaryTlbs", 0],
      ["invalidateRangeEnd", 0],
    ]);
    expect(mm.notifier.trace[0]!.event).toBe("protection-page");
    const cpte = child.pageTable.readPte(va)!;
    expect(cpte.pa).toBe(pa);
    expect(low(memory.read64(entryPa)) & LM_RW).toBe(0);
    expect(low(memory.read64(entryPa)) & LM_D).toBe(LM_D); // the parent keeps its dirty bit
    expect(low(memory.read64(cpte.entryPa)) & (LM_RW | LM_A)).toBe(0); // child: read-only and old
    expect(frames.refCountOf(pa)).toBe(2);

    // The child writes: a new frame with the old contents, mapped writable in the child only.
    expect(child.handleFault(va, true)).toBe("ok");
    const copy = child.pageTable.readPte(va)!;
    expect(copy.pa).not.toBe(pa);
    expect(copy.writable).toBe(true);
    expect(frames.ownerOf(copy.pa)).toBe("mm1.1:page");
    expect(memory.read32(copy.pa + 8)).toBe(0xc0ffee);
    expect(mm.pageTable.readPte(va)).toMatchObject({ pa, writable: false });
    expect(frames.refCountOf(pa)).toBe(1);
    expect(child.stats.cowCopies).toBe(1);
    expect(child.clock.byCategory.pageCopy).toBe(1500);

    // The parent, now the only mapper, writes in place: RW set, same frame, no notifier call.
    const before = mm.notifier.trace.length;
    expect(mm.handleFault(va, true)).toBe("ok");
    expect(mm.pageTable.readPte(va)).toMatchObject({ pa, writable: true });
    expect(mm.notifier.trace.length).toBe(before);
    expect(mm.stats.cowReuses).toBe(1);
  });

  it("the COW break clears the old PTE before the secondary-TLB callback and installs the copy after it", () => {
    const { mm, memory } = setup();
    const { va, pa } = faultIn(mm);
    const child = mm.fork();
    const centry = child.pageTable.readPte(va)!.entryPa;
    const { sub, calls } = recorder(() => {
      const w = memory.read64(centry);
      return w === 0n ? "clear" : (Number(w & 0xfffff000n) === pa ? "old" : "new");
    });
    child.notifier.register(sub);
    child.handleFault(va, true);
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", "old"],
      ["archInvalidateSecondaryTlbs", "clear"],
      ["invalidateRangeEnd", "new"],
    ]);
    expect(calls[0]).toMatchObject({ start: va, end: va + PAGE });
  });

  it("exit of both sides of a fork returns every frame", () => {
    const { mm, frames } = setup();
    faultIn(mm, "rw-", 3 * PAGE);
    const child = mm.fork();
    child.exit();
    expect(frames.framesOwnedBy("mm1.1:pagetable")).toEqual([]);
    mm.exit();
    expect(frames.stats.allocated).toBe(0);
  });
});

describe("mprotect", () => {
  it("mprotect write->read-only clears RW and calls the secondary-TLB callback", () => {
    const { mm, memory } = setup();
    const { va, entryPa } = faultIn(mm, "rw-", 2 * PAGE);
    const { sub, calls } = recorder(() => low(memory.read64(entryPa)) & LM_RW);
    mm.notifier.register(sub);
    mm.mprotect(va, 2 * PAGE, "r--");
    expect(calls.map((c) => [c.callback, c.probe])).toEqual([
      ["invalidateRangeStart", LM_RW],
      ["archInvalidateSecondaryTlbs", 0],
      ["invalidateRangeEnd", 0],
    ]);
    // Only the mapped page changed, so the flush covers that page only.
    expect(calls[1]).toMatchObject({ start: va, end: va + PAGE });
    expect(low(memory.read64(entryPa)) & (LM_P | LM_D)).toBe(LM_P | LM_D);
    expect(mm.findVma(va)!.prot).toEqual({ read: true, write: false, exec: false });
    expect(mm.handleFault(va, true)).toBe("segv");
  });

  it("mprotect back to read-write leaves the PTE read-only and calls no flush; the write fault then reuses the frame", () => {
    const { mm } = setup();
    const { va, pa } = faultIn(mm);
    mm.mprotect(va, PAGE, "r--");
    const n = mm.notifier.trace.length;
    mm.mprotect(va, PAGE, "rw-");
    expect(mm.notifier.trace.slice(n).map((e) => e.callback)).toEqual(["invalidateRangeStart", "invalidateRangeEnd"]);
    expect(mm.pageTable.readPte(va)).toMatchObject({ writable: false });
    expect(mm.cpuAccess(va, true)).toBe(pa);
    expect(mm.pageTable.readPte(va)).toMatchObject({ writable: true, pa });
  });

  it("mprotect of part of a VMA splits it, and adding exec clears NX through the high-word protocol", () => {
    const { mm, memory } = setup();
    const va = mm.mmap(3 * PAGE, "rw-");
    mm.cpuAccess(va + PAGE, true);
    mm.mprotect(va + PAGE, PAGE, "rwx");
    expect(mm.vmas.map((v) => [v.start - va, v.end - va, v.prot.exec])).toEqual([
      [0, PAGE, false],
      [PAGE, 2 * PAGE, true],
      [2 * PAGE, 3 * PAGE, false],
    ]);
    const pte = mm.pageTable.readPte(va + PAGE)!;
    expect(high(memory.read64(pte.entryPa)) & LM_NX_HI).toBe(0);
    expect(pte.writable).toBe(true);
    expect(() => mm.mprotect(va, PAGE, "---")).toThrow(/PROT_NONE/);
    expect(() => mm.mprotect(va, PAGE, "rwz")).toThrow(/prot string/);
  });
});

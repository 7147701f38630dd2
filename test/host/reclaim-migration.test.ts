import { describe, expect, it } from "vitest";
import { LM_A } from "../../src/spec/page-tables.js";
import { PAGE, recorder, setup } from "./helpers.js";

describe("page migration", () => {
  it("migration copies data to a new frame and frees the old one after the flush", () => {
    const { mm, memory, frames } = setup();
    const va = mm.mmap(PAGE, "rw-");
    const oldPa = mm.cpuAccess(va, true)!;
    memory.write32(oldPa + 0x40, 0x5a5a1234);
    const entry = mm.pageTable.readPte(va)!.entryPa;
    const { sub, calls } = recorder(() => ({ pte: memory.read64(entry), oldFree: frames.isFree(oldPa) }));
    mm.notifier.register(sub);
    const r = mm.migratePage(va)!;
    expect(r.oldPa).toBe(oldPa);
    expect(r.newPa).not.toBe(oldPa);
    expect(memory.read32(r.newPa + 0x40)).toBe(0x5a5a1234);
    expect(frames.isFree(oldPa)).toBe(true);
    expect(frames.ownerOf(r.newPa)).toBe("mm1:page");
    expect(mm.translate(va)).toBe(r.newPa);
    expect(mm.pageTable.readPte(va)).toMatchObject({ writable: true, accessed: false, dirty: false });
    expect(calls.map((c) => c.callback)).toEqual(["invalidateRangeStart", "archInvalidateSecondaryTlbs", "invalidateRangeEnd"]);
    expect(calls[0]!.probe).toMatchObject({ oldFree: false });
    expect((calls[0]!.probe as { pte: bigint }).pte).not.toBe(0n);
    expect(calls[1]!.probe).toEqual({ pte: 0n, oldFree: false }); // cleared, not yet freed
    expect(calls[2]!.probe).toMatchObject({ oldFree: true });
    expect(mm.notifier.trace[0]!.event).toBe("migrate");
    // The old frame's free comes after the secondary-TLB callback.
    const arch = mm.notifier.trace.find((e) => e.callback === "archInvalidateSecondaryTlbs")!;
    expect(frames.info(oldPa).lastSeq).toBeGreaterThan(arch.seq);
    expect(mm.migratePage(va + PAGE * 10)).toBeNull();
  });

  it("data written to the old frame up to the flush is what the new frame holds", () => {
    const { mm, memory } = setup();
    const va = mm.mmap(PAGE, "rw-");
    const oldPa = mm.cpuAccess(va, true)!;
    // A device whose stale translation still points at the old frame writes before the flush.
    mm.notifier.register({ invalidateRangeStart: () => memory.write32(oldPa, 0x11111111) });
    const r = mm.migratePage(va)!;
    expect(memory.read32(r.newPa)).toBe(0x11111111);
  });
});

describe("reclaim with access-bit aging", () => {
  it("reclaim frees a page whose A bit stayed clear and keeps one accessed between the passes", () => {
    const { mm, memory, frames } = setup();
    const va = mm.mmap(2 * PAGE, "rw-");
    const hot = mm.cpuAccess(va, true)!;
    const cold = mm.cpuAccess(va + PAGE, true)!;
    memory.write32(cold + 4, 0x600d);
    const hotEntry = mm.pageTable.readPte(va)!.entryPa;
    const r = mm.reclaim(va, 2 * PAGE, {
      betweenPasses: () => {
        // The first pass cleared A on both pages.
        expect(memory.read32(hotEntry) & LM_A).toBe(0);
        mm.cpuAccess(va, false);
      },
    });
    expect(r).toEqual({ scanned: 2, youngFirstPass: 2, youngSecondPass: 1, reclaimed: [va + PAGE] });
    expect(frames.isFree(cold)).toBe(true);
    expect(mm.translate(va + PAGE)).toBeNull();
    expect(mm.translate(va)).toBe(hot);
    expect(memory.read32(hotEntry) & LM_A).toBe(0); // aged again by the second pass
    // The reclaimed contents come back on the next fault, in a new frame.
    const back = mm.cpuAccess(va + PAGE, false)!;
    expect(memory.read32(back + 4)).toBe(0x600d);
    expect(mm.stats).toMatchObject({ reclaimed: 1, swapIns: 1 });
  });

  it("clear_flush_young goes through the notifier: a device-young page survives, and unmapping follows the five steps", () => {
    const { mm, frames } = setup();
    const va = mm.mmap(PAGE, "rw-");
    const pa = mm.cpuAccess(va, true)!;
    let deviceYoung = true;
    const seen: string[] = [];
    mm.notifier.register({
      clearFlushYoung: (_m, s, e) => (seen.push(`young ${s === va && e === va + PAGE}`), deviceYoung),
      invalidateRangeStart: () => seen.push("start"),
      archInvalidateSecondaryTlbs: () => seen.push(`arch free=${frames.isFree(pa)}`),
      invalidateRangeEnd: () => seen.push(`end free=${frames.isFree(pa)}`),
    });
    expect(mm.reclaim(va, PAGE).reclaimed).toEqual([]);
    expect(seen).toEqual(["young true", "young true"]);
    deviceYoung = false;
    seen.length = 0;
    expect(mm.reclaim(va, PAGE).reclaimed).toEqual([va]);
    expect(seen).toEqual(["young true", "young true", "start", "arch free=false", "end free=true"]);
  });
});

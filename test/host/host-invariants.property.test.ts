/**
 * Random host workloads keep the bookkeeping exact: every mapped frame is allocated, its
 * reference count equals the number of PTEs that map it, notifier calls come in
 * start / arch* / end groups, and exiting every process returns every frame.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Mm } from "../../src/host/address-space.js";
import { PAGE, setup } from "./helpers.js";

type Op =
  | { k: "mmap"; pages: number; w: boolean }
  | { k: "touch"; mm: number; vma: number; page: number; write: boolean }
  | { k: "munmap" | "dontneed" | "mprotect" | "reclaim"; mm: number; vma: number; page: number; pages: number }
  | { k: "migrate"; mm: number; vma: number; page: number }
  | { k: "fork"; mm: number }
  | { k: "exit"; mm: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("mmap" as const), pages: fc.integer({ min: 1, max: 6 }), w: fc.boolean() }),
  fc.record({ k: fc.constant("touch" as const), mm: fc.nat(), vma: fc.nat(), page: fc.nat(), write: fc.boolean() }),
  fc.record({ k: fc.constantFrom("munmap" as const, "dontneed" as const, "mprotect" as const, "reclaim" as const), mm: fc.nat(), vma: fc.nat(), page: fc.nat(), pages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant("migrate" as const), mm: fc.nat(), vma: fc.nat(), page: fc.nat() }),
  fc.record({ k: fc.constant("fork" as const), mm: fc.nat() }),
  fc.record({ k: fc.constant("exit" as const), mm: fc.nat() }),
);

function check(mms: Mm[]): void {
  const { frames } = mms[0] ?? { frames: undefined };
  if (!frames) return;
  const mappings = new Map<number, number>();
  for (const mm of mms) {
    for (const leaf of mm.pageTable.leaves(0, mm.pageTable.vaLimit)) {
      expect(frames.isFree(leaf.pa)).toBe(false);
      expect(String(frames.ownerOf(leaf.pa))).toMatch(/:page$/);
      expect(mm.findVma(leaf.va)).toBeDefined();
      mappings.set(leaf.pa, (mappings.get(leaf.pa) ?? 0) + 1);
    }
  }
  for (const [pa, n] of mappings) expect(frames.refCountOf(pa)).toBe(n);
}

/** Start and end pair up; a secondary-TLB flush comes inside them, or (Linux's order for the zap operations) right after an end: tlb_finish_mmu. */
function checkTrace(mm: Mm): void {
  let open = false, afterEnd = false;
  for (const e of mm.notifier.trace) {
    if (e.callback === "invalidateRangeStart") {
      expect(open).toBe(false);
      open = true; afterEnd = false;
    } else if (e.callback === "invalidateRangeEnd") {
      expect(open).toBe(true);
      open = false; afterEnd = true;
    } else if (e.callback === "archInvalidateSecondaryTlbs") {
      expect(open || (afterEnd && mm.options.gatherFinish === "after-end")).toBe(true);
    } else afterEnd = false;
  }
  expect(open).toBe(false);
}

describe("host bookkeeping under random workloads", () => {
  for (const fastMode of ["auto", "forced"] as const) {
    it(`frame references match the PTEs and everything is returned at exit (fastMode ${fastMode})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const { mm, frames } = setup({ fastMode, gatherCapacity: 3 });
          mm.notifier.register({ archInvalidateSecondaryTlbs: () => undefined });
          const live: Mm[] = [mm];
          const all: Mm[] = [mm];
          for (const o of ops) {
            if (o.k === "mmap") {
              live[0]?.mmap(o.pages * PAGE, o.w ? "rw-" : "r--");
              continue;
            }
            const m = live[o.mm % Math.max(1, live.length)];
            if (!m) continue;
            if (o.k === "fork") {
              const c = m.fork();
              live.push(c);
              all.push(c);
            } else if (o.k === "exit") {
              m.exit();
              live.splice(live.indexOf(m), 1);
            } else {
              const vmas = m.vmas;
              const v = vmas[o.vma % Math.max(1, vmas.length)];
              if (!v) continue;
              const n = (v.end - v.start) / PAGE;
              const va = v.start + (o.page % n) * PAGE;
              if (o.k === "touch") m.cpuAccess(va, o.write && v.prot.write);
              else if (o.k === "migrate") m.migratePage(va);
              else if (o.k === "munmap") m.munmap(va, o.pages * PAGE);
              else if (o.k === "dontneed") m.madviseDontneed(va, o.pages * PAGE);
              else if (o.k === "mprotect") m.mprotect(va, o.pages * PAGE, "r--");
              else m.reclaim(va, o.pages * PAGE);
            }
            check(live);
          }
          for (const m of [...live]) m.exit();
          for (const m of all) checkTrace(m);
          expect(frames.stats.allocated).toBe(0);
        }),
        { numRuns: 150, seed: 20110 },
      );
    });
  }
});
